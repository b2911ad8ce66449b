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
import {TraceMerkle} from "./libraries/TraceMerkle.sol";

/// @title CrucibleMarket
/// @notice See `ICrucibleMarket` and docs/dispute-game.md. One contract, no proxy, libraries inlined.
/// @dev Accounting: `_liabilities` is the sum of escrows, stakes (free and locked), live bonds,
/// unpaid oracle fees and credits. Moves between those buckets leave it unchanged, so it changes
/// only where ETH enters (post, deposit, challenge) or leaves (withdrawals, burns). Burned wei is
/// sent to address(0) (no code, so no re-entry) as the last step of a settlement. Only
/// `withdrawStake` and `withdrawCredit` send ETH to arbitrary addresses: both debit first, then
/// transfer, under a transient-storage reentrancy guard.
contract CrucibleMarket is ICrucibleMarket {
    // ------------------------------------------------------------------ hard bounds

    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Floor on the challenge window and the delivery time.
    uint32 public constant MIN_TIME = 5 seconds;
    /// @notice Floor on every dispute clock: moveExtension, clockBudget, oracleTimeout (several
    /// block times on any chain, so a move can always be mined; docs/dispute-game.md §1.4).
    uint32 public constant MIN_MOVE_TIME = 30 seconds;
    /// @notice Floor on the reopened window after a dispute ends without a slash (§1.3).
    uint32 public constant MIN_REACTION_TIME = 30 seconds;
    /// @notice Floor on progressTimeout (§1.8).
    uint32 public constant MIN_PROGRESS_TIMEOUT = 30 seconds;
    /// @notice Ceiling on the challenge window.
    uint32 public constant MAX_WINDOW = 30 days;
    /// @notice Ceiling on the delivery time.
    uint32 public constant MAX_DURATION = 365 days;
    /// @notice Ceiling on clockBudget, oracleTimeout, reactionTime and progressTimeout.
    uint32 public constant MAX_CLOCK = 30 days;
    /// @notice Ceiling on moveExtension.
    uint32 public constant MAX_MOVE_EXTENSION = 1 days;
    /// @notice Ceiling on oracleSetDelay.
    uint32 public constant MAX_ORACLE_SET_DELAY = 400 days;
    /// @notice Ceiling on `maxSegments` (trace depth <= 21).
    uint32 public constant MAX_SEGMENTS = 1 << 20;
    /// @notice Largest oracle set.
    uint256 public constant MAX_ORACLES = 32;
    /// @notice Dissection arity bounds (§1.4).
    uint256 public constant MIN_ARITY = 2;
    uint256 public constant MAX_ARITY = 16;
    /// @notice Most dissection rounds of any dispute: k < 2^32 and arity >= 2 (§1.4).
    uint256 public constant MAX_ROUNDS = 32;
    /// @notice challengerShareBps + requesterShareBps <= this: a cheater owning the requester
    /// and every challenger still loses >= 80% of its stake (§1.2).
    uint256 public constant MAX_RECOVERABLE_BPS = 2_000;
    /// @notice voidFeeBps bounds (§1.3): a void always costs its challenger, never over half the bond.
    uint256 public constant MIN_VOID_FEE_BPS = 100;
    uint256 public constant MAX_VOID_FEE_BPS = 5_000;
    /// @notice minStakeBps bounds (§1.8).
    uint256 public constant MIN_STAKE_BPS = 10_000;
    uint256 public constant MAX_STAKE_BPS = 50_000;
    /// @notice Ceiling on refGasPrice (10,000 gwei).
    uint256 public constant MAX_REF_GAS_PRICE = 10_000 gwei;
    /// @notice defenceGas = DEFENCE_BASE_GAS + rounds * (DEFENCE_MOVE_GAS + (arity - 1) *
    /// DEFENCE_POINT_GAS), measured by `forge test --match-contract GasTest` (§1.7): the
    /// provider's dissect transactions plus its timeout/withdraw calls, rounded up.
    uint256 public constant DEFENCE_BASE_GAS = 60_000;
    uint256 public constant DEFENCE_MOVE_GAS = 60_000;
    uint256 public constant DEFENCE_POINT_GAS = 2_500;

    // ------------------------------------------------------------------ storage

    /// @dev A dispute as stored; `getDispute` returns it as a `Dispute`. Slot 1 is the only slot
    /// a dissection move writes (besides the hash words); the deadline is derived from it
    /// (`_deadline`), so a move costs one cold write instead of three.
    struct DisputeSlot {
        // slot 0: identity and outcome
        address challenger;
        uint48 jobId;
        DisputeKind kind;
        DisputeStatus status;
        uint8 correctVotes;
        uint8 wrongVotes;
        // slot 1: the moving state
        uint64 a;
        uint64 b;
        uint40 turnStartedAt; // start of the current turn, or of the oracle vote
        uint32 providerClockUsed;
        uint32 challengerClockUsed;
        bool awaitingResponse;
        // slot 2: fixed at opening
        uint40 openedAt;
        uint32 epoch;
        uint32 clockBudget;
        uint32 moveExtension;
        uint32 oracleTimeout;
        // words
        bytes32 hashA;
        bytes32 hashB;
        bytes32 stateCidA;
        bytes32 pointsHash;
    }

    /// @dev Oracle epoch as stored.
    struct EpochSlot {
        uint40 effectiveAt;
        uint8 quorum;
    }

    // slot 0, exactly full: read by post and challenge, written by every ETH inflow and outflow
    uint48 internal _jobCount;
    uint48 internal _disputeCount;
    uint32 internal _paramsVersion;
    uint128 internal _liabilities;
    // slot 1
    uint128 internal _totalBurned;
    uint32 internal _latestEpoch;
    uint32 internal _maxDisputeBound;
    // slots 2, 3
    address internal _owner;
    address internal _pendingOwner;

    mapping(uint256 version => Params) internal _params;
    mapping(uint256 jobId => Job) internal _jobs;
    mapping(uint256 disputeId => DisputeSlot) internal _disputes;
    /// @dev 1: a pending ProviderCorrect vote, 2: a pending ProviderWrong vote, 0: none or paid.
    mapping(uint256 disputeId => mapping(address oracle => uint8)) internal _votes;
    mapping(address provider => ProviderInfo) internal _providers;
    mapping(address account => uint256) internal _credits;
    mapping(uint256 epoch => EpochSlot) internal _epochs;
    mapping(uint256 epoch => address[]) internal _epochMembers;
    mapping(uint256 epoch => mapping(address account => bool)) internal _isMember;

    bool private transient _entered;

    uint8 internal constant VOTE_CORRECT = 1;
    uint8 internal constant VOTE_WRONG = 2;

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
    /// @param oracles oracle epoch 1, effective at once
    /// @param initialQuorum its quorum, a strict majority
    constructor(Params memory initialParams, address[] memory oracles, uint8 initialQuorum) {
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _setParams(initialParams);
        _scheduleOracleSet(oracles, initialQuorum, block.timestamp);
    }

    // ------------------------------------------------------------------ jobs

    /// @inheritdoc ICrucibleMarket
    function postJob(JobTerms calldata terms) external payable returns (uint256 jobId) {
        uint32 version = _paramsVersion;
        if (msg.value == 0 || msg.value > type(uint96).max) revert InvalidReward(msg.value);
        _checkTerms(_params[version], terms, msg.value);

        jobId = ++_jobCount;
        _liabilities += uint128(msg.value); // <= 2^96 per call, the sum of all ETH fits 128 bits
        Job storage job = _jobs[jobId];
        job.status = JobStatus.Open;
        job.arity = terms.arity;
        job.refundOnExpiry = terms.refundOnExpiry;
        job.requester = msg.sender;
        job.reward = uint96(msg.value); // checked above
        job.stake = terms.stake;
        job.bond = terms.bond;
        job.totalSteps = terms.totalSteps;
        job.interval = terms.interval;
        job.duration = terms.duration;
        job.challengeWindow = terms.challengeWindow;
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
        job.provider = msg.sender;
        job.status = JobStatus.Claimed;
        job.deadline = deadline;
        job.lastProgressAt = uint40(block.timestamp);
        emit JobClaimed(
            jobId, msg.sender, stake, deadline, block.timestamp + _params[job.paramsVersion].progressTimeout
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
        if (hashJ == 0) revert ZeroCommitment("hashJ");
        if (hashJ1 == 0) revert ZeroCommitment("hashJ1");
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
        if (initialStateHash == 0) revert ZeroCommitment("initialStateHash");
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
        if (finalCheckpointHash == 0) revert ZeroCommitment("finalCheckpointHash");
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
        (uint256 newA, uint256 newB) = _narrow(disputeId, d, jobId, index, hashes, stateCids);
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

    /// @inheritdoc ICrucibleMarket
    function timeout(uint256 disputeId) external {
        DisputeSlot storage d = _disputes[disputeId];
        DisputeStatus status = d.status;
        uint256 jobId = _requireLive(disputeId, d, status);
        uint256 deadline = _deadline(d);
        if (block.timestamp < deadline) revert NotTimedOut(disputeId, deadline);

        Job storage job = _jobs[jobId];
        if (status == DisputeStatus.AwaitingOracle) {
            _void(disputeId, d, jobId, job);
        } else if (d.awaitingResponse) {
            emit DisputeTimedOut(disputeId, jobId, d.challenger);
            _challengerLoses(disputeId, d, jobId, job, 0);
        } else {
            emit DisputeTimedOut(disputeId, jobId, job.provider);
            _providerLoses(disputeId, d, jobId, job, 0);
        }
    }

    /// @inheritdoc ICrucibleMarket
    function submitVerdict(uint256 disputeId, Verdict verdict) external {
        if (verdict == Verdict.None) revert InvalidVerdict();
        DisputeSlot storage d = _disputes[disputeId];
        uint256 jobId = _requireLive(disputeId, d, DisputeStatus.AwaitingOracle);
        uint256 epoch = d.epoch;
        if (!_isMember[epoch][msg.sender]) revert NotOracle(disputeId, epoch, msg.sender);
        uint256 deadline = uint256(d.turnStartedAt) + d.oracleTimeout;
        if (block.timestamp >= deadline) revert VerdictTooLate(disputeId, deadline);
        if (_votes[disputeId][msg.sender] != 0) revert AlreadyVoted(disputeId, msg.sender);

        emit VerdictSubmitted(disputeId, jobId, msg.sender, verdict, deadline);
        bool correct = verdict == Verdict.ProviderCorrect;
        uint8 votes = (correct ? d.correctVotes : d.wrongVotes) + 1;
        if (correct) d.correctVotes = votes;
        else d.wrongVotes = votes;
        uint8 q = _epochs[epoch].quorum;
        if (votes < q) {
            // Only a vote that leaves the dispute open is stored: it is paid later by
            // `claimOracleFee` if the outcome matches (§1.7). The deciding vote is paid now.
            _votes[disputeId][msg.sender] = correct ? VOTE_CORRECT : VOTE_WRONG;
            return;
        }
        Job storage job = _jobs[jobId];
        uint256 fee = _params[job.paramsVersion].oracleFee;
        if (correct) _challengerLoses(disputeId, d, jobId, job, fee);
        else _providerLoses(disputeId, d, jobId, job, fee);
        uint256 share = fee / q;
        if (share != 0) {
            _credit(msg.sender, jobId, share);
            emit OracleFeePaid(disputeId, jobId, msg.sender, share);
        }
        _burn(fee - share * q); // integer-division dust of the fee
    }

    /// @inheritdoc ICrucibleMarket
    function settleDispute(uint256 disputeId) external {
        DisputeSlot storage d = _disputes[disputeId];
        DisputeStatus status = d.status;
        if (status != DisputeStatus.Dissecting && status != DisputeStatus.AwaitingOracle) {
            if (status == DisputeStatus.None) revert DisputeNotFound(disputeId);
            revert DisputeNotInStatus(disputeId, status);
        }
        uint256 jobId = d.jobId;
        Job storage job = _jobs[jobId];
        if (job.status != JobStatus.Slashed) revert JobNotSlashed(disputeId, jobId);
        // A dispute still live on a slashed job was live at the slash: no dispute opens on a
        // slashed job and none of its disputes can move after it (§1.1).
        d.status = DisputeStatus.ChallengerWon;
        --job.liveDisputes;
        _credit(d.challenger, jobId, uint256(job.bond) + job.winnerShare);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.ChallengerWon, job.windowEnd);
    }

    /// @inheritdoc ICrucibleMarket
    function claimOracleFee(uint256 disputeId) external {
        DisputeSlot storage d = _disputes[disputeId];
        uint8 vote = _votes[disputeId][msg.sender];
        DisputeStatus status = d.status;
        bool matches = (vote == VOTE_CORRECT && status == DisputeStatus.ProviderWon)
            || (vote == VOTE_WRONG && status == DisputeStatus.ChallengerWon);
        uint256 epoch = d.epoch;
        uint8 q = _epochs[epoch].quorum;
        // decided by verdict: the winning side's votes reached the quorum (not a timeout or a shared win)
        bool byVerdict = (status == DisputeStatus.ProviderWon ? d.correctVotes : d.wrongVotes) >= q;
        if (!matches || !byVerdict) revert NoOracleFee(disputeId, msg.sender);
        _votes[disputeId][msg.sender] = 0;
        uint256 jobId = d.jobId;
        uint256 share = _params[_jobs[jobId].paramsVersion].oracleFee / q;
        if (share == 0) return;
        _credit(msg.sender, jobId, share);
        emit OracleFeePaid(disputeId, jobId, msg.sender, share);
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc ICrucibleMarket
    function setParams(Params calldata newParams) external onlyOwner {
        _setParams(newParams);
    }

    /// @inheritdoc ICrucibleMarket
    function scheduleOracleSet(address[] calldata members, uint8 newQuorum) external onlyOwner returns (uint256) {
        return _scheduleOracleSet(members, newQuorum, block.timestamp + _params[_paramsVersion].oracleSetDelay);
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
        uint256 parts = _parts(len, _jobs[d.jobId].arity);
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
        uint256 span = disputeDurationBound(jobId) + _params[job.paramsVersion].reactionTime;
        return (uint256(job.bond) * 1 hours) / span;
    }

    /// @inheritdoc ICrucibleMarket
    function minBondFor(uint256 interval, uint256 arity) public view returns (uint256) {
        Params storage p = _params[_paramsVersion];
        return _minBond(p, interval, arity);
    }

    /// @inheritdoc ICrucibleMarket
    function minStakeFor(uint256 reward) external view returns (uint256) {
        Params storage p = _params[_paramsVersion];
        return _minStake(p, reward);
    }

    /// @inheritdoc ICrucibleMarket
    function roundsFor(uint256 interval, uint256 arity) public pure returns (uint256 rounds) {
        uint256 reach = 1;
        while (reach < interval) {
            reach *= arity;
            ++rounds;
        }
    }

    /// @inheritdoc ICrucibleMarket
    function defenceGas(uint256 interval, uint256 arity) public pure returns (uint256) {
        return DEFENCE_BASE_GAS + roundsFor(interval, arity) * (DEFENCE_MOVE_GAS + (arity - 1) * DEFENCE_POINT_GAS);
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

    // ------------------------------------------------------------------ internal: guards

    function _status(Job storage job) internal view returns (JobStatus status) {
        status = job.status;
        if (status == JobStatus.Claimed) {
            if (block.timestamp > job.deadline) return JobStatus.Expired;
        } else if (status == JobStatus.Submitted) {
            if (job.liveDisputes != 0) return JobStatus.Disputed;
            if (block.timestamp >= job.windowEnd) return JobStatus.Accepted;
        }
    }

    function _requireStatus(uint256 jobId, Job storage job, JobStatus expected) internal view {
        JobStatus status = _status(job);
        if (status != expected) {
            if (status == JobStatus.None) revert JobNotFound(jobId);
            revert JobNotInStatus(jobId, status);
        }
    }

    /// @dev The dispute is in `expected` (a live status) and its job was not slashed by another
    /// dispute (then only `settleDispute` applies). Returns the job id.
    function _requireLive(uint256 disputeId, DisputeSlot storage d, DisputeStatus expected)
        internal
        view
        returns (uint256 jobId)
    {
        DisputeStatus status = d.status;
        if (status != expected || (status != DisputeStatus.Dissecting && status != DisputeStatus.AwaitingOracle)) {
            if (status == DisputeStatus.None) revert DisputeNotFound(disputeId);
            revert DisputeNotInStatus(disputeId, status);
        }
        jobId = d.jobId;
        if (_jobs[jobId].status == JobStatus.Slashed) revert DisputeSettlesBySlash(disputeId, jobId);
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
        uint256 minBond = _minBond(p, t.interval, t.arity);
        if (t.bond < minBond) revert BondBelowDefenceCost(t.bond, minBond);
    }

    function _minStake(Params storage p, uint256 reward) internal view returns (uint256) {
        uint256 scaled = (reward * p.minStakeBps) / BPS;
        return scaled > p.minStake ? scaled : p.minStake;
    }

    /// @dev (bond - oracleFee) * providerBondShareBps / BPS >= defenceGas * refGasPrice (§1.7).
    function _minBond(Params storage p, uint256 interval, uint256 arity) internal view returns (uint256) {
        uint256 cost = defenceGas(interval, arity) * p.refGasPrice * BPS;
        uint256 share = p.providerBondShareBps;
        uint256 bond = p.oracleFee + (cost + share - 1) / share;
        return bond > p.minBond ? bond : p.minBond;
    }

    /// @dev Dmax = 2 * (clockBudget + rounds * moveExtension) + oracleTimeout (§1.4).
    function _segmentBound(Params storage p, uint256 interval, uint256 arity) internal view returns (uint256) {
        return 2 * (uint256(p.clockBudget) + roundsFor(interval, arity) * p.moveExtension) + p.oracleTimeout;
    }

    function _checkChallenge(uint256 jobId, Job storage job) internal view {
        JobStatus status = _status(job);
        if (status != JobStatus.Submitted && status != JobStatus.Disputed) {
            if (status == JobStatus.None) revert JobNotFound(jobId);
            revert JobNotInStatus(jobId, status);
        }
        uint256 windowEnd = job.windowEnd;
        if (block.timestamp >= windowEnd) revert ChallengeWindowClosed(jobId, windowEnd);
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

    // ------------------------------------------------------------------ internal: disputes

    /// @dev Parts of a dissection round over `len` > 1 steps: min(arity, len) (§1.4).
    function _parts(uint256 len, uint256 arity) internal pure returns (uint256) {
        return len < arity ? len : arity;
    }

    /// @dev The provider's move is on time and posts min(arity, b - a) - 1 non-zero points (§1.4, §1.9).
    function _checkDissection(
        uint256 disputeId,
        DisputeSlot storage d,
        uint256 jobId,
        bytes32[] calldata hashes,
        bytes32[] calldata stateCids
    ) internal view {
        Job storage job = _jobs[jobId];
        if (msg.sender != job.provider) revert NotProvider(jobId, msg.sender);
        if (d.awaitingResponse) revert NotYourTurn(disputeId, msg.sender);
        uint256 deadline = _deadline(d);
        if (block.timestamp >= deadline) revert MoveOverdue(disputeId, deadline);
        uint256 interior = _parts(uint256(d.b) - d.a, job.arity) - 1;
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
        uint256 jobId,
        uint256 index,
        bytes32[] calldata hashes,
        bytes32[] calldata stateCids
    ) internal returns (uint256 newA, uint256 newB) {
        uint256 a = d.a;
        uint256 len = uint256(d.b) - a;
        uint256 parts = _parts(len, _jobs[jobId].arity);
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

    function _allowance(DisputeSlot storage d, uint32 used) internal view returns (uint32) {
        uint32 budget = d.clockBudget;
        uint32 left = used < budget ? budget - used : 0;
        uint32 ext = d.moveExtension;
        return left > ext ? left : ext;
    }

    /// @dev The current deadline of a live dispute, derived from its turn state (§1.4).
    function _deadline(DisputeSlot storage d) internal view returns (uint40) {
        uint40 start = d.turnStartedAt;
        if (d.status == DisputeStatus.AwaitingOracle) return start + d.oracleTimeout;
        return start + _allowance(d, d.awaitingResponse ? d.challengerClockUsed : d.providerClockUsed);
    }

    /// @dev `_deadline` for a live dispute whose job was not slashed, 0 otherwise.
    function _liveDeadline(DisputeSlot storage d) internal view returns (uint256) {
        DisputeStatus status = d.status;
        if (status != DisputeStatus.Dissecting && status != DisputeStatus.AwaitingOracle) return 0;
        if (_jobs[d.jobId].status == JobStatus.Slashed) return 0;
        return _deadline(d);
    }

    /// @dev The epoch a dispute opened now records: the latest whose effectiveAt has come.
    function _currentEpoch() internal view returns (uint32 e) {
        e = _latestEpoch;
        while (_epochs[e].effectiveAt > block.timestamp) --e;
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
        uint32 epoch = _currentEpoch();
        DisputeSlot storage d = _disputes[disputeId];
        d.challenger = msg.sender;
        d.jobId = uint48(jobId); // jobId <= _jobCount, a uint48
        d.kind = kind;
        d.a = a;
        d.b = b;
        d.openedAt = uint40(block.timestamp);
        d.epoch = epoch;
        d.hashA = hashA;
        d.hashB = hashB;
        ++job.liveDisputes;
        bool dissecting = kind == DisputeKind.Segment && b - a > 1;
        uint40 deadline = _startClock(d, job, dissecting, b - a);
        emit DisputeOpened(disputeId, jobId, msg.sender, kind, a, b, hashA, hashB, epoch, deadline);
        if (!dissecting) {
            emit DisputeReadyForOracle(disputeId, jobId, kind, a, hashA, hashB, 0, epoch, deadline);
        }
    }

    /// @dev The first turn (provider's dissection, or the oracle vote) and the job's payout bound (§1.5).
    function _startClock(DisputeSlot storage d, Job storage job, bool dissecting, uint256 len)
        internal
        returns (uint40 deadline)
    {
        Params storage p = _params[job.paramsVersion];
        uint256 bound;
        uint32 budget = p.clockBudget;
        uint32 ext = p.moveExtension;
        uint32 oracleTimeout = p.oracleTimeout;
        d.clockBudget = budget;
        d.moveExtension = ext;
        d.oracleTimeout = oracleTimeout;
        d.turnStartedAt = uint40(block.timestamp);
        if (dissecting) {
            d.status = DisputeStatus.Dissecting;
            deadline = uint40(block.timestamp) + (budget > ext ? budget : ext);
            bound = _segmentBound(p, len, job.arity);
        } else {
            d.status = DisputeStatus.AwaitingOracle;
            deadline = uint40(block.timestamp) + oracleTimeout;
            bound = oracleTimeout;
        }
        // the latest this dispute can end, plus the reopened window after it
        uint256 latest = block.timestamp + bound + p.reactionTime;
        if (latest > job.payoutBound) job.payoutBound = uint40(latest); // bounded times fit 40 bits
    }

    /// @dev Provider wrong (§1.2, §2): the stake S is slashed once; `fee` (0 on a timeout) to the
    /// oracles, then of S - fee the challenger pool (shared by every live dispute), the
    /// requester's share, the rest burned. This dispute's challenger is paid now.
    function _providerLoses(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job, uint256 fee)
        internal
    {
        d.status = DisputeStatus.ChallengerWon;
        job.status = JobStatus.Slashed;
        address provider = job.provider;
        uint256 stake = job.stake;
        uint256 net = stake - fee; // oracleFee <= minStake <= stake (bounds)
        Params storage p = _params[job.paramsVersion];
        uint256 pool = (net * p.challengerShareBps) / BPS;
        uint256 toRequester = (net * p.requesterShareBps) / BPS;
        uint16 winners = job.liveDisputes;
        uint256 share = pool / winners;
        uint256 burned = net - toRequester - share * winners; // pool dust is burned
        job.winners = winners;
        job.winnerShare = uint96(share); // <= stake
        job.liveDisputes = winners - 1;

        ProviderInfo storage info = _providers[provider];
        info.locked -= uint96(stake);
        ++info.slashed;
        _credit(d.challenger, jobId, uint256(job.bond) + share);
        _credit(job.requester, jobId, uint256(job.reward) + toRequester);
        emit ProviderSlashed(jobId, disputeId, provider, stake, fee, pool, winners, toRequester, burned);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.ChallengerWon, job.windowEnd);
        _burn(burned);
    }

    /// @dev Challenger wrong (§2): `fee` (0 on a timeout) to the oracles, providerBondShareBps of
    /// the rest to the provider, the rest burned; the window reopens (§1.3).
    function _challengerLoses(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job, uint256 fee)
        internal
    {
        d.status = DisputeStatus.ProviderWon;
        Params storage p = _params[job.paramsVersion];
        uint256 bond = job.bond;
        uint256 toProvider = ((bond - fee) * p.providerBondShareBps) / BPS; // oracleFee <= minBond <= bond
        uint256 burned = bond - fee - toProvider;
        if (toProvider != 0) _credit(job.provider, jobId, toProvider);
        emit BondForfeited(disputeId, jobId, d.challenger, bond, fee, toProvider, burned);
        uint256 windowEnd = _reopen(jobId, job, p);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.ProviderWon, windowEnd);
        _burn(burned);
    }

    /// @dev No quorum in time (§1.3): bond minus voidFeeBps back to the challenger, the fee to the
    /// provider, the window reopens.
    function _void(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job) internal {
        d.status = DisputeStatus.Voided;
        Params storage p = _params[job.paramsVersion];
        uint256 bond = job.bond;
        uint256 voidFee = (bond * p.voidFeeBps) / BPS;
        _credit(d.challenger, jobId, bond - voidFee);
        if (voidFee != 0) _credit(job.provider, jobId, voidFee);
        emit DisputeVoided(disputeId, jobId, bond - voidFee, voidFee);
        uint256 windowEnd = _reopen(jobId, job, p);
        emit DisputeResolved(disputeId, jobId, DisputeStatus.Voided, windowEnd);
    }

    /// @dev A dispute ended without a slash now: windowEnd = max(windowEnd, now + reactionTime)
    /// (§1.3); `JobResumed` once no dispute is left live.
    function _reopen(uint256 jobId, Job storage job, Params storage p) internal returns (uint256 windowEnd) {
        uint16 live = job.liveDisputes - 1;
        job.liveDisputes = live;
        windowEnd = job.windowEnd;
        uint256 reopened = block.timestamp + p.reactionTime;
        if (reopened > windowEnd) {
            windowEnd = reopened;
            job.windowEnd = uint40(reopened); // now + a bounded time fits 40 bits
        }
        if (live == 0) emit JobResumed(jobId, windowEnd);
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
        _checkBounds("moveExtension", p.moveExtension, MIN_MOVE_TIME, MAX_MOVE_EXTENSION);
        _checkBounds("clockBudget", p.clockBudget, MIN_MOVE_TIME, MAX_CLOCK);
        _checkBounds("oracleTimeout", p.oracleTimeout, MIN_MOVE_TIME, MAX_CLOCK);
        _checkBounds("reactionTime", p.reactionTime, MIN_REACTION_TIME, MAX_CLOCK);
        _checkBounds("progressTimeout", p.progressTimeout, MIN_PROGRESS_TIMEOUT, MAX_CLOCK);
        _checkBounds("maxSegments", p.maxSegments, 1, MAX_SEGMENTS);
        _checkBounds("challengerShareBps", p.challengerShareBps, 0, MAX_RECOVERABLE_BPS);
        _checkBounds("requesterShareBps", p.requesterShareBps, 0, MAX_RECOVERABLE_BPS - p.challengerShareBps);
        _checkBounds("providerBondShareBps", p.providerBondShareBps, 1, BPS);
        _checkBounds("expirySlashBps", p.expirySlashBps, 0, BPS);
        _checkBounds("voidFeeBps", p.voidFeeBps, MIN_VOID_FEE_BPS, MAX_VOID_FEE_BPS);
        _checkBounds("minStakeBps", p.minStakeBps, MIN_STAKE_BPS, MAX_STAKE_BPS);
        _checkBounds("minStake", p.minStake, 1, type(uint96).max);
        _checkBounds("minBond", p.minBond, 1, type(uint96).max);
        uint256 feeCap = p.minBond < p.minStake ? p.minBond : p.minStake;
        _checkBounds("oracleFee", p.oracleFee, 0, feeCap);
        _checkBounds("refGasPrice", p.refGasPrice, 0, MAX_REF_GAS_PRICE);
        // §1.6: the longest dispute any version allows (32 rounds) stays below the oracle-set delay
        uint256 bound = 2 * (uint256(p.clockBudget) + MAX_ROUNDS * p.moveExtension) + p.oracleTimeout;
        uint256 maxBound = bound > _maxDisputeBound ? bound : _maxDisputeBound;
        _checkBounds("oracleSetDelay", p.oracleSetDelay, maxBound + 1, MAX_ORACLE_SET_DELAY);
        _maxDisputeBound = uint32(maxBound); // <= 2 * (30 days + 32 days) + 30 days
        uint32 version = _paramsVersion + 1;
        _paramsVersion = version;
        _params[version] = p;
        emit ParamsUpdated(version, p);
    }

    function _checkBounds(string memory name, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParamOutOfBounds(name, value, min, max);
    }

    /// @dev Epoch e+1 (§1.6): a strict-majority quorum, no duplicates, no zero address.
    function _scheduleOracleSet(address[] memory members, uint8 newQuorum, uint256 effectiveAt)
        internal
        returns (uint256 epoch)
    {
        uint256 size = members.length;
        if (size == 0 || size > MAX_ORACLES) revert InvalidOracleSetSize(size, MAX_ORACLES);
        if (newQuorum > size || 2 * uint256(newQuorum) <= size) revert InvalidQuorum(newQuorum, size);
        epoch = _latestEpoch + 1;
        _latestEpoch = uint32(epoch);
        for (uint256 i; i < size; ++i) {
            address m = members[i];
            if (m == address(0)) revert ZeroAddress();
            if (_isMember[epoch][m]) revert DuplicateOracle(m);
            _isMember[epoch][m] = true;
        }
        _epochMembers[epoch] = members;
        _epochs[epoch] = EpochSlot(uint40(effectiveAt), newQuorum); // now + <= 400 days fits 40 bits
        emit OracleSetScheduled(epoch, members, newQuorum, effectiveAt);
    }
}
