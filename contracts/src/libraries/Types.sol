// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Lifecycle of a job (DESIGN.md section 5).
/// @dev `Expired` and `Accepted` are never stored: `jobStatus` derives them from timestamps
/// (a `Claimed` job past its deadline is `Expired`; a `Submitted` job whose challenge window has
/// passed is `Accepted`), the way OpenZeppelin's `Governor.state()` derives proposal states.
enum JobStatus {
    None, // no such job
    Open, // escrowed, waiting for a provider
    Claimed, // a provider locked its stake and is training
    Expired, // derived: claimed, deadline passed without a result; anyone may `expireJob`
    Submitted, // result on chain, challenge window running
    Disputed, // a dispute is live; the challenge window is paused
    Accepted, // derived: window passed without a live dispute; anyone may `finalizeJob`
    Finalized, // provider paid, stake unlocked (terminal)
    Slashed, // provider lost a dispute (terminal; the requester may re-post)
    Cancelled, // requester withdrew the job while Open (terminal)
    Refunded // expired with `refundOnExpiry`: escrow returned to the requester (terminal)
}

/// @notice What a dispute contests (DESIGN.md section 6).
enum DisputeKind {
    None,
    Segment, // a step interval [a, b] narrowed by bisection down to one step
    InitialState, // C_0 is not the spec's S_0; the oracle decides directly
    FinalModel, // the final-model CID does not hold the parameters of C_n; the oracle decides directly
    Manifest // the manifest behind the submitted CID is unavailable or does not match the commitments on
    // chain, so nobody can build the proofs the other kinds need; the oracle decides directly
}

/// @notice Lifecycle of a dispute.
enum DisputeStatus {
    None, // no such dispute
    Bisecting, // b - a > 1: provider posts H(m), challenger agrees or disagrees
    AwaitingOracle, // one step left (b = a + 1) or a direct kind: registered oracles vote
    ChallengerWon, // provider wrong (by verdict or by missing a move): provider slashed
    ProviderWon, // challenger wrong (by verdict or by missing a move): bond forfeited, window resumes
    Voided // no oracle quorum in time: bond returned, nobody slashed, window resumes
}

/// @notice An oracle's verdict on the single disputed step (or on a direct-kind claim).
/// @dev `ProviderDataUnavailable` counts as `ProviderWrong`: keeping the trace available during
/// the window is the provider's duty. `None` is never a valid verdict (guards against defaults).
enum Verdict {
    None,
    ProviderCorrect,
    ProviderWrong,
    ProviderDataUnavailable
}

/// @notice Governance parameters. Every job records the version in force when it was posted and
/// is governed by that version until it ends, so the owner cannot change the economics or the
/// clocks of a running job. Bounds on each field are hard-coded in `CrucibleMarket`.
/// @dev Two storage slots. Times are in seconds, shares in basis points (1/10000).
struct Params {
    /// Shortest challenge window a requester may choose. Suggested devnet: 10 s.
    uint32 minChallengeWindow;
    /// Longest challenge window a requester may choose. Suggested devnet: 1 day.
    uint32 maxChallengeWindow;
    /// Shortest delivery time (claim -> submit) a requester may choose. Suggested devnet: 10 s.
    uint32 minDuration;
    /// Longest delivery time a requester may choose. Suggested devnet: 7 days.
    uint32 maxDuration;
    /// Time each party has for its next bisection move. Suggested devnet: 20 s.
    uint32 moveTimeout;
    /// Time the oracles have to reach quorum once a dispute is ready. Suggested devnet: 60 s.
    uint32 oracleTimeout;
    /// Largest number of segments n = T / k a job may have. Suggested: 65536.
    uint32 maxSegments;
    /// Share of a slashed stake credited to the winning challenger (on top of its bond). Suggested: 5000.
    uint16 challengerShareBps;
    /// Share of a slashed stake credited to the requester (on top of its escrow). Suggested: 3000.
    uint16 requesterShareBps;
    /// Share of a forfeited challenger bond credited to the provider; the rest is burned. Suggested: 5000.
    uint16 providerBondShareBps;
    /// Share of the locked stake credited to the requester when a claim expires; the rest returns
    /// to the provider's free stake. Suggested: 2000.
    uint16 expirySlashBps;
    /// Smallest required stake a job may set (wei). Suggested devnet: 0.01 ether.
    uint96 minStake;
    /// Smallest challenge bond a job may set (wei, at least 1). Suggested devnet: 0.001 ether.
    uint96 minBond;
}

