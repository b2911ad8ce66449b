// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @notice Unit tests of the job lifecycle, stake, credits, governance and views.
contract CrucibleMarketTest is MarketFixture, ICrucibleErrors {
    using MockStepper for MockStepper.Trace;

    // ================================================================ constructor

    function test_constructor_setsState_succeeds() public view {
        assertEq(market.owner(), address(this), "owner");
        assertEq(market.currentOracleEpoch(), 1, "epoch");
        assertEq(market.oracleEpoch(1).quorum, 2, "quorum");
        assertEq(market.oracleEpoch(1).members.length, 3, "oracles");
        assertTrue(market.isOracle(1, oracle2), "oracle2");
        assertEq(market.paramsVersion(), 1, "version");
        assertEq(market.params().clockBudget, 60, "clockBudget");
        assertEq(market.totalLiabilities(), 0, "liabilities");
        // the largest Dmax any version allows: 2 * (60 + 32 * 30) + 60
        assertEq(market.maxDisputeBound(), 2100, "max dispute bound");
    }

    function test_constructor_quorumAboveOracles_reverts() public {
        address[] memory oracles = new address[](1);
        oracles[0] = oracle1;
        vm.expectRevert(abi.encodeWithSelector(InvalidQuorum.selector, 2, 1));
        new CrucibleMarket(defaultParams(), oracles, 2);
    }

    function test_constructor_badParams_reverts() public {
        Params memory p = defaultParams();
        p.moveExtension = 29;
        address[] memory oracles = new address[](1);
        oracles[0] = oracle1;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "moveExtension", 29, 30, 1 days));
        new CrucibleMarket(p, oracles, 1);
    }

    // ================================================================ postJob

    function test_postJob_valid_succeeds() public {
        vm.expectEmit();
        emit ICrucibleMarket.JobPosted(1, requester, REWARD, _t(SPEC, STAKE, BOND, DURATION, WINDOW, K, T, true), 1);
        uint256 id = _postWith(K, T, true);
        assertEq(id, 1, "id");
        Job memory job = market.getJob(id);
        assertEq(job.requester, requester, "requester");
        assertEq(job.reward, REWARD, "reward");
        assertEq(job.stake, STAKE, "stake");
        assertEq(job.bond, BOND, "bond");
        assertEq(job.interval, K, "k");
        assertEq(job.totalSteps, T, "T");
        assertEq(job.specCid, SPEC, "spec");
        assertTrue(job.refundOnExpiry, "refund flag");
        assertTrue(market.jobStatus(id) == JobStatus.Open, "status");
        assertEq(market.jobCount(), 1, "count");
        assertEq(address(market).balance, REWARD, "escrow");
        _assertSolvent();
    }

    function test_postJob_zeroReward_reverts() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(InvalidReward.selector, 0));
        market.postJob(_t(SPEC, STAKE, BOND, DURATION, WINDOW, K, T, false));
    }

    function test_postJob_zeroSpec_reverts() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "specCid"));
        market.postJob{value: 1}(_t(0, STAKE, BOND, DURATION, WINDOW, K, T, false));
    }

    function test_postJob_stakeTooLow_reverts() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(StakeTooLow.selector, 1, 0.01 ether));
        market.postJob{value: 1}(_t(SPEC, 1, BOND, DURATION, WINDOW, K, T, false));
    }

    function test_postJob_bondTooLow_reverts() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(BondTooLow.selector, 1, 0.001 ether));
        market.postJob{value: 1}(_t(SPEC, STAKE, 1, DURATION, WINDOW, K, T, false));
    }

    function test_postJob_durationOutOfBounds_reverts() public {
        vm.startPrank(requester);
        vm.expectRevert(abi.encodeWithSelector(DurationOutOfBounds.selector, 9, 10, 7 days));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, 9, WINDOW, K, T, false));
        vm.expectRevert(abi.encodeWithSelector(DurationOutOfBounds.selector, 7 days + 1, 10, 7 days));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, 7 days + 1, WINDOW, K, T, false));
        vm.stopPrank();
    }

    function test_postJob_windowOutOfBounds_reverts() public {
        vm.startPrank(requester);
        vm.expectRevert(abi.encodeWithSelector(WindowOutOfBounds.selector, 9, 10, 1 days));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, DURATION, 9, K, T, false));
        vm.expectRevert(abi.encodeWithSelector(WindowOutOfBounds.selector, 1 days + 1, 10, 1 days));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, DURATION, 1 days + 1, K, T, false));
        vm.stopPrank();
    }

    function test_postJob_badSchedule_reverts() public {
        vm.startPrank(requester);
        vm.expectRevert(abi.encodeWithSelector(InvalidSchedule.selector, 0, T));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, DURATION, WINDOW, 0, T, false));
        vm.expectRevert(abi.encodeWithSelector(InvalidSchedule.selector, K, 0));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, DURATION, WINDOW, K, 0, false));
        vm.expectRevert(abi.encodeWithSelector(InvalidSchedule.selector, K, T + 1));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, DURATION, WINDOW, K, T + 1, false));
        vm.stopPrank();
    }

    function test_postJob_tooManySegments_reverts() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(TooManySegments.selector, 65_537, 65_536));
        market.postJob{value: 1}(_t(SPEC, STAKE, BOND, DURATION, WINDOW, 1, 65_537, false));
    }

    function testFuzz_postJob_terms_succeeds(
        uint96 reward,
        uint96 stake,
        uint96 bond,
        uint32 duration,
        uint32 window,
        uint32 k,
        uint32 n
    ) public {
        reward = uint96(bound(reward, 1, 50 ether));
        stake = uint96(bound(stake, market.minStakeFor(reward), type(uint96).max));
        duration = uint32(bound(duration, 10, 7 days));
        window = uint32(bound(window, 10, 1 days));
        k = uint32(bound(k, 1, type(uint32).max));
        n = uint32(bound(n, 1, 65_536));
        bond = uint96(bound(bond, market.minBondFor(reward, stake, k, ARITY), type(uint96).max));
        vm.prank(requester);
        uint256 id = market.postJob{value: reward}(_t(SPEC, stake, bond, duration, window, k, uint64(k) * n, false));
        Job memory job = market.getJob(id);
        assertEq(job.totalSteps / job.interval, n, "segments");
        assertEq(job.reward, reward, "reward");
        _assertSolvent();
    }

    // ================================================================ cancelJob

    function test_cancelJob_open_succeeds() public {
        uint256 id = _post();
        vm.expectEmit();
        emit ICrucibleMarket.JobCancelled(id, requester, REWARD);
        vm.prank(requester);
        market.cancelJob(id);
        assertTrue(market.jobStatus(id) == JobStatus.Cancelled, "status");
        assertEq(market.credits(requester), REWARD, "credit");
        _assertSolvent();
        uint256 before = requester.balance;
        _withdrawAll(requester);
        assertEq(requester.balance - before, REWARD, "refund paid");
        _assertSolvent();
    }

    function test_cancelJob_notRequester_reverts() public {
        uint256 id = _post();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotRequester.selector, id, stranger));
        market.cancelJob(id);
    }

    function test_cancelJob_claimed_reverts() public {
        uint256 id = _post();
        _claim(id);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Claimed));
        market.cancelJob(id);
    }

    function test_cancelJob_unknown_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(JobNotFound.selector, 7));
        market.cancelJob(7);
    }

    // ================================================================ claimJob

    function test_claimJob_withStake_succeeds() public {
        uint256 id = _post();
        _deposit(provider, 3 ether);
        vm.expectEmit();
        emit ICrucibleMarket.JobClaimed(id, provider, STAKE, block.timestamp + DURATION, block.timestamp + 60, 1);
        vm.prank(provider);
        market.claimJob(id);
        ProviderInfo memory info = market.providerInfo(provider);
        assertEq(info.free, 1 ether, "free");
        assertEq(info.locked, STAKE, "locked");
        Job memory job = market.getJob(id);
        assertEq(job.provider, provider, "provider");
        assertEq(job.deadline, block.timestamp + DURATION, "deadline");
        assertEq(job.oracleEpoch, 1, "the epoch effective at the claim");
        assertTrue(market.jobStatus(id) == JobStatus.Claimed, "status");
    }

    function test_claimJob_insufficientStake_reverts() public {
        uint256 id = _post();
        _deposit(provider, 1 ether);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(InsufficientFreeStake.selector, provider, 1 ether, STAKE));
        market.claimJob(id);
    }

    function test_claimJob_alreadyClaimed_reverts() public {
        uint256 id = _post();
        _claim(id);
        _deposit(stranger, STAKE);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Claimed));
        market.claimJob(id);
    }

    function test_claimJob_unknown_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(JobNotFound.selector, 1));
        market.claimJob(1);
    }

    // ================================================================ submitResult

    function test_submitResult_beforeDeadline_succeeds() public {
        uint256 id = _post();
        _claim(id);
        vm.warp(block.timestamp + DURATION); // the deadline itself is still in time
        MockStepper.Trace memory tr = MockStepper.honest(SEED);
        bytes32 root = tr.root(K, T / K);
        vm.expectEmit();
        emit ICrucibleMarket.ResultSubmitted(
            id, provider, root, tr.hashAt(T), MANIFEST, MODEL, block.timestamp + WINDOW
        );
        _submit(id, tr);
        Job memory job = market.getJob(id);
        assertEq(job.traceRoot, root, "root");
        assertEq(job.finalStateHash, tr.hashAt(T), "final");
        assertEq(job.windowEnd, block.timestamp + WINDOW, "window end");
        assertEq(job.submittedAt, block.timestamp, "submitted at");
        assertEq(market.payoutBound(id), block.timestamp + WINDOW, "payable at the window end");
        assertTrue(market.jobStatus(id) == JobStatus.Submitted, "status");
    }

    function test_submitResult_afterDeadline_reverts() public {
        uint256 id = _post();
        _claim(id);
        vm.warp(block.timestamp + DURATION + 1);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Expired));
        market.submitResult(id, bytes32(uint256(1)), bytes32(uint256(2)), MANIFEST, MODEL);
    }

    function test_submitResult_notProvider_reverts() public {
        uint256 id = _post();
        _claim(id);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotProvider.selector, id, stranger));
        market.submitResult(id, bytes32(uint256(1)), bytes32(uint256(2)), MANIFEST, MODEL);
    }

    function test_submitResult_zeroCommitment_reverts() public {
        uint256 id = _post();
        _claim(id);
        vm.startPrank(provider);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "traceRoot"));
        market.submitResult(id, 0, bytes32(uint256(2)), MANIFEST, MODEL);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "finalStateHash"));
        market.submitResult(id, bytes32(uint256(1)), 0, MANIFEST, MODEL);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "manifestCid"));
        market.submitResult(id, bytes32(uint256(1)), bytes32(uint256(2)), 0, MODEL);
        vm.expectRevert(abi.encodeWithSelector(ZeroCommitment.selector, "finalModelCid"));
        market.submitResult(id, bytes32(uint256(1)), bytes32(uint256(2)), MANIFEST, 0);
        vm.stopPrank();
    }

    function test_submitResult_open_reverts() public {
        uint256 id = _post();
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Open));
        market.submitResult(id, bytes32(uint256(1)), bytes32(uint256(2)), MANIFEST, MODEL);
    }

    function test_submitResult_twice_reverts() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Submitted));
        market.submitResult(id, bytes32(uint256(1)), bytes32(uint256(2)), MANIFEST, MODEL);
    }

    // ================================================================ finalizeJob

    function test_finalizeJob_afterWindow_succeeds() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        vm.warp(block.timestamp + WINDOW);
        assertTrue(market.jobStatus(id) == JobStatus.Accepted, "accepted");
        vm.expectEmit();
        emit ICrucibleMarket.JobFinalized(id, provider, REWARD);
        vm.prank(stranger);
        market.finalizeJob(id);
        assertTrue(market.jobStatus(id) == JobStatus.Finalized, "status");
        ProviderInfo memory info = market.providerInfo(provider);
        assertEq(info.locked, 0, "locked");
        assertEq(info.free, STAKE, "free");
        assertEq(info.finalized, 1, "finalized");
        assertEq(market.credits(provider), REWARD, "credit");
        _assertSolvent();
    }

    function test_finalizeJob_duringWindow_reverts() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        vm.warp(block.timestamp + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Submitted));
        market.finalizeJob(id);
    }

    function test_finalizeJob_twice_reverts() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        vm.warp(block.timestamp + WINDOW);
        market.finalizeJob(id);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Finalized));
        market.finalizeJob(id);
    }

    function test_finalizeJob_disputed_reverts() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        _challenge(challenger, id, 0);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Disputed));
        market.finalizeJob(id);
    }

    // ================================================================ expireJob

    function test_expireJob_reopen_succeeds() public {
        uint256 id = _post();
        _claim(id);
        vm.warp(block.timestamp + DURATION + 1);
        assertTrue(market.jobStatus(id) == JobStatus.Expired, "expired");
        uint256 toRequester = (uint256(STAKE) * 2000) / 10_000;
        vm.expectEmit();
        emit ICrucibleMarket.JobExpired(id, provider, toRequester, false);
        vm.prank(stranger);
        market.expireJob(id);
        assertTrue(market.jobStatus(id) == JobStatus.Open, "reopened");
        assertEq(market.getJob(id).provider, address(0), "provider cleared");
        ProviderInfo memory info = market.providerInfo(provider);
        assertEq(info.locked, 0, "locked");
        assertEq(info.free, STAKE - toRequester, "free");
        assertEq(info.expired, 1, "expired counter");
        assertEq(market.credits(requester), toRequester, "requester share");
        _assertSolvent();
        // another provider can claim the reopened job with a fresh deadline
        _deposit(stranger, STAKE);
        vm.prank(stranger);
        market.claimJob(id);
        assertEq(market.getJob(id).deadline, block.timestamp + DURATION, "fresh deadline");
    }

    function test_expireJob_refund_succeeds() public {
        uint256 id = _postWith(K, T, true);
        _claim(id);
        vm.warp(block.timestamp + DURATION + 1);
        market.expireJob(id);
        assertTrue(market.jobStatus(id) == JobStatus.Refunded, "refunded");
        assertEq(market.credits(requester), REWARD + (uint256(STAKE) * 2000) / 10_000, "escrow + share");
        _assertSolvent();
    }

    function test_expireJob_beforeDeadline_reverts() public {
        uint256 id = _post();
        _claim(id);
        vm.warp(block.timestamp + DURATION);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Claimed));
        market.expireJob(id);
    }

    function test_expireJob_submitted_reverts() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        vm.warp(block.timestamp + DURATION + 1);
        vm.expectRevert(abi.encodeWithSelector(JobNotInStatus.selector, id, JobStatus.Accepted));
        market.expireJob(id);
    }

    function testFuzz_expireJob_splitsStake_succeeds(uint16 bps, uint96 stake, uint256 late) public {
        Params memory p = defaultParams();
        p.expirySlashBps = uint16(bound(bps, 0, 10_000));
        market.setParams(p);
        stake = uint96(bound(stake, REWARD, 50 ether)); // >= reward * minStakeBps / BPS
        vm.prank(requester);
        uint256 id = market.postJob{value: REWARD}(_t(SPEC, stake, BOND, DURATION, WINDOW, K, T, false));
        _deposit(provider, stake);
        vm.prank(provider);
        market.claimJob(id);
        vm.warp(block.timestamp + DURATION + bound(late, 1, 365 days));
        market.expireJob(id);
        uint256 share = (uint256(stake) * p.expirySlashBps) / 10_000;
        assertEq(market.credits(requester), share, "share");
        assertEq(market.providerInfo(provider).free, stake - share, "rest back");
        _assertSolvent();
    }

    // ================================================================ stake

    function test_depositStake_value_succeeds() public {
        vm.expectEmit();
        emit ICrucibleMarket.StakeDeposited(provider, 1 ether, 1 ether);
        _deposit(provider, 1 ether);
        _deposit(provider, 2 ether);
        assertEq(market.providerInfo(provider).free, 3 ether, "free");
        _assertSolvent();
    }

    function test_depositStake_zero_reverts() public {
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(InvalidAmount.selector, 0));
        market.depositStake();
    }

    function test_depositStake_overflow_reverts() public {
        vm.deal(provider, uint256(type(uint96).max) + 1);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(InvalidAmount.selector, uint256(type(uint96).max) + 1));
        market.depositStake{value: uint256(type(uint96).max) + 1}();
    }

    function test_withdrawStake_free_succeeds() public {
        _deposit(provider, 3 ether);
        uint256 before = provider.balance;
        vm.expectEmit();
        emit ICrucibleMarket.StakeWithdrawn(provider, 1 ether, 2 ether);
        vm.prank(provider);
        market.withdrawStake(1 ether);
        assertEq(provider.balance - before, 1 ether, "paid");
        assertEq(market.providerInfo(provider).free, 2 ether, "free");
        _assertSolvent();
    }

    function test_withdrawStake_locked_reverts() public {
        uint256 id = _post();
        _claim(id);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(InsufficientFreeStake.selector, provider, 0, 1));
        market.withdrawStake(1);
    }

    function test_withdrawStake_zero_reverts() public {
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(InvalidAmount.selector, 0));
        market.withdrawStake(0);
    }

    function testFuzz_withdrawStake_amounts_succeeds(uint96 deposit, uint96 amount) public {
        deposit = uint96(bound(deposit, 1, 100 ether));
        amount = uint96(bound(amount, 1, deposit));
        _deposit(provider, deposit);
        vm.prank(provider);
        market.withdrawStake(amount);
        assertEq(market.providerInfo(provider).free, deposit - amount, "free");
        _assertSolvent();
    }

    // ================================================================ credits

    function test_withdrawCredit_credited_succeeds() public {
        uint256 id = _post();
        vm.prank(requester);
        market.cancelJob(id);
        vm.expectEmit();
        emit ICrucibleMarket.CreditWithdrawn(requester, REWARD);
        vm.prank(requester);
        assertEq(market.withdrawCredit(), REWARD, "amount");
        assertEq(market.credits(requester), 0, "zeroed");
        _assertSolvent();
    }

    function test_withdrawCredit_none_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NoCredit.selector, stranger));
        market.withdrawCredit();
    }

    function test_withdrawCredit_rejectingReceiver_reverts() public {
        Rejector r = new Rejector();
        vm.deal(address(r), 1 ether);
        vm.prank(address(r));
        uint256 id = market.postJob{value: REWARD}(_t(SPEC, STAKE, BOND, DURATION, WINDOW, K, T, false));
        vm.prank(address(r));
        market.cancelJob(id);
        vm.prank(address(r));
        vm.expectRevert(abi.encodeWithSelector(TransferFailed.selector, address(r), REWARD));
        market.withdrawCredit();
        assertEq(market.credits(address(r)), REWARD, "credit kept");
    }

    // ================================================================ governance

    function test_setParams_owner_succeeds() public {
        Params memory p = defaultParams();
        p.clockBudget = 99;
        vm.expectEmit();
        emit ICrucibleMarket.ParamsUpdated(2, p);
        market.setParams(p);
        assertEq(market.paramsVersion(), 2, "version");
        assertEq(market.params().clockBudget, 99, "new");
        assertEq(market.paramsAt(1).clockBudget, 60, "old kept");
    }

    function test_setParams_runningJobKeepsVersion_succeeds() public {
        uint256 id = _submitted(MockStepper.liar(SEED, 1));
        Params memory p = defaultParams();
        p.clockBudget = 7 days;
        p.oracleSetDelay = 20 days;
        p.challengerShareBps = 0;
        market.setParams(p);
        uint256 d = _challenge(challenger, id, 0);
        // the job is bound to version 1: a 60 s chess clock
        assertEq(market.disputeDeadline(d), block.timestamp + 60, "old clock");
    }

    function test_setParams_notOwner_reverts() public {
        Params memory p = defaultParams();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotOwner.selector, stranger));
        market.setParams(p);
    }

    function test_setParams_outOfBounds_reverts() public {
        Params memory p = defaultParams();
        p.challengerShareBps = 1500; // + 1000 requester > 2000
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "requesterShareBps", 1000, 0, 500));
        market.setParams(p);
        p = defaultParams();
        p.challengerShareBps = 2001;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "challengerShareBps", 2001, 0, 2000));
        market.setParams(p);
        p = defaultParams();
        p.maxChallengeWindow = 5;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "maxChallengeWindow", 5, 10, 30 days));
        market.setParams(p);
        p = defaultParams();
        p.minBond = 0;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "minBond", 0, 1, type(uint96).max));
        market.setParams(p);
        p = defaultParams();
        p.minStake = 0;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "minStake", 0, 1, type(uint96).max));
        market.setParams(p);
        p = defaultParams();
        p.minStakeBps = 9999;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "minStakeBps", 9999, 10_000, 50_000));
        market.setParams(p);
        p = defaultParams();
        p.maxSegments = 0;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "maxSegments", 0, 1, 1 << 20));
        market.setParams(p);
        p = defaultParams();
        p.oracleTimeout = 31 days;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "oracleTimeout", 31 days, 30, 30 days));
        market.setParams(p);
        p = defaultParams();
        p.reactionTime = 29;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "reactionTime", 29, 30, 30 days));
        market.setParams(p);
        p = defaultParams();
        p.voidFeeBps = 0;
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "voidFeeBps", 0, 100, 5000));
        market.setParams(p);
        p = defaultParams();
        p.oracleFee = 0.001 ether + 1; // above minBond
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "oracleFee", 0.001 ether + 1, 0, 0.001 ether));
        market.setParams(p);
        p = defaultParams();
        p.oracleSetDelay = 2100; // must exceed the largest dispute bound, 2100 s
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "oracleSetDelay", 2100, 2101, 400 days));
        market.setParams(p);
    }

    /// @dev A later version with shorter clocks cannot shorten the delay below an earlier version's bound.
    function test_setParams_oracleSetDelayCoversEveryVersion_reverts() public {
        Params memory p = defaultParams();
        p.clockBudget = 1 days;
        p.oracleSetDelay = 10 days; // bound: 2 * (1 day + 32 * 30) + 60
        market.setParams(p);
        uint256 bound = 2 * (1 days + 32 * 30) + 60;
        assertEq(market.maxDisputeBound(), bound, "max bound");
        p = defaultParams(); // its own bound is 2100 s, but version 2's still counts
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "oracleSetDelay", 3000, bound + 1, 400 days));
        market.setParams(p);
    }

    function test_scheduleOracleSet_strictMajority_reverts() public {
        address[] memory set = new address[](4);
        set[0] = oracle1;
        set[1] = oracle2;
        set[2] = oracle3;
        set[3] = stranger;
        vm.expectRevert(abi.encodeWithSelector(InvalidQuorum.selector, 2, 4));
        market.scheduleOracleSet(set, 2); // 2 of 4 is not a majority
        vm.expectRevert(abi.encodeWithSelector(InvalidQuorum.selector, 5, 4));
        market.scheduleOracleSet(set, 5);
        set[3] = oracle1;
        vm.expectRevert(abi.encodeWithSelector(DuplicateOracle.selector, oracle1));
        market.scheduleOracleSet(set, 3);
        set[3] = address(0);
        vm.expectRevert(ZeroAddress.selector);
        market.scheduleOracleSet(set, 3);
        vm.expectRevert(abi.encodeWithSelector(InvalidOracleSetSize.selector, 0, 32));
        market.scheduleOracleSet(new address[](0), 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotOwner.selector, stranger));
        market.scheduleOracleSet(set, 3);
    }

    function test_scheduleOracleSet_effectiveAfterDelay_succeeds() public {
        address[] memory set = new address[](1);
        set[0] = stranger;
        vm.expectEmit();
        emit ICrucibleMarket.OracleSetScheduled(2, set, 1, block.timestamp + 3000, 1);
        assertEq(market.scheduleOracleSet(set, 1), 2, "epoch");
        assertEq(market.latestOracleEpoch(), 2, "latest");
        assertEq(market.currentOracleEpoch(), 1, "not yet");
        vm.warp(block.timestamp + 3000);
        assertEq(market.currentOracleEpoch(), 2, "effective");
        assertTrue(market.isOracle(2, stranger) && !market.isOracle(2, oracle1), "members");
    }

    function test_transferOwnership_twoStep_succeeds() public {
        vm.expectEmit();
        emit ICrucibleMarket.OwnershipTransferStarted(address(this), stranger);
        market.transferOwnership(stranger);
        assertEq(market.pendingOwner(), stranger, "pending");
        assertEq(market.owner(), address(this), "not yet");
        vm.expectEmit();
        emit ICrucibleMarket.OwnershipTransferred(address(this), stranger);
        vm.prank(stranger);
        market.acceptOwnership();
        assertEq(market.owner(), stranger, "owner");
        assertEq(market.pendingOwner(), address(0), "cleared");
        vm.expectRevert(abi.encodeWithSelector(NotOwner.selector, address(this)));
        market.scheduleOracleSet(new address[](1), 1);
    }

    function test_transferOwnership_notOwner_reverts() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotOwner.selector, stranger));
        market.transferOwnership(stranger);
    }

    function test_acceptOwnership_notPending_reverts() public {
        market.transferOwnership(stranger);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(NotPendingOwner.selector, requester));
        market.acceptOwnership();
    }

    /// @dev The owner has no function that moves escrow, stake or bonds: after every governance
    /// call the liabilities and the balance are untouched.
    function test_governance_cannotMoveFunds_succeeds() public {
        uint256 id = _submitted(MockStepper.honest(SEED));
        _challenge(challenger, id, 0);
        uint256 liabilities = market.totalLiabilities();
        uint256 balance = address(market).balance;
        Params memory p = defaultParams();
        p.challengerShareBps = 2000;
        p.requesterShareBps = 0;
        market.setParams(p);
        address[] memory set = new address[](1);
        set[0] = stranger;
        market.scheduleOracleSet(set, 1);
        market.transferOwnership(stranger);
        assertEq(market.totalLiabilities(), liabilities, "liabilities");
        assertEq(address(market).balance, balance, "balance");
        assertEq(market.credits(address(this)), 0, "owner credit");
    }

    // ================================================================ views

    function test_jobStatus_unknown_succeeds() public view {
        assertTrue(market.jobStatus(42) == JobStatus.None, "none");
    }

    function test_getDispute_unknown_succeeds() public view {
        Dispute memory d = market.getDispute(42);
        assertTrue(d.status == DisputeStatus.None, "none");
        assertEq(market.disputeDeadline(42), 0, "no deadline");
    }
}

/// @dev Refuses ETH: withdrawals to it must revert and keep the credit.
contract Rejector {
    receive() external payable {
        if (msg.value > 0 && msg.sender != tx.origin) revert("no");
    }
}
