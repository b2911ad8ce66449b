// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";

/// @notice Issue 26, point by point (docs/dispute-game.md §1.5, §1.6, §3.7): the oracle epoch is
/// the job's (fixed at the claim, intersected with the epoch effective at each vote), governance
/// reads and writes are O(1) in the scheduled sets, delay is priced at least at the carrying cost
/// of what it delays (a bond that doubles per level of failed disputes, a void fee that covers the
/// provider's dispute cost), and no reachable counter panics. Each test asserts the money.
contract GovernanceTest is MarketFixture, ICrucibleErrors {
    using MockStepper for MockStepper.Trace;

    uint256 internal constant BPS = 10_000;
    uint256 internal constant DELAY = 3000; // the fixture's oracleSetDelay
    uint256 internal constant JOBS_SLOT = 5; // `_jobs` in MarketCore's layout (forge inspect storageLayout)

    MockStepper.Trace internal honestTrace;
    MockStepper.Trace internal liarTrace;
    address internal griefer;
    address internal sybil;

    function setUp() public override {
        super.setUp();
        honestTrace = MockStepper.honest(SEED);
        liarTrace = MockStepper.liar(SEED, 300);
        griefer = makeAddr("griefer");
        sybil = makeAddr("sybil");
        vm.deal(griefer, type(uint96).max);
        vm.deal(address(0), 1); // address(0) holds ETH on every live chain; burns go there
    }

    // ---------------------------------------------------------------- helpers

    function _set(address a) internal pure returns (address[] memory set) {
        set = new address[](1);
        set[0] = a;
    }

    function _set3(address a, address b, address c) internal pure returns (address[] memory set) {
        set = new address[](3);
        set[0] = a;
        set[1] = b;
        set[2] = c;
    }

    /// @dev A griefer's Manifest dispute at the bond the job asks now; returns its id.
    function _manifest(address who, uint256 jobId) internal returns (uint256 d) {
        uint256 bond = market.bondFor(jobId);
        vm.prank(who);
        d = market.challengeManifest{value: bond}(jobId);
    }

    function _expectNotOracle(address who, uint256 d, uint256 epoch) internal {
        assertFalse(market.canVote(d, who), "canVote says no");
        vm.prank(who);
        vm.expectRevert(abi.encodeWithSelector(NotOracle.selector, d, epoch, who));
        market.submitVerdict(d, Verdict.ProviderWrong);
    }

    /// @dev defenceGas * refGasPrice + the carrying cost of reward + stake over Dmax + reactionTime.
    function _disputeCost(uint256 jobId) internal view returns (uint256) {
        Job memory job = market.getJob(jobId);
        Params memory p = market.paramsAt(job.paramsVersion);
        uint256 span = market.disputeDurationBound(jobId) + p.reactionTime;
        uint256 locked = uint256(job.reward) + job.stake;
        uint256 carry = (locked * p.carryBps * span + BPS * 365 days - 1) / (BPS * 365 days);
        return market.defenceGas(job.interval, job.arity) * p.refGasPrice + carry;
    }

    /// @dev The deploy profile's defaults (crucible/devnet/deploy.py DEFAULT_PARAMS).
    function _defaultParams() internal pure returns (Params memory p) {
        p = defaultParams();
        p.minChallengeWindow = 1 days;
        p.maxChallengeWindow = 14 days;
        p.minDuration = 1 hours;
        p.maxDuration = 30 days;
        p.clockBudget = 1 days;
        p.moveExtension = 1 hours;
        p.oracleTimeout = 2 days;
        p.reactionTime = 1 days;
        p.progressTimeout = 6 hours;
        p.oracleSetDelay = 7 days;
        p.minStake = 0.1 ether;
        p.minBond = 0.01 ether;
        p.oracleFee = 0.002 ether;
        p.refGasPrice = 20 gwei;
    }

    function _jobSlot(uint256 jobId, uint256 offset) internal pure returns (bytes32) {
        return bytes32(uint256(keccak256(abi.encode(jobId, JOBS_SLOT))) + offset);
    }

    // ================================================================ 1. the epoch is the job's

    /// @dev The owner schedules a quorum-1 set of its own after the provider claimed: once it is
    /// effective, its member cannot vote on that job, the job's old members are no longer in the
    /// current set either, so the false challenge voids (the provider is paid the void fee and
    /// keeps its stake) instead of slashing it. A job claimed after the switch is the new set's.
    function test_epochPerJob_quorumOneSetCannotSlashAnEarlierClaim_succeeds() public {
        uint256 id = _post();
        _claim(id); // epoch 1: oracle1..3, quorum 2
        market.scheduleOracleSet(_set(sybil), 1);
        vm.warp(block.timestamp + DELAY);
        assertEq(market.currentOracleEpoch(), 2, "the owner's set is effective");
        _submit(id, honestTrace);
        uint256 d = _manifest(griefer, id);
        assertEq(market.getDispute(d).epoch, 1, "the dispute is decided by the claim's epoch");
        _expectNotOracle(sybil, d, 1); // not in the job's epoch: adds no voter
        _expectNotOracle(oracle1, d, 2); // removed: never votes once the removal is effective
        _expectNotOracle(oracle2, d, 2);
        vm.warp(market.disputeDeadline(d));
        market.timeout(d);
        uint256 fee = market.voidFeeFor(id, BOND);
        assertTrue(market.getDispute(d).status == DisputeStatus.Voided, "voided: no quorum of the job's epoch");
        assertEq(market.providerInfo(provider).locked, STAKE, "the stake is untouched");
        assertEq(market.credits(provider), fee, "the provider is paid the void fee");
        assertEq(market.credits(griefer), BOND - fee, "the rest of the bond back");
        // a job claimed now records epoch 2, and its single member decides it
        uint256 id2 = _submitted(liarTrace);
        assertEq(market.getJob(id2).oracleEpoch, 2, "claimed under epoch 2");
        uint256 d2 = _manifest(challenger, id2);
        _expectNotOracle(oracle1, d2, 2);
        _vote(sybil, d2, Verdict.ProviderWrong);
        assertTrue(market.jobStatus(id2) == JobStatus.Slashed, "decided by epoch 2's quorum of one");
        _assertSolvent();
    }

    /// @dev A dispute opened one second before the switch: the removed oracle votes until the
    /// switch and never after it; the added one never votes on the older job; the job's epoch's
    /// remaining members decide it with its own quorum of 2.
    function test_epochPerJob_removedOracleNeverVotesOnceRemovalTakesEffect_succeeds() public {
        uint256 id = _post();
        _claim(id);
        uint256 switchAt = block.timestamp + DELAY;
        vm.expectEmit();
        emit ICrucibleMarket.OracleSetScheduled(2, _set3(oracle1, oracle2, sybil), 2, switchAt, 1);
        market.scheduleOracleSet(_set3(oracle1, oracle2, sybil), 2); // oracle3 out, sybil in
        vm.warp(switchAt - 10);
        _submit(id, liarTrace);
        vm.warp(switchAt - 1);
        uint256 d = _manifest(challenger, id);
        uint256 d2 = _manifest(copycat(), id);
        assertTrue(market.canVote(d, oracle3), "oracle3 votes until the switch");
        _vote(oracle3, d2, Verdict.ProviderWrong); // a vote cast in time counts
        vm.warp(switchAt);
        _expectNotOracle(oracle3, d, 2);
        _expectNotOracle(sybil, d, 1);
        _vote(oracle1, d, Verdict.ProviderWrong);
        assertTrue(market.getDispute(d).status == DisputeStatus.AwaitingOracle, "the job's quorum is still 2");
        _vote(oracle2, d, Verdict.ProviderWrong);
        assertTrue(market.jobStatus(id) == JobStatus.Slashed, "decided by the job's remaining members");
        market.settleDispute(d2);
        uint256 pool = ((uint256(STAKE) - ORACLE_FEE) * 1000) / BPS;
        assertEq(market.credits(challenger), BOND + pool / 2, "bond back + half the pool");
        assertEq(market.credits(oracle2), ORACLE_FEE / 2, "the deciding vote is paid");
        _assertSolvent();
    }

    function copycat() internal returns (address a) {
        a = makeAddr("copycat");
        vm.deal(a, 100 ether);
    }

    // ================================================================ 2. O(1) governance

    /// @dev Scheduling while a set is pending replaces it: the replaced one never takes effect,
    /// the one effective at scheduling stays so until the replacement's time.
    function test_epochs_atMostOnePending_replacedSetNeverEffective_succeeds() public {
        market.scheduleOracleSet(_set(stranger), 1); // epoch 2 at T0 + 3000
        vm.warp(block.timestamp + 1000);
        vm.expectEmit();
        emit ICrucibleMarket.OracleSetScheduled(3, _set(sybil), 1, block.timestamp + DELAY, 1);
        market.scheduleOracleSet(_set(sybil), 1); // epoch 3 at T0 + 4000, replaces 2
        vm.warp(T0 + DELAY);
        assertEq(market.currentOracleEpoch(), 1, "epoch 2 was replaced: epoch 1 stays");
        uint256 id = _post();
        _claim(id);
        assertEq(market.getJob(id).oracleEpoch, 1, "a claim now records epoch 1");
        vm.warp(T0 + 1000 + DELAY);
        assertEq(market.currentOracleEpoch(), 3, "epoch 3 at its time");
        vm.expectEmit();
        emit ICrucibleMarket.OracleSetScheduled(4, _set(stranger), 1, block.timestamp + DELAY, 3);
        market.scheduleOracleSet(_set(stranger), 1);
        assertEq(market.currentOracleEpoch(), 3, "pending again");
    }

    /// @dev The old loop paid 2,224 gas per pending epoch on every challenge (13,400 of them pushed
    /// a challenge past 30M gas). Now claim, challenge and vote cost the same with one set as after
    /// 2,000 scheduled ones, up to the few gas of the one-read look-up's other branch.
    function test_epochs_disputePathGasIndependentOfScheduledSets_succeeds() public {
        uint256[3] memory before = _claimChallengeVoteGas();
        for (uint256 i; i < 2000; ++i) {
            market.scheduleOracleSet(_set3(oracle1, oracle2, oracle3), 2); // each replaces the last
        }
        assertEq(market.latestOracleEpoch(), 2001, "2,000 sets scheduled");
        assertEq(market.currentOracleEpoch(), 1, "none effective yet");
        uint256[3] memory afterwards = _claimChallengeVoteGas();
        string[3] memory names = ["claim gas", "challenge gas", "vote gas"];
        for (uint256 i; i < 3; ++i) {
            console.log(names[i], before[i]);
            console.log(names[i], afterwards[i]);
            assertLe(afterwards[i], before[i] + BRANCH_GAS, names[i]);
            assertLe(before[i], afterwards[i] + BRANCH_GAS, names[i]);
        }
        vm.warp(block.timestamp + DELAY);
        assertEq(market.currentOracleEpoch(), 2001, "the last one takes effect");
    }

    uint256 internal constant BRANCH_GAS = 10;

    function _claimChallengeVoteGas() internal returns (uint256[3] memory g) {
        uint256 id = _post();
        _deposit(provider, STAKE);
        vm.cool(address(market));
        vm.prank(provider);
        market.claimJob(id);
        g[0] = vm.lastCallGas().gasTotalUsed;
        _submit(id, honestTrace);
        vm.cool(address(market));
        require(disputeModule.code.length > 0, "module"); // warm in both runs (GasTest adds the cold access)
        vm.prank(challenger);
        uint256 d = market.challengeManifest{value: BOND}(id);
        g[1] = vm.lastCallGas().gasTotalUsed;
        vm.cool(address(market));
        vm.prank(oracle1);
        market.submitVerdict(d, Verdict.ProviderCorrect);
        g[2] = vm.lastCallGas().gasTotalUsed;
    }

    // ================================================================ 3. priced delay

    /// @dev A chain of voids against an honest provider at the default parameters, on a 100 ETH
    /// job (reward and stake): each bond doubles, each void pays the provider at least its dispute
    /// cost (defence gas + the carrying cost of 200 ETH over Dmax + reactionTime), and every hour of
    /// delay the chain buys costs the griefer at least what `delayCostPerHour` stated when it
    /// bought it, and at least the carrying cost of the reward and stake it holds back.
    function test_delay_voidChainCostsAtLeastTheStatedFloorAndTheCarryingCost_succeeds() public {
        market.setParams(_defaultParams());
        vm.deal(requester, 1000 ether);
        vm.deal(provider, 1000 ether);
        uint256 minBond = market.minBondFor(100 ether, 100 ether, K, 4);
        vm.prank(requester);
        uint256 id = market.postJob{value: 100 ether}(
            JobTerms(SPEC, 100 ether, uint96(minBond), 1 days, 1 days, K, T, 4, false)
        );
        _deposit(provider, 100 ether);
        vm.prank(provider);
        market.claimJob(id);
        _submit(id, honestTrace);
        uint256 cost = _disputeCost(id);
        uint256 span = market.disputeDurationBound(id) + 1 days;
        uint256 paidAt = market.getJob(id).windowEnd; // when it would have been paid
        uint256 fees;
        uint256 balance = griefer.balance;
        for (uint256 i; i < 20; ++i) {
            vm.warp(market.getJob(id).windowEnd - 1); // each dispute at the window's last second
            uint256 bond = market.bondFor(id);
            assertEq(bond, minBond << (i < 16 ? i : 16), "the bond doubles per void, up to level 16");
            uint256 stated = market.delayCostPerHour(id);
            uint256 due = market.payoutBound(id);
            uint256 d = _manifest(griefer, id);
            uint256 bought = market.payoutBound(id) - due; // the delay this dispute can buy
            assertLe(bought, span, "one dispute buys at most Dmax + reactionTime");
            vm.warp(market.disputeDeadline(d));
            vm.prank(provider);
            market.timeout(d); // the oracles never answer
            uint256 fee = market.voidFeeFor(id, bond);
            assertGe(fee, cost, "the void fee covers the provider's dispute cost");
            assertGe(fee, (bond * 1000) / BPS, "and voidFeeBps of the bond");
            assertLe(fee, bond, "never more than the bond");
            fees += fee;
            assertGe(fee * 1 hours, stated * bought, "this dispute's delay cost at least the stated rate");
        }
        vm.warp(market.payoutBound(id));
        market.finalizeJob(id);
        uint256 delay = block.timestamp - paidAt;
        _withdrawAll(griefer);
        assertEq(balance - griefer.balance, fees, "the griefer paid exactly the void fees");
        assertEq(market.credits(provider), 100 ether + fees, "the provider: reward + every void fee");
        uint256 carry = (200 ether * 500 * delay) / (BPS * 365 days);
        assertGe(fees, carry, "the chain cost at least the carrying cost of 200 ETH over its delay");
        console.log("20 voids: delay (s)", delay);
        console.log("20 voids: griefer's cost (wei)", fees);
        console.log("20 voids: carrying cost of 200 ETH over it (wei)", carry);
        console.log("delay bought per ETH (s)", (delay * 1 ether) / fees);
        _assertSolvent();
    }

    /// @dev Disputes opened in parallel at one bond level buy one span of delay together, so their
    /// failures raise the level once (a cheater's accomplice cannot price verifiers out with
    /// cheap parallel decoys); a dispute opened at the new level raises it again.
    function test_delay_parallelFailuresRaiseTheLevelOnce_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256[3] memory ds;
        for (uint256 i; i < 3; ++i) {
            ds[i] = _manifest(griefer, id);
        }
        vm.warp(market.disputeDeadline(ds[0]));
        for (uint256 i; i < 3; ++i) {
            market.timeout(ds[i]);
        }
        assertEq(market.getJob(id).bondLevel, 1, "three parallel voids: one level");
        assertEq(market.bondFor(id), 2 * uint256(BOND), "bond doubled once");
        uint256 d = _manifest(griefer, id);
        _decide(d, Verdict.ProviderCorrect); // a forfeit raises it too
        assertEq(market.getJob(id).bondLevel, 2, "level 2");
        uint256 toProvider = ((2 * uint256(BOND) - ORACLE_FEE) * 5000) / BPS;
        assertEq(market.credits(provider), 3 * market.voidFeeFor(id, BOND) + toProvider, "three voids + a forfeit");
        _assertSolvent();
    }

    /// @dev The level stops at MAX_BOND_LEVEL: the bond stays the job's bond << 16, every void
    /// still pays back exactly the bond its dispute posted, nothing overflows.
    function test_delay_bondLevelCapped_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 fees;
        for (uint256 i; i < 18; ++i) {
            uint256 bond = market.bondFor(id);
            assertEq(bond, uint256(BOND) << (i < 16 ? i : 16), "bond << min(level, 16)");
            uint256 d = _manifest(griefer, id);
            assertEq(market.getDispute(d).bond, bond, "the dispute's own bond");
            vm.warp(market.disputeDeadline(d));
            market.timeout(d);
            fees += market.voidFeeFor(id, bond);
        }
        assertEq(market.getJob(id).bondLevel, 16, "capped");
        assertEq(market.credits(provider), fees, "every void fee");
        _assertSolvent();
    }

    /// @dev `delayCostPerHour` is the cheapest outcome the griefer can choose for its next
    /// dispute: a void's fee is below a forfeit (the whole bond) and its own timeout (the whole
    /// bond), over the most delay one dispute buys.
    function test_delay_statedCostIsTheCheapestOutcome_succeeds() public {
        uint256 id = _submitted(honestTrace);
        uint256 span = market.disputeDurationBound(id) + 30;
        uint256 bond = market.bondFor(id);
        uint256 voidFee = market.voidFeeFor(id, bond);
        assertEq(market.delayCostPerHour(id), (voidFee * 1 hours) / span, "void fee / span");
        // a forfeit by its own clock: the whole bond
        uint256 before = griefer.balance;
        uint256 d = _challenge(griefer, id, 0);
        _dissect(d, honestTrace);
        vm.warp(market.disputeDeadline(d));
        market.timeout(d);
        _withdrawAll(griefer);
        assertEq(before - griefer.balance, bond, "timeout: the whole bond");
        assertLe(voidFee, bond, "the void is the cheapest");
        assertEq(market.delayCostPerHour(id), (market.voidFeeFor(id, 2 * bond) * 1 hours) / span, "next level");
        assertEq(market.delayCostPerHour(999), 0, "no job");
    }

    /// @dev At every parameter setting and job size the bounds allow, the least bond's forfeit
    /// share and its void fee cover the provider's dispute cost, the void fee stays within the
    /// bond, and the stated hourly cost is at least the carrying cost of reward + stake per hour.
    function testFuzz_delay_leastBondCoversTheDisputeCost_succeeds(
        uint96 reward,
        uint96 stake,
        uint16 carryBps,
        uint64 refGas,
        uint16 shareBps,
        uint16 voidBps,
        uint32 k,
        uint8 arity
    ) public {
        Params memory p = _defaultParams();
        p.carryBps = uint16(bound(carryBps, 100, 10_000));
        p.refGasPrice = uint64(bound(refGas, 0, 10_000 gwei));
        p.providerBondShareBps = uint16(bound(shareBps, 1, 10_000));
        p.voidFeeBps = uint16(bound(voidBps, 100, 5000));
        market.setParams(p);
        reward = uint96(bound(reward, 1, 1e8 ether)); // < 2^88 wei
        stake = uint96(bound(stake, market.minStakeFor(reward), 2e9 ether));
        k = uint32(bound(k, 1, type(uint32).max));
        arity = uint8(bound(arity, 2, 16));
        uint256 bond = market.minBondFor(reward, stake, k, arity);
        vm.assume(bond <= type(uint96).max);
        vm.deal(requester, reward);
        vm.prank(requester);
        uint256 id =
            market.postJob{value: reward}(JobTerms(SPEC, stake, uint96(bond), 1 days, 1 days, k, k, arity, false));
        _assertCovers(id, bond, p);
    }

    function _assertCovers(uint256 id, uint256 bond, Params memory p) internal view {
        uint256 cost = _disputeCost(id);
        assertGe(((bond - p.oracleFee) * p.providerBondShareBps) / BPS, cost, "a forfeit pays the provider its cost");
        uint256 voidFee = market.voidFeeFor(id, bond);
        assertGe(voidFee, cost, "a void pays the provider its cost");
        assertLe(voidFee, bond, "within the bond");
        Job memory job = market.getJob(id);
        uint256 carryPerHour = ((uint256(job.reward) + job.stake) * p.carryBps * 1 hours) / (BPS * 365 days);
        assertGe(market.delayCostPerHour(id), carryPerHour, "at least the carrying cost per hour");
    }

    // ================================================================ 5. counters

    /// @dev liveDisputes and winners are uint48 (<= disputeCount): a 65,536th live dispute opens
    /// (the uint16 panicked here) and a slash shared by 65,537 is paid.
    function test_counters_liveDisputesPastUint16_succeeds() public {
        uint256 id = _submitted(liarTrace);
        bytes32 slot = _jobSlot(id, 0);
        uint256 word = uint256(vm.load(address(market), slot));
        uint256 shift = 208; // provider 160 | status 8 | windowEnd 40 | liveDisputes 48
        vm.store(address(market), slot, bytes32(word | (uint256(type(uint16).max) << shift)));
        assertEq(market.getJob(id).liveDisputes, 65_535, "65,535 live");
        uint256 d = _challenge(challenger, id, 2);
        assertEq(market.getJob(id).liveDisputes, 65_536, "one more opens");
        vm.warp(market.disputeDeadline(d));
        market.timeout(d); // the provider never dissects: slashed by its clock
        Job memory job = market.getJob(id);
        assertEq(job.winners, 65_536, "every live dispute wins");
        uint256 pool = (uint256(STAKE) * 1000) / BPS;
        assertEq(market.credits(challenger), BOND + pool / 65_536, "its part of the pool");
    }

    /// @dev The owner's counters refuse with an error naming them, never a panic.
    function test_counters_governanceCountersRefuseAtTheirBound_reverts() public {
        uint256 word = uint256(vm.load(address(market), bytes32(0)));
        uint256 max24 = type(uint24).max;
        word = (word & ~(max24 << 96)) | (max24 << 96); // _paramsVersion: bits 96..119
        vm.store(address(market), bytes32(0), bytes32(word));
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "paramsVersion", max24 + 1, 1, max24));
        market.setParams(defaultParams());
        word = uint256(vm.load(address(market), bytes32(uint256(1))));
        word = (word & ~(max24 << 128)) | (max24 << 128); // _latestEpoch: bits 128..151
        vm.store(address(market), bytes32(uint256(1)), bytes32(word));
        vm.expectRevert(abi.encodeWithSelector(ParamOutOfBounds.selector, "oracleEpoch", max24 + 1, 1, max24));
        market.scheduleOracleSet(_set(stranger), 1);
    }
}
