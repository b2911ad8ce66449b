// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

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
} from "../libraries/Types.sol";
import {ICrucibleErrors} from "../libraries/Errors.sol";

/// @title Crucible market
/// @notice Escrow, stake, commitments and the dispute game (version 2, docs/dispute-game.md) for
/// verifiable ML training (docs/design.md §6-§8, docs/dispute-game.md): any number of disputes per job, k-ary
/// dissection under chess clocks, a shared challenger reward, an oracle epoch fixed per claim, bonds that
/// price delay. Training runs off-chain; the chain holds money, commitments and
/// the dispute game. All payouts are credits withdrawn with `withdrawCredit` (pull payments).
/// Solvency: `address(this).balance == totalLiabilities()` at all times (burned ETH is sent to
/// address(0) and counted in `totalBurned`). Daemons are driven by the events: every state change
/// emits one, and the manifest and final-model CIDs live only in `ResultSubmitted`.
interface ICrucibleMarket is ICrucibleErrors {
    // ------------------------------------------------------------------ events: jobs

    /// @notice A job was posted and its reward escrowed.
    /// @param paramsVersion the governance parameters the job is bound to
    event JobPosted(
        uint256 indexed jobId, address indexed requester, uint256 reward, JobTerms terms, uint256 paramsVersion
    );
    /// @notice The requester cancelled an open job; `refund` was credited to it.
    event JobCancelled(uint256 indexed jobId, address indexed requester, uint256 refund);
    /// @notice A provider claimed a job and locked its stake. It must submit by `deadline`
    /// (inclusive) and report progress before `progressDeadline` or the requester may release it.
    /// `oracleEpoch`, effective now, decides every dispute on this claim (docs/dispute-game.md §1.6).
    event JobClaimed(
        uint256 indexed jobId,
        address indexed provider,
        uint256 stake,
        uint256 deadline,
        uint256 progressDeadline,
        uint256 oracleEpoch
    );
    /// @notice The provider reported training progress; the next report is due before `progressDeadline`.
    event ProgressReported(uint256 indexed jobId, address indexed provider, uint256 step, uint256 progressDeadline);
    /// @notice The requester released a claim without progress: `toRequester` of the squatter's
    /// stake was credited to the requester, the rest returned to its free stake; the job was
    /// refunded or reopened (docs/dispute-game.md §1.8).
    event JobReleased(uint256 indexed jobId, address indexed provider, uint256 toRequester, bool refunded);
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
    /// @notice The job was paid: `reward` credited to the provider, its stake unlocked.
    event JobFinalized(uint256 indexed jobId, address indexed provider, uint256 reward);
    /// @notice A claim expired: `toRequester` of the provider's stake was credited to the requester,
    /// the rest returned to the provider's free stake; the job was refunded or reopened.
    event JobExpired(uint256 indexed jobId, address indexed provider, uint256 toRequester, bool refunded);
    /// @notice The last live dispute ended without a slash; challenges are open until `windowEnd`
    /// (exclusive), at least `reactionTime` after the dispute ended (docs/dispute-game.md §1.3).
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
    /// rejects `hashB` = H(b) (see `Dispute` for the direct kinds). `epoch` is the job's oracle
    /// epoch, which decides it. `deadline` (exclusive): the provider's first `dissect` for a Segment
    /// dispute with b - a > 1, else the oracle deadline (then `DisputeReadyForOracle` follows).
    /// `bond`: what the challenger posted (`bondFor(jobId)` at opening).
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        address indexed challenger,
        DisputeKind kind,
        uint256 a,
        uint256 b,
        bytes32 hashA,
        bytes32 hashB,
        uint256 epoch,
        uint256 deadline,
        uint256 bond
    );
    /// @notice The provider split [a, b] into parts at points m_0 = a < m_1 < ... < m_p = b
    /// (`dissectionPoints`) and claimed H(m_i) = hashes[i-1], S_{m_i} stored at stateCids[i-1]
    /// for the interior points. The challenger must `respond` before `deadline` (exclusive).
    event DisputeDissected(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        uint256 a,
        uint256 b,
        bytes32[] hashes,
        bytes32[] stateCids,
        uint256 deadline
    );
    /// @notice The challenger disputed part `index`, [m_index, m_index+1], which is the new
    /// [a, b] with agreed H(a) = `hashA` and rejected H(b) = `hashB`. `deadline` (exclusive): the
    /// provider's next `dissect`, or the oracle deadline when b - a = 1.
    event DisputeNarrowed(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        uint256 index,
        uint256 a,
        uint256 b,
        bytes32 hashA,
        bytes32 hashB,
        uint256 deadline
    );
    /// @notice The dispute awaits the verdicts of oracle epoch `epoch` (its members that are members
    /// of the epoch effective at the vote, `canVote`) before `deadline`
    /// (exclusive): replay step a from S_a (hash `hashA`, stored at `stateCidA`, or at the
    /// manifest's checkpoint a / k when zero) and compare with `hashB`. Direct kinds: see `Dispute`.
    event DisputeReadyForOracle(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        DisputeKind kind,
        uint256 a,
        bytes32 hashA,
        bytes32 hashB,
        bytes32 stateCidA,
        uint256 epoch,
        uint256 deadline
    );
    /// @notice An oracle of the job's epoch and of the current one voted; the vote deadline is still `deadline`.
    event VerdictSubmitted(
        uint256 indexed disputeId, uint256 indexed jobId, address indexed oracle, Verdict verdict, uint256 deadline
    );
    /// @notice `loser`'s chess clock ran out (docs/dispute-game.md §1.4).
    event DisputeTimedOut(uint256 indexed disputeId, uint256 indexed jobId, address indexed loser);
    /// @notice No quorum in time: `refund` = bond minus the void fee went back to the challenger,
    /// `voidFee` = max(bond * voidFeeBps / BPS, the provider's dispute cost) to the provider
    /// (docs/dispute-game.md §1.3, §1.5).
    event DisputeVoided(uint256 indexed disputeId, uint256 indexed jobId, uint256 refund, uint256 voidFee);
    /// @notice The dispute ended with `outcome` (ChallengerWon, ProviderWon or Voided). `windowEnd`
    /// is the job's challenge window end after it (reopened per §1.3 unless the job was slashed).
    event DisputeResolved(uint256 indexed disputeId, uint256 indexed jobId, DisputeStatus outcome, uint256 windowEnd);
    /// @notice The provider's locked `amount` was slashed by `disputeId`: `oracleFee` to the
    /// deciding oracles, `pool` shared equally by the `winners` disputes live at this moment (each
    /// also gets its bond back; the others via `settleDispute`), `toRequester` on top of its
    /// escrow, the rest `burned` (docs/dispute-game.md §1.2).
    event ProviderSlashed(
        uint256 indexed jobId,
        uint256 indexed disputeId,
        address indexed provider,
        uint256 amount,
        uint256 oracleFee,
        uint256 pool,
        uint256 winners,
        uint256 toRequester,
        uint256 burned
    );
    /// @notice A losing challenger's bond was forfeited: `oracleFee` to the deciding oracles
    /// (zero on a timeout), `toProvider` to the provider, the rest burned.
    event BondForfeited(
        uint256 indexed disputeId,
        uint256 indexed jobId,
        address indexed challenger,
        uint256 amount,
        uint256 oracleFee,
        uint256 toProvider,
        uint256 burned
    );
    /// @notice `oracle` was credited its part of a verdict's oracle fee.
    event OracleFeePaid(uint256 indexed disputeId, uint256 indexed jobId, address indexed oracle, uint256 amount);

    // ------------------------------------------------------------------ events: governance

    /// @notice New governance parameters, binding jobs posted from now on.
    event ParamsUpdated(uint256 indexed version, Params params);
    /// @notice Oracle epoch `epoch` (`members`, `quorum`) is recorded by the jobs claimed from
    /// `effectiveAt` on, and from then on only its members vote on any job's disputes. Until then
    /// epoch `previous` stays effective; an epoch scheduled between `previous` and `epoch` was
    /// replaced while pending and never takes effect (docs/dispute-game.md §1.6).
    event OracleSetScheduled(
        uint256 indexed epoch, address[] members, uint256 quorum, uint256 effectiveAt, uint256 previous
    );
    /// @notice The owner proposed `newOwner`, who must call `acceptOwnership`.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    /// @notice Ownership moved to `newOwner`.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ------------------------------------------------------------------ jobs

    /// @notice Post a job, escrowing msg.value as its reward (see `JobTerms` for each term's bound).
    /// @return jobId the new job's id (ids start at 1)
    function postJob(JobTerms calldata terms) external payable returns (uint256 jobId);

    /// @notice Cancel an Open job (requester only); the reward is credited back.
    function cancelJob(uint256 jobId) external;

    /// @notice Claim an Open job, locking its required stake from the caller's free stake.
    function claimJob(uint256 jobId) external;

    /// @notice Claimant: report training progress (`step` above the last report, at most T),
    /// at least every `progressTimeout` (docs/dispute-game.md §1.8).
    function reportProgress(uint256 jobId, uint256 step) external;

    /// @notice Requester: release a Claimed job whose last progress (or claim) is at least
    /// `progressTimeout` old. Same money as an expiry: `expirySlashBps` of the stake to the
    /// requester, the rest to the squatter's free stake; the job reopens or is refunded.
    function releaseJob(uint256 jobId) external;

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

    /// @notice Pay an Accepted job (anyone; no live dispute and now >= windowEnd): reward credited
    /// to the provider, stake unlocked.
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

    /// @notice Challenge segment j of a submitted job while now < windowEnd, sending exactly
    /// `bondFor(jobId)`; any number of disputes may be live on one job (docs/dispute-game.md §1.1). Proves
    /// leaves j and j+1 against the trace root; the dispute covers steps [j*k, (j+1)*k].
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

    /// @notice Challenge C_0 as not the spec's S_0. The challenger proves the committed leaf 0;
    /// the oracle decides directly.
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

    /// @notice Challenge the manifest (unavailable, or not matching the commitments). Needs no
    /// proof: a = b = 0, `hashA` = the trace root, `hashB` = the final stateHash; the oracle decides.
    function challengeManifest(uint256 jobId) external payable returns (uint256 disputeId);

    /// @notice Provider's move (its clock running): split [a, b] into p = min(arity, b - a) parts
    /// at m_i = a + floor(i * (b - a) / p) and post H(m_i) and the CID of S_{m_i} for the p - 1
    /// interior points i = 1..p-1, all non-zero. Only keccak256(abi.encodePacked(hashes,
    /// stateCids)) is stored; the arrays are in `DisputeDissected` (docs/dispute-game.md §1.4).
    function dissect(uint256 disputeId, bytes32[] calldata hashes, bytes32[] calldata stateCids) external;

    /// @notice Challenger's move (its clock running): re-send the provider's last arrays (checked
    /// against the stored keccak) and pick part `index` in 0..p-1, [m_index, m_index+1]: the
    /// challenger agrees with H(m_index) and rejects H(m_index+1). At one step the oracle decides.
    function respond(uint256 disputeId, uint256 index, bytes32[] calldata hashes, bytes32[] calldata stateCids) external;

    /// @notice Anyone, from the current deadline on: the side whose chess clock ran out loses;
    /// awaiting oracles with no quorum, the dispute is voided (docs/dispute-game.md §1.3, §1.4).
    function timeout(uint256 disputeId) external;

    /// @notice A member of the job's oracle epoch that is also a member of the epoch effective now
    /// votes (once; `canVote`). The dispute resolves as soon as the job's epoch's quorum of verdicts agree (ProviderWrong and ProviderDataUnavailable count
    /// together). The deciding vote is paid its part of the oracle fee at once; earlier votes for
    /// the outcome with `claimOracleFee`.
    function submitVerdict(uint256 disputeId, Verdict verdict) external;

    /// @notice Anyone: settle a dispute that was live when its job was slashed by another
    /// dispute: its challenger wins, bond back plus its part of the pool (docs/dispute-game.md §1.1).
    function settleDispute(uint256 disputeId) external;

    /// @notice An oracle whose earlier (non-deciding) vote matched the verdict: credit its part of
    /// the oracle fee (oracleFee / quorum).
    function claimOracleFee(uint256 disputeId) external;

    // ------------------------------------------------------------------ governance

    /// @notice Owner: set new parameters (within the hard bounds) for jobs posted from now on.
    function setParams(Params calldata newParams) external;

    /// @notice Owner: oracle epoch e+1 = (`members`, `quorum`), effective at now + oracleSetDelay
    /// (current params); it replaces an epoch still pending. `quorum` must be a strict majority
    /// (2 * quorum > members.length). A job keeps the epoch it was claimed under; once effective,
    /// the new set can only take voters away from it (docs/dispute-game.md §1.6).
    /// @return epoch the scheduled epoch's number
    function scheduleOracleSet(address[] calldata members, uint8 quorum) external returns (uint256 epoch);

    /// @notice Owner: propose a new owner (two-step transfer).
    function transferOwnership(address newOwner) external;

    /// @notice Pending owner: accept ownership.
    function acceptOwnership() external;

    // ------------------------------------------------------------------ views

    /// @notice The job as stored (its `status` field is the stored status; see `jobStatus`).
    function getJob(uint256 jobId) external view returns (Job memory);

    /// @notice The job's status, derived where it depends on time or live disputes.
    function jobStatus(uint256 jobId) external view returns (JobStatus);

    /// @notice The dispute as stored.
    function getDispute(uint256 disputeId) external view returns (Dispute memory);

    /// @notice The current deadline (exclusive) of a live dispute: the turn's chess-clock
    /// deadline, or the oracle deadline; 0 once resolved. `timeout` works from it on.
    function disputeDeadline(uint256 disputeId) external view returns (uint256);

    /// @notice The points m_0 = a, ..., m_p = b of the current dissection round (p + 1 values;
    /// empty unless Dissecting).
    function dissectionPoints(uint256 disputeId) external view returns (uint256[] memory points);

    /// @notice Whether `oracle` cast a vote on `disputeId` that did not decide it and has not
    /// been paid. Every vote is in `VerdictSubmitted`.
    function hasVoted(uint256 disputeId, address oracle) external view returns (bool);

    /// @notice The latest time (given prompt `timeout` calls) at which the job can be finalized
    /// given what is on chain: max(windowEnd, each opened dispute's openedAt + its bound +
    /// reactionTime). Changes only when a dispute opens (docs/dispute-game.md §1.5).
    function payoutBound(uint256 jobId) external view returns (uint256);

    /// @notice Dmax of a segment dispute on this job: 2 * (clockBudget + rounds * moveExtension)
    /// + oracleTimeout, rounds = ceil(log_arity(k)) (docs/dispute-game.md §1.4).
    function disputeDurationBound(uint256 jobId) external view returns (uint256);

    /// @notice Least a griefer pays per hour of delay with its next dispute on this job: the
    /// cheapest outcome it can choose (a void: `voidFeeFor(jobId, bondFor(jobId))`, at most the
    /// bond a forfeit or its own timeout costs) * 3600 / (Dmax + reactionTime), the most delay one
    /// dispute buys (docs/dispute-game.md §1.5). 0 for no job.
    function delayCostPerHour(uint256 jobId) external view returns (uint256);

    /// @notice The bond a dispute opened on this job now must send: the job's bond << its bond
    /// level, which a dispute opened at level L raises to L + 1 when it ends without a slash (at
    /// most MAX_BOND_LEVEL) (docs/dispute-game.md §1.5).
    function bondFor(uint256 jobId) external view returns (uint256);

    /// @notice What a void of a dispute with bond `bond` on this job pays its provider:
    /// min(bond, max(bond * voidFeeBps / BPS, the provider's dispute cost)) (docs/dispute-game.md §1.3).
    function voidFeeFor(uint256 jobId, uint256 bond) external view returns (uint256);

    /// @notice Whether a vote by `account` on `disputeId` would count now: the dispute awaits
    /// oracles, its job was not slashed, `account` has not voted, and it is a member of the job's
    /// oracle epoch and of the epoch effective now (docs/dispute-game.md §1.6).
    function canVote(uint256 disputeId, address account) external view returns (bool);

    /// @notice Least bond (current params) of a job with this reward, stake, k and arity: the
    /// provider's part of a forfeit covers its dispute cost (defenceGas * refGasPrice + the carrying
    /// cost of reward + stake over Dmax + reactionTime at carryBps a year):
    /// oracleFee + ceil(disputeCost * BPS / providerBondShareBps), at least minBond.
    function minBondFor(uint256 reward, uint256 stake, uint256 interval, uint256 arity) external view returns (uint256);

    /// @notice Least stake (current params) for a reward: max(minStake, reward * minStakeBps / BPS).
    function minStakeFor(uint256 reward) external view returns (uint256);

    /// @notice Dissection rounds for a segment of `interval` steps: ceil(log_arity(interval)).
    function roundsFor(uint256 interval, uint256 arity) external pure returns (uint256);

    /// @notice Gas an honest provider spends defending one segment dispute (docs/dispute-game.md §1.7).
    function defenceGas(uint256 interval, uint256 arity) external pure returns (uint256);

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

    /// @notice The largest Dmax any parameter version allows (32 rounds); oracleSetDelay exceeds it.
    function maxDisputeBound() external view returns (uint256);

    /// @notice The oracle epoch effective now: a job claimed now records it.
    function currentOracleEpoch() external view returns (uint256);

    /// @notice The latest scheduled epoch (possibly not yet effective).
    function latestOracleEpoch() external view returns (uint256);

    /// @notice Oracle epoch `epoch`: when it takes effect, its quorum and members.
    function oracleEpoch(uint256 epoch) external view returns (OracleEpoch memory);

    /// @notice Whether `account` is a member of oracle epoch `epoch`.
    function isOracle(uint256 epoch, address account) external view returns (bool);

    /// @notice Number of jobs posted (the latest job id).
    function jobCount() external view returns (uint256);

    /// @notice Number of disputes opened (the latest dispute id).
    function disputeCount() external view returns (uint256);

    /// @notice Escrows + stakes (free and locked) + live bonds + unpaid oracle fees + credits;
    /// equals the contract's balance.
    function totalLiabilities() external view returns (uint256);

    /// @notice Total ETH burned (sent to address(0)).
    function totalBurned() external view returns (uint256);

    /// @notice The owner.
    function owner() external view returns (address);

    /// @notice The proposed owner, zero if none.
    function pendingOwner() external view returns (address);
}
