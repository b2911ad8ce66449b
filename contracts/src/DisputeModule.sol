// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICrucibleMarket} from "./interfaces/ICrucibleMarket.sol";
import {Job, Params, ProviderInfo, JobStatus, DisputeKind, DisputeStatus, Verdict} from "./libraries/Types.sol";
import {TraceMerkle} from "./libraries/TraceMerkle.sol";
import {MarketCore} from "./MarketCore.sol";

/// @title DisputeModule
/// @notice The part of `ICrucibleMarket` that does not fit in `CrucibleMarket` under the EIP-170
/// code-size limit (24,576 bytes): opening disputes, verdicts, timeouts, settlement, oracle fees
/// and the governance writes (docs/dispute-game.md §3.6). The market creates this module in its
/// constructor and runs these functions by DELEGATECALL: in the market's storage (the layout of
/// `MarketCore`), with the caller's msg.sender and msg.value. The job and stake path and the
/// dissection moves never enter it. Called on the module itself, every function reverts.
contract DisputeModule is MarketCore {
    /// @dev This module's own address: a call whose `address(this)` is not it runs in a market.
    address private immutable _self = address(this);

    /// @notice A module function was called on the module itself, not through a market.
    error NotDelegated();

    modifier onlyDelegated() {
        if (address(this) == _self) revert NotDelegated();
        _;
    }

    // ------------------------------------------------------------------ disputes (see ICrucibleMarket)

    /// @dev `ICrucibleMarket.challenge`, run in the market's storage.
    function challenge(
        uint256 jobId,
        uint256 segment,
        bytes32 hashJ,
        bytes32 hashJ1,
        bytes32[] calldata proofJ,
        bytes32[] calldata proofJ1
    ) external payable onlyDelegated returns (uint256 disputeId) {
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

    /// @dev `ICrucibleMarket.challengeInitialState`, run in the market's storage.
    function challengeInitialState(uint256 jobId, bytes32 initialStateHash, bytes32[] calldata proof)
        external
        payable
        onlyDelegated
        returns (uint256 disputeId)
    {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        if (initialStateHash == 0) revert ZeroCommitment("initialStateHash");
        _checkLeaf(jobId, job, 0, initialStateHash, proof);
        disputeId = _openDispute(jobId, job, DisputeKind.InitialState, 0, 0, 0, initialStateHash);
    }

    /// @dev `ICrucibleMarket.challengeFinalModel`, run in the market's storage.
    function challengeFinalModel(uint256 jobId, bytes32 finalCheckpointHash, bytes32[] calldata proof)
        external
        payable
        onlyDelegated
        returns (uint256 disputeId)
    {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        if (finalCheckpointHash == 0) revert ZeroCommitment("finalCheckpointHash");
        uint64 t = job.totalSteps;
        _checkLeaf(jobId, job, t / job.interval, finalCheckpointHash, proof);
        disputeId = _openDispute(jobId, job, DisputeKind.FinalModel, t, t, finalCheckpointHash, job.finalStateHash);
    }

    /// @dev `ICrucibleMarket.challengeManifest`, run in the market's storage.
    function challengeManifest(uint256 jobId) external payable onlyDelegated returns (uint256 disputeId) {
        Job storage job = _jobs[jobId];
        _checkChallenge(jobId, job);
        disputeId = _openDispute(jobId, job, DisputeKind.Manifest, 0, 0, job.traceRoot, job.finalStateHash);
    }

    /// @dev `ICrucibleMarket.timeout`, run in the market's storage.
    function timeout(uint256 disputeId) external onlyDelegated {
        DisputeSlot storage d = _disputes[disputeId];
        DisputeStatus status = d.status;
        uint256 jobId = _requireLive(disputeId, d, status);
        uint256 deadline = _deadline(d);
        if (block.timestamp < deadline) revert NotTimedOut(disputeId, deadline);

        Job storage job = _jobs[jobId];
        if (status == DisputeStatus.AwaitingOracle) {
            _void(disputeId, d, jobId, job);
        } else if (d.awaitingResponse) {
            emit ICrucibleMarket.DisputeTimedOut(disputeId, jobId, d.challenger);
            _challengerLoses(disputeId, d, jobId, job, 0);
        } else {
            emit ICrucibleMarket.DisputeTimedOut(disputeId, jobId, job.provider);
            _providerLoses(disputeId, d, jobId, job, 0);
        }
    }

    /// @dev `ICrucibleMarket.submitVerdict`, run in the market's storage.
    function submitVerdict(uint256 disputeId, Verdict verdict) external onlyDelegated {
        if (verdict == Verdict.None) revert InvalidVerdict();
        DisputeSlot storage d = _disputes[disputeId];
        uint256 jobId = _requireLive(disputeId, d, DisputeStatus.AwaitingOracle);
        uint256 excluding = _excludingEpoch(d, msg.sender); // §1.6: the job's epoch and the current one
        if (excluding != 0) revert NotOracle(disputeId, excluding, msg.sender);
        uint256 deadline = uint256(d.turnStartedAt) + d.oracleTimeout;
        if (block.timestamp >= deadline) revert VerdictTooLate(disputeId, deadline);
        if (_votes[disputeId][msg.sender] != 0) revert AlreadyVoted(disputeId, msg.sender);

        emit ICrucibleMarket.VerdictSubmitted(disputeId, jobId, msg.sender, verdict, deadline);
        bool correct = verdict == Verdict.ProviderCorrect;
        uint8 votes = (correct ? d.correctVotes : d.wrongVotes) + 1;
        if (correct) d.correctVotes = votes;
        else d.wrongVotes = votes;
        uint8 q = _epochs[d.epoch].quorum; // the job's epoch's quorum: a later set never lowers it
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
            emit ICrucibleMarket.OracleFeePaid(disputeId, jobId, msg.sender, share);
        }
        _burn(fee - share * q); // integer-division dust of the fee
    }

    /// @dev `ICrucibleMarket.settleDispute`, run in the market's storage.
    function settleDispute(uint256 disputeId) external onlyDelegated {
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
        _credit(d.challenger, jobId, (uint256(job.bond) << d.bondLevel) + job.winnerShare);
        emit ICrucibleMarket.DisputeResolved(disputeId, jobId, DisputeStatus.ChallengerWon, job.windowEnd);
    }

    /// @dev `ICrucibleMarket.claimOracleFee`, run in the market's storage.
    function claimOracleFee(uint256 disputeId) external onlyDelegated {
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
        emit ICrucibleMarket.OracleFeePaid(disputeId, jobId, msg.sender, share);
    }

    // ------------------------------------------------------------------ governance

    /// @dev `ICrucibleMarket.setParams`, run in the market's storage.
    function setParams(Params calldata newParams) external onlyDelegated onlyOwner {
        _setParams(newParams);
    }

    /// @dev `ICrucibleMarket.scheduleOracleSet`, run in the market's storage.
    function scheduleOracleSet(address[] calldata members, uint8 newQuorum)
        external
        onlyDelegated
        onlyOwner
        returns (uint256)
    {
        return _scheduleOracleSet(members, newQuorum, block.timestamp + _params[_paramsVersion].oracleSetDelay);
    }

    // ------------------------------------------------------------------ internal: disputes

    function _checkChallenge(uint256 jobId, Job storage job) internal view {
        JobStatus status = _status(job);
        if (status != JobStatus.Submitted && status != JobStatus.Disputed) {
            if (status == JobStatus.None) revert JobNotFound(jobId);
            revert JobNotInStatus(jobId, status);
        }
        uint256 windowEnd = job.windowEnd;
        if (block.timestamp >= windowEnd) revert ChallengeWindowClosed(jobId, windowEnd);
        uint256 bond = _bondNow(job); // §1.5: doubled per level of disputes that ended without a slash
        if (msg.value != bond) revert WrongBond(msg.value, bond);
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
        _liabilities += uint128(msg.value); // msg.value == bondFor(jobId): ETH that exists, < 2^88
        uint24 epoch = job.oracleEpoch; // fixed at claim (§1.6)
        DisputeSlot storage d = _disputes[disputeId];
        d.challenger = msg.sender;
        d.jobId = uint48(jobId); // jobId <= _jobCount, a uint48
        d.kind = kind;
        d.a = a;
        d.b = b;
        d.openedAt = uint40(block.timestamp);
        d.epoch = epoch;
        d.arity = job.arity;
        d.bondLevel = job.bondLevel;
        d.hashA = hashA;
        d.hashB = hashB;
        ++job.liveDisputes; // <= _disputeCount, a uint48 like it
        bool dissecting = kind == DisputeKind.Segment && b - a > 1;
        uint40 deadline = _startClock(d, job, dissecting, b - a);
        emit ICrucibleMarket.DisputeOpened(
            disputeId, jobId, msg.sender, kind, a, b, hashA, hashB, epoch, deadline, msg.value
        );
        if (!dissecting) {
            emit ICrucibleMarket.DisputeReadyForOracle(disputeId, jobId, kind, a, hashA, hashB, 0, epoch, deadline);
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

    /// @dev No quorum in time (§1.3): the void fee, max(bond * voidFeeBps / BPS, the provider's
    /// dispute cost), to the provider, the rest of the bond back; the window reopens.
    function _void(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job) internal {
        d.status = DisputeStatus.Voided;
        Params storage p = _params[job.paramsVersion];
        uint256 bond = uint256(job.bond) << d.bondLevel;
        uint256 voidFee = _voidFee(p, job, bond);
        if (bond != voidFee) _credit(d.challenger, jobId, bond - voidFee);
        _credit(job.provider, jobId, voidFee); // >= disputeCost > 0
        emit ICrucibleMarket.DisputeVoided(disputeId, jobId, bond - voidFee, voidFee);
        uint256 windowEnd = _reopen(jobId, job, p, d);
        emit ICrucibleMarket.DisputeResolved(disputeId, jobId, DisputeStatus.Voided, windowEnd);
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
        uint48 winners = job.liveDisputes;
        uint256 pool;
        uint256 toRequester;
        uint256 share;
        uint256 burned;
        {
            uint256 net = stake - fee; // oracleFee <= minStake <= stake (bounds)
            Params storage p = _params[job.paramsVersion];
            pool = (net * p.challengerShareBps) / BPS;
            toRequester = (net * p.requesterShareBps) / BPS;
            share = pool / winners;
            burned = net - toRequester - share * winners; // pool dust is burned
        }
        job.winners = winners;
        job.winnerShare = uint96(share); // <= stake
        job.liveDisputes = winners - 1;

        {
            ProviderInfo storage info = _providers[provider];
            info.locked -= uint96(stake);
            ++info.slashed;
        }
        _credit(d.challenger, jobId, (uint256(job.bond) << d.bondLevel) + share);
        _credit(job.requester, jobId, uint256(job.reward) + toRequester);
        emit ICrucibleMarket.ProviderSlashed(jobId, disputeId, provider, stake, fee, pool, winners, toRequester, burned);
        emit ICrucibleMarket.DisputeResolved(disputeId, jobId, DisputeStatus.ChallengerWon, job.windowEnd);
        _burn(burned);
    }

    /// @dev Challenger wrong (§2): `fee` (0 on a timeout) to the oracles, providerBondShareBps of
    /// the rest to the provider, the rest burned; the window reopens (§1.3).
    function _challengerLoses(uint256 disputeId, DisputeSlot storage d, uint256 jobId, Job storage job, uint256 fee)
        internal
    {
        d.status = DisputeStatus.ProviderWon;
        Params storage p = _params[job.paramsVersion];
        uint256 bond = uint256(job.bond) << d.bondLevel;
        uint256 toProvider = ((bond - fee) * p.providerBondShareBps) / BPS; // oracleFee <= minBond <= bond
        uint256 burned = bond - fee - toProvider;
        if (toProvider != 0) _credit(job.provider, jobId, toProvider);
        emit ICrucibleMarket.BondForfeited(disputeId, jobId, d.challenger, bond, fee, toProvider, burned);
        uint256 windowEnd = _reopen(jobId, job, p, d);
        emit ICrucibleMarket.DisputeResolved(disputeId, jobId, DisputeStatus.ProviderWon, windowEnd);
        _burn(burned);
    }

    /// @dev Dispute `d` ended without a slash now: windowEnd = max(windowEnd, now + reactionTime)
    /// (§1.3), and the job's bond level is at least d's level + 1 (§1.5): disputes opened at one
    /// level in parallel raise it once, a chain of them one level per dispute that bought delay.
    /// `JobResumed` once no dispute is left live.
    function _reopen(uint256 jobId, Job storage job, Params storage p, DisputeSlot storage d)
        internal
        returns (uint256 windowEnd)
    {
        uint48 live = job.liveDisputes - 1;
        job.liveDisputes = live;
        uint8 level = d.bondLevel < MAX_BOND_LEVEL ? d.bondLevel + 1 : MAX_BOND_LEVEL;
        if (level > job.bondLevel) job.bondLevel = level;
        windowEnd = job.windowEnd;
        uint256 reopened = block.timestamp + p.reactionTime;
        if (reopened > windowEnd) {
            windowEnd = reopened;
            job.windowEnd = uint40(reopened); // now + a bounded time fits 40 bits
        }
        if (live == 0) emit ICrucibleMarket.JobResumed(jobId, windowEnd);
    }
}
