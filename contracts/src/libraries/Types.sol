// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Lifecycle of a job (docs/design.md §6; docs/dispute-game.md §1.1).
/// @dev `Expired`, `Disputed` and `Accepted` are never stored: `jobStatus` derives them (a
/// `Claimed` job past its deadline is `Expired`; a `Submitted` job with live disputes is
/// `Disputed`; a `Submitted` job with none whose window has passed is `Accepted`), the way
/// OpenZeppelin's `Governor.state()` derives proposal states.
enum JobStatus {
    None, // no such job
    Open, // escrowed, waiting for a provider
    Claimed, // a provider locked its stake and is training
    Expired, // derived: claimed, deadline passed without a result; anyone may `expireJob`
    Submitted, // result on chain, challenge window running, no live dispute
    Disputed, // derived: `liveDisputes > 0`; challenges still open while now < windowEnd
    Accepted, // derived: window passed and no live dispute; anyone may `finalizeJob`
    Finalized, // provider paid, stake unlocked (terminal)
    Slashed, // a dispute proved the provider wrong (terminal; the requester may re-post)
    Cancelled, // requester withdrew the job while Open (terminal)
    Refunded // expired or released with `refundOnExpiry`: escrow returned to the requester (terminal)
}

/// @notice What a dispute contests (docs/design.md §7).
enum DisputeKind {
    None,
    Segment, // a step interval [a, b] narrowed by k-ary dissection down to one step
    InitialState, // C_0 is not the spec's S_0; the oracle decides directly
    FinalModel, // the final-model CID does not hold the parameters of C_n; the oracle decides directly
    Manifest // the manifest behind the submitted CID is unavailable or does not match the commitments on
    // chain, so nobody can build the proofs the other kinds need; the oracle decides directly
}

/// @notice Lifecycle of a dispute (docs/dispute-game.md §1.4, §2).
enum DisputeStatus {
    None, // no such dispute
    Dissecting, // b - a > 1: provider posts interior hashes, challenger picks the part it disputes
    AwaitingOracle, // one step left (b = a + 1) or a direct kind: the dispute's oracle epoch votes
    ChallengerWon, // provider wrong (verdict, provider's clock, or shared win via `settleDispute`)
    ProviderWon, // challenger wrong (verdict or challenger's clock): bond forfeited, window reopens
    Voided // no oracle quorum in time: bond minus the void fee returned, window reopens
}

/// @notice An oracle's verdict on the single disputed step (or on a direct-kind claim).
/// @dev `ProviderDataUnavailable` counts as `ProviderWrong` (docs/dispute-game.md §1.3). `None`
/// is never a valid verdict (guards against defaults).
enum Verdict {
    None,
    ProviderCorrect,
    ProviderWrong,
    ProviderDataUnavailable
}

/// @notice The terms a requester posts a job with (`postJob`).
struct JobTerms {
    bytes32 specCid; // sha256 digest of the job spec's CIDv0 (non-zero)
    uint96 stake; // stake a provider locks to claim; >= max(minStake, reward * minStakeBps / BPS)
    uint96 bond; // exact bond a challenger sends; >= max(minBond, minBondFor(interval, arity))
    uint32 duration; // seconds from claim to the submission deadline (within params bounds)
    uint32 challengeWindow; // seconds of challenge window after submission (within params bounds)
    uint32 interval; // checkpoint interval k (> 0)
    uint64 totalSteps; // T, a positive multiple of k with T / k <= maxSegments
    uint8 arity; // dissection arity in [2, 16] (2 = bisection)
    bool refundOnExpiry; // on expiry or release: refund the escrow (true) or reopen the job (false)
}

