// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICrucibleMarket} from "./interfaces/ICrucibleMarket.sol";
import {
    Job,
    Dispute,
    Params,
    ProviderInfo,
    JobStatus,
    DisputeKind,
    DisputeStatus,
    Verdict
} from "./libraries/Types.sol";
import {TraceMerkle} from "./libraries/TraceMerkle.sol";

/// @title CrucibleMarket
/// @notice See `ICrucibleMarket`. One contract, no proxy, libraries inlined.
/// @dev Accounting: `_liabilities` is the sum of escrows, stakes (free and locked), live bonds and
/// credits. Moves between those buckets leave it unchanged, so it changes only where ETH enters
/// (post, deposit, challenge) or leaves (withdrawals, burns). Burned wei is sent to address(0)
/// (no code, so no re-entry) as the last step of a settlement. Only `withdrawStake` and
/// `withdrawCredit` send ETH to arbitrary addresses: both debit first, then transfer, under a
/// transient-storage reentrancy guard.
///
/// Dispute storage keeps three hash words and two CID words whose roles (H(a), H(b), pending H(m);
/// CID of S_a, pending CID of S_m) are tracked by index bits, so a response only rewrites the
/// packed clock slot instead of copying words. The unused words are pre-filled at the challenge
/// so every bisection move pays the same non-zero-to-non-zero storage price.
contract CrucibleMarket is ICrucibleMarket {
    // ------------------------------------------------------------------ hard-coded bounds

    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Floor on every governance time (window, duration, move and oracle timeouts).
    uint32 public constant MIN_TIME = 5 seconds;
    /// @notice Ceiling on the challenge window.
    uint32 public constant MAX_WINDOW = 30 days;
    /// @notice Ceiling on the delivery time.
    uint32 public constant MAX_DURATION = 365 days;
    /// @notice Ceiling on the bisection move timeout.
    uint32 public constant MAX_MOVE_TIMEOUT = 7 days;
    /// @notice Ceiling on the oracle timeout.
    uint32 public constant MAX_ORACLE_TIMEOUT = 30 days;
    /// @notice Ceiling on `maxSegments` (trace depth <= 21).
    uint32 public constant MAX_SEGMENTS = 1 << 20;
    /// @notice Largest oracle set.
    uint256 public constant MAX_ORACLES = 32;

    // ------------------------------------------------------------------ storage

    /// @dev Dispute as stored; `getDispute` resolves the roles into a `Dispute`.
    struct DisputeSlot {
        // slot 0
        address challenger;
        uint48 jobId;
        DisputeKind kind;
        DisputeStatus status;
        uint8 correctVotes;
        uint8 wrongVotes;
        // slot 1
        uint64 a;
        uint64 b;
        uint40 deadline;
        uint40 openedAt;
        bool awaitingResponse;
        uint32 moveTimeout;
        uint8 roles; // bits 0-1: hash index of H(a); 2-3: of H(b); 4: cid index of S_a; 5: S_a in manifest
        // words
        bytes32[3] hashes;
        bytes32[2] cids;
    }

    uint8 internal constant ROLE_CID_A = 1 << 4;
    uint8 internal constant ROLE_MANIFEST = 1 << 5;
    bytes32 internal constant PREFILL = bytes32(uint256(1));

    // slot 0, exactly full: read by post and challenge, written by every ETH inflow and outflow
    uint48 internal _jobCount;
    uint48 internal _disputeCount;
    uint32 internal _paramsVersion;
    uint128 internal _liabilities;
    // slot 1: read by verdicts, written by burns
    uint8 internal _quorum;
    uint8 internal _oracleCount;
    uint128 internal _totalBurned;
    // slots 2, 3
    address internal _owner;
    address internal _pendingOwner;

    mapping(uint256 version => Params) internal _params;
    mapping(uint256 jobId => Job) internal _jobs;
    mapping(uint256 disputeId => DisputeSlot) internal _disputes;
    mapping(uint256 disputeId => mapping(address oracle => bool)) internal _voted;
    mapping(address provider => ProviderInfo) internal _providers;
    mapping(address account => uint256) internal _credits;
    mapping(address account => bool) internal _isOracle;

    bool private transient _entered;

    // ------------------------------------------------------------------ modifiers

    modifier onlyOwner() {
        if (msg.sender != _owner) revert NotOwner(msg.sender);
        _;
    }

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    /// @param initialParams governance parameters version 1
    /// @param oracles the initial oracle set (at least `initialQuorum` addresses)
    /// @param initialQuorum agreeing verdicts needed to resolve a dispute
    constructor(Params memory initialParams, address[] memory oracles, uint256 initialQuorum) {
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _setParams(initialParams);
        for (uint256 i; i < oracles.length; ++i) {
            _addOracle(oracles[i]);
        }
        _setQuorum(initialQuorum);
    }

    // ------------------------------------------------------------------ jobs

    /// @inheritdoc ICrucibleMarket
    function postJob(
        bytes32 specCid,
        uint96 stake,
        uint96 bond,
        uint32 duration,
        uint32 challengeWindow,
        uint32 interval,
        uint64 totalSteps,
        bool refundOnExpiry
    ) external payable returns (uint256 jobId) {
        uint32 version = _paramsVersion;
        _checkTerms(_params[version], specCid, stake, bond, duration, challengeWindow, interval, totalSteps);
        if (msg.value == 0 || msg.value > type(uint96).max) revert InvalidReward(msg.value);

        jobId = ++_jobCount;
        _liabilities += uint128(msg.value); // <= 2^96 per call, the sum of all ETH fits 128 bits
        Job storage job = _jobs[jobId];
        job.status = JobStatus.Open;
        job.requester = msg.sender;
        job.reward = uint96(msg.value); // checked above
        job.stake = stake;
        job.bond = bond;
        job.totalSteps = totalSteps;
        job.interval = interval;
        job.duration = duration;
        job.challengeWindow = challengeWindow;
        job.paramsVersion = version;
        job.refundOnExpiry = refundOnExpiry;
        job.specCid = specCid;
        _emitJobPosted(jobId, job);
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
        job.provider = msg.sender;
        job.status = JobStatus.Claimed;
        job.deadline = deadline;
        emit JobClaimed(jobId, msg.sender, stake, deadline);
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
        if (traceRoot == 0 || finalStateHash == 0 || manifestCid == 0 || finalModelCid == 0) {
            revert ZeroCommitment();
        }

        uint40 windowEnd = uint40(block.timestamp) + job.challengeWindow;
        job.status = JobStatus.Submitted;
        job.deadline = windowEnd;
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
        address provider = job.provider;
        uint96 stake = job.stake;
        uint96 toRequester = uint96((uint256(stake) * _params[job.paramsVersion].expirySlashBps) / BPS);

        ProviderInfo storage info = _providers[provider];
        info.locked -= stake;
        info.free += stake - toRequester;
        ++info.expired;

        bool refunded = job.refundOnExpiry;
        uint256 payout = toRequester;
        if (refunded) {
            job.status = JobStatus.Refunded;
            payout += job.reward;
        } else {
            job.status = JobStatus.Open;
            job.provider = address(0);
            job.deadline = 0;
        }
        if (payout != 0) _credit(job.requester, jobId, payout);
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

    // ------------------------------------------------------------------ disputes

    /// @inheritdoc ICrucibleMarket
    function challenge(
        uint256 jobId,
        uint256 segment,
        bytes32 hashJ,
        bytes32 hashJ1,
        bytes32[] calldata proofJ,
        bytes32[] calldata proofJ1
    ) external payable returns (uint256 disputeId) {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        uint256 n = job.totalSteps / job.interval;
        if (segment >= n) revert SegmentOutOfRange(jobId, segment, n);
        _checkLeaf(jobId, job, segment, hashJ, proofJ);
        _checkLeaf(jobId, job, segment + 1, hashJ1, proofJ1);
        uint64 a = uint64(segment) * job.interval; // segment < n, so a < T
        disputeId = _openDispute(jobId, job, DisputeKind.Segment, a, a + job.interval, hashJ, hashJ1);
    }

    /// @inheritdoc ICrucibleMarket
    function challengeInitialState(uint256 jobId, bytes32 initialStateHash, bytes32[] calldata proof)
        external
        payable
        returns (uint256 disputeId)
    {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        _checkLeaf(jobId, job, 0, initialStateHash, proof);
        disputeId = _openDispute(jobId, job, DisputeKind.InitialState, 0, 0, 0, initialStateHash);
    }

    /// @inheritdoc ICrucibleMarket
    function challengeFinalModel(uint256 jobId, bytes32 finalCheckpointHash, bytes32[] calldata proof)
        external
        payable
        returns (uint256 disputeId)
    {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        uint64 t = job.totalSteps;
        _checkLeaf(jobId, job, t / job.interval, finalCheckpointHash, proof);
        disputeId = _openDispute(jobId, job, DisputeKind.FinalModel, t, t, finalCheckpointHash, job.finalStateHash);
    }

    /// @inheritdoc ICrucibleMarket
    function challengeManifest(uint256 jobId) external payable returns (uint256 disputeId) {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        disputeId = _openDispute(jobId, job, DisputeKind.Manifest, 0, 0, job.traceRoot, job.finalStateHash);
    }

    /// @inheritdoc ICrucibleMarket
    function bisect(uint256 disputeId, bytes32 midHash, bytes32 midStateCid) external {
        DisputeSlot storage d = _disputes[disputeId];
        _requireDisputeStatus(disputeId, d, DisputeStatus.Bisecting);
        uint256 jobId = d.jobId;
        if (msg.sender != _jobs[jobId].provider) revert NotProvider(jobId, msg.sender);
        if (d.awaitingResponse) revert NotYourTurn(disputeId, msg.sender);
        uint256 deadline = d.deadline;
        if (block.timestamp > deadline) revert MoveOverdue(disputeId, deadline);

        uint8 roles = d.roles;
        d.hashes[_midIndex(roles)] = midHash;
        d.cids[(roles & ROLE_CID_A) == 0 ? 1 : 0] = midStateCid;
        d.awaitingResponse = true;
        d.deadline = uint40(block.timestamp) + d.moveTimeout;
        emit DisputeBisected(disputeId, (uint256(d.a) + d.b) / 2, midHash, midStateCid);
    }

    /// @inheritdoc ICrucibleMarket
    function respond(uint256 disputeId, bool agree) external {
        DisputeSlot storage d = _disputes[disputeId];
        _requireDisputeStatus(disputeId, d, DisputeStatus.Bisecting);
        if (msg.sender != d.challenger) revert NotChallenger(disputeId, msg.sender);
        if (!d.awaitingResponse) revert NotYourTurn(disputeId, msg.sender);
        uint256 deadline = d.deadline;
        if (block.timestamp > deadline) revert MoveOverdue(disputeId, deadline);

        uint64 a = d.a;
        uint64 b = d.b;
        uint64 m = uint64((uint256(a) + b) / 2);
        uint8 roles = d.roles;
        uint8 mid = _midIndex(roles);
        if (agree) {
            a = m;
            // H(a) <- the pending hash; S_a's CID <- the pending CID (no longer the manifest's)
            roles = (roles & 0x0c) | mid | ((roles & ROLE_CID_A) ^ ROLE_CID_A);
        } else {
            b = m;
            roles = (roles & 0x33) | (mid << 2);
        }
        d.a = a;
        d.b = b;
        d.roles = roles;
        d.awaitingResponse = false;
        emit DisputeResponded(disputeId, agree, a, b);

        if (b - a == 1) {
            uint256 jobId = d.jobId;
            d.status = DisputeStatus.AwaitingOracle;
            d.deadline = uint40(block.timestamp) + _params[_jobs[jobId].paramsVersion].oracleTimeout;
            emit DisputeReadyForOracle(
                disputeId,
                jobId,
                DisputeKind.Segment,
                a,
                d.hashes[roles & 3],
                d.hashes[(roles >> 2) & 3],
                _stateCidA(d, roles)
            );
        } else {
            d.deadline = uint40(block.timestamp) + d.moveTimeout;
        }
    }

    /// @inheritdoc ICrucibleMarket
    function timeout(uint256 disputeId) external {
        DisputeSlot storage d = _disputes[disputeId];
        DisputeStatus status = d.status;
        if (status != DisputeStatus.Bisecting && status != DisputeStatus.AwaitingOracle) {
            if (status == DisputeStatus.None) revert DisputeNotFound(disputeId);
            revert DisputeNotInStatus(disputeId, status);
        }
        uint256 deadline = d.deadline;
        if (block.timestamp <= deadline) revert NotTimedOut(disputeId, deadline);

        uint256 jobId = d.jobId;
        Job storage job = _jobs[jobId];
        if (status == DisputeStatus.AwaitingOracle) {
            _void(disputeId, d, jobId, job);
        } else if (d.awaitingResponse) {
            emit DisputeTimedOut(disputeId, d.challenger);
            _challengerLoses(disputeId, d, jobId, job);
        } else {
            emit DisputeTimedOut(disputeId, job.provider);
            _providerLoses(disputeId, d, jobId, job);
        }
    }

    /// @inheritdoc ICrucibleMarket
    function submitVerdict(uint256 disputeId, Verdict verdict) external {
        if (!_isOracle[msg.sender]) revert NotOracle(msg.sender);
        if (verdict == Verdict.None) revert InvalidVerdict();
        DisputeSlot storage d = _disputes[disputeId];
        _requireDisputeStatus(disputeId, d, DisputeStatus.AwaitingOracle);
        uint256 deadline = d.deadline;
        if (block.timestamp > deadline) revert VerdictTooLate(disputeId, deadline);
        if (_voted[disputeId][msg.sender]) revert AlreadyVoted(disputeId, msg.sender);

        emit VerdictSubmitted(disputeId, msg.sender, verdict);
        bool correct = verdict == Verdict.ProviderCorrect;
        uint8 votes = (correct ? d.correctVotes : d.wrongVotes) + 1;
        if (correct) d.correctVotes = votes;
        else d.wrongVotes = votes;
        uint256 jobId = d.jobId;
        if (votes < _quorum) {
            // Only a vote that leaves the dispute open needs remembering: the deciding vote ends
            // the AwaitingOracle status, which already rules out any further vote.
            _voted[disputeId][msg.sender] = true;
        } else if (correct) {
            _challengerLoses(disputeId, d, jobId, _jobs[jobId]);
        } else {
            _providerLoses(disputeId, d, jobId, _jobs[jobId]);
        }
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc ICrucibleMarket
    function setParams(Params calldata newParams) external onlyOwner {
        _setParams(newParams);
    }

    /// @inheritdoc ICrucibleMarket
    function addOracle(address oracle) external onlyOwner {
        _addOracle(oracle);
    }

    /// @inheritdoc ICrucibleMarket
    function removeOracle(address oracle) external onlyOwner {
        if (!_isOracle[oracle]) revert OracleNotRegistered(oracle);
        uint8 count = _oracleCount - 1;
        if (count < _quorum) revert InvalidQuorum(_quorum, count);
        _isOracle[oracle] = false;
        _oracleCount = count;
        emit OracleRemoved(oracle, count);
    }

    /// @inheritdoc ICrucibleMarket
    function setQuorum(uint256 newQuorum) external onlyOwner {
        _setQuorum(newQuorum);
    }

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
        uint8 roles = d.roles;
        out.challenger = d.challenger;
        out.jobId = d.jobId;
        out.kind = d.kind;
        out.status = d.status;
        out.correctVotes = d.correctVotes;
        out.wrongVotes = d.wrongVotes;
        out.awaitingResponse = d.awaitingResponse;
        out.a = d.a;
        out.b = d.b;
        out.deadline = d.deadline;
        out.openedAt = d.openedAt;
        if (d.status == DisputeStatus.None) return out;
        out.hashA = d.hashes[roles & 3];
        out.hashB = d.hashes[(roles >> 2) & 3];
        out.stateCidA = _stateCidA(d, roles);
        if (d.awaitingResponse) {
            out.midHash = d.hashes[_midIndex(roles)];
            out.midStateCid = d.cids[(roles & ROLE_CID_A) == 0 ? 1 : 0];
        }
    }

    /// @inheritdoc ICrucibleMarket
    function disputeDeadline(uint256 disputeId) external view returns (uint256) {
        DisputeSlot storage d = _disputes[disputeId];
        DisputeStatus status = d.status;
        if (status == DisputeStatus.Bisecting || status == DisputeStatus.AwaitingOracle) return d.deadline;
        return 0;
    }

    /// @inheritdoc ICrucibleMarket
    function hasVoted(uint256 disputeId, address oracle) external view returns (bool) {
        return _voted[disputeId][oracle];
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
    function isOracle(address account) external view returns (bool) {
        return _isOracle[account];
    }

    /// @inheritdoc ICrucibleMarket
    function oracleCount() external view returns (uint256) {
        return _oracleCount;
    }

    /// @inheritdoc ICrucibleMarket
    function quorum() external view returns (uint256) {
        return _quorum;
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

    // ------------------------------------------------------------------ internal: guards

    function _status(Job storage job) internal view returns (JobStatus status) {
        status = job.status;
        if (status == JobStatus.Claimed) {
            if (block.timestamp > job.deadline) return JobStatus.Expired;
        } else if (status == JobStatus.Submitted) {
            if (block.timestamp >= job.deadline) return JobStatus.Accepted;
        }
    }

    function _requireStatus(uint256 jobId, Job storage job, JobStatus expected) internal view {
        JobStatus status = _status(job);
        if (status != expected) {
            if (status == JobStatus.None) revert JobNotFound(jobId);
            revert JobNotInStatus(jobId, status);
        }
    }

    function _requireDisputeStatus(uint256 disputeId, DisputeSlot storage d, DisputeStatus expected) internal view {
        DisputeStatus status = d.status;
        if (status != expected) {
            if (status == DisputeStatus.None) revert DisputeNotFound(disputeId);
            revert DisputeNotInStatus(disputeId, status);
        }
    }

    function _checkTerms(
        Params storage p,
        bytes32 specCid,
        uint96 stake,
        uint96 bond,
        uint32 duration,
        uint32 challengeWindow,
        uint32 interval,
        uint64 totalSteps
    ) internal view {
        if (specCid == 0) revert ZeroCommitment();
        if (stake < p.minStake) revert StakeTooLow(stake, p.minStake);
        if (bond < p.minBond) revert BondTooLow(bond, p.minBond);
        if (duration < p.minDuration || duration > p.maxDuration) {
            revert DurationOutOfBounds(duration, p.minDuration, p.maxDuration);
        }
        if (challengeWindow < p.minChallengeWindow || challengeWindow > p.maxChallengeWindow) {
            revert WindowOutOfBounds(challengeWindow, p.minChallengeWindow, p.maxChallengeWindow);
        }
        if (interval == 0 || totalSteps == 0 || totalSteps % interval != 0) {
            revert InvalidSchedule(interval, totalSteps);
        }
        uint256 segments = totalSteps / interval;
        if (segments > p.maxSegments) revert TooManySegments(segments, p.maxSegments);
    }

    function _checkChallenge(uint256 jobId, Job storage job) internal view {
        _requireStatus(jobId, job, JobStatus.Submitted);
        if (msg.value != job.bond) revert WrongBond(msg.value, job.bond);
    }

    /// @dev Leaf `index` (checkpoint at step index * k, hash `stateHash`) of the job's trace, whose
    /// leaves are 0..n, must verify with a proof of exactly the tree depth.
    function _checkLeaf(uint256 jobId, Job storage job, uint256 index, bytes32 stateHash, bytes32[] calldata proof)
        internal
        view
    {
        uint64 k = job.interval;
        uint256 depth = TraceMerkle.depth(job.totalSteps / k + 1);
        if (proof.length != depth) revert ProofLengthMismatch(proof.length, depth);
        bytes32 leafHash = TraceMerkle.leaf(uint64(index) * k, stateHash); // index <= n, so index * k <= T
        if (!TraceMerkle.verify(job.traceRoot, leafHash, index, proof)) revert InvalidProof(jobId, index);
    }

    /// @dev Reads back the (warm) job slots: passing twelve values on the stack is too deep.
    function _emitJobPosted(uint256 jobId, Job storage job) internal {
        emit JobPosted(
            jobId,
            job.requester,
            job.reward,
            job.specCid,
            job.stake,
            job.bond,
            job.interval,
            job.totalSteps,
            job.duration,
            job.challengeWindow,
            job.refundOnExpiry,
            job.paramsVersion
        );
    }

    // ------------------------------------------------------------------ internal: disputes

    function _midIndex(uint8 roles) internal pure returns (uint8) {
        return 3 - (roles & 3) - ((roles >> 2) & 3);
    }

    function _stateCidA(DisputeSlot storage d, uint8 roles) internal view returns (bytes32) {
        if ((roles & ROLE_MANIFEST) != 0) return 0;
        return d.cids[(roles & ROLE_CID_A) == 0 ? 0 : 1];
    }

    function _openDispute(
        uint256 jobId,
        Job storage job,
        DisputeKind kind,
        uint64 a,
        uint64 b,
        bytes32 hashA,
        bytes32 hashB
    ) internal returns (uint256 disputeId) {
        disputeId = ++_disputeCount;
        _liabilities += uint128(msg.value); // msg.value == bond < 2^96
        DisputeSlot storage d = _disputes[disputeId];
        d.challenger = msg.sender;
        d.jobId = uint48(jobId); // jobId <= _jobCount, a uint48
        d.kind = kind;
        d.a = a;
        d.b = b;
        d.openedAt = uint40(block.timestamp);
        d.roles = 1 << 2 | ROLE_MANIFEST; // H(a) in word 0, H(b) in word 1, S_a in the manifest
        d.hashes[0] = hashA;
        d.hashes[1] = hashB;
        job.status = JobStatus.Disputed;
        job.disputeId = uint48(disputeId); // disputeId <= _disputeCount, a uint48
        emit DisputeOpened(disputeId, jobId, msg.sender, kind, a, b, hashA, hashB);

        if (kind == DisputeKind.Segment && b - a > 1) {
            uint32 moveTimeout = _params[job.paramsVersion].moveTimeout;
            d.status = DisputeStatus.Bisecting;
            d.moveTimeout = moveTimeout;
            d.deadline = uint40(block.timestamp) + moveTimeout;
            d.hashes[2] = PREFILL;
            d.cids[0] = PREFILL;
            d.cids[1] = PREFILL;
        } else {
            d.status = DisputeStatus.AwaitingOracle;
            d.deadline = uint40(block.timestamp) + _params[job.paramsVersion].oracleTimeout;
            emit DisputeReadyForOracle(disputeId, jobId, kind, a, hashA, hashB, 0);
        }
    }

    /// @dev Provider wrong: its locked stake is split between challenger, requester and the burn;
    /// the challenger's bond and the requester's escrow are credited back.
    function _providerLoses(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job) internal {
        d.status = DisputeStatus.ChallengerWon;
        d.deadline = uint40(block.timestamp);
        job.status = JobStatus.Slashed;
        address provider = job.provider;
        uint96 stake = job.stake;
        Params storage p = _params[job.paramsVersion];
        uint256 toChallenger = (uint256(stake) * p.challengerShareBps) / BPS;
        uint256 toRequester = (uint256(stake) * p.requesterShareBps) / BPS;
        uint256 burned = stake - toChallenger - toRequester; // shares sum to <= BPS

        ProviderInfo storage info = _providers[provider];
        info.locked -= stake;
        ++info.slashed;
        _credit(d.challenger, jobId, job.bond + toChallenger);
        _credit(job.requester, jobId, job.reward + toRequester);
        emit ProviderSlashed(jobId, provider, stake, toChallenger, toRequester, burned);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.ChallengerWon);
        _burn(burned);
    }

    /// @dev Challenger wrong: its bond is split between the provider and the burn; the window resumes.
    function _challengerLoses(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job) internal {
        d.status = DisputeStatus.ProviderWon;
        d.deadline = uint40(block.timestamp);
        uint96 bond = job.bond;
        uint256 toProvider = (uint256(bond) * _params[job.paramsVersion].providerBondShareBps) / BPS;
        uint256 burned = bond - toProvider;
        if (toProvider != 0) _credit(job.provider, jobId, toProvider);
        emit BondForfeited(disputeId, d.challenger, bond, toProvider, burned);
        _resume(jobId, job, d);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.ProviderWon);
        _burn(burned);
    }

    /// @dev No quorum in time: bond back to the challenger, nobody slashed, the window resumes.
    function _void(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job) internal {
        d.status = DisputeStatus.Voided;
        d.deadline = uint40(block.timestamp);
        _credit(d.challenger, jobId, job.bond);
        emit DisputeVoided(disputeId, jobId);
        _resume(jobId, job, d);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.Voided);
    }

    /// @dev The challenge window was paused from `openedAt` until now: extend it by that much.
    function _resume(uint256 jobId, Job storage job, DisputeSlot storage d) internal {
        uint40 windowEnd = job.deadline + (uint40(block.timestamp) - d.openedAt);
        job.deadline = windowEnd;
        job.status = JobStatus.Submitted;
        emit JobResumed(jobId, windowEnd);
    }

    // ------------------------------------------------------------------ internal: money

    /// @dev Moves `amount` from another bucket of the liabilities into `account`'s credit.
    function _credit(address account, uint256 jobId, uint256 amount) internal {
        _credits[account] += amount;
        emit Credited(account, jobId, amount);
    }

    /// @dev Burned wei leaves the liabilities for address(0), which has no code: no re-entry.
    function _burn(uint256 amount) internal {
        if (amount == 0) return;
        _liabilities -= uint128(amount); // amount <= a stake or bond, both part of the liabilities
        _totalBurned += uint128(amount);
        _send(address(0), amount);
    }

    function _send(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    // ------------------------------------------------------------------ internal: governance

    function _setParams(Params memory p) internal {
        _checkBounds("minChallengeWindow", p.minChallengeWindow, MIN_TIME, MAX_WINDOW);
        _checkBounds("maxChallengeWindow", p.maxChallengeWindow, p.minChallengeWindow, MAX_WINDOW);
        _checkBounds("minDuration", p.minDuration, MIN_TIME, MAX_DURATION);
        _checkBounds("maxDuration", p.maxDuration, p.minDuration, MAX_DURATION);
        _checkBounds("moveTimeout", p.moveTimeout, MIN_TIME, MAX_MOVE_TIMEOUT);
        _checkBounds("oracleTimeout", p.oracleTimeout, MIN_TIME, MAX_ORACLE_TIMEOUT);
        _checkBounds("maxSegments", p.maxSegments, 1, MAX_SEGMENTS);
        _checkBounds("challengerShareBps", p.challengerShareBps, 0, BPS);
        _checkBounds("requesterShareBps", p.requesterShareBps, 0, BPS - p.challengerShareBps);
        _checkBounds("providerBondShareBps", p.providerBondShareBps, 0, BPS);
        _checkBounds("expirySlashBps", p.expirySlashBps, 0, BPS);
        _checkBounds("minBond", p.minBond, 1, type(uint96).max);
        uint32 version = _paramsVersion + 1;
        _paramsVersion = version;
        _params[version] = p;
        emit ParamsUpdated(version, p);
    }

    function _checkBounds(string memory name, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParamOutOfBounds(name, value, min, max);
    }

    function _addOracle(address oracle) internal {
        if (oracle == address(0)) revert ZeroAddress();
        if (_isOracle[oracle]) revert OracleAlreadyRegistered(oracle);
        uint8 count = _oracleCount;
        if (count >= MAX_ORACLES) revert TooManyOracles(MAX_ORACLES);
        _isOracle[oracle] = true;
        _oracleCount = ++count;
        emit OracleAdded(oracle, count);
    }

    function _setQuorum(uint256 newQuorum) internal {
        uint256 count = _oracleCount;
        if (newQuorum == 0 || newQuorum > count) revert InvalidQuorum(newQuorum, count);
        _quorum = uint8(newQuorum); // <= count <= MAX_ORACLES
        emit QuorumUpdated(newQuorum);
    }
}
