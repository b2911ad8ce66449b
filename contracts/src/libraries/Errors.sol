// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobStatus, DisputeStatus} from "./Types.sol";

/// @title Errors of the Crucible market
/// @notice Every revert of `CrucibleMarket` is one of these custom errors, with the data needed to
/// tell what was wrong (EIP-6093 style). Off-chain code surfaces them by name.
interface ICrucibleErrors {
    // ---- jobs ----
    /// @notice No job with this id.
    error JobNotFound(uint256 jobId);
    /// @notice The job's (derived) status does not allow this call.
    /// @param status the job's current status as `jobStatus` reports it
    error JobNotInStatus(uint256 jobId, JobStatus status);
    /// @notice The reward (msg.value) is zero or does not fit in 96 bits.
    error InvalidReward(uint256 reward);
    /// @notice The required stake is below the governance minimum.
    error StakeTooLow(uint256 stake, uint256 minStake);
    /// @notice The challenge bond is below the governance minimum.
    error BondTooLow(uint256 bond, uint256 minBond);
    /// @notice The delivery time is outside the governance bounds.
    error DurationOutOfBounds(uint256 duration, uint256 min, uint256 max);
    /// @notice The challenge window is outside the governance bounds.
    error WindowOutOfBounds(uint256 window, uint256 min, uint256 max);
    /// @notice The checkpoint interval k is zero or T is not a positive multiple of k.
    error InvalidSchedule(uint256 interval, uint256 totalSteps);
    /// @notice n = T / k exceeds the governance maximum.
    error TooManySegments(uint256 segments, uint256 maxSegments);
    /// @notice A CID, root or state hash that must be set is zero.
    /// @param field the argument's name (`traceRoot`, `hashes`, `stateCids`, ...)
    error ZeroCommitment(string field);
    /// @notice The dissection arity is outside [2, 16].
    error InvalidArity(uint256 arity);
    /// @notice The bond is below what covers the oracle fee and the provider's defence (§1.7).
    error BondBelowDefenceCost(uint256 bond, uint256 minBond);
    /// @notice The challenge window has closed (now >= windowEnd).
    error ChallengeWindowClosed(uint256 jobId, uint256 windowEnd);
    /// @notice The claim has made progress too recently to be released.
    /// @param releasableAt the first time `releaseJob` works
    error ProgressNotStale(uint256 jobId, uint256 releasableAt);
    /// @notice A reported step is not above the last one or beyond T.
    error InvalidProgressStep(uint256 jobId, uint256 step, uint256 lastStep, uint256 totalSteps);
    /// @notice The caller is not the job's requester.
    error NotRequester(uint256 jobId, address caller);
    /// @notice The caller is not the job's provider (claimant).
    error NotProvider(uint256 jobId, address caller);

    // ---- stake and credits ----
    /// @notice The provider's free stake does not cover the amount.
    error InsufficientFreeStake(address provider, uint256 free, uint256 required);
    /// @notice An amount is zero or would overflow its 96-bit slot.
    error InvalidAmount(uint256 amount);
    /// @notice The account has no credit to withdraw.
    error NoCredit(address account);
    /// @notice An ETH transfer failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice A guarded function was re-entered.
    error Reentrancy();

    // ---- disputes ----
    /// @notice No dispute with this id.
    error DisputeNotFound(uint256 disputeId);
    /// @notice The dispute's status does not allow this call.
    error DisputeNotInStatus(uint256 disputeId, DisputeStatus status);
    /// @notice msg.value is not exactly the job's challenge bond.
    error WrongBond(uint256 sent, uint256 required);
    /// @notice The challenged segment j is not in 0..n-1.
    error SegmentOutOfRange(uint256 jobId, uint256 segment, uint256 segments);
    /// @notice A Merkle proof has the wrong number of siblings (it must equal the tree depth).
    error ProofLengthMismatch(uint256 length, uint256 depth);
    /// @notice A leaf does not verify against the job's trace root.
    error InvalidProof(uint256 jobId, uint256 index);
    /// @notice The caller is not the dispute's challenger.
    error NotChallenger(uint256 disputeId, address caller);
    /// @notice It is the other party's move.
    error NotYourTurn(uint256 disputeId, address caller);
    /// @notice The move's deadline has come; only `timeout` is possible now.
    error MoveOverdue(uint256 disputeId, uint256 deadline);
    /// @notice `timeout` was called before the current deadline.
    error NotTimedOut(uint256 disputeId, uint256 deadline);
    /// @notice A dissection move has the wrong number of points: it must post `expected`
    /// interior hashes and as many state CIDs.
    error WrongPointCount(uint256 disputeId, uint256 hashes, uint256 stateCids, uint256 expected);
    /// @notice The arrays re-sent with `respond` are not the ones the provider posted.
    error PointsMismatch(uint256 disputeId);
    /// @notice The disputed part index is not in 0..parts-1.
    error PartOutOfRange(uint256 disputeId, uint256 index, uint256 parts);
    /// @notice The job was slashed while this dispute was live: it can only be settled now.
    error DisputeSettlesBySlash(uint256 disputeId, uint256 jobId);
    /// @notice `settleDispute` on a dispute whose job was not slashed.
    error JobNotSlashed(uint256 disputeId, uint256 jobId);

    // ---- oracles ----
    /// @notice The caller is not a member of the dispute's oracle epoch.
    error NotOracle(uint256 disputeId, uint256 epoch, address caller);
    /// @notice This oracle already voted on this dispute.
    error AlreadyVoted(uint256 disputeId, address oracle);
    /// @notice The oracle timeout passed; the dispute can only be voided now.
    error VerdictTooLate(uint256 disputeId, uint256 deadline);
    /// @notice `Verdict.None` is not a verdict.
    error InvalidVerdict();
    /// @notice An address appears twice in an oracle set.
    error DuplicateOracle(address oracle);
    /// @notice The oracle set is empty or larger than `max`.
    error InvalidOracleSetSize(uint256 size, uint256 max);
    /// @notice The quorum must be a strict majority of the set: 2 * quorum > size, quorum <= size.
    error InvalidQuorum(uint256 quorum, uint256 oracleCount);
    /// @notice The caller has no unpaid vote for the outcome of this dispute.
    error NoOracleFee(uint256 disputeId, address oracle);

    // ---- governance ----
    /// @notice The caller is not the owner.
    error NotOwner(address caller);
    /// @notice The caller is not the pending owner.
    error NotPendingOwner(address caller);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice A governance parameter is outside its hard-coded bounds.
    /// @param name the `Params` field name
    error ParamOutOfBounds(string name, uint256 value, uint256 min, uint256 max);
}
