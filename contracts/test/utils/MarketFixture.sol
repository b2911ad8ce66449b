// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, Vm, console} from "./Test.sol";
import {MockStepper} from "./MockStepper.sol";
import {CrucibleMarket} from "../../src/CrucibleMarket.sol";
import {ICrucibleMarket} from "../../src/interfaces/ICrucibleMarket.sol";
import {ICrucibleErrors} from "../../src/libraries/Errors.sol";
import {
    Job,
    Dispute,
    Params,
    ProviderInfo,
    JobStatus,
    DisputeKind,
    DisputeStatus,
    Verdict
} from "../../src/libraries/Types.sol";

/// @notice Shared setup: a market with devnet-like parameters, three oracles (quorum 1), named
/// actors, and helpers that drive jobs and disputes with `MockStepper` traces.
abstract contract MarketFixture is Test {
    using MockStepper for MockStepper.Trace;

    CrucibleMarket internal market;

    address internal requester;
    address internal provider;
    address internal challenger;
    address internal stranger;
    address internal oracle1;
    address internal oracle2;
    address internal oracle3;

    uint96 internal constant REWARD = 1 ether;
    uint96 internal constant STAKE = 2 ether;
    uint96 internal constant BOND = 0.5 ether;
    uint32 internal constant DURATION = 1 hours;
    uint32 internal constant WINDOW = 30;
    uint32 internal constant K = 128;
    uint64 internal constant T = 512; // n = 4
    uint256 internal constant T0 = 1_700_000_000;
    bytes32 internal constant SPEC = keccak256("spec");
    bytes32 internal constant MANIFEST = keccak256("manifest");
    bytes32 internal constant MODEL = keccak256("model");
    bytes32 internal constant SEED = keccak256("seed");

    mapping(uint256 jobId => MockStepper.Trace) internal committed;

    function defaultParams() internal pure returns (Params memory) {
        return Params({
            minChallengeWindow: 10,
            maxChallengeWindow: 1 days,
            minDuration: 10,
            maxDuration: 7 days,
            moveTimeout: 20,
            oracleTimeout: 60,
            maxSegments: 65_536,
            challengerShareBps: 5000,
            requesterShareBps: 3000,
            providerBondShareBps: 5000,
            expirySlashBps: 2000,
            minStake: 0.01 ether,
            minBond: 0.001 ether
        });
    }

    function setUp() public virtual {
        vm.warp(T0);
        requester = makeAddr("requester");
        provider = makeAddr("provider");
        challenger = makeAddr("challenger");
        stranger = makeAddr("stranger");
        oracle1 = makeAddr("oracle1");
        oracle2 = makeAddr("oracle2");
        oracle3 = makeAddr("oracle3");
        address[] memory oracles = new address[](3);
        oracles[0] = oracle1;
        oracles[1] = oracle2;
        oracles[2] = oracle3;
        market = new CrucibleMarket(defaultParams(), oracles, 1);
        vm.label(address(market), "market");
        vm.deal(requester, 100 ether);
        vm.deal(provider, 100 ether);
        vm.deal(challenger, 100 ether);
        vm.deal(stranger, 100 ether);
    }

    // ---------------------------------------------------------------- jobs

    function _post() internal returns (uint256) {
        return _postWith(K, T, false);
    }

    function _postWith(uint32 k, uint64 t, bool refundOnExpiry) internal returns (uint256 jobId) {
        vm.prank(requester);
        jobId = market.postJob{value: REWARD}(SPEC, STAKE, BOND, DURATION, WINDOW, k, t, refundOnExpiry);
    }

    function _deposit(address who, uint256 amount) internal {
        vm.prank(who);
        market.depositStake{value: amount}();
    }

    function _claim(uint256 jobId) internal {
        _deposit(provider, STAKE);
        vm.prank(provider);
        market.claimJob(jobId);
    }

    function _submit(uint256 jobId, MockStepper.Trace memory tr) internal {
        Job memory job = market.getJob(jobId);
        uint256 n = job.totalSteps / job.interval;
        committed[jobId] = tr;
        vm.prank(job.provider);
        market.submitResult(jobId, tr.root(job.interval, n), tr.hashAt(job.totalSteps), MANIFEST, MODEL);
    }

    /// @dev Posted, claimed and submitted with trace `tr`.
    function _submitted(MockStepper.Trace memory tr) internal returns (uint256 jobId) {
        jobId = _post();
        _claim(jobId);
        _submit(jobId, tr);
    }

    // ---------------------------------------------------------------- disputes

    /// @dev Challenge segment j of the committed trace (proofs from the provider's own leaves).
    function _challenge(address who, uint256 jobId, uint256 j) internal returns (uint256 disputeId) {
        Job memory job = market.getJob(jobId);
        uint256 n = job.totalSteps / job.interval;
        MockStepper.Trace memory tr = committed[jobId];
        bytes32[] memory ls = tr.leaves(job.interval, n);
        bytes32[] memory pj = MockStepper.proof(ls, j);
        bytes32[] memory pj1 = MockStepper.proof(ls, j + 1);
        bytes32 hj = tr.hashAt(j * job.interval);
        bytes32 hj1 = tr.hashAt((j + 1) * job.interval);
        vm.prank(who);
        disputeId = market.challenge{value: job.bond}(jobId, j, hj, hj1, pj, pj1);
    }

    /// @dev First segment whose end checkpoint differs between the committed trace and `view_`.
    function _firstBadSegment(uint256 jobId, MockStepper.Trace memory view_) internal view returns (uint256) {
        Job memory job = market.getJob(jobId);
        MockStepper.Trace memory tr = committed[jobId];
        uint256 n = job.totalSteps / job.interval;
        for (uint256 j; j < n; ++j) {
            if (tr.hashAt((j + 1) * job.interval) != view_.hashAt((j + 1) * job.interval)) return j;
        }
        revert("no bad segment");
    }

    function _bisect(uint256 disputeId, MockStepper.Trace memory providerTrace) internal {
        Dispute memory d = market.getDispute(disputeId);
        uint256 m = (uint256(d.a) + d.b) / 2;
        Job memory job = market.getJob(d.jobId);
        vm.prank(job.provider);
        market.bisect(disputeId, providerTrace.hashAt(m), keccak256(abi.encode("cid", m)));
    }

    function _respond(uint256 disputeId, MockStepper.Trace memory challengerTrace) internal {
        Dispute memory d = market.getDispute(disputeId);
        uint256 m = (uint256(d.a) + d.b) / 2;
        vm.prank(d.challenger);
        market.respond(disputeId, d.midHash == challengerTrace.hashAt(m));
    }

    /// @dev Both sides play honestly to their own traces until one step is left.
    function _playOut(
        uint256 disputeId,
        MockStepper.Trace memory providerTrace,
        MockStepper.Trace memory challengerTrace
    ) internal {
        while (market.getDispute(disputeId).status == DisputeStatus.Bisecting) {
            _bisect(disputeId, providerTrace);
            _respond(disputeId, challengerTrace);
        }
    }

    function _vote(address oracle, uint256 disputeId, Verdict verdict) internal {
        vm.prank(oracle);
        market.submitVerdict(disputeId, verdict);
    }

    // ---------------------------------------------------------------- accounting

    function _assertSolvent() internal view {
        assertEq(address(market).balance, market.totalLiabilities(), "balance == liabilities");
    }

    function _withdrawAll(address who) internal returns (uint256 amount) {
        if (market.credits(who) == 0) return 0;
        vm.prank(who);
        amount = market.withdrawCredit();
    }
}
