// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @notice The dispute game end to end: every outcome, every timeout, both quorums, oracle
/// silence, the direct kinds, and the revert of every dispute function.
contract DisputeTest is MarketFixture, ICrucibleErrors {
    using MockStepper for MockStepper.Trace;

    MockStepper.Trace internal honestTrace;
    MockStepper.Trace internal liarTrace;
    uint256 internal constant DIVERGE = 300; // inside segment 2 (256..384)

    function setUp() public override {
        super.setUp();
        honestTrace = MockStepper.honest(SEED);
        liarTrace = MockStepper.liar(SEED, DIVERGE);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev Lying provider, honest challenger, played down to one step.
    function _liarAtOneStep() internal returns (uint256 jobId, uint256 d) {
        jobId = _submitted(liarTrace);
        d = _challenge(challenger, jobId, _firstBadSegment(jobId, honestTrace));
        _playOut(d, liarTrace, honestTrace);
    }

    /// @dev Honest provider, lying challenger, played down to one step.
    function _falseChallengeAtOneStep() internal returns (uint256 jobId, uint256 d) {
        jobId = _submitted(honestTrace);
        d = _challenge(challenger, jobId, 2);
        _playOut(d, honestTrace, liarTrace);
    }

    function _assertSlashed(uint256 jobId, uint256 d) internal {
        uint256 toChallenger = (uint256(STAKE) * 5000) / 10_000;
        uint256 toRequester = (uint256(STAKE) * 3000) / 10_000;
        assertTrue(market.jobStatus(jobId) == JobStatus.Slashed, "job slashed");
        assertTrue(market.getDispute(d).status == DisputeStatus.ChallengerWon, "challenger won");
        assertEq(market.credits(challenger), BOND + toChallenger, "challenger bond + share");
        assertEq(market.credits(requester), REWARD + toRequester, "requester escrow + share");
        assertEq(market.credits(provider), 0, "provider nothing");
        ProviderInfo memory info = market.providerInfo(provider);
        assertEq(info.locked, 0, "locked gone");
        assertEq(info.slashed, 1, "slashed counter");
        assertEq(market.totalBurned(), STAKE - toChallenger - toRequester, "burned");
        _assertSolvent();
        // payouts leave the contract and nothing is left behind
        _withdrawAll(challenger);
        _withdrawAll(requester);
        assertEq(address(market).balance, 0, "nothing left behind");
    }

    /// @dev Every caller challenged in the block the result was submitted, so the whole window remains.
    function _assertChallengerLost(uint256 jobId, uint256 d) internal view {
        uint256 toProvider = (uint256(BOND) * 5000) / 10_000;
        assertTrue(market.getDispute(d).status == DisputeStatus.ProviderWon, "provider won");
        assertTrue(market.jobStatus(jobId) == JobStatus.Submitted, "back to submitted");
        assertEq(market.credits(provider), toProvider, "provider share");
        assertEq(market.credits(challenger), 0, "bond forfeited");
        assertEq(market.totalBurned(), BOND - toProvider, "burned");
        assertEq(market.getJob(jobId).deadline, block.timestamp + WINDOW, "window resumed with the time left");
        _assertSolvent();
    }

    // ================================================================ challenge

    function test_challenge_validSegment_succeeds() public {
        uint256 id = _submitted(liarTrace);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeOpened(
            1, id, challenger, DisputeKind.Segment, 256, 384, liarTrace.hashAt(256), liarTrace.hashAt(384)
        );
        uint256 d = _challenge(challenger, id, 2);
        Dispute memory ds = market.getDispute(d);
        assertTrue(ds.status == DisputeStatus.Bisecting, "bisecting");
        assertEq(ds.a, 256, "a");
        assertEq(ds.b, 384, "b");
        assertEq(ds.hashA, liarTrace.hashAt(256), "H(a)");
        assertEq(ds.hashB, liarTrace.hashAt(384), "H(b)");
        assertEq(ds.stateCidA, 0, "S_a in manifest");
        assertFalse(ds.awaitingResponse, "provider's turn");
        assertEq(ds.deadline, block.timestamp + 20, "move deadline");
        assertTrue(market.jobStatus(id) == JobStatus.Disputed, "disputed");
        assertEq(market.getJob(id).disputeId, d, "live dispute");
        _assertSolvent();
    }

    function test_challenge_intervalOne_readyImmediately_succeeds() public {
        uint256 id = _postWith(1, 8, false);
        _claim(id);
        _submit(id, MockStepper.liar(SEED, 5));
        vm.expectEmit();
        emit ICrucibleMarket.DisputeReadyForOracle(
            1, id, DisputeKind.Segment, 4, MockStepper.liar(SEED, 5).hashAt(4), MockStepper.liar(SEED, 5).hashAt(5), 0
        );
        uint256 d = _challenge(challenger, id, 4);
        assertTrue(market.getDispute(d).status == DisputeStatus.AwaitingOracle, "ready");
        _vote(oracle1, d, Verdict.ProviderWrong);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "slashed");
        _assertSolvent();
    }

    function test_challenge_wrongBond_reverts() public {
        uint256 id = _submitted(liarTrace);
        bytes32[] memory p = new bytes32[](3);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(WrongBond.selector, BOND - 1, BOND));
        market.challenge{value: BOND - 1}(id, 0, 0, 0, p, p);
    }

    function test_challenge_segmentOutOfRange_reverts() public {
        uint256 id = _submitted(liarTrace);
        bytes32[] memory p = new bytes32[](3);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(SegmentOutOfRange.selector, id, 4, 4));
        market.challenge{value: BOND}(id, 4, 0, 0, p, p);
    }

    function test_challenge_proofLength_reverts() public {
        uint256 id = _submitted(liarTrace);
        bytes32[] memory ls = liarTrace.leaves(K, 4);
        bytes32[] memory good = MockStepper.proof(ls, 1);
        bytes32[] memory short = new bytes32[](2);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(ProofLengthMismatch.selector, 2, 3));
        market.challenge{value: BOND}(id, 0, liarTrace.hashAt(0), liarTrace.hashAt(K), short, good);
    }

    function test_challenge_wrongHash_reverts() public {
        uint256 id = _submitted(liarTrace);
        bytes32[] memory ls = liarTrace.leaves(K, 4);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, 3));
        // the honest hash of checkpoint 3 is not what the liar committed
        market.challenge{value: BOND}(
            id, 2, liarTrace.hashAt(256), honestTrace.hashAt(384), MockStepper.proof(ls, 2), MockStepper.proof(ls, 3)
        );
    }

    function test_challenge_swappedIndex_reverts() public {
        uint256 id = _submitted(liarTrace);
        bytes32[] memory ls = liarTrace.leaves(K, 4);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, 1));
        // leaf 1's proof used for index 1 but with leaf 2's hash
        market.challenge{value: BOND}(
            id, 1, liarTrace.hashAt(256), liarTrace.hashAt(256), MockStepper.proof(ls, 2), MockStepper.proof(ls, 2)
        );
    }

    function test_challenge_afterWindow_reverts() public {
        uint256 id = _submitted(liarTrace);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory p = new bytes32[](3);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Accepted));
        market.challenge{value: BOND}(id, 0, 0, 0, p, p);
    }

    function test_challenge_liveDispute_reverts() public {
        uint256 id = _submitted(liarTrace);
        _challenge(challenger, id, 2);
        bytes32[] memory p = new bytes32[](3);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Disputed));
        market.challenge{value: BOND}(id, 0, 0, 0, p, p);
    }

    function test_challenge_finalizedJob_reverts() public {
        uint256 id = _submitted(liarTrace);
        vm.warp(block.timestamp + WINDOW);
        market.finalizeJob(id);
        bytes32[] memory p = new bytes32[](3);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Finalized));
        market.challenge{value: BOND}(id, 0, 0, 0, p, p);
    }

    function testFuzz_challenge_anySegment_succeeds(uint32 k, uint8 n, uint256 j, uint256 divergeAt) public {
        k = uint32(bound(k, 1, 1000));
        n = uint8(bound(n, 1, 40));
        j = bound(j, 0, n - 1);
        uint256 t = uint256(k) * n;
        MockStepper.Trace memory tr = MockStepper.liar(SEED, bound(divergeAt, 1, t));
        vm.prank(requester);
        uint256 id = market.postJob{value: REWARD}(SPEC, STAKE, BOND, DURATION, WINDOW, k, uint64(t), false);
        _claim(id);
        _submit(id, tr);
        uint256 d = _challenge(challenger, id, j);
        Dispute memory ds = market.getDispute(d);
        assertEq(ds.a, j * k, "a");
        assertEq(ds.b, (j + 1) * k, "b");
        _playOut(d, tr, honestTrace);
        ds = market.getDispute(d);
        assertEq(ds.b, ds.a + 1, "one step");
        assertTrue(ds.status == DisputeStatus.AwaitingOracle, "ready");
        // the honest challenger narrows to the first divergent step when it lies in segment j
        if (tr.divergeAt > j * k && tr.divergeAt <= (j + 1) * k) assertEq(ds.b, tr.divergeAt, "found lie");
        _assertSolvent();
    }

    function testFuzz_challenge_badIndex_reverts(uint256 j, uint256 wrong) public {
        uint256 id = _submitted(liarTrace);
        j = bound(j, 0, 3);
        wrong = bound(wrong, 0, 4);
        vm.assume(wrong != j);
        bytes32[] memory ls = liarTrace.leaves(K, 4);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, j));
        // a proof for another index never verifies at index j
        market.challenge{value: BOND}(
            id,
            j,
            liarTrace.hashAt(j * K),
            liarTrace.hashAt((j + 1) * K),
            MockStepper.proof(ls, wrong),
            MockStepper.proof(ls, j + 1)
        );
    }

    // ================================================================ bisect / respond

    function test_bisect_provider_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeBisected(d, 320, liarTrace.hashAt(320), bytes32("cid320"));
        vm.prank(provider);
        market.bisect(d, liarTrace.hashAt(320), bytes32("cid320"));
        Dispute memory ds = market.getDispute(d);
        assertTrue(ds.awaitingResponse, "challenger's turn");
        assertEq(ds.midHash, liarTrace.hashAt(320), "mid");
        assertEq(ds.midStateCid, bytes32("cid320"), "mid cid");
    }

    function test_bisect_notProvider_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(NotProvider.selector, id, challenger));
        market.bisect(d, 0, 0);
    }

    function test_bisect_twice_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        _bisect(d, liarTrace);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(NotYourTurn.selector, d, provider));
        market.bisect(d, 0, 0);
    }

    function test_bisect_overdue_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.warp(block.timestamp + 21);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(MoveOverdue.selector, d, block.timestamp - 1));
        market.bisect(d, 0, 0);
    }

    function test_bisect_readyDispute_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, d, DisputeStatus.AwaitingOracle));
        market.bisect(d, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotFound.selector, 99));
        market.bisect(99, 0, 0);
    }

    function test_respond_agree_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.prank(provider);
        market.bisect(d, honestTrace.hashAt(320), bytes32("cid320")); // 320 > 300: liar's H(320) is forged
        // pretend the provider told the truth at 320 -> challenger agrees
        vm.expectEmit();
        emit ICrucibleMarket.DisputeResponded(d, true, 320, 384);
        vm.prank(challenger);
        market.respond(d, true);
        Dispute memory ds = market.getDispute(d);
        assertEq(ds.a, 320, "a <- m");
        assertEq(ds.hashA, honestTrace.hashAt(320), "H(a) <- mid");
        assertEq(ds.stateCidA, bytes32("cid320"), "S_a cid");
        assertFalse(ds.awaitingResponse, "provider's turn");
        assertEq(ds.midHash, 0, "no pending");
    }

    function test_respond_disagree_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        _bisect(d, liarTrace);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeResponded(d, false, 256, 320);
        vm.prank(challenger);
        market.respond(d, false);
        Dispute memory ds = market.getDispute(d);
        assertEq(ds.b, 320, "b <- m");
        assertEq(ds.hashB, liarTrace.hashAt(320), "H(b) <- mid");
        assertEq(ds.hashA, liarTrace.hashAt(256), "H(a) kept");
        assertEq(ds.stateCidA, 0, "S_a still the manifest checkpoint");
    }

    function test_respond_notChallenger_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        _bisect(d, liarTrace);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(NotChallenger.selector, d, provider));
        market.respond(d, true);
    }

    function test_respond_beforeBisect_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(NotYourTurn.selector, d, challenger));
        market.respond(d, true);
    }

    function test_respond_overdue_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        _bisect(d, liarTrace);
        vm.warp(block.timestamp + 21);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(MoveOverdue.selector, d, block.timestamp - 1));
        market.respond(d, true);
    }

    function test_respond_lastMove_readyForOracle_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.recordLogs();
        _playOut(d, liarTrace, honestTrace);
        Dispute memory ds = market.getDispute(d);
        assertEq(ds.a, DIVERGE - 1, "a = last agreed step");
        assertEq(ds.b, DIVERGE, "b = first forged step");
        assertEq(ds.hashA, honestTrace.hashAt(DIVERGE - 1), "agreed H(a)");
        assertEq(ds.hashB, liarTrace.hashAt(DIVERGE), "forged H(b)");
        assertEq(ds.stateCidA, keccak256(abi.encode("cid", DIVERGE - 1)), "S_a cid from bisection");
        assertEq(ds.deadline, block.timestamp + 60, "oracle deadline");
        // 7 rounds for k = 128
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 rounds;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == ICrucibleMarket.DisputeBisected.selector) ++rounds;
        }
        assertEq(rounds, 7, "ceil(log2 k) rounds");
    }

    // ================================================================ outcomes by verdict

    function test_submitVerdict_providerWrong_slashes_succeeds() public {
        (uint256 id, uint256 d) = _liarAtOneStep();
        vm.expectEmit();
        emit ICrucibleMarket.ProviderSlashed(id, provider, STAKE, 1 ether, 0.6 ether, 0.4 ether);
        _vote(oracle1, d, Verdict.ProviderWrong);
        _assertSlashed(id, d);
    }

    function test_submitVerdict_dataUnavailable_slashes_succeeds() public {
        (uint256 id, uint256 d) = _liarAtOneStep();
        _vote(oracle2, d, Verdict.ProviderDataUnavailable);
        _assertSlashed(id, d);
    }

    function test_submitVerdict_providerCorrect_forfeitsBond_succeeds() public {
        (uint256 id, uint256 d) = _falseChallengeAtOneStep();
        vm.warp(block.timestamp + 30);
        vm.expectEmit();
        emit ICrucibleMarket.BondForfeited(d, challenger, BOND, 0.25 ether, 0.25 ether);
        _vote(oracle1, d, Verdict.ProviderCorrect);
        _assertChallengerLost(id, d);
        // the window resumed: finalizable only after the remaining 30 s
        vm.warp(block.timestamp + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Submitted));
        market.finalizeJob(id);
        vm.warp(block.timestamp + 1);
        market.finalizeJob(id);
        assertEq(market.credits(provider), REWARD + 0.25 ether, "reward + bond share");
        _assertSolvent();
    }

    function test_submitVerdict_quorumTwoOfThree_succeeds() public {
        market.setQuorum(2);
        (uint256 id, uint256 d) = _liarAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        assertTrue(market.hasVoted(d, oracle1), "recorded");
        assertTrue(market.getDispute(d).status == DisputeStatus.AwaitingOracle, "waits for quorum");
        _vote(oracle3, d, Verdict.ProviderDataUnavailable);
        _assertSlashed(id, d);
    }

    function test_submitVerdict_splitVotes_waitForQuorum_succeeds() public {
        market.setQuorum(2);
        (uint256 id, uint256 d) = _falseChallengeAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        _vote(oracle2, d, Verdict.ProviderCorrect);
        Dispute memory ds = market.getDispute(d);
        assertEq(ds.wrongVotes, 1, "wrong");
        assertEq(ds.correctVotes, 1, "correct");
        assertTrue(ds.status == DisputeStatus.AwaitingOracle, "still waiting");
        _vote(oracle3, d, Verdict.ProviderCorrect);
        assertTrue(market.getDispute(d).status == DisputeStatus.ProviderWon, "2 of 3 decided");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "resumed");
        _assertSolvent();
    }

    function test_submitVerdict_notOracle_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotOracle.selector, stranger));
        market.submitVerdict(d, Verdict.ProviderWrong);
    }

    function test_submitVerdict_removedOracle_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        market.removeOracle(oracle1);
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(NotOracle.selector, oracle1));
        market.submitVerdict(d, Verdict.ProviderWrong);
    }

    function test_submitVerdict_noneVerdict_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        vm.prank(oracle1);
        vm.expectRevert(InvalidVerdict.selector);
        market.submitVerdict(d, Verdict.None);
    }

    function test_submitVerdict_twice_reverts() public {
        market.setQuorum(2);
        (, uint256 d) = _liarAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(AlreadyVoted.selector, d, oracle1));
        market.submitVerdict(d, Verdict.ProviderWrong);
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(AlreadyVoted.selector, d, oracle1));
        market.submitVerdict(d, Verdict.ProviderCorrect);
    }

    function test_submitVerdict_whileBisecting_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, d, DisputeStatus.Bisecting));
        market.submitVerdict(d, Verdict.ProviderWrong);
    }

    function test_submitVerdict_resolved_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        vm.prank(oracle2);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, d, DisputeStatus.ChallengerWon));
        market.submitVerdict(d, Verdict.ProviderCorrect);
    }

    function test_submitVerdict_late_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        uint256 deadline = market.disputeDeadline(d);
        vm.warp(deadline + 1);
        vm.prank(oracle1);
        vm.expectRevert(abi.encodeWithSelector(VerdictTooLate.selector, d, deadline));
        market.submitVerdict(d, Verdict.ProviderWrong);
    }

    // ================================================================ timeouts

    function test_timeout_providerSilentAtFirstMove_slashes_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.warp(block.timestamp + 21);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeTimedOut(d, provider);
        vm.prank(stranger);
        market.timeout(d);
        _assertSlashed(id, d);
    }

    function test_timeout_providerSilentMidGame_slashes_succeeds() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        for (uint256 i; i < 3; ++i) {
            _bisect(d, liarTrace);
            _respond(d, honestTrace);
        }
        vm.warp(block.timestamp + 21);
        market.timeout(d);
        _assertSlashed(id, d);
    }

    function test_timeout_challengerSilentAtFirstMove_forfeits_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challenge(challenger, id, 2);
        _bisect(d, honestTrace);
        vm.warp(block.timestamp + 21);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeTimedOut(d, challenger);
        market.timeout(d);
        _assertChallengerLost(id, d);
    }

    function test_timeout_challengerSilentMidGame_forfeits_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challenge(challenger, id, 2);
        for (uint256 i; i < 6; ++i) {
            _bisect(d, honestTrace);
            _respond(d, liarTrace);
        }
        _bisect(d, honestTrace); // last move; the challenger never answers
        vm.warp(block.timestamp + 21);
        market.timeout(d);
        _assertChallengerLost(id, d);
    }

    function test_timeout_oracleSilence_voids_succeeds() public {
        (uint256 id, uint256 d) = _liarAtOneStep();
        uint256 windowEnd = market.getJob(id).deadline;
        uint256 openedAt = market.getDispute(d).openedAt;
        vm.warp(market.disputeDeadline(d) + 1);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeVoided(d, id);
        market.timeout(d);
        assertTrue(market.getDispute(d).status == DisputeStatus.Voided, "voided");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "resumed");
        assertEq(market.credits(challenger), BOND, "bond back");
        assertEq(market.credits(provider), 0, "nobody paid");
        assertEq(market.providerInfo(provider).locked, STAKE, "nobody slashed");
        assertEq(market.getJob(id).deadline, windowEnd + (block.timestamp - openedAt), "window extended");
        _assertSolvent();
        // a fresh challenge is possible in the resumed window
        _challenge(stranger, id, 2);
    }

    function test_timeout_splitVotesThenSilence_voids_succeeds() public {
        market.setQuorum(2);
        (uint256 id, uint256 d) = _liarAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        _vote(oracle2, d, Verdict.ProviderCorrect);
        vm.warp(market.disputeDeadline(d) + 1);
        market.timeout(d);
        assertTrue(market.getDispute(d).status == DisputeStatus.Voided, "voided");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "resumed");
        _assertSolvent();
    }

    function test_timeout_beforeDeadline_reverts() public {
        uint256 id = _submitted(liarTrace);
        uint256 d = _challenge(challenger, id, 2);
        vm.warp(block.timestamp + 20);
        vm.expectRevert(abi.encodeWithSelector(NotTimedOut.selector, d, block.timestamp));
        market.timeout(d);
        (, uint256 d2) = _liarAtOneStepFresh();
        vm.expectRevert(abi.encodeWithSelector(NotTimedOut.selector, d2, block.timestamp + 60));
        market.timeout(d2);
    }

    function _liarAtOneStepFresh() internal returns (uint256, uint256) {
        return _liarAtOneStep();
    }

    function test_timeout_resolved_reverts() public {
        (, uint256 d) = _liarAtOneStep();
        _vote(oracle1, d, Verdict.ProviderWrong);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, d, DisputeStatus.ChallengerWon));
        market.timeout(d);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotFound.selector, 99));
        market.timeout(99);
    }

    // ================================================================ direct kinds

    function test_challengeInitialState_wrongC0_slashes_succeeds() public {
        MockStepper.Trace memory lazy = MockStepper.liar(SEED, 0); // invented from step 0 on
        uint256 id = _submitted(lazy);
        bytes32[] memory ls = lazy.leaves(K, 4);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeReadyForOracle(1, id, DisputeKind.InitialState, 0, 0, lazy.hashAt(0), 0);
        vm.prank(challenger);
        uint256 d = market.challengeInitialState{value: BOND}(id, lazy.hashAt(0), MockStepper.proof(ls, 0));
        Dispute memory ds = market.getDispute(d);
        assertTrue(ds.kind == DisputeKind.InitialState, "kind");
        assertTrue(ds.status == DisputeStatus.AwaitingOracle, "ready at once");
        _vote(oracle1, d, Verdict.ProviderWrong);
        _assertSlashed(id, d);
    }

    function test_challengeInitialState_badProof_reverts() public {
        uint256 id = _submitted(honestTrace);
        bytes32[] memory ls = honestTrace.leaves(K, 4);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, 0));
        market.challengeInitialState{value: BOND}(id, keccak256("other"), MockStepper.proof(ls, 0));
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(WrongBond.selector, 0, BOND));
        market.challengeInitialState(id, honestTrace.hashAt(0), MockStepper.proof(ls, 0));
    }

    function test_challengeInitialState_honest_forfeits_succeeds() public {
        uint256 id = _submitted(honestTrace);
        bytes32[] memory ls = honestTrace.leaves(K, 4);
        vm.prank(challenger);
        uint256 d = market.challengeInitialState{value: BOND}(id, honestTrace.hashAt(0), MockStepper.proof(ls, 0));
        _vote(oracle1, d, Verdict.ProviderCorrect);
        _assertChallengerLost(id, d);
    }

    function test_challengeFinalModel_mismatch_slashes_succeeds() public {
        uint256 id = _submitted(honestTrace);
        bytes32[] memory ls = honestTrace.leaves(K, 4);
        vm.prank(challenger);
        uint256 d = market.challengeFinalModel{value: BOND}(id, honestTrace.hashAt(T), MockStepper.proof(ls, 4));
        Dispute memory ds = market.getDispute(d);
        assertTrue(ds.kind == DisputeKind.FinalModel, "kind");
        assertEq(ds.a, T, "a = T");
        assertEq(ds.hashA, honestTrace.hashAt(T), "committed C_n");
        assertEq(ds.hashB, market.getJob(id).finalStateHash, "claimed final state");
        _vote(oracle1, d, Verdict.ProviderWrong);
        _assertSlashed(id, d);
    }

    function test_challengeFinalModel_wrongLeaf_reverts() public {
        uint256 id = _submitted(honestTrace);
        bytes32[] memory ls = honestTrace.leaves(K, 4);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InvalidProof.selector, id, 4));
        market.challengeFinalModel{value: BOND}(id, honestTrace.hashAt(3 * K), MockStepper.proof(ls, 3));
    }

    function test_challengeFinalModel_oracleSilence_voids_succeeds() public {
        uint256 id = _submitted(honestTrace);
        bytes32[] memory ls = honestTrace.leaves(K, 4);
        vm.prank(challenger);
        uint256 d = market.challengeFinalModel{value: BOND}(id, honestTrace.hashAt(T), MockStepper.proof(ls, 4));
        vm.warp(block.timestamp + 61);
        market.timeout(d);
        assertEq(market.credits(challenger), BOND, "bond back");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "resumed");
        _assertSolvent();
    }

    // ---------------------------------------------------------------- manifest

    function _challengeManifest(address who, uint256 jobId) internal returns (uint256 d) {
        vm.prank(who);
        d = market.challengeManifest{value: BOND}(jobId);
    }

    function test_challengeManifest_opensReadyForOracle_succeeds() public {
        uint256 id = _submitted(honestTrace);
        Job memory job = market.getJob(id);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeOpened(
            1, id, challenger, DisputeKind.Manifest, 0, 0, job.traceRoot, job.finalStateHash
        );
        vm.expectEmit();
        emit ICrucibleMarket.DisputeReadyForOracle(1, id, DisputeKind.Manifest, 0, job.traceRoot, job.finalStateHash, 0);
        uint256 d = _challengeManifest(challenger, id);
        Dispute memory ds = market.getDispute(d);
        assertEq(d, 1, "id");
        assertTrue(ds.kind == DisputeKind.Manifest, "kind");
        assertTrue(ds.status == DisputeStatus.AwaitingOracle, "ready at once");
        assertEq(ds.challenger, challenger, "challenger");
        assertEq(ds.jobId, id, "job");
        assertEq(ds.a, 0, "a");
        assertEq(ds.b, 0, "b");
        assertEq(ds.hashA, job.traceRoot, "hashA = trace root");
        assertEq(ds.hashB, job.finalStateHash, "hashB = final stateHash");
        assertEq(ds.stateCidA, 0, "no state");
        assertEq(ds.deadline, block.timestamp + 60, "oracle deadline");
        assertTrue(market.jobStatus(id) == JobStatus.Disputed, "disputed");
        assertEq(market.getJob(id).disputeId, d, "live dispute");
        _assertSolvent();
    }

    function test_challengeManifest_dataUnavailable_slashes_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challengeManifest(challenger, id);
        vm.expectEmit();
        emit ICrucibleMarket.ProviderSlashed(id, provider, STAKE, 1 ether, 0.6 ether, 0.4 ether);
        _vote(oracle1, d, Verdict.ProviderDataUnavailable);
        _assertSlashed(id, d);
    }

    function test_challengeManifest_providerWrong_slashes_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challengeManifest(challenger, id);
        _vote(oracle2, d, Verdict.ProviderWrong);
        _assertSlashed(id, d);
    }

    function test_challengeManifest_honest_forfeits_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challengeManifest(challenger, id);
        vm.expectEmit();
        emit ICrucibleMarket.BondForfeited(d, challenger, BOND, 0.25 ether, 0.25 ether);
        _vote(oracle1, d, Verdict.ProviderCorrect);
        _assertChallengerLost(id, d);
    }

    function test_challengeManifest_quorumTwo_succeeds() public {
        market.setQuorum(2);
        uint256 id = _submitted(honestTrace);
        uint256 d = _challengeManifest(challenger, id);
        _vote(oracle1, d, Verdict.ProviderDataUnavailable);
        assertTrue(market.getDispute(d).status == DisputeStatus.AwaitingOracle, "waits for quorum");
        _vote(oracle3, d, Verdict.ProviderWrong);
        _assertSlashed(id, d);
    }

    function test_challengeManifest_oracleSilence_voids_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 windowEnd = market.getJob(id).deadline;
        uint256 d = _challengeManifest(challenger, id);
        uint256 deadline = market.disputeDeadline(d);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(NotTimedOut.selector, d, deadline));
        market.timeout(d);
        vm.warp(deadline + 1);
        vm.expectEmit();
        emit ICrucibleMarket.DisputeVoided(d, id);
        vm.prank(stranger);
        market.timeout(d);
        assertTrue(market.getDispute(d).status == DisputeStatus.Voided, "voided");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "resumed");
        assertEq(market.credits(challenger), BOND, "bond back");
        assertEq(market.credits(provider), 0, "nobody paid");
        assertEq(market.providerInfo(provider).locked, STAKE, "nobody slashed");
        assertEq(market.getJob(id).deadline, windowEnd + 61, "window extended by the pause");
        _assertSolvent();
        // the resumed window allows a fresh challenge of any kind
        uint256 d2 = _challengeManifest(stranger, id);
        _vote(oracle1, d2, Verdict.ProviderDataUnavailable);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "slashed on the second challenge");
        _assertSolvent();
    }

    function test_challengeManifest_wrongBond_reverts() public {
        uint256 id = _submitted(honestTrace);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(WrongBond.selector, BOND + 1, BOND));
        market.challengeManifest{value: BOND + 1}(id);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(WrongBond.selector, 0, BOND));
        market.challengeManifest(id);
    }

    function test_challengeManifest_unknownJob_reverts() public {
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(JobNotFound.selector, 7));
        market.challengeManifest{value: BOND}(7);
    }

    function test_challengeManifest_notSubmitted_reverts() public {
        uint256 id = _post();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Open));
        market.challengeManifest{value: BOND}(id);
        _claim(id);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Claimed));
        market.challengeManifest{value: BOND}(id);
    }

    function test_challengeManifest_afterWindow_reverts() public {
        uint256 id = _submitted(honestTrace);
        vm.warp(block.timestamp + WINDOW);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Accepted));
        market.challengeManifest{value: BOND}(id);
    }

    function test_challengeManifest_liveDispute_reverts() public {
        uint256 id = _submitted(liarTrace);
        _challenge(challenger, id, 2); // a live Segment dispute
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Disputed));
        market.challengeManifest{value: BOND}(id);

        uint256 id2 = _submitted(honestTrace);
        _challengeManifest(challenger, id2); // a live Manifest dispute blocks every other kind
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id2, JobStatus.Disputed));
        market.challengeManifest{value: BOND}(id2);
        bytes32[] memory p = new bytes32[](3);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id2, JobStatus.Disputed));
        market.challenge{value: BOND}(id2, 0, 0, 0, p, p);
    }

    function test_challengeManifest_slashedJob_reverts() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challengeManifest(challenger, id);
        _vote(oracle1, d, Verdict.ProviderDataUnavailable);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Slashed));
        market.challengeManifest{value: BOND}(id);
    }

    function test_challengeManifest_bisectAndRespond_reverts() public {
        uint256 id = _submitted(honestTrace);
        uint256 d = _challengeManifest(challenger, id);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, d, DisputeStatus.AwaitingOracle));
        market.bisect(d, 0, 0);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeNotInStatus.selector, d, DisputeStatus.AwaitingOracle));
        market.respond(d, true);
    }

    // ================================================================ repeated disputes

    function test_challenge_afterLostChallenge_secondChallengerWins_succeeds() public {
        uint256 id = _submitted(liarTrace);
        // a false challenge on an honest-looking segment 0 loses by verdict
        uint256 d1 = _challenge(stranger, id, 0);
        _playOut(d1, liarTrace, MockStepper.liar(SEED, 5));
        _vote(oracle1, d1, Verdict.ProviderCorrect);
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "resumed");
        // the honest challenger then wins on the forged segment
        uint256 d2 = _challenge(challenger, id, 2);
        _playOut(d2, liarTrace, honestTrace);
        _vote(oracle1, d2, Verdict.ProviderWrong);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "slashed");
        assertEq(market.credits(provider), BOND / 2, "provider kept its share of the first bond");
        _assertSolvent();
    }
}
