// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICrucibleMarket} from "./interfaces/ICrucibleMarket.sol";
import {
    Job,
    JobTerms,
    Dispute,
    Params,
    ProviderInfo,
    OracleEpoch,
    JobStatus,
    DisputeKind,
    DisputeStatus,
    Verdict
} from "./libraries/Types.sol";
import {MarketCore} from "./MarketCore.sol";
import {DisputeModule} from "./DisputeModule.sol";

/// @title CrucibleMarket
/// @notice See `ICrucibleMarket` and docs/dispute-game.md. Jobs, stake, credits and every view run
/// here; the dispute game and the governance writes run in `DisputeModule` by DELEGATECALL (one
/// storage, see `MarketCore`), because together they exceed the EIP-170 code-size limit. The
/// module is created by this constructor, so a deployment is still one transaction.
contract CrucibleMarket is MarketCore, ICrucibleMarket {
    /// @dev The dispute module this market delegates to (created by the constructor, immutable).
    address internal immutable _disputeModule;

    /// @param initialParams governance parameters version 1
    /// @param oracles oracle epoch 1, effective at once
    /// @param initialQuorum its quorum, a strict majority
    constructor(Params memory initialParams, address[] memory oracles, uint8 initialQuorum) {
        _disputeModule = address(new DisputeModule());
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _setParams(initialParams);
        _scheduleOracleSet(oracles, initialQuorum, block.timestamp);
    }

    // ------------------------------------------------------------------ jobs

    /// @inheritdoc ICrucibleMarket
    function postJob(JobTerms calldata terms) external payable returns (uint256 jobId) {
        uint24 version = _paramsVersion;
        if (msg.value == 0 || msg.value > type(uint88).max) revert InvalidReward(msg.value);
        _checkTerms(_params[version], terms, msg.value);

        jobId = ++_jobCount;
        _liabilities += uint128(msg.value); // < 2^88 per call, the sum of all ETH fits 128 bits
        Job storage job = _jobs[jobId];
        job.status = JobStatus.Open;
        job.requester = msg.sender;
        job.reward = uint88(msg.value); // checked above
        job.refundOnExpiry = terms.refundOnExpiry;
        job.stake = terms.stake;
        job.bond = terms.bond;
        job.totalSteps = uint56(terms.totalSteps); // T = n * k <= 2^20 * (2^32 - 1), checked
        job.arity = terms.arity;
        job.interval = terms.interval;
        job.duration = terms.duration;
        job.challengeWindow = uint24(terms.challengeWindow); // <= maxChallengeWindow <= MAX_WINDOW < 2^24
        job.paramsVersion = version;
        job.specCid = terms.specCid;
        emit JobPosted(jobId, msg.sender, msg.value, terms, version);
    }

    /// @inheritdoc ICrucibleMarket
    function cancelJob(uint256 jobId) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Open);
        address requester = job.requester;
        if (msg.sender != requester) revert NotRequester(jobId, msg.sender);

        job.status = JobStatus.Cancelled;
        uint96 reward = job.reward;
        _credit(requester, jobId, reward);
        emit JobCancelled(jobId, requester, reward);
    }

    /// @inheritdoc ICrucibleMarket
    function claimJob(uint256 jobId) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Open);
        uint96 stake = job.stake;
        ProviderInfo storage info = _providers[msg.sender];
        uint96 free = info.free;
        if (free < stake) revert InsufficientFreeStake(msg.sender, free, stake);

        info.free = free - stake;
        info.locked += stake;
        uint40 deadline = uint40(block.timestamp) + job.duration; // timestamps fit 40 bits until year 36812
        uint24 epoch = _currentEpoch(); // decides every dispute on this claim (§1.6)
        job.provider = msg.sender;
        job.status = JobStatus.Claimed;
        job.deadline = deadline;
        job.lastProgressAt = uint40(block.timestamp);
        job.oracleEpoch = epoch;
        emit JobClaimed(
            jobId, msg.sender, stake, deadline, block.timestamp + _params[job.paramsVersion].progressTimeout, epoch
        );
    }

    /// @inheritdoc ICrucibleMarket
    function reportProgress(uint256 jobId, uint256 step) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Claimed);
        if (msg.sender != job.provider) revert NotProvider(jobId, msg.sender);
        uint64 last = job.progressStep;
        uint64 total = job.totalSteps;
        if (step <= last || step > total) revert InvalidProgressStep(jobId, step, last, total);
        job.progressStep = uint64(step); // <= totalSteps, a uint64
        job.lastProgressAt = uint40(block.timestamp);
        emit ProgressReported(jobId, msg.sender, step, block.timestamp + _params[job.paramsVersion].progressTimeout);
    }

    /// @inheritdoc ICrucibleMarket
    function releaseJob(uint256 jobId) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Claimed);
        if (msg.sender != job.requester) revert NotRequester(jobId, msg.sender);
        uint256 releasableAt = uint256(job.lastProgressAt) + _params[job.paramsVersion].progressTimeout;
        if (block.timestamp < releasableAt) revert ProgressNotStale(jobId, releasableAt);
        (address provider, uint256 toRequester, bool refunded) = _endClaim(jobId, job);
        emit JobReleased(jobId, provider, toRequester, refunded);
    }

    /// @inheritdoc ICrucibleMarket
    function submitResult(
        uint256 jobId,
        bytes32 traceRoot,
        bytes32 finalStateHash,
        bytes32 manifestCid,
        bytes32 finalModelCid
    ) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Claimed);
        if (msg.sender != job.provider) revert NotProvider(jobId, msg.sender);
        if (traceRoot == 0) revert ZeroCommitment("traceRoot");
        if (finalStateHash == 0) revert ZeroCommitment("finalStateHash");
        if (manifestCid == 0) revert ZeroCommitment("manifestCid");
        if (finalModelCid == 0) revert ZeroCommitment("finalModelCid");

        uint40 windowEnd = uint40(block.timestamp) + job.challengeWindow;
        job.status = JobStatus.Submitted;
        job.windowEnd = windowEnd;
        job.submittedAt = uint40(block.timestamp);
        job.traceRoot = traceRoot;
        job.finalStateHash = finalStateHash;
        emit ResultSubmitted(jobId, msg.sender, traceRoot, finalStateHash, manifestCid, finalModelCid, windowEnd);
    }

    /// @inheritdoc ICrucibleMarket
    function finalizeJob(uint256 jobId) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Accepted);
        address provider = job.provider;
        uint96 reward = job.reward;
        uint96 stake = job.stake;

        job.status = JobStatus.Finalized;
        ProviderInfo storage info = _providers[provider];
        info.locked -= stake;
        info.free += stake;
        ++info.finalized;
        _credit(provider, jobId, reward);
        emit JobFinalized(jobId, provider, reward);
    }

    /// @inheritdoc ICrucibleMarket
    function expireJob(uint256 jobId) external {
        Job storage job = _jobs[jobId];
        _requireStatus(jobId, job, JobStatus.Expired);
        (address provider, uint256 toRequester, bool refunded) = _endClaim(jobId, job);
        emit JobExpired(jobId, provider, toRequester, refunded);
    }

    // ------------------------------------------------------------------ stake and credits

    /// @inheritdoc ICrucibleMarket
    function depositStake() external payable {
        ProviderInfo storage info = _providers[msg.sender];
        uint256 free = uint256(info.free) + msg.value;
        if (msg.value == 0 || free > type(uint96).max) revert InvalidAmount(msg.value);
        info.free = uint96(free); // checked above
        _liabilities += uint128(msg.value);
        emit StakeDeposited(msg.sender, msg.value, free);
    }

    /// @inheritdoc ICrucibleMarket
    function withdrawStake(uint256 amount) external nonReentrant {
        ProviderInfo storage info = _providers[msg.sender];
        uint96 free = info.free;
        if (amount == 0) revert InvalidAmount(amount);
        if (amount > free) revert InsufficientFreeStake(msg.sender, free, amount);

        info.free = free - uint96(amount); // amount <= free
        _liabilities -= uint128(amount);
        emit StakeWithdrawn(msg.sender, amount, free - amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc ICrucibleMarket
    function withdrawCredit() external nonReentrant returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert NoCredit(msg.sender);

        _credits[msg.sender] = 0;
        _liabilities -= uint128(amount); // every credit is part of the liabilities
        emit CreditWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ disputes: the dissection moves

    // A k-ary dissection is 2 * rounds of these; they run here so that no move pays a DELEGATECALL.

    /// @inheritdoc ICrucibleMarket
    function dissect(uint256 disputeId, bytes32[] calldata hashes, bytes32[] calldata stateCids) external {
        DisputeSlot storage d = _disputes[disputeId];
        uint256 jobId = _requireLive(disputeId, d, DisputeStatus.Dissecting);
        _checkDissection(disputeId, d, jobId, hashes, stateCids);
        d.pointsHash = keccak256(abi.encodePacked(hashes, stateCids));
        // chess clock (§1.4): charge the provider, start the challenger's turn
        d.providerClockUsed = _charge(d.providerClockUsed, d.turnStartedAt);
        d.awaitingResponse = true;
        d.turnStartedAt = uint40(block.timestamp);
        uint40 next = _turnDeadline(d, d.challengerClockUsed);
        emit DisputeDissected(disputeId, jobId, d.a, d.b, hashes, stateCids, next);
    }

    /// @inheritdoc ICrucibleMarket
    function respond(uint256 disputeId, uint256 index, bytes32[] calldata hashes, bytes32[] calldata stateCids)
        external
    {
        DisputeSlot storage d = _disputes[disputeId];
        uint256 jobId = _requireLive(disputeId, d, DisputeStatus.Dissecting);
        if (msg.sender != d.challenger) revert NotChallenger(disputeId, msg.sender);
        if (!d.awaitingResponse) revert NotYourTurn(disputeId, msg.sender);
        uint256 deadline = _deadline(d);
        if (block.timestamp >= deadline) revert MoveOverdue(disputeId, deadline);
        (uint256 newA, uint256 newB) = _narrow(disputeId, d, index, hashes, stateCids);
        d.challengerClockUsed = _charge(d.challengerClockUsed, d.turnStartedAt);
        d.awaitingResponse = false;
        d.turnStartedAt = uint40(block.timestamp);

        uint40 next;
        if (newB - newA == 1) {
            next = uint40(block.timestamp) + d.oracleTimeout;
            d.status = DisputeStatus.AwaitingOracle;
            emit DisputeNarrowed(disputeId, jobId, index, newA, newB, d.hashA, d.hashB, next);
            emit DisputeReadyForOracle(
                disputeId, jobId, DisputeKind.Segment, newA, d.hashA, d.hashB, d.stateCidA, d.epoch, next
            );
        } else {
            next = _turnDeadline(d, d.providerClockUsed);
            emit DisputeNarrowed(disputeId, jobId, index, newA, newB, d.hashA, d.hashB, next);
        }
    }

    // ------------------------------------------------------------------ run by DisputeModule

    // Opening, verdicts, timeouts and settlement of disputes, and the governance writes. Each stub
    // decodes its arguments (the ABI checks stay the interface's) and `_delegateToModule` runs the
    // module's function of the same signature on this contract's storage. The parameters are named
    // for the ABI only; naming them in a statement keeps the compiler from flagging them unused.

    /// @inheritdoc ICrucibleMarket
    function challenge(
        uint256 jobId,
        uint256 segment,
        bytes32 hashJ,
        bytes32 hashJ1,
        bytes32[] calldata proofJ,
        bytes32[] calldata proofJ1
    ) external payable returns (uint256 disputeId) {
        (jobId, segment, hashJ, hashJ1, proofJ, proofJ1, disputeId);
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function challengeInitialState(uint256 jobId, bytes32 initialStateHash, bytes32[] calldata proof)
        external
        payable
        returns (uint256 disputeId)
    {
        (jobId, initialStateHash, proof, disputeId);
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function challengeFinalModel(uint256 jobId, bytes32 finalCheckpointHash, bytes32[] calldata proof)
        external
        payable
        returns (uint256 disputeId)
    {
        (jobId, finalCheckpointHash, proof, disputeId);
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function challengeManifest(uint256 jobId) external payable returns (uint256 disputeId) {
        (jobId, disputeId);
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function timeout(uint256 disputeId) external {
        disputeId;
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function submitVerdict(uint256 disputeId, Verdict verdict) external {
        (disputeId, verdict);
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function settleDispute(uint256 disputeId) external {
        disputeId;
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function claimOracleFee(uint256 disputeId) external {
        disputeId;
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function setParams(Params calldata newParams) external {
        newParams;
        _delegateToModule();
    }

    /// @inheritdoc ICrucibleMarket
    function scheduleOracleSet(address[] calldata members, uint8 newQuorum) external returns (uint256) {
        (members, newQuorum);
        _delegateToModule();
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc ICrucibleMarket
    function transferOwnership(address newOwner) external onlyOwner {
        _pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    /// @inheritdoc ICrucibleMarket
    function acceptOwnership() external {
        if (msg.sender != _pendingOwner) revert NotPendingOwner(msg.sender);
        address previous = _owner;
        _owner = msg.sender;
        _pendingOwner = address(0);
        emit OwnershipTransferred(previous, msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ICrucibleMarket
    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @inheritdoc ICrucibleMarket
    function jobStatus(uint256 jobId) external view returns (JobStatus) {
        return _status(_jobs[jobId]);
    }

    /// @inheritdoc ICrucibleMarket
    function getDispute(uint256 disputeId) external view returns (Dispute memory out) {
        DisputeSlot storage d = _disputes[disputeId];
        out.challenger = d.challenger;
        out.jobId = d.jobId;
        out.kind = d.kind;
        out.status = d.status;
        out.correctVotes = d.correctVotes;
        out.wrongVotes = d.wrongVotes;
        out.awaitingResponse = d.awaitingResponse;
        out.a = d.a;
        out.b = d.b;
        out.deadline = uint40(_liveDeadline(d)); // a derived uint40
        out.openedAt = d.openedAt;
        out.epoch = d.epoch;
        out.providerClockUsed = d.providerClockUsed;
        out.challengerClockUsed = d.challengerClockUsed;
        out.turnStartedAt = d.turnStartedAt;
        out.clockBudget = d.clockBudget;
        out.moveExtension = d.moveExtension;
        out.hashA = d.hashA;
        out.hashB = d.hashB;
        out.stateCidA = d.stateCidA;
        out.pointsHash = d.pointsHash;
        if (d.status != DisputeStatus.None) out.bond = uint256(_jobs[d.jobId].bond) << d.bondLevel;
    }

    /// @inheritdoc ICrucibleMarket
    function disputeDeadline(uint256 disputeId) external view returns (uint256) {
        return _liveDeadline(_disputes[disputeId]);
    }

    /// @inheritdoc ICrucibleMarket
    function dissectionPoints(uint256 disputeId) external view returns (uint256[] memory points) {
        DisputeSlot storage d = _disputes[disputeId];
        if (d.status != DisputeStatus.Dissecting) return points;
        uint256 a = d.a;
        uint256 len = uint256(d.b) - a;
        uint256 parts = _parts(len, d.arity);
        points = new uint256[](parts + 1);
        for (uint256 i; i <= parts; ++i) {
            points[i] = a + (i * len) / parts;
        }
    }

    /// @inheritdoc ICrucibleMarket
    function hasVoted(uint256 disputeId, address oracle) external view returns (bool) {
        return _votes[disputeId][oracle] != 0;
    }

    /// @inheritdoc ICrucibleMarket
    function payoutBound(uint256 jobId) external view returns (uint256) {
        // the stored bound is written only when a dispute opens; windowEnd never passes it (§1.5)
        Job storage job = _jobs[jobId];
        uint256 stored = job.payoutBound;
        uint256 windowEnd = job.windowEnd;
        return stored > windowEnd ? stored : windowEnd;
    }

    /// @inheritdoc ICrucibleMarket
    function disputeDurationBound(uint256 jobId) public view returns (uint256) {
        Job storage job = _jobs[jobId];
        return _segmentBound(_params[job.paramsVersion], job.interval, job.arity);
    }

    /// @inheritdoc ICrucibleMarket
    function delayCostPerHour(uint256 jobId) external view returns (uint256) {
        Job storage job = _jobs[jobId];
        if (job.status == JobStatus.None) return 0;
        Params storage p = _params[job.paramsVersion];
        // the griefer's cheapest outcome for the next dispute: a void (the fee, <= the bond) beside
        // a forfeit or its own timeout (the whole bond); the most delay that dispute can buy
        uint256 span = _segmentBound(p, job.interval, job.arity) + p.reactionTime;
        return (_voidFee(p, job, _bondNow(job)) * 1 hours) / span;
    }

    /// @inheritdoc ICrucibleMarket
    function bondFor(uint256 jobId) external view returns (uint256) {
        return _bondNow(_jobs[jobId]);
    }

    /// @inheritdoc ICrucibleMarket
    function voidFeeFor(uint256 jobId, uint256 bond) external view returns (uint256) {
        Job storage job = _jobs[jobId];
        return _voidFee(_params[job.paramsVersion], job, bond);
    }

    /// @inheritdoc ICrucibleMarket
    function canVote(uint256 disputeId, address account) external view returns (bool) {
        DisputeSlot storage d = _disputes[disputeId];
        return d.status == DisputeStatus.AwaitingOracle && _jobs[d.jobId].status != JobStatus.Slashed
            && _excludingEpoch(d, account) == 0 && _votes[disputeId][account] == 0;
    }

    /// @inheritdoc ICrucibleMarket
    function minBondFor(uint256 reward, uint256 stake, uint256 interval, uint256 arity) public view returns (uint256) {
        Params storage p = _params[_paramsVersion];
        return _minBond(p, reward + stake, interval, arity);
    }

    /// @inheritdoc ICrucibleMarket
    function minStakeFor(uint256 reward) external view returns (uint256) {
        Params storage p = _params[_paramsVersion];
        return _minStake(p, reward);
    }

    /// @inheritdoc ICrucibleMarket
    function roundsFor(uint256 interval, uint256 arity) external pure returns (uint256 rounds) {
        rounds = _roundsFor(interval, arity);
    }

    /// @inheritdoc ICrucibleMarket
    function defenceGas(uint256 interval, uint256 arity) external pure returns (uint256) {
        return _defenceGas(interval, arity);
    }

    /// @inheritdoc ICrucibleMarket
    function providerInfo(address provider) external view returns (ProviderInfo memory) {
        return _providers[provider];
    }

    /// @inheritdoc ICrucibleMarket
    function credits(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc ICrucibleMarket
    function params() external view returns (Params memory) {
        return _params[_paramsVersion];
    }

    /// @inheritdoc ICrucibleMarket
    function paramsAt(uint256 version) external view returns (Params memory) {
        return _params[version];
    }

    /// @inheritdoc ICrucibleMarket
    function paramsVersion() external view returns (uint256) {
        return _paramsVersion;
    }

    /// @inheritdoc ICrucibleMarket
    function maxDisputeBound() external view returns (uint256) {
        return _maxDisputeBound;
    }

    /// @inheritdoc ICrucibleMarket
    function currentOracleEpoch() external view returns (uint256) {
        return _currentEpoch();
    }

    /// @inheritdoc ICrucibleMarket
    function latestOracleEpoch() external view returns (uint256) {
        return _latestEpoch;
    }

    /// @inheritdoc ICrucibleMarket
    function oracleEpoch(uint256 epoch) external view returns (OracleEpoch memory) {
        EpochSlot storage e = _epochs[epoch];
        return OracleEpoch(e.effectiveAt, e.quorum, _epochMembers[epoch]);
    }

    /// @inheritdoc ICrucibleMarket
    function isOracle(uint256 epoch, address account) external view returns (bool) {
        return _isMember[epoch][account];
    }

    /// @inheritdoc ICrucibleMarket
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc ICrucibleMarket
    function disputeCount() external view returns (uint256) {
        return _disputeCount;
    }

    /// @inheritdoc ICrucibleMarket
    function totalLiabilities() external view returns (uint256) {
        return _liabilities;
    }

    /// @inheritdoc ICrucibleMarket
    function totalBurned() external view returns (uint256) {
        return _totalBurned;
    }

    /// @inheritdoc ICrucibleMarket
    function owner() external view returns (address) {
        return _owner;
    }

    /// @inheritdoc ICrucibleMarket
    function pendingOwner() external view returns (address) {
        return _pendingOwner;
    }

    // ------------------------------------------------------------------ internal

    /// @dev Runs the current call (same calldata, msg.sender and msg.value) in `DisputeModule`
    /// against this contract's storage and returns or reverts with exactly what it did. The
    /// stubs above decoded (and so validated) the arguments first, as the ABI promises.
    function _delegateToModule() private {
        address module = _disputeModule;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    function _checkTerms(Params storage p, JobTerms calldata t, uint256 reward) internal view {
        if (t.specCid == 0) revert ZeroCommitment("specCid");
        uint256 minStake = _minStake(p, reward);
        if (t.stake < minStake) revert StakeTooLow(t.stake, minStake);
        if (t.duration < p.minDuration || t.duration > p.maxDuration) {
            revert DurationOutOfBounds(t.duration, p.minDuration, p.maxDuration);
        }
        if (t.challengeWindow < p.minChallengeWindow || t.challengeWindow > p.maxChallengeWindow) {
            revert WindowOutOfBounds(t.challengeWindow, p.minChallengeWindow, p.maxChallengeWindow);
        }
        if (t.interval == 0 || t.totalSteps == 0 || t.totalSteps % t.interval != 0) {
            revert InvalidSchedule(t.interval, t.totalSteps);
        }
        uint256 segments = t.totalSteps / t.interval;
        if (segments > p.maxSegments) revert TooManySegments(segments, p.maxSegments);
        if (t.arity < MIN_ARITY || t.arity > MAX_ARITY) revert InvalidArity(t.arity);
        if (t.bond < p.minBond) revert BondTooLow(t.bond, p.minBond);
        uint256 minBond = _minBond(p, reward + t.stake, t.interval, t.arity);
        if (t.bond < minBond) revert BondBelowDefenceCost(t.bond, minBond);
    }

    /// @dev `_deadline` for a live dispute whose job was not slashed, 0 otherwise.
    function _liveDeadline(DisputeSlot storage d) internal view returns (uint256) {
        DisputeStatus status = d.status;
        if (status != DisputeStatus.Dissecting && status != DisputeStatus.AwaitingOracle) return 0;
        if (_jobs[d.jobId].status == JobStatus.Slashed) return 0;
        return _deadline(d);
    }

    /// @dev Expiry or release (§1.8): expirySlashBps of the stake to the requester, the rest back
    /// to the provider's free stake; the job is refunded or reopened.
    function _endClaim(uint256 jobId, Job storage job)
        internal
        returns (address provider, uint256 toRequester, bool refunded)
    {
        provider = job.provider;
        uint96 stake = job.stake;
        toRequester = (uint256(stake) * _params[job.paramsVersion].expirySlashBps) / BPS;

        ProviderInfo storage info = _providers[provider];
        info.locked -= stake;
        info.free += stake - uint96(toRequester); // toRequester <= stake
        ++info.expired;

        refunded = job.refundOnExpiry;
        uint256 payout = toRequester;
        if (refunded) {
            job.status = JobStatus.Refunded;
            payout += job.reward;
        } else {
            job.status = JobStatus.Open;
            job.provider = address(0);
            job.deadline = 0;
            job.progressStep = 0;
        }
        if (payout != 0) _credit(job.requester, jobId, payout);
    }

    /// @dev The provider's move is on time and posts min(arity, b - a) - 1 non-zero points (§1.4, §1.9).
    function _checkDissection(
        uint256 disputeId,
        DisputeSlot storage d,
        uint256 jobId,
        bytes32[] calldata hashes,
        bytes32[] calldata stateCids
    ) internal view {
        if (msg.sender != _jobs[jobId].provider) revert NotProvider(jobId, msg.sender);
        if (d.awaitingResponse) revert NotYourTurn(disputeId, msg.sender);
        uint256 deadline = _deadline(d);
        if (block.timestamp >= deadline) revert MoveOverdue(disputeId, deadline);
        uint256 interior = _parts(uint256(d.b) - d.a, d.arity) - 1;
        if (hashes.length != interior || stateCids.length != interior) {
            revert WrongPointCount(disputeId, hashes.length, stateCids.length, interior);
        }
        for (uint256 i; i < interior; ++i) {
            if (hashes[i] == 0) revert ZeroCommitment("hashes");
            if (stateCids[i] == 0) revert ZeroCommitment("stateCids");
        }
    }

    /// @dev Checks the re-sent arrays and makes part `index` the new [a, b] (§1.4).
    function _narrow(
        uint256 disputeId,
        DisputeSlot storage d,
        uint256 index,
        bytes32[] calldata hashes,
        bytes32[] calldata stateCids
    ) internal returns (uint256 newA, uint256 newB) {
        uint256 a = d.a;
        uint256 len = uint256(d.b) - a;
        uint256 parts = _parts(len, d.arity);
        // equal lengths: the packed encoding alone would not tell where `hashes` ends
        if (hashes.length != parts - 1 || stateCids.length != parts - 1) {
            revert WrongPointCount(disputeId, hashes.length, stateCids.length, parts - 1);
        }
        if (keccak256(abi.encodePacked(hashes, stateCids)) != d.pointsHash) revert PointsMismatch(disputeId);
        if (index >= parts) revert PartOutOfRange(disputeId, index, parts);
        newA = a + (index * len) / parts;
        newB = a + ((index + 1) * len) / parts;
        if (index != 0) {
            d.hashA = hashes[index - 1];
            d.stateCidA = stateCids[index - 1];
        }
        if (index != parts - 1) d.hashB = hashes[index];
        d.a = uint64(newA); // a <= newA < newB <= b, all uint64
        d.b = uint64(newB);
    }

    /// @dev A side's clock after its turn (started at `startedAt`) ends now.
    function _charge(uint32 used, uint40 startedAt) internal view returns (uint32) {
        uint256 total = uint256(used) + (block.timestamp - startedAt);
        return total > type(uint32).max ? type(uint32).max : uint32(total); // saturates, never wraps
    }

    /// @dev Deadline (exclusive) of a turn starting now: max(clockBudget - used, moveExtension)
    /// from now (§1.4).
    function _turnDeadline(DisputeSlot storage d, uint32 used) internal view returns (uint40) {
        return uint40(block.timestamp) + _allowance(d, used);
    }
}
