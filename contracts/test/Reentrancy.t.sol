// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @dev Re-enters the market from its receive hook and records what happened.
contract Reenterer {
    CrucibleMarket internal immutable market;
    bytes public reentryCall;
    bool public attempted;
    bool public reentered;
    bytes public reentryError;

    constructor(CrucibleMarket m) {
        market = m;
    }

    function setReentry(bytes calldata data) external {
        reentryCall = data;
    }

    function exec(bytes calldata data, uint256 value) external returns (bytes memory) {
        (bool ok, bytes memory ret) = address(market).call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (attempted || msg.sender != address(market)) return;
        attempted = true;
        (bool ok, bytes memory ret) = address(market).call(reentryCall);
        reentered = ok;
        reentryError = ret;
    }
}

/// @notice Every path that sends ETH (withdrawCredit, withdrawStake) refuses re-entry and never
/// pays out more than owed; burns go to address(0), which has no code.
contract ReentrancyTest is MarketFixture, ICrucibleErrors {
    Reenterer internal attacker;

    function setUp() public override {
        super.setUp();
        attacker = new Reenterer(market);
        vm.deal(address(attacker), 10 ether);
    }

    /// @dev Gives the attacker `REWARD` of credit (a cancelled job) and 3 ether of free stake.
    function _fund() internal {
        attacker.exec(abi.encodeCall(ICrucibleMarket.postJob, (_terms(K, T, ARITY, false))), REWARD);
        attacker.exec(abi.encodeCall(ICrucibleMarket.cancelJob, (1)), 0);
        attacker.exec(abi.encodeCall(ICrucibleMarket.depositStake, ()), 3 ether);
    }

    function _run(bytes memory outer, bytes memory inner, uint256 expectedOut) internal {
        _fund();
        attacker.setReentry(inner);
        uint256 before = address(attacker).balance;
        uint256 marketBefore = address(market).balance;
        attacker.exec(outer, 0);
        assertTrue(attacker.attempted(), "re-entry attempted");
        assertFalse(attacker.reentered(), "re-entry failed");
        assertEq(keccak256(attacker.reentryError()), keccak256(abi.encodeWithSelector(Reentrancy.selector)), "guard");
        assertEq(address(attacker).balance - before, expectedOut, "paid exactly once");
        assertEq(marketBefore - address(market).balance, expectedOut, "no extra ETH left");
        _assertSolvent();
    }

    function test_withdrawCredit_reenterWithdrawCredit_reverts() public {
        bytes memory c = abi.encodeCall(ICrucibleMarket.withdrawCredit, ());
        _run(c, c, REWARD);
        assertEq(market.credits(address(attacker)), 0, "credit spent");
    }

    function test_withdrawCredit_reenterWithdrawStake_reverts() public {
        _run(
            abi.encodeCall(ICrucibleMarket.withdrawCredit, ()),
            abi.encodeCall(ICrucibleMarket.withdrawStake, (1 ether)),
            REWARD
        );
        assertEq(market.providerInfo(address(attacker)).free, 3 ether, "stake untouched");
    }

    function test_withdrawStake_reenterWithdrawStake_reverts() public {
        bytes memory c = abi.encodeCall(ICrucibleMarket.withdrawStake, (2 ether));
        _run(c, c, 2 ether);
        assertEq(market.providerInfo(address(attacker)).free, 1 ether, "debited once");
    }

    function test_withdrawStake_reenterWithdrawCredit_reverts() public {
        _run(
            abi.encodeCall(ICrucibleMarket.withdrawStake, (2 ether)),
            abi.encodeCall(ICrucibleMarket.withdrawCredit, ()),
            2 ether
        );
        assertEq(market.credits(address(attacker)), REWARD, "credit untouched");
    }

    /// @dev Unguarded functions re-entered mid-withdrawal see the already-debited state (CEI):
    /// claiming with the stake being withdrawn fails for lack of free stake.
    function test_withdrawStake_reenterClaim_reverts() public {
        _fund();
        vm.prank(requester);
        uint256 id = market.postJob{value: REWARD}(_t(SPEC, 3 ether, BOND, DURATION, WINDOW, K, T, false));
        attacker.setReentry(abi.encodeCall(ICrucibleMarket.claimJob, (id)));
        attacker.exec(abi.encodeCall(ICrucibleMarket.withdrawStake, (1 ether)), 0);
        assertFalse(attacker.reentered(), "claim failed");
        assertEq(
            keccak256(attacker.reentryError()),
            keccak256(abi.encodeWithSelector(InsufficientFreeStake.selector, address(attacker), 2 ether, 3 ether)),
            "saw debited stake"
        );
        _assertSolvent();
    }

    /// @dev A slashed provider that is a contract cannot interfere: settlement sends it nothing.
    function test_settlement_contractParties_succeeds() public {
        MockStepper.Trace memory lie = MockStepper.liar(SEED, 1);
        attacker.exec(abi.encodeCall(ICrucibleMarket.depositStake, ()), STAKE);
        uint256 id = _post();
        attacker.exec(abi.encodeCall(ICrucibleMarket.claimJob, (id)), 0);
        committed[id] = lie;
        attacker.exec(
            abi.encodeCall(
                ICrucibleMarket.submitResult,
                (id, MockStepper.root(lie, K, T / K), MockStepper.hashAt(lie, T), MANIFEST, MODEL)
            ),
            0
        );
        uint256 d = _challenge(challenger, id, 0);
        vm.warp(block.timestamp + 60); // the provider's chess clock ran out
        uint256 before = address(attacker).balance;
        market.timeout(d);
        assertEq(address(attacker).balance, before, "no push payment");
        assertFalse(attacker.attempted(), "no callback");
        _assertSolvent();
    }
}
