// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    Job,
    Dispute,
    Params,
    ProviderInfo,
    JobStatus,
    DisputeKind,
    DisputeStatus,
    Verdict
} from "../libraries/Types.sol";
import {ICrucibleErrors} from "../libraries/Errors.sol";

/// @title Crucible market
/// @notice Escrow, stake, commitments and the bisection dispute game for verifiable ML training
/// (DESIGN.md sections 5 and 6). Training runs off-chain; the chain holds money, commitments and
/// the dispute game. All payouts are credits withdrawn with `withdrawCredit` (pull payments).
/// Solvency: `address(this).balance == totalLiabilities()` at all times (burned ETH is sent to
/// address(0) and counted in `totalBurned`). Daemons are driven by the events: every state change
/// emits one, and the manifest and final-model CIDs live only in `ResultSubmitted`.
interface ICrucibleMarket is ICrucibleErrors {
    // ------------------------------------------------------------------ events: jobs

    /// @notice A job was posted and its reward escrowed.
    /// @param duration seconds a claimant has from `claimJob` to `submitResult`
    /// @param paramsVersion the governance parameters the job is bound to
    event JobPosted(
        uint256 indexed jobId,
        address indexed requester,
        uint256 reward,
        bytes32 specCid,
        uint256 stake,
        uint256 bond,
        uint256 interval,
        uint256 totalSteps,
        uint256 duration,
        uint256 challengeWindow,
        bool refundOnExpiry,
        uint256 paramsVersion
    );
    /// @notice The requester cancelled an open job; `refund` was credited to it.
    event JobCancelled(uint256 indexed jobId, address indexed requester, uint256 refund);
    /// @notice A provider claimed a job and locked its stake; it must submit by `deadline` (inclusive).
    event JobClaimed(uint256 indexed jobId, address indexed provider, uint256 stake, uint256 deadline);
    /// @notice The provider submitted its result; challenges are open until `windowEnd` (exclusive).
    event ResultSubmitted(
        uint256 indexed jobId,
        address indexed provider,
        bytes32 traceRoot,
        bytes32 finalStateHash,
        bytes32 manifestCid,
        bytes32 finalModelCid,
        uint256 windowEnd
    );
    /// @notice The window passed undisputed: the provider was credited `reward` and its stake unlocked.
    event JobFinalized(uint256 indexed jobId, address indexed provider, uint256 reward);
    /// @notice A claim expired: `toRequester` of the provider's stake was credited to the requester,
    /// the rest returned to the provider's free stake; the job was refunded or reopened.
    event JobExpired(uint256 indexed jobId, address indexed provider, uint256 toRequester, bool refunded);
    /// @notice A dispute ended without slashing; the challenge window runs again until `windowEnd`.
    event JobResumed(uint256 indexed jobId, uint256 windowEnd);

    // ------------------------------------------------------------------ events: stake and credits

    /// @notice A provider added free stake; `free` is its new free stake.
    event StakeDeposited(address indexed provider, uint256 amount, uint256 free);
    /// @notice A provider withdrew free stake; `free` is its new free stake.
    event StakeWithdrawn(address indexed provider, uint256 amount, uint256 free);
    /// @notice `amount` was added to `account`'s withdrawable credit because of `jobId`.
    event Credited(address indexed account, uint256 indexed jobId, uint256 amount);
    /// @notice `account` withdrew its whole credit.
    event CreditWithdrawn(address indexed account, uint256 amount);

    // ------------------------------------------------------------------ events: disputes