/// @notice Governance parameters. Every job records the version in force when it was posted and
/// is governed by it until it ends (docs/dispute-game.md §1.6). Hard bounds are in `CrucibleMarket`.
/// @dev Four storage slots. Times in seconds, shares in basis points (1/10000), amounts in wei.
struct Params {
    uint32 minChallengeWindow; // shortest challenge window a requester may choose
    uint32 maxChallengeWindow; // longest challenge window
    uint32 minDuration; // shortest delivery time (claim -> submit)
    uint32 maxDuration; // longest delivery time
    uint32 clockBudget; // chess clock: each side's total time for a dispute's dissection (§1.4)
    uint32 moveExtension; // each turn gets at least this much (>= MIN_MOVE_TIME) (§1.4)
    uint32 oracleTimeout; // time the dispute's oracle epoch has to reach quorum
    uint32 reactionTime; // a dispute ending without a slash reopens the window this long (§1.3)
    uint32 progressTimeout; // a claim without progress this long may be released (§1.8)
    uint32 oracleSetDelay; // delay before a scheduled oracle set takes effect; > every version's Dmax (§1.6)
    uint32 maxSegments; // largest n = T / k
    uint16 challengerShareBps; // challenger pool's share of (S - F); with requesterShareBps <= 2000 (§1.2)
    uint16 requesterShareBps; // requester's share of (S - F)
    uint16 providerBondShareBps; // provider's share of a forfeited bond after the oracle fee (§2)
    uint16 expirySlashBps; // share of the stake to the requester on expiry or release (§1.8)
    uint16 voidFeeBps; // share of the bond a voided dispute's challenger pays the provider (§1.3)
    uint16 minStakeBps; // stake >= reward * minStakeBps / BPS, minStakeBps >= 10000 (§1.8)
    uint16 carryBps; // carrying cost of a delayed payout: bps per year of reward + stake; sizes the
    // least bond and void fee so that a dispute pays for the delay it can buy (§1.5)
    uint96 minStake; // smallest stake (> 0)
    uint96 minBond; // smallest bond (> 0)
    uint96 oracleFee; // paid per verdict by the loser to the oracles that voted for the outcome (§1.7)
    uint64 refGasPrice; // gas price (wei) at which a false challenge's bond covers the defence (§1.7)
}

/// @notice A job, as stored and as `getJob` returns it. What the contract never reads (the
/// manifest and final-model CIDs) is in the `ResultSubmitted` event only.
/// @dev Slots 0 and 3 are the ones `claimJob` writes, slot 0 the one `jobStatus` reads: the
/// fields are packed so that the claim records the oracle epoch in a slot it writes anyway. Each
/// narrow field's bound is checked where it is set (docs/dispute-game.md §3.7).
struct Job {
    // slot 0: the hot slot
    address provider; // zero while Open
    JobStatus status; // stored status (never Expired, Disputed or Accepted; see `jobStatus`)
    uint40 windowEnd; // challenges allowed while now < windowEnd (set at submission, reopened, §1.3)
    uint48 liveDisputes; // disputes not yet resolved or settled (§1.1); <= disputeCount, a uint48
    // slot 1
    address requester;
    uint88 reward; // escrowed; postJob refuses 2^88 wei and more (3.09e8 ETH, more than exists)
    bool refundOnExpiry;
    // slot 2
    uint96 stake; // required stake, locked from the provider's free stake while claimed
    uint96 bond; // base bond: a dispute opened at bond level L posts bond << L (`bondFor`, §1.5)
    uint56 totalSteps; // T = n * k < 2^52 (k < 2^32, n <= MAX_SEGMENTS = 2^20)
    uint8 arity; // dissection arity
    // slot 3
    uint32 interval; // k; n = T / k segments, leaves 0..n
    uint32 duration; // seconds from claim to the submission deadline
    uint24 challengeWindow; // seconds of challenge window after submission (<= MAX_WINDOW < 2^24)
    uint24 paramsVersion; // governance parameters this job is bound to
    uint24 oracleEpoch; // oracle epoch effective at `claimJob`: its members and quorum decide every
    // dispute on the job, each vote from a member of the epoch effective at the vote too (§1.6)
    uint40 deadline; // submission deadline (inclusive) while Claimed
    uint40 submittedAt; // time of submission (zero before)
    uint40 lastProgressAt; // claim time or the latest `reportProgress` (§1.8)
    // slot 4
    uint96 winnerShare; // once Slashed: each winning challenger's part of the pool (§1.1)
    uint40 payoutBound; // latest end of an opened dispute + reactionTime (0 before any); see `payoutBound` (§1.5)
    uint64 progressStep; // the latest reported step
    uint48 winners; // once Slashed: disputes live at the slash (each wins); <= liveDisputes
    uint8 bondLevel; // a dispute opened now posts bond << bondLevel; raised to L + 1 when a dispute
    // opened at level L ends without a slash, at most MAX_BOND_LEVEL (§1.5)
    // words
    bytes32 specCid; // sha256 digest of the job spec's CIDv0
    bytes32 traceRoot; // Merkle root over leaves 0..n (zero until submitted)
    bytes32 finalStateHash; // stateHash of the final training state (zero until submitted)
}