/// @notice A job, as stored: four packed slots plus three words. What the contract's logic never
/// reads (the manifest CID and the final-model CID) is in the `ResultSubmitted` event only.
struct Job {
    // slot 0: the hot slot, touched by every transition
    address provider; // zero while Open
    JobStatus status; // stored status (never Expired or Accepted; see `jobStatus`)
    uint40 deadline; // Claimed: submission deadline (inclusive); Submitted/Disputed and after: end
    // of the challenge window (exclusive), extended by disputes that did not slash
    uint48 disputeId; // latest dispute on this job (live while status is Disputed)
    // slot 1
    address requester;
    uint96 reward; // escrowed
    // slot 2
    uint96 stake; // required stake, locked from the provider's free stake while claimed
    uint96 bond; // exact value a challenger must send
    uint64 totalSteps; // T
    // slot 3
    uint32 interval; // k; n = T / k segments, leaves 0..n
    uint32 duration; // seconds from claim to the submission deadline
    uint32 challengeWindow; // seconds of challenge window after submission (paused while disputed)
    uint32 paramsVersion; // governance parameters this job is bound to
    bool refundOnExpiry; // on expiry: refund the escrow (true) or reopen the job (false)
    // words
    bytes32 specCid; // sha256 digest of the job spec's CIDv0
    bytes32 traceRoot; // Merkle root over leaves 0..n (zero until submitted)
    bytes32 finalStateHash; // stateHash of the final training state (zero until submitted)
}

/// @notice A dispute over a submitted result, as `getDispute` reports it.
/// @dev For Segment disputes both parties agree on `hashA` = H(a) and the challenger rejects
/// `hashB` = H(b). `stateCidA` is the CID of S_a once `a` was fixed by an agreed bisection move;
/// zero means `a` is the checkpoint step it started at and S_a's CID is in the job's manifest
/// (checkpoint a / k). `midHash`/`midStateCid` are the provider's pending claim while
/// `awaitingResponse` (zero otherwise).
/// InitialState: a = b = 0, `hashB` = the committed C_0 hash (leaf 0), `hashA` = 0.
/// FinalModel: a = b = T, `hashA` = the committed C_n hash (leaf n), `hashB` = the final stateHash.
/// Manifest: a = b = 0, `hashA` = the committed trace root, `hashB` = the final stateHash; the
/// manifest CID to fetch is the one in the job's latest `ResultSubmitted` event.
struct Dispute {
    address challenger;
    uint256 jobId;
    DisputeKind kind;
    DisputeStatus status;
    uint256 correctVotes; // ProviderCorrect verdicts
    uint256 wrongVotes; // ProviderWrong + ProviderDataUnavailable verdicts
    bool awaitingResponse; // true: challenger's turn to respond; false: provider's turn to bisect
    uint256 a;
    uint256 b;
    uint256 deadline; // current clock (inclusive): next move while Bisecting, oracle quorum while
    // AwaitingOracle; the time of resolution once resolved
    uint256 openedAt; // when the dispute opened (the window pause starts here)
    bytes32 hashA;
    bytes32 hashB;
    bytes32 midHash;
    bytes32 midStateCid;
    bytes32 stateCidA;
}

/// @notice A provider's stake and reputation.
struct ProviderInfo {
    uint96 free; // withdrawable, claimable
    uint96 locked; // locked by claimed jobs
    uint64 finalized; // jobs finalized
    uint64 slashed; // disputes lost
    uint64 expired; // claims expired
}
