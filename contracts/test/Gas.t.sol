// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @notice Gas of whole transactions against the targets of the issue. Each call is measured as a
/// fresh transaction would pay it: the market's storage is cooled first (`vm.cool`), and the
/// intrinsic cost (21000 + calldata, EIP-2028) and the refund cap (EIP-3529) are added.
contract GasTest is MarketFixture {
    using MockStepper for MockStepper.Trace;

    uint256 internal constant HAPPY_PATH_TARGET = 400_000;
    uint256 internal constant MOVE_TARGET = 60_000;
    uint256 internal constant DISPUTE_TARGET = 1_000_000;
    uint256 internal constant DISPUTE_TX_TARGET = 17;
    /// @dev The issue's dispute target counts one verdict (17 transactions); a 2-of-3 quorum adds
    /// a transaction and a vote.
    uint256 internal constant DISPUTE_QUORUM_TWO_BOUND = 1_050_000;

    uint256 internal txCount;
    uint256 internal maxMove;

    function setUp() public override {
        super.setUp();
        // On every live chain address(0) holds ETH; in the test EVM it is empty, and the first
        // burn would pay 25000 for creating it.
        vm.deal(address(0), 1);
    }

    /// @dev Gas a transaction with this calldata would pay for the call just made.
    function _txGas(bytes memory data) internal returns (uint256 gas) {
        Vm.Gas memory g = vm.lastCallGas();
        uint256 used = g.gasTotalUsed;
        uint256 refund = g.gasRefunded > 0 ? uint256(uint64(g.gasRefunded)) : 0;
        uint256 intrinsic = 21_000;
        for (uint256 i; i < data.length; ++i) {
            intrinsic += data[i] == 0 ? 4 : 16;
        }
        used += intrinsic;
        uint256 cap = used / 5;
        gas = used - (refund < cap ? refund : cap);
        ++txCount;
    }

    function _call(address from, uint256 value, bytes memory data) internal returns (uint256 gas) {
        vm.cool(address(market));
        vm.prank(from);
        (bool ok, bytes memory ret) = address(market).call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        gas = _txGas(data);
    }

    function test_gas_happyPath_underTarget_succeeds() public {
        _deposit(provider, STAKE);
        MockStepper.Trace memory tr = MockStepper.honest(SEED);
        uint256 total;
        uint256 g;
        g = _call(
            requester,
            REWARD,
            abi.encodeCall(ICrucibleMarket.postJob, (SPEC, STAKE, BOND, DURATION, WINDOW, K, T, false))
        );
        console.log("postJob", g);
        total += g;
        g = _call(provider, 0, abi.encodeCall(ICrucibleMarket.claimJob, (1)));
        console.log("claimJob", g);
        total += g;
        g = _call(
            provider,
            0,
            abi.encodeCall(ICrucibleMarket.submitResult, (1, tr.root(K, T / K), tr.hashAt(T), MANIFEST, MODEL))
        );
        console.log("submitResult", g);
        total += g;
        vm.warp(block.timestamp + WINDOW);
        g = _call(stranger, 0, abi.encodeCall(ICrucibleMarket.finalizeJob, (1)));
        console.log("finalizeJob", g);
        total += g;
        g = _call(provider, 0, abi.encodeCall(ICrucibleMarket.withdrawCredit, ()));
        console.log("withdrawCredit", g);
        total += g;
        console.log("happy path total", total);
        assertLe(total, HAPPY_PATH_TARGET, "happy path gas");
    }

    /// @dev k = 128: challenge + 7 bisect + 7 respond + verdict + withdraw.
    function _dispute(bool providerLies, uint256 quorum) internal returns (uint256 total) {
        if (quorum > 1) market.setQuorum(quorum);
        MockStepper.Trace memory h = MockStepper.honest(SEED);
        MockStepper.Trace memory l = MockStepper.liar(SEED, 300);
        MockStepper.Trace memory providerTrace = providerLies ? l : h;
        MockStepper.Trace memory challengerTrace = providerLies ? h : l;
        uint256 jobId = _submitted(providerTrace);
        uint256 j = 2; // steps 256..384 contain the divergence at 300
        bytes32[] memory ls = providerTrace.leaves(K, T / K);
        total += _call(
            challenger,
            BOND,
            abi.encodeCall(
                ICrucibleMarket.challenge,
                (
                    jobId,
                    j,
                    providerTrace.hashAt(j * K),
                    providerTrace.hashAt((j + 1) * K),
                    MockStepper.proof(ls, j),
                    MockStepper.proof(ls, j + 1)
                )
            )
        );
        console.log("challenge", total);
        uint256 d = market.disputeCount();
        while (market.getDispute(d).status == DisputeStatus.Bisecting) {
            Dispute memory ds = market.getDispute(d);
            uint256 m = (uint256(ds.a) + ds.b) / 2;
            uint256 g = _call(
                provider,
                0,
                abi.encodeCall(ICrucibleMarket.bisect, (d, providerTrace.hashAt(m), keccak256(abi.encode(m))))
            );
            if (g > maxMove) maxMove = g;
            total += g;
            g = _call(
                challenger,
                0,
                abi.encodeCall(ICrucibleMarket.respond, (d, providerTrace.hashAt(m) == challengerTrace.hashAt(m)))
            );
            if (g > maxMove) maxMove = g;
            total += g;
        }
        console.log("after bisection", total);
        Verdict v = providerLies ? Verdict.ProviderWrong : Verdict.ProviderCorrect;
        total += _call(oracle1, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, v)));
        if (quorum > 1) total += _call(oracle2, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, v)));
        console.log("after verdicts", total);
        address winner = providerLies ? challenger : provider;
        total += _call(winner, 0, abi.encodeCall(ICrucibleMarket.withdrawCredit, ()));
        console.log("dispute total", total);
        console.log("max move", maxMove);
        console.log("transactions", txCount);
        assertLe(total, quorum > 1 ? DISPUTE_QUORUM_TWO_BOUND : DISPUTE_TARGET, "dispute gas");
        assertLe(maxMove, MOVE_TARGET, "move gas");
        assertLe(txCount, DISPUTE_TX_TARGET + quorum - 1, "dispute transactions");
    }

    /// @dev A Manifest dispute: challengeManifest + verdict + withdraw (no bisection, no proofs).
    function test_gas_manifestDispute_underTarget_succeeds() public {
        uint256 jobId = _submitted(MockStepper.honest(SEED));
        uint256 total = _call(challenger, BOND, abi.encodeCall(ICrucibleMarket.challengeManifest, (jobId)));
        console.log("challengeManifest", total);
        uint256 d = market.disputeCount();
        total += _call(oracle1, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, Verdict.ProviderDataUnavailable)));
        total += _call(challenger, 0, abi.encodeCall(ICrucibleMarket.withdrawCredit, ()));
        console.log("manifest dispute total", total);
        assertLe(total, DISPUTE_TARGET, "dispute gas");
        assertEq(txCount, 3, "dispute transactions");
    }

    function test_gas_disputeProviderWrong_underTarget_succeeds() public {
        _dispute(true, 1);
    }

    function test_gas_disputeProviderRight_underTarget_succeeds() public {
        _dispute(false, 1);
    }

    function test_gas_disputeQuorumTwo_underBound_succeeds() public {
        _dispute(true, 2);
    }
}
