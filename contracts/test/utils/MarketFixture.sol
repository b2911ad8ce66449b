// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, Vm, console} from "./Test.sol";
import {MockStepper} from "./MockStepper.sol";
import {CrucibleMarket} from "../../src/CrucibleMarket.sol";
import {ICrucibleMarket} from "../../src/interfaces/ICrucibleMarket.sol";
import {ICrucibleErrors} from "../../src/libraries/Errors.sol";
import {
    Job,
    JobTerms,
    Dispute,
    Params,
    ProviderInfo,
    JobStatus,
    DisputeKind,
    DisputeStatus,
    Verdict
} from "../../src/libraries/Types.sol";

/// @notice Shared setup: a market with devnet-like parameters, three oracles (quorum 2), named
/// actors, and helpers that drive jobs and disputes with `MockStepper` traces.
abstract contract MarketFixture is Test {
    using MockStepper for MockStepper.Trace;

    CrucibleMarket internal market;
    /// @dev The `DisputeModule` the market created in its constructor (its first CREATE, nonce 1).
    address internal disputeModule;

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
    uint8 internal constant ARITY = 2;
    uint96 internal constant ORACLE_FEE = 0.001 ether;
    uint256 internal constant T0 = 1_700_000_000;
    bytes32 internal constant SPEC = keccak256("spec");
    bytes32 internal constant MANIFEST = keccak256("manifest");
    bytes32 internal constant MODEL = keccak256("model");
    bytes32 internal constant SEED = keccak256("seed");

    mapping(uint256 jobId => MockStepper.Trace) internal committed;
    /// @dev The provider's latest dissection arrays per dispute (the challenger re-sends them).
    mapping(uint256 disputeId => bytes32[]) internal postedHashes;
    mapping(uint256 disputeId => bytes32[]) internal postedCids;

    function defaultParams() internal pure returns (Params memory) {
        return Params({
            minChallengeWindow: 10,
            maxChallengeWindow: 1 days,
            minDuration: 10,
            maxDuration: 7 days,
            clockBudget: 60,
            moveExtension: 30,
            oracleTimeout: 60,
            reactionTime: 30,
            progressTimeout: 60,
            oracleSetDelay: 3000,
            maxSegments: 65_536,
            challengerShareBps: 1000,
            requesterShareBps: 1000,
            providerBondShareBps: 5000,
            expirySlashBps: 2000,
            voidFeeBps: 1000,
            minStakeBps: 10_000,
            carryBps: 500,
            minStake: 0.01 ether,
            minBond: 0.001 ether,
            oracleFee: ORACLE_FEE,
            refGasPrice: 1 gwei
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
        market = new CrucibleMarket(defaultParams(), oracles, 2);
        vm.label(address(market), "market");
        disputeModule = vm.computeCreateAddress(address(market), 1);
        vm.label(disputeModule, "disputeModule");
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
        return _postArity(k, t, ARITY, refundOnExpiry);
    }

    function _terms(uint32 k, uint64 t, uint8 arity, bool refundOnExpiry) internal pure returns (JobTerms memory) {
        return JobTerms({
            specCid: SPEC,
            stake: STAKE,
            bond: BOND,
            duration: DURATION,
            challengeWindow: WINDOW,
            interval: k,
            totalSteps: t,
            arity: arity,
            refundOnExpiry: refundOnExpiry
        });
    }

    /// @dev Terms from v1's positional arguments, with the fixture's arity.
    function _t(
        bytes32 spec,
        uint96 stake,
        uint96 bond,
        uint32 duration,
        uint32 window,
        uint32 k,
        uint64 t,
        bool refundOnExpiry
    ) internal pure returns (JobTerms memory terms) {
        terms = JobTerms(spec, stake, bond, duration, window, k, t, ARITY, refundOnExpiry);
    }

    function _postArity(uint32 k, uint64 t, uint8 arity, bool refundOnExpiry) internal returns (uint256 jobId) {
        vm.prank(requester);
        jobId = market.postJob{value: REWARD}(_terms(k, t, arity, refundOnExpiry));
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
        uint256 bond = market.bondFor(jobId); // the job's bond << its bond level
        vm.prank(who);
        disputeId = market.challenge{value: bond}(jobId, j, hj, hj1, pj, pj1);
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

    /// @dev Provider's dissection move with the hashes of its own trace at the round's points.
    function _dissect(uint256 disputeId, MockStepper.Trace memory providerTrace) internal {
        uint256[] memory pts = market.dissectionPoints(disputeId);
        uint256 interior = pts.length - 2;
        bytes32[] memory hs = new bytes32[](interior);
        bytes32[] memory cids = new bytes32[](interior);
        for (uint256 i; i < interior; ++i) {
            hs[i] = providerTrace.hashAt(pts[i + 1]);
            cids[i] = keccak256(abi.encode("cid", pts[i + 1]));
        }
        postedHashes[disputeId] = hs;
        postedCids[disputeId] = cids;
        Job memory job = market.getJob(market.getDispute(disputeId).jobId);
        vm.prank(job.provider);
        market.dissect(disputeId, hs, cids);
    }

    /// @dev Challenger's move: the first part whose end point it disagrees with.
    function _respond(uint256 disputeId, MockStepper.Trace memory challengerTrace) internal {
        uint256[] memory pts = market.dissectionPoints(disputeId);
        bytes32[] memory hs = postedHashes[disputeId];
        uint256 index = hs.length; // the last part: H(b) is rejected by construction
        for (uint256 i; i < hs.length; ++i) {
            if (hs[i] != challengerTrace.hashAt(pts[i + 1])) {
                index = i;
                break;
            }
        }
        vm.prank(market.getDispute(disputeId).challenger);
        market.respond(disputeId, index, hs, postedCids[disputeId]);
    }

    /// @dev Both sides play honestly to their own traces until one step is left.
    function _playOut(
        uint256 disputeId,
        MockStepper.Trace memory providerTrace,
        MockStepper.Trace memory challengerTrace
    ) internal {
        while (market.getDispute(disputeId).status == DisputeStatus.Dissecting) {
            _dissect(disputeId, providerTrace);
            _respond(disputeId, challengerTrace);
        }
    }

    /// @dev Two of the three oracles (the quorum) vote `verdict`.
    function _decide(uint256 disputeId, Verdict verdict) internal {
        _vote(oracle1, disputeId, verdict);
        _vote(oracle2, disputeId, verdict);
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
