// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @notice The dispute game v2 (docs/dispute-game.md): k-ary dissection, chess clocks, verdicts,
/// voids, shared rewards, oracle epochs, and one test per problem of issue 11, each asserting the
/// money (who lost what, who was paid) and solvency.
contract DisputeTest is MarketFixture, ICrucibleErrors {
    using MockStepper for MockStepper.Trace;

    MockStepper.Trace internal honestTrace;
    MockStepper.Trace internal liarTrace;
    uint256 internal constant DIVERGE = 300; // inside segment 2 (256..384)
    uint256 internal constant BPS = 10_000;

    address internal accomplice;
    address internal copycat;

    function setUp() public override {
        super.setUp();
        honestTrace = MockStepper.honest(SEED);
        liarTrace = MockStepper.liar(SEED, DIVERGE);
        accomplice = makeAddr("accomplice");
        copycat = makeAddr("copycat");
        vm.deal(accomplice, 100 ether);
        vm.deal(copycat, 100 ether);
        // address(0) holds ETH on every live chain; burns go there
        vm.deal(address(0), 1);
    }

    // ---------------------------------------------------------------- helpers

    function _liarAtOneStep() internal returns (uint256 jobId, uint256 d) {
        jobId = _submitted(liarTrace);
        d = _challenge(challenger, jobId, _firstBadSegment(jobId, honestTrace));
        _playOut(d, liarTrace, honestTrace);
    }

    function _falseChallengeAtOneStep() internal returns (uint256 jobId, uint256 d) {
        jobId = _submitted(honestTrace);
        d = _challenge(challenger, jobId, 2);
        _playOut(d, honestTrace, liarTrace);
    }

    function _burned() internal view returns (uint256) {
        return market.totalBurned();
    }

    // ---------------------------------------------------------------- k-ary dissection

    function test_dissect_kAryPoints_succeeds() public {
        uint256 id = _postArity(K, T, 4, false);
        _claim(id);
        _submit(id, liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        uint256[] memory pts = market.dissectionPoints(d);
        assertEq(pts.length, 5, "arity 4: five points");
        assertEq(pts[0], 256, "m0 = a");
        assertEq(pts[1], 288, "m1");
        assertEq(pts[4], 384, "m4 = b");
        _dissect(d, liarTrace);
        assertTrue(market.getDispute(d).awaitingResponse, "challenger's turn");
        // honest challenger: H(288) agrees, H(320) differs (the lie starts at 300): part 1
        _respond(d, honestTrace);
        Dispute memory ds = market.getDispute(d);
        assertEq(ds.a, 288, "a");
        assertEq(ds.b, 320, "b");
        assertEq(ds.hashA, honestTrace.hashAt(288), "agreed H(a)");
        assertEq(ds.hashB, liarTrace.hashAt(320), "rejected H(b)");
        assertEq(ds.stateCidA, keccak256(abi.encode("cid", uint256(288))), "S_a's CID");
        _playOut(d, liarTrace, honestTrace);
        ds = market.getDispute(d);
        assertTrue(ds.status == DisputeStatus.AwaitingOracle, "one step left");
        assertEq(ds.a, DIVERGE - 1, "the first wrong step");
        assertEq(ds.b, DIVERGE, "one step");
        assertEq(market.roundsFor(K, 4), 4, "ceil(log4 128) = 4");
    }

    function test_dissect_badMoves_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        bytes32[] memory two = new bytes32[](2);
        bytes32[] memory one = new bytes32[](1);
        vm.startPrank(provider);
        vm.expectRevert(abi.encodeWithSelector(WrongPointCount.selector, d, 2, 1, 1));
        market.dissect(d, two, one);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "hashes"));
        market.dissect(d, one, one);
        one[0] = bytes32(uint256(1));
        bytes32[] memory zero = new bytes32[](1);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "stateCids"));
        market.dissect(d, one, zero);
        vm.stopPrank();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotProvider.selector, id, stranger));
        market.dissect(d, one, one);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(NotYourTurn.selector, d, challenger));
        market.respond(d, 0, one, one);
        _dissect(d, liarTrace);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(NotYourTurn.selector, d, provider));
        market.dissect(d, one, one);
        bytes32[] memory hs = postedHashes[d];
        bytes32[] memory cids = postedCids[d];
        vm.startPrank(challenger);
        vm.expectRevert(abi.encodeWithSelector(PointsMismatch.selector, d));
        market.respond(d, 0, one, cids);
        vm.expectRevert(abi.encodeWithSelector(PartOutOfRange.selector, d, 2, 2));
        market.respond(d, 2, hs, cids);
        vm.stopPrank();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotChallenger.selector, d, stranger));
        market.respond(d, 0, hs, cids);
    }

    function test_challenge_zeroHash_reverts() public {
        uint256 id = _submitted(honestTrace);
        bytes32[] memory p = new bytes32[](3);
        vm.startPrank(challenger);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "hashJ"));
        market.challenge{value: BOND}(id, 0, 0, bytes32(uint256(1)), p, p);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "hashJ1"));
        market.challenge{value: BOND}(id, 0, bytes32(uint256(1)), 0, p, p);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "initialStateHash"));
        market.challengeInitialState{value: BOND}(id, 0, p);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- outcomes and money (§2)

    function test_submitVerdict_providerWrong_slashes_succeeds() public {
        (uint256 id, uint256 d) = _liarAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        assertTrue(market.hasVoted(d, oracle1), "first vote stored");
        uint256 net = STAKE - ORACLE_FEE;
        uint256 pool = (net * 1000) / BPS;
        uint256 toRequester = (net * 1000) / BPS;
        vm.expectEmit();
        emit ICrucibleMarket.ProviderSlashed(
            id, d, provider, STAKE, ORACLE_FEE, pool, 1, toRequester, net - pool - toRequester
        );
        _vote(oracle2, d, Verdict.ProviderDataUnavailable);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "slashed");
        assertEq(market.credits(challenger), BOND + pool, "challenger: bond + pool");
        assertEq(market.credits(requester), REWARD + toRequester, "requester: escrow + share");
        assertEq(market.credits(oracle2), ORACLE_FEE / 2, "deciding oracle paid now");
        vm.prank(oracle1);
        market.claimOracleFee(d);
        assertEq(market.credits(oracle1), ORACLE_FEE / 2, "earlier matching vote paid on claim");
        assertEq(market.credits(provider), 0, "provider nothing");
        assertEq(market.providerInfo(provider).locked, 0, "stake gone");
        assertEq(_burned(), net - pool - toRequester, "rest burned");
        _assertSolvent();
    }

    function test_submitVerdict_providerCorrect_forfeitsBond_succeeds() public {
        (uint256 id, uint256 d) = _falseChallengeAtOneStep();
        _decide(d, Verdict.ProviderCorrect);
        uint256 toProvider = ((BOND - ORACLE_FEE) * 5000) / BPS;
        assertTrue(market.getDispute(d).status == DisputeStatus.ProviderWon, "provider won");
        assertEq(market.credits(challenger), 0, "challenger lost its bond");
        assertEq(market.credits(provider), toProvider, "provider's share of the bond");
        assertEq(_burned(), BOND - ORACLE_FEE - toProvider, "rest burned");
        // window reopened for reactionTime from the verdict
        assertEq(market.getJob(id).windowEnd, block.timestamp + 30, "reopened");
        vm.warp(block.timestamp + 30);
        market.finalizeJob(id);
        assertEq(market.credits(provider), REWARD + toProvider, "reward + bond share");
        _assertSolvent();
    }

    function test_timeout_beforeDeadline_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        uint256 deadline = market.disputeDeadline(d);
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(NotTimedOut.selector, d, deadline));
        market.timeout(d);
        vm.warp(deadline);
        bytes32[] memory one = new bytes32[](1);
        one[0] = bytes32(uint256(1));
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(MoveOverdue.selector, d, deadline));
        market.dissect(d, one, one);
        market.timeout(d);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "provider's clock ran out");
    }

    // ================================================================ issue 11, problem by problem

    /// @dev Problem 1: the cheater's second account challenges first and the provider goes
    /// silent; the honest verifier's own challenge still opens and shares the pool, and the cheater
    /// (provider + accomplice + even the requester) loses >= 80% of the stake at every allowed share.
    function testFuzz_problem1_selfChallenge_cheaterLosesAtLeast80Percent(uint16 cBps, uint16 rBps) public {
        Params memory p = defaultParams();
        p.challengerShareBps = uint16(bound(cBps, 0, 2000));
        p.requesterShareBps = uint16(bound(rBps, 0, 2000 - p.challengerShareBps));
        market.setParams(p);
        uint256 id = _submitted(liarTrace);
        uint256 dAccomplice = _challenge(accomplice, id, 2);
        uint256 dHonest = _challenge(challenger, id, 2); // does not revert: disputes never block each other
        assertEq(market.getJob(id).liveDisputes, 2, "two live disputes");
        // the provider stays silent in the accomplice's dispute: its clock runs out
        vm.warp(market.disputeDeadline(dAccomplice));
        market.timeout(dAccomplice);
        market.settleDispute(dHonest);
        uint256 pool = (uint256(STAKE) * p.challengerShareBps) / BPS;
        uint256 toRequester = (uint256(STAKE) * p.requesterShareBps) / BPS;
        assertEq(market.credits(challenger), BOND + pool / 2, "honest verifier: bond + half the pool");
        assertEq(market.credits(accomplice), BOND + pool / 2, "accomplice: bond + half the pool");
        assertEq(market.credits(requester), REWARD + toRequester, "requester");
        uint256 recovered = pool / 2 + toRequester; // all the cheater's accounts could get back
        assertGe((uint256(STAKE) - recovered) * BPS, uint256(STAKE) * 8000, "cheater loses >= 80%");
        assertTrue(market.getDispute(dHonest).status == DisputeStatus.ChallengerWon, "honest won");
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, dHonest, DisputeStatus.ChallengerWon));
        market.settleDispute(dHonest); // paid once
        _assertSolvent();
    }

    /// @dev Problem 1, the shape of v1's attack at the old extreme setting: refused by the bounds.
    function test_problem1_selfChallenge_sharesAboveBoundRefused_reverts() public {
        Params memory p = defaultParams();
        p.challengerShareBps = 10_000;
        p.requesterShareBps = 0;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "challengerShareBps", 10_000, 0, 2000));
        market.setParams(p);
    }

    /// @dev Problem 2: a copy of the honest challenge from the mempool opens its own dispute and
    /// shares the pool; the honest challenger is not robbed, the copycat carries the same bond.
    function test_problem2_copycat_bothPaidNeitherRobbed_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 dCopy = _challenge(copycat, id, 2); // mined first
        uint256 dHonest = _challenge(challenger, id, 2);
        _playOut(dHonest, liarTrace, honestTrace);
        _decide(dHonest, Verdict.ProviderWrong);
        market.settleDispute(dCopy);
        uint256 pool = ((uint256(STAKE) - ORACLE_FEE) * 1000) / BPS;
        assertEq(market.credits(challenger), BOND + pool / 2, "honest: bond + half the pool");
        assertEq(market.credits(copycat), BOND + pool / 2, "copycat: bond + half the pool, no more");
        assertEq(market.getJob(id).liveDisputes, 0, "all settled");
        _withdrawAll(challenger);
        _withdrawAll(copycat);
        _assertSolvent();
    }

    /// @dev Problem 3: the oracle does not answer; the void costs the challenger only the void fee,
    /// the window reopens for reactionTime, the verifier challenges again and the cheater is slashed.
    function test_problem3_oracleOutage_voidReopensAndSecondChallengeSlashes_succeeds() public {
        (uint256 id, uint256 d) = _liarAtOneStep();
        vm.warp(market.disputeDeadline(d));
        market.timeout(d);
        uint256 voidFee = (uint256(BOND) * 1000) / BPS; // above the provider's dispute cost here
        assertEq(market.voidFeeFor(id, BOND), voidFee, "void fee: 10% of the bond");
        assertTrue(market.getDispute(d).status == DisputeStatus.Voided, "voided");
        assertEq(market.credits(challenger), BOND - voidFee, "bond minus the void fee");
        assertEq(market.credits(provider), voidFee, "the void fee to the provider");
        uint256 windowEnd = market.getJob(id).windowEnd;
        assertGe(windowEnd, block.timestamp + 30, "window reopened >= reactionTime");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "not finalizable");
        vm.warp(windowEnd - 1); // the verifier's second audit, at the last second
        assertEq(market.bondFor(id), 2 * uint256(BOND), "the bond doubled after a dispute without a slash");
        uint256 d2 = _challenge(challenger, id, 2);
        assertEq(market.getDispute(d2).bond, 2 * uint256(BOND), "the second dispute's bond");
        _playOut(d2, liarTrace, honestTrace);
        _decide(d2, Verdict.ProviderWrong);
        uint256 pool = ((uint256(STAKE) - ORACLE_FEE) * 1000) / BPS;
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "cheater slashed");
        assertEq(market.credits(challenger), 3 * uint256(BOND) - voidFee + pool, "both bonds back, less one void fee");
        assertEq(market.credits(provider), voidFee, "cheater kept only the void fee");
        _assertSolvent();
    }

    /// @dev Problem 3, the squeeze: a decoy front-runs a late honest challenge. Both open; the
    /// decoy loses its bond, the honest challenge slashes and takes the whole pool.
    function test_problem3_decoyFrontRunsLateHonestChallenge_succeeds() public {
        uint256 id = _submitted(liarTrace);
        vm.warp(market.getJob(id).windowEnd - 1);
        uint256 dDecoy = _challenge(accomplice, id, 0); // segment 0 is correct: a decoy
        uint256 dHonest = _challenge(challenger, id, 2); // same block, still opens
        _playOut(dDecoy, liarTrace, liarTrace);
        _decide(dDecoy, Verdict.ProviderCorrect);
        assertTrue(market.jobStatus(id) == JobStatus.Disputed, "honest dispute still live");
        _playOut(dHonest, liarTrace, honestTrace);
        _decide(dHonest, Verdict.ProviderWrong);
        uint256 pool = ((uint256(STAKE) - ORACLE_FEE) * 1000) / BPS;
        assertEq(market.credits(accomplice), 0, "decoy lost its bond");
        assertEq(market.credits(challenger), BOND + pool, "honest: bond + the whole pool");
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "slashed");
        _assertSolvent();
    }

    /// @dev Problem 4: every void costs the griefer the void fee (to the provider), the bond doubles
    /// with each, and the honest provider is paid by `payoutBound` whatever the griefer does.
    function test_problem4_freeGriefing_voidCostsAndPayoutBounded_succeeds() public {
        uint256 id = _submitted(honestTrace);
        address griefer = stranger;
        uint256 fees;
        uint256 before = griefer.balance;
        for (uint256 i; i < 3; ++i) {
            uint256 boundBefore = market.payoutBound(id);
            uint256 bond = uint256(BOND) << i;
            assertEq(market.bondFor(id), bond, "bond << level");
            fees += market.voidFeeFor(id, bond);
            vm.prank(griefer);
            uint256 d = market.challengeManifest{value: bond}(id);
            uint256 bound_ = market.payoutBound(id);
            assertGe(bound_, boundBefore, "bound moves only when a paid dispute opens");
            assertEq(bound_, block.timestamp + 60 + 30, "oracle deadline + reactionTime");
            vm.warp(market.disputeDeadline(d)); // the oracles refuse to vote (dataset deleted)
            market.timeout(d);
        }
        uint256 payAt = market.payoutBound(id);
        vm.warp(payAt);
        market.finalizeJob(id);
        _withdrawAll(griefer);
        assertEq(fees, 7 * ((uint256(BOND) * 1000) / BPS), "10% of BOND, 2 BOND and 4 BOND");
        assertEq(before - griefer.balance, fees, "griefer paid the void fee each time");
        assertEq(market.credits(provider), REWARD + fees, "provider: reward + every void fee");
        uint256 dmax = market.disputeDurationBound(id);
        uint256 next = market.voidFeeFor(id, 8 * uint256(BOND));
        assertEq(market.delayCostPerHour(id), (next * 3600) / (dmax + 30), "stated cost per hour: the next void");
        _assertSolvent();
    }

    /// @dev Problem 5: a new oracle set scheduled during a live dispute changes nothing for it;
    /// jobs claimed after it took effect are decided by the new set only.
    function test_problem5_governance_oracleSetStaysOutOfLiveDisputes_succeeds() public {
        (uint256 id, uint256 d) = _liarAtOneStep();
        address[] memory set = new address[](1);
        set[0] = stranger;
        market.scheduleOracleSet(set, 1); // the owner tries to rescue the cheater
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotOracle.selector, d, 1, stranger));
        market.submitVerdict(d, Verdict.ProviderCorrect);
        _vote(oracle1, d, Verdict.ProviderWrong);
        assertTrue(market.getDispute(d).status == DisputeStatus.AwaitingOracle, "epoch 1's quorum: 2");
        _vote(oracle2, d, Verdict.ProviderWrong);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "decided by epoch 1");
        // a quorum that is not a strict majority is refused
        address[] memory two = new address[](2);
        two[0] = oracle1;
        two[1] = stranger;
        vm.expectRevert(abi.encodeWithSelector(InvalidQuorum.selector, 1, 2));
        market.scheduleOracleSet(two, 1);
        // after the delay, a new dispute records epoch 2: removed oracles cannot vote on it
        vm.warp(block.timestamp + 3000);
        uint256 id2 = _submitted(liarTrace);
        vm.prank(challenger);
        uint256 d2 = market.challengeManifest{value: BOND}(id2);
        assertEq(market.getDispute(d2).epoch, 2, "epoch 2");
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(NotOracle.selector, d2, 2, oracle1));
        market.submitVerdict(d2, Verdict.ProviderCorrect);
        _vote(stranger, d2, Verdict.ProviderWrong);
        assertTrue(market.jobStatus(id2) == JobStatus.Slashed, "decided by epoch 2");
        assertEq(market.credits(stranger), ORACLE_FEE, "the new oracle is paid its verdict");
        _assertSolvent();
    }

    /// @dev Problem 6: chess clocks. Each side's time adds up over the dissection; a side past
    /// its budget still gets moveExtension per move.
    function test_problem6_clocks_chessClockTotalsAndExtension_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        uint256 opened = block.timestamp;
        assertEq(market.disputeDeadline(d), opened + 60, "provider: whole budget");
        vm.warp(opened + 50);
        _dissect(d, liarTrace);
        assertEq(market.getDispute(d).providerClockUsed, 50, "provider used 50 s");
        assertEq(market.disputeDeadline(d), block.timestamp + 60, "challenger: whole budget");
        vm.warp(block.timestamp + 40);
        _respond(d, honestTrace);
        assertEq(market.getDispute(d).challengerClockUsed, 40, "challenger used 40 s");
        // provider has 10 s of budget left, but every move gets at least moveExtension = 30 s
        assertEq(market.disputeDeadline(d), block.timestamp + 30, "extension");
        vm.warp(block.timestamp + 29);
        _dissect(d, liarTrace);
        assertEq(market.getDispute(d).providerClockUsed, 79, "total over budget via extensions");
        assertEq(market.disputeDeadline(d), block.timestamp + 30, "challenger: max(60 - 40, 30)");
        // the challenger is silent: its clock runs out, it loses its bond
        vm.warp(block.timestamp + 30);
        market.timeout(d);
        assertEq(market.credits(provider), (uint256(BOND) * 5000) / BPS, "no oracle fee on a timeout");
        _assertSolvent();
    }

    /// @dev Problem 6: both sides stall to the last second of every turn and the oracles never
    /// answer: the dispute still ends within `disputeDurationBound`, which is the formula.
    function test_problem6_clocks_worstCaseWithinDisputeDurationBound_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        uint256 opened = block.timestamp;
        uint256 rounds = market.roundsFor(K, ARITY);
        uint256 dmax = market.disputeDurationBound(id);
        assertEq(dmax, 2 * (60 + rounds * 30) + 60, "Dmax = 2 (budget + rounds ext) + oracleTimeout");
        while (market.getDispute(d).status == DisputeStatus.Dissecting) {
            vm.warp(market.disputeDeadline(d) - 1);
            _dissect(d, liarTrace);
            vm.warp(market.disputeDeadline(d) - 1);
            _respond(d, honestTrace);
        }
        vm.warp(market.disputeDeadline(d));
        market.timeout(d);
        uint256 took = block.timestamp - opened;
        assertLe(took, dmax, "within the bound");
        // the formula gives each side an extension for its first turn too, which the budget
        // already covers: at most one extension per side and a second per move of slack
        assertGe(took + 2 * 30 + 2 * rounds, dmax, "the bound is tight");
        assertLe(block.timestamp + 30, market.payoutBound(id), "payout bound covers it");
        _assertSolvent();
    }

    /// @dev Problem 7: a stake is required and scales with the reward; a claim without progress
    /// is released by the requester, and the squatter pays.
    function test_problem7_stakeAndSquatting_releaseAfterNoProgress_succeeds() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(StakeTooLow.selector, 0.5 ether, 1 ether));
        market.postJob{value: REWARD}(_t(SPEC, 0.5 ether, BOND, DURATION, WINDOW, K, T, false));
        uint256 id = _post();
        address squatter = stranger;
        _deposit(squatter, STAKE);
        vm.prank(squatter);
        market.claimJob(id);
        vm.warp(block.timestamp + 59);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ProgressNotStale.selector, id, block.timestamp + 1));
        market.releaseJob(id);
        vm.prank(squatter);
        market.reportProgress(id, 1); // a token report buys one more progressTimeout
        vm.warp(block.timestamp + 60);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotRequester.selector, id, stranger));
        market.releaseJob(id);
        vm.prank(requester);
        market.releaseJob(id);
        uint256 toRequester = (uint256(STAKE) * 2000) / BPS;
        assertEq(market.credits(requester), toRequester, "squatter pays the requester");
        assertEq(market.providerInfo(squatter).free, STAKE - toRequester, "rest of the stake back");
        assertTrue(market.jobStatus(id) == JobStatus.Open, "job reopened");
        _claim(id); // an honest provider takes it
        assertTrue(market.jobStatus(id) == JobStatus.Claimed, "claimed again");
        _assertSolvent();
    }

    /// @dev Problem 8: the oracles are paid per verdict by the loser, and the bond of a false
    /// challenge covers the honest provider's defence gas at refGasPrice.
    function test_problem8_oraclePaidByLoserAndBondCoversDefence_succeeds() public {
        (, uint256 d) = _falseChallengeAtOneStep();
        _vote(oracle1, d, Verdict.ProviderCorrect);
        _vote(oracle3, d, Verdict.ProviderCorrect);
        assertEq(market.credits(oracle3), ORACLE_FEE / 2, "deciding oracle paid from the bond");
        vm.prank(oracle1);
        market.claimOracleFee(d);
        assertEq(market.credits(oracle1), ORACLE_FEE / 2, "first oracle paid on claim");
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(NoOracleFee.selector, d, oracle1));
        market.claimOracleFee(d); // once
        vm.prank(oracle2);
        vm.expectRevert(abi.encodeWithSelector(NoOracleFee.selector, d, oracle2));
        market.claimOracleFee(d); // did not vote
        uint256 toProvider = ((BOND - ORACLE_FEE) * 5000) / BPS;
        assertEq(market.credits(provider), toProvider, "provider's share after the fee");
        _assertSolvent();

        // the bond floor: at 50 gwei the defence of 7 rounds costs defenceGas * 50 gwei
        Params memory p = defaultParams();
        p.refGasPrice = 50 gwei;
        market.setParams(p);
        uint256 minBond = market.minBondFor(REWARD, STAKE, K, ARITY);
        uint256 defence = market.defenceGas(K, ARITY) * 50 gwei;
        assertGe(((minBond - ORACLE_FEE) * 5000) / BPS, defence, "provider's share covers its gas");
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(BondBelowDefenceCost.selector, minBond - 1, minBond));
        market.postJob{value: REWARD}(_t(SPEC, STAKE, uint96(minBond - 1), DURATION, WINDOW, K, T, false));
    }

    /// @dev A dispute live when another one slashed the job can only be settled; its moves revert.
    function test_settleDispute_onlyAfterSlash_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d1 = _challenge(challenger, id, 2);
        uint256 d2 = _challenge(copycat, id, 2);
        vm.expectRevert(abi.encodeWithSelector(JobNotSlashed.selector, d2, id));
        market.settleDispute(d2);
        vm.warp(market.disputeDeadline(d1));
        market.timeout(d1);
        vm.expectRevert(abi.encodeWithSelector(DisputeSettlesBySlash.selector, d2, id));
        market.timeout(d2);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Slashed));
        market.challengeManifest{value: BOND}(id);
        market.settleDispute(d2);
        assertEq(market.getJob(id).liveDisputes, 0, "none live");
        _assertSolvent();
    }
}
