// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @notice Gas of whole transactions against the targets of the issue. Each call is measured as a
/// fresh transaction would pay it: the market's storage is cooled first (`vm.cool`), and the
/// intrinsic cost (21000 + calldata, EIP-2028) and the refund cap (EIP-3529) are added.
contract GasTest is MarketFixture {
    using MockStepper for MockStepper.Trace;

    uint256 internal constant HAPPY_PATH_TARGET = 400_000;
    uint256 internal constant MOVE_TARGET = 80_000;
    uint256 internal constant DISPUTE_TARGET = 1_000_000;
    uint256 internal constant DISPUTE_ARITY2_BOUND = 1_280_000;
    uint256 internal constant COLD_ACCOUNT_ACCESS = 2600;
    uint256 internal constant WARM_ACCESS = 100;

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
        // A fresh transaction that the market delegates pays the cold access to the module. The
        // test EVM keeps it warm across calls (`vm.cool` does not cool an account here), so `_call`
        // warms it on purpose and the difference (2600 - 100, EIP-2929) is added.
        if (_delegated(bytes4(data))) used += COLD_ACCOUNT_ACCESS - WARM_ACCESS;
        uint256 cap = used / 5;
        gas = used - (refund < cap ? refund : cap);
        ++txCount;
    }

    function _call(address from, uint256 value, bytes memory data) internal returns (uint256 gas) {
        vm.cool(address(market));
        require(disputeModule.code.length > 0, "module deployed"); // warm: see `_txGas`
        vm.prank(from);
        (bool ok, bytes memory ret) = address(market).call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        gas = _txGas(data);
    }

    /// @dev The functions `CrucibleMarket` runs in its `DisputeModule` (DELEGATECALL).
    function _delegated(bytes4 selector) internal pure returns (bool) {
        return selector == ICrucibleMarket.challenge.selector
            || selector == ICrucibleMarket.challengeInitialState.selector
            || selector == ICrucibleMarket.challengeFinalModel.selector
            || selector == ICrucibleMarket.challengeManifest.selector || selector == ICrucibleMarket.timeout.selector
            || selector == ICrucibleMarket.submitVerdict.selector || selector == ICrucibleMarket.settleDispute.selector
            || selector == ICrucibleMarket.claimOracleFee.selector || selector == ICrucibleMarket.setParams.selector
            || selector == ICrucibleMarket.scheduleOracleSet.selector;
    }

    function test_gas_happyPath_underTarget_succeeds() public {
        MockStepper.Trace memory tr = MockStepper.honest(SEED);
        uint256 total;
        uint256 g;
        g = _call(provider, STAKE, abi.encodeCall(ICrucibleMarket.depositStake, ()));
        console.log("first depositStake (not in the happy path)", g);
        txCount = 0;
        g = _call(requester, REWARD, abi.encodeCall(ICrucibleMarket.postJob, (_terms(K, T, ARITY, false))));
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
        assertEq(txCount, 5, "happy path transactions");
    }

    /// @dev k = 128, one challenger: challenge + rounds x (dissect + respond) + 2 verdicts (the
    /// 2-of-3 quorum) + the winner's withdraw. Returns the total; logs the provider's defence gas.
    function _dispute(bool providerLies, uint8 arity) internal returns (uint256 total) {
        MockStepper.Trace memory providerTrace = providerLies ? MockStepper.liar(SEED, 300) : MockStepper.honest(SEED);
        MockStepper.Trace memory challengerTrace = providerLies ? MockStepper.honest(SEED) : MockStepper.liar(SEED, 300);
        uint256 jobId = _postArity(K, T, arity, false);
        _claim(jobId);
        _submit(jobId, providerTrace);
        txCount = 0;
        total = _openSegment(jobId, providerTrace);
        console.log("challenge", total);
        uint256 d = market.disputeCount();
        (uint256 played, uint256 defence) = _dissection(d, providerTrace, challengerTrace);
        total += played;
        console.log("after dissection", total);
        (uint256 closing, uint256 w) = _close(d, providerLies);
        _report(arity, total + closing, providerLies ? defence : defence + w, providerLies);
        total += closing;
    }

    /// @dev The two deciding verdicts and the winner's withdrawal: (their gas, the withdrawal's).
    function _close(uint256 d, bool providerLies) internal returns (uint256 total, uint256 w) {
        Verdict v = providerLies ? Verdict.ProviderWrong : Verdict.ProviderCorrect;
        total += _call(oracle1, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, v)));
        total += _call(oracle2, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, v)));
        w = _call(providerLies ? challenger : provider, 0, abi.encodeCall(ICrucibleMarket.withdrawCredit, ()));
        total += w;
    }

    function _openSegment(uint256 jobId, MockStepper.Trace memory providerTrace) internal returns (uint256) {
        uint256 j = 2; // steps 256..384 contain the divergence at 300
        bytes32[] memory ls = providerTrace.leaves(K, T / K);
        return _call(
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
    }

    function _report(uint8 arity, uint256 total, uint256 defence, bool providerLies) internal view {
        console.log("arity", arity);
        console.log("rounds", market.roundsFor(K, arity));
        console.log("dispute total", total);
        console.log("max move", maxMove);
        console.log("transactions", txCount);
        console.log("provider defence gas (dissects + withdraw)", defence);
        console.log("defenceGas() stated", market.defenceGas(K, arity));
        if (!providerLies) assertLe(defence, market.defenceGas(K, arity), "stated defence gas covers the measured");
        assertEq(txCount, 1 + 2 * market.roundsFor(K, arity) + 3, "dispute transactions");
    }

    /// @dev Both sides' moves down to one step: (gas of all moves, the provider's part).
    function _dissection(uint256 d, MockStepper.Trace memory providerTrace, MockStepper.Trace memory challengerTrace)
        internal
        returns (uint256 total, uint256 defence)
    {
        while (market.getDispute(d).status == DisputeStatus.Dissecting) {
            (bytes32[] memory hs, bytes32[] memory cids) = _points(d, providerTrace);
            uint256 g = _call(provider, 0, abi.encodeCall(ICrucibleMarket.dissect, (d, hs, cids)));
            defence += g;
            if (g > maxMove) maxMove = g;
            total += g;
            uint256 index = _pick(d, hs, challengerTrace);
            g = _call(challenger, 0, abi.encodeCall(ICrucibleMarket.respond, (d, index, hs, cids)));
            if (g > maxMove) maxMove = g;
            total += g;
        }
    }

    function _points(uint256 d, MockStepper.Trace memory tr)
        internal
        view
        returns (bytes32[] memory hs, bytes32[] memory cids)
    {
        uint256[] memory pts = market.dissectionPoints(d);
        hs = new bytes32[](pts.length - 2);
        cids = new bytes32[](pts.length - 2);
        for (uint256 i; i < hs.length; ++i) {
            hs[i] = tr.hashAt(pts[i + 1]);
            cids[i] = keccak256(abi.encode(pts[i + 1]));
        }
    }

    function _pick(uint256 d, bytes32[] memory hs, MockStepper.Trace memory tr) internal view returns (uint256) {
        uint256[] memory pts = market.dissectionPoints(d);
        for (uint256 i; i < hs.length; ++i) {
            if (hs[i] != tr.hashAt(pts[i + 1])) return i;
        }
        return hs.length;
    }

    // ---------------------------------------------------------------- the honest provider's defence

    uint256 internal constant DEFENCE_MARGIN_PCT = 20; // defenceGas >= measured + 20% (§1.7)

    /// @dev Every transaction an honest provider sends in a false segment dispute on a job of
    /// checkpoint interval `k`, in its two dearest courses: all `rounds` dissects, then the
    /// `timeout` it calls itself (the oracles never answer and it voids the dispute, or the
    /// challenger goes silent after the last dissect and it wins by the clock), then its
    /// `withdrawCredit`. Every credit starts at zero (the dearest writes). Returns the dearer total.
    function _defence(uint32 k, uint8 arity) internal returns (uint256 worst) {
        for (uint256 course; course < 2; ++course) {
            bool voided = course == 0;
            _withdrawAll(challenger); // a fresh credit slot for the void's refund
            MockStepper.Trace memory honest = MockStepper.honest(SEED);
            MockStepper.Trace memory griefer = MockStepper.liar(SEED, 1);
            uint256 jobId = _postArity(k, uint64(k) * 4, arity, false);
            _claim(jobId);
            _submit(jobId, honest);
            _challenge(challenger, jobId, 0);
            uint256 d = market.disputeCount();
            uint256 spent;
            while (true) {
                (bytes32[] memory hs, bytes32[] memory cids) = _points(d, honest);
                spent += _call(provider, 0, abi.encodeCall(ICrucibleMarket.dissect, (d, hs, cids)));
                Dispute memory ds = market.getDispute(d);
                if (!voided && ds.b - ds.a <= arity) break; // the griefer leaves the last part unanswered
                uint256 index = _pick(d, hs, griefer);
                _call(challenger, 0, abi.encodeCall(ICrucibleMarket.respond, (d, index, hs, cids)));
                if (market.getDispute(d).status == DisputeStatus.AwaitingOracle) break;
            }
            vm.warp(market.disputeDeadline(d));
            spent += _call(provider, 0, abi.encodeCall(ICrucibleMarket.timeout, (d)));
            vm.warp(block.timestamp + WINDOW + 60);
            market.finalizeJob(jobId); // the happy path's own transaction, not the defence's
            spent += _call(provider, 0, abi.encodeCall(ICrucibleMarket.withdrawCredit, ()));
            if (spent > worst) worst = spent;
        }
    }

    /// @dev The stated `defenceGas` covers the measured defence plus the stated margin for every
    /// arity at k = 128 and from one round (k = 2) to twelve (k = 4096), and is not padded past
    /// twice the margin.
    function test_gas_defenceGasCoversEveryProviderTransaction_succeeds() public {
        uint32[7] memory ks = [uint32(128), 128, 128, 128, 2, 4096, 4096];
        uint8[7] memory arities = [2, 4, 8, 16, 2, 2, 16];
        for (uint256 i; i < ks.length; ++i) {
            uint256 measured = _defence(ks[i], arities[i]);
            uint256 stated = market.defenceGas(ks[i], arities[i]);
            console.log("k", ks[i]);
            console.log("arity", arities[i]);
            console.log("measured defence: dissects + timeout + withdrawCredit", measured);
            console.log("stated defenceGas", stated);
            assertGe(stated * 100, measured * (100 + DEFENCE_MARGIN_PCT), "defenceGas >= measured + 20%");
            assertLe(stated * 100, measured * (100 + 2 * DEFENCE_MARGIN_PCT), "defenceGas <= measured + 40%");
        }
    }

    /// @dev A Manifest dispute: challengeManifest + 2 verdicts + withdraw (no dissection, no proofs).
    function test_gas_manifestDispute_underTarget_succeeds() public {
        uint256 jobId = _submitted(MockStepper.honest(SEED));
        txCount = 0;
        uint256 total = _call(challenger, BOND, abi.encodeCall(ICrucibleMarket.challengeManifest, (jobId)));
        console.log("challengeManifest", total);
        uint256 d = market.disputeCount();
        total += _call(oracle1, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, Verdict.ProviderDataUnavailable)));
        total += _call(oracle2, 0, abi.encodeCall(ICrucibleMarket.submitVerdict, (d, Verdict.ProviderWrong)));
        total += _call(challenger, 0, abi.encodeCall(ICrucibleMarket.withdrawCredit, ()));
        console.log("manifest dispute total", total);
        assertLe(total, DISPUTE_TARGET, "dispute gas");
        assertEq(txCount, 4, "dispute transactions");
    }

    /// @dev Arity 2 (7 rounds, 18 transactions with the 2-of-3 quorum's two verdicts) misses the
    /// issue's 1.0M target: see docs/dispute-game.md §3.4. Pinned so that it cannot grow unseen.
    function test_gas_disputeProviderWrong_arity2_underBound_succeeds() public {
        assertLe(_dispute(true, 2), DISPUTE_ARITY2_BOUND, "k = 128, arity 2");
        assertLe(maxMove, MOVE_TARGET, "move gas");
    }

    function test_gas_disputeProviderRight_arity2_underBound_succeeds() public {
        assertLe(_dispute(false, 2), DISPUTE_ARITY2_BOUND, "k = 128, arity 2");
        assertLe(maxMove, MOVE_TARGET, "move gas");
    }

    function test_gas_disputeProviderWrong_arity4_succeeds() public {
        assertLe(_dispute(true, 4), DISPUTE_TARGET, "k = 128, arity 4");
    }

    function test_gas_disputeProviderRight_arity4_succeeds() public {
        assertLe(_dispute(false, 4), DISPUTE_TARGET, "k = 128, arity 4");
    }

    function test_gas_disputeProviderWrong_arity8_succeeds() public {
        assertLe(_dispute(true, 8), DISPUTE_TARGET, "k = 128, arity 8");
    }

    function test_gas_disputeProviderRight_arity8_succeeds() public {
        assertLe(_dispute(false, 8), DISPUTE_TARGET, "k = 128, arity 8");
    }

    function test_gas_disputeProviderWrong_arity16_succeeds() public {
        assertLe(_dispute(true, 16), DISPUTE_TARGET, "k = 128, arity 16");
    }

    function test_gas_disputeProviderRight_arity16_succeeds() public {
        assertLe(_dispute(false, 16), DISPUTE_TARGET, "k = 128, arity 16");
    }
}