    /// @notice A dispute opened on [a, b]: both sides agree on `hashA` = H(a), the challenger
    /// rejects `hashB` = H(b) (see `Dispute` for the direct kinds). The challenge window is paused.
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        address indexed challenger,
        DisputeKind kind,
        uint256 a,
        uint256 b,
        bytes32 hashA,
        bytes32 hashB
    );
    /// @notice The provider claimed H(m) = `midHash` with S_m stored at `midStateCid`.
    event DisputeBisected(uint256 indexed disputeId, uint256 m, bytes32 midHash, bytes32 midStateCid);
    /// @notice The challenger agreed (a <- m) or disagreed (b <- m); [a, b] is the new interval.
    event DisputeResponded(uint256 indexed disputeId, bool agree, uint256 a, uint256 b);
    /// @notice The dispute awaits oracle verdicts: replay step a from S_a (hash `hashA`, stored at
    /// `stateCidA`, or at the manifest's checkpoint a / k when zero) and compare with `hashB`.
    /// For direct kinds see `Dispute`.
    event DisputeReadyForOracle(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        DisputeKind kind,
        uint256 a,
        bytes32 hashA,
        bytes32 hashB,
        bytes32 stateCidA
    );
    /// @notice A registered oracle voted.
    event VerdictSubmitted(uint256 indexed disputeId, address indexed oracle, Verdict verdict);
    /// @notice `loser` missed its move deadline and lost the dispute.
    event DisputeTimedOut(uint256 indexed disputeId, address indexed loser);
    /// @notice No oracle quorum within the oracle timeout: bond returned, nobody slashed.
    event DisputeVoided(uint256 indexed disputeId, uint256 indexed jobId);
    /// @notice The dispute ended with `outcome` (ChallengerWon, ProviderWon or Voided).
    event DisputeResolved(uint256 indexed disputeId, uint256 indexed jobId, DisputeStatus outcome);
    /// @notice The provider's locked `amount` was slashed and split.
    event ProviderSlashed(
        uint256 indexed jobId,
        address indexed provider,
        uint256 amount,
        uint256 toChallenger,
        uint256 toRequester,
        uint256 burned
    );
    /// @notice A losing challenger's bond was forfeited and split.
    event BondForfeited(
        uint256 indexed disputeId, address indexed challenger, uint256 amount, uint256 toProvider, uint256 burned
    );

    // ------------------------------------------------------------------ events: governance

    /// @notice New governance parameters, binding jobs posted from now on.
    event ParamsUpdated(uint256 indexed version, Params params);
    /// @notice An oracle was registered; `oracleCount` is the new count.
    event OracleAdded(address indexed oracle, uint256 oracleCount);
    /// @notice An oracle was deregistered; `oracleCount` is the new count.
    event OracleRemoved(address indexed oracle, uint256 oracleCount);
    /// @notice The oracle quorum changed.
    event QuorumUpdated(uint256 quorum);
    /// @notice The owner proposed `newOwner`, who must call `acceptOwnership`.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    /// @notice Ownership moved to `newOwner`.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ------------------------------------------------------------------ jobs

    /// @notice Post a job, escrowing msg.value as its reward.
    /// @param specCid sha256 digest of the job spec's CIDv0
    /// @param stake stake a provider must lock to claim (>= params.minStake)
    /// @param bond exact bond a challenger must send (>= params.minBond)
    /// @param duration seconds from claim to the submission deadline (within params bounds)
    /// @param challengeWindow seconds of challenge window after submission (within params bounds)
    /// @param interval checkpoint interval k (> 0)
    /// @param totalSteps total steps T, a positive multiple of k with T / k <= params.maxSegments
    /// @param refundOnExpiry on an expired claim, refund the escrow (true) or reopen the job (false)
    /// @return jobId the new job's id (ids start at 1)
    function postJob(
        bytes32 specCid,
        uint96 stake,
        uint96 bond,
        uint32 duration,
        uint32 challengeWindow,
        uint32 interval,
        uint64 totalSteps,
        bool refundOnExpiry
    ) external payable returns (uint256 jobId);

    /// @notice Cancel an Open job (requester only); the reward is credited back.
    function cancelJob(uint256 jobId) external;

    /// @notice Claim an Open job, locking its required stake from the caller's free stake.
    function claimJob(uint256 jobId) external;

    /// @notice Submit the result of a claimed job (claimant only, at or before the deadline).
    /// @param traceRoot Merkle root over leaves 0..n of the checkpoint trace
    /// @param finalStateHash stateHash of the final training state
    /// @param manifestCid digest of the manifest's CIDv0
    /// @param finalModelCid digest of the final model's CIDv0
    function submitResult(
        uint256 jobId,
        bytes32 traceRoot,
        bytes32 finalStateHash,
        bytes32 manifestCid,
        bytes32 finalModelCid
    ) external;

    /// @notice Pay an Accepted job (anyone): reward credited to the provider, stake unlocked.
    function finalizeJob(uint256 jobId) external;

    /// @notice Expire a claim whose deadline passed without a result (anyone). A share
    /// (`expirySlashBps`) of the locked stake is credited to the requester, the rest returns to the
    /// provider's free stake; the job is refunded or reopened per its `refundOnExpiry` flag.
    function expireJob(uint256 jobId) external;

    // ------------------------------------------------------------------ stake and credits

    /// @notice Add msg.value to the caller's free stake.
    function depositStake() external payable;

    /// @notice Withdraw `amount` of the caller's free stake.
    function withdrawStake(uint256 amount) external;

    /// @notice Withdraw the caller's whole credit.
    /// @return amount the amount sent
    function withdrawCredit() external returns (uint256 amount);

    // ------------------------------------------------------------------ disputes

    /// @notice Challenge segment j of a Submitted job inside its window, sending exactly the bond.
    /// Proves leaves j and j+1 against the trace root; the dispute covers steps [j*k, (j+1)*k].
    /// @param hashJ stateHash of checkpoint j (agreed)
    /// @param hashJ1 stateHash of checkpoint j+1 (rejected)
    /// @param proofJ siblings of leaf j, bottom-up; length = ceil(log2(n+1)), at least 1
    /// @param proofJ1 siblings of leaf j+1
    /// @return disputeId the new dispute's id (ids start at 1)
    function challenge(
        uint256 jobId,
        uint256 segment,
        bytes32 hashJ,
        bytes32 hashJ1,
        bytes32[] calldata proofJ,
        bytes32[] calldata proofJ1
    ) external payable returns (uint256 disputeId);

    /// @notice Challenge C_0 as not the spec's S_0. The challenger proves the committed leaf 0 so
    /// the oracle knows the provider's C_0 hash; the oracle decides directly.
    function challengeInitialState(uint256 jobId, bytes32 initialStateHash, bytes32[] calldata proof)
        external
        payable
        returns (uint256 disputeId);

    /// @notice Challenge the final model: the final-model CID does not hold the parameters of the
    /// committed C_n, or `finalStateHash` differs from C_n's hash. The challenger proves leaf n;
    /// the oracle decides directly.
    function challengeFinalModel(uint256 jobId, bytes32 finalCheckpointHash, bytes32[] calldata proof)
        external
        payable
        returns (uint256 disputeId);

    /// @notice Challenge the manifest: the manifest CID in the job's `ResultSubmitted` event cannot
    /// be fetched, or the manifest there does not match the commitments (trace root, final
    /// stateHash, spec, checkpoint interval, total steps, final-model CID). Without it no proof for
    /// the other kinds can be built; keeping it available during the window is the provider's duty.
    /// Needs no proof: the dispute opens with a = b = 0, `hashA` = the trace root and `hashB` = the
    /// final stateHash (`DisputeOpened`, then `DisputeReadyForOracle`), and the oracle decides directly.
    function challengeManifest(uint256 jobId) external payable returns (uint256 disputeId);

    /// @notice Provider's bisection move: claim H(m) for m = floor((a+b)/2) and the CID of S_m.
    function bisect(uint256 disputeId, bytes32 midHash, bytes32 midStateCid) external;

    /// @notice Challenger's move: agree with H(m) (a <- m) or not (b <- m).
    function respond(uint256 disputeId, bool agree) external;

    /// @notice Anyone: end a dispute whose current deadline passed. In bisection the party whose
    /// move is overdue loses; awaiting oracles with no quorum, the dispute is voided.
    function timeout(uint256 disputeId) external;

    /// @notice A registered oracle's verdict on a dispute awaiting oracles (once per oracle). The
    /// dispute resolves as soon as `quorum` verdicts agree (ProviderWrong and
    /// ProviderDataUnavailable count together); split votes keep waiting until the oracle timeout.
    function submitVerdict(uint256 disputeId, Verdict verdict) external;

    // ------------------------------------------------------------------ governance

    /// @notice Owner: set new parameters (within the hard-coded bounds) for jobs posted from now on.
    function setParams(Params calldata newParams) external;

    /// @notice Owner: register an oracle.
    function addOracle(address oracle) external;

    /// @notice Owner: deregister an oracle (the count must stay >= quorum). Its verdicts already
    /// cast still count.
    function removeOracle(address oracle) external;

    /// @notice Owner: set the oracle quorum (1..oracleCount); applies to live disputes too.
    function setQuorum(uint256 newQuorum) external;

    /// @notice Owner: propose a new owner (two-step transfer).
    function transferOwnership(address newOwner) external;

    /// @notice Pending owner: accept ownership.
    function acceptOwnership() external;

    // ------------------------------------------------------------------ views

    /// @notice The job as stored (its `status` field is the stored status; see `jobStatus`).
    function getJob(uint256 jobId) external view returns (Job memory);

    /// @notice The job's status, derived from timestamps (Expired, Accepted) where it depends on time.
    function jobStatus(uint256 jobId) external view returns (JobStatus);

    /// @notice The dispute, with its stored hash/CID roles resolved (see `Dispute`).
    function getDispute(uint256 disputeId) external view returns (Dispute memory);

    /// @notice When the dispute's current clock runs out (inclusive): the next bisection move's
    /// deadline, or the oracle deadline; 0 once resolved. `timeout` works from deadline + 1.
    function disputeDeadline(uint256 disputeId) external view returns (uint256);

    /// @notice Whether `oracle` cast a vote on `disputeId` that left it awaiting more votes. The
    /// deciding vote is not stored (the dispute's status rules out any further vote); every vote
    /// is in `VerdictSubmitted`.
    function hasVoted(uint256 disputeId, address oracle) external view returns (bool);

    /// @notice A provider's free and locked stake and its reputation counters.
    function providerInfo(address provider) external view returns (ProviderInfo memory);

    /// @notice Withdrawable credit of `account`.
    function credits(address account) external view returns (uint256);

    /// @notice The current governance parameters.
    function params() external view returns (Params memory);

    /// @notice Governance parameters of `version` (1 = constructor's).
    function paramsAt(uint256 version) external view returns (Params memory);

    /// @notice The current parameters version.
    function paramsVersion() external view returns (uint256);

    /// @notice Whether `account` is a registered oracle.
    function isOracle(address account) external view returns (bool);

    /// @notice Number of registered oracles.
    function oracleCount() external view returns (uint256);

    /// @notice Agreeing verdicts needed to resolve a dispute.
    function quorum() external view returns (uint256);

    /// @notice Number of jobs posted (the latest job id).
    function jobCount() external view returns (uint256);

    /// @notice Number of disputes opened (the latest dispute id).
    function disputeCount() external view returns (uint256);

    /// @notice Escrows + stakes (free and locked) + bonds + credits; equals the contract's balance.
    function totalLiabilities() external view returns (uint256);

    /// @notice Total ETH burned (sent to address(0)) by slashing and forfeited bonds.
    function totalBurned() external view returns (uint256);

    /// @notice The owner.
    function owner() external view returns (address);

    /// @notice The proposed owner, zero if none.
    function pendingOwner() external view returns (address);
}