/// @notice A dispute, as stored and as `getDispute` returns it.
/// @dev Segment: both sides agree on `hashA` = H(a), the challenger rejects `hashB` = H(b).
/// `stateCidA` is the CID of S_a once `a` moved off a checkpoint by a `respond`; zero means S_a is
/// the manifest's checkpoint a / k. While `awaitingResponse`, `pointsHash` =
/// keccak256(abi.encodePacked(hashes, stateCids)) of the provider's last `dissect` (the arrays
/// themselves are in `DisputeDissected`). InitialState: a = b = 0, `hashB` = the committed C_0 hash,
/// `hashA` = 0. FinalModel: a = b = T, `hashA` = the committed C_n hash, `hashB` = the final
/// stateHash. Manifest: a = b = 0, `hashA` = the trace root, `hashB` = the final stateHash.
struct Dispute {
    // slot 0
    address challenger;
    uint48 jobId;
    DisputeKind kind;
    DisputeStatus status;
    uint8 correctVotes; // ProviderCorrect verdicts
    uint8 wrongVotes; // ProviderWrong + ProviderDataUnavailable verdicts
    bool awaitingResponse; // true: challenger's turn (respond); false: provider's (dissect)
    // slot 1
    uint64 a;
    uint64 b;
    uint40 deadline; // exclusive: the current turn or the oracle vote must happen before it;
    // `timeout` works from it on. Derived from the turn state; 0 once resolved or settled.
    uint40 openedAt;
    uint24 epoch; // the job's oracle epoch (fixed at claim): its quorum decides, and only its members
    // that are also members of the epoch effective at the vote count (§1.6)
    // slot 2: chess clocks (§1.4)
    uint32 providerClockUsed;
    uint32 challengerClockUsed;
    uint40 turnStartedAt;
    uint32 clockBudget;
    uint32 moveExtension;
    // words
    bytes32 hashA;
    bytes32 hashB;
    bytes32 stateCidA;
    bytes32 pointsHash;
    uint256 bond; // the bond its challenger posted (the job's bond << the bond level at opening); a
    // win or a void pays back exactly this
}

/// @notice An oracle epoch (docs/dispute-game.md §1.6).
struct OracleEpoch {
    uint40 effectiveAt; // jobs claimed from this time on (until the next epoch) record this epoch; an
    // epoch replaced while pending (`OracleSetScheduled.previous`) never takes effect
    uint8 quorum; // agreeing verdicts that decide; a strict majority of `members`
    address[] members;
}

/// @notice A provider's stake and reputation.
struct ProviderInfo {
    uint96 free; // withdrawable, claimable
    uint96 locked; // locked by claimed jobs
    uint64 finalized; // jobs finalized
    uint64 slashed; // disputes lost
    uint64 expired; // claims expired or released
}
