// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICrucibleMarket} from "./interfaces/ICrucibleMarket.sol";
import {ICrucibleErrors} from "./libraries/Errors.sol";
import {Job, Params, ProviderInfo, JobStatus, DisputeKind, DisputeStatus} from "./libraries/Types.sol";

/// @title MarketCore
/// @notice The storage layout, hard bounds and shared internals of the Crucible market. Both
/// `CrucibleMarket` and its `DisputeModule` (run by DELEGATECALL in the market's storage) inherit
/// it, so they agree on every slot: add state only here, never in either contract.
/// @dev Accounting: `_liabilities` is the sum of escrows, stakes (free and locked), live bonds,
/// unpaid oracle fees and credits. Moves between those buckets leave it unchanged, so it changes
/// only where ETH enters (post, deposit, challenge) or leaves (withdrawals, burns). Burned wei is
/// sent to address(0) (no code, so no re-entry) as the last step of a settlement. Only
/// `withdrawStake` and `withdrawCredit` send ETH to arbitrary addresses: both debit first, then
/// transfer, under a transient-storage reentrancy guard.
abstract contract MarketCore is ICrucibleErrors {
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
    /// @notice carryBps bounds (§1.5): a delayed payout costs its provider at least 1% a year of
    /// reward + stake, at most 100%.
    uint256 public constant MIN_CARRY_BPS = 100;
    uint256 public constant MAX_CARRY_BPS = 10_000;
    /// @notice The year carryBps is counted over.
    uint256 public constant YEAR = 365 days;
    /// @notice Highest bond level (§1.5): a dispute opened at level L that ends without a slash
    /// raises the job to L + 1, so each span of delay doubles the bond, up to bond << 16; past it
    /// every further dispute still pays at least the carrying cost of the delay it buys.
    uint8 public constant MAX_BOND_LEVEL = 16;
    /// @notice defenceGas = DEFENCE_BASE_GAS + rounds * (DEFENCE_MOVE_GAS + (arity - 1) *
    /// DEFENCE_POINT_GAS): every transaction an honest provider sends in a false segment dispute,
    /// measured by `forge test --match-contract GasTest` as whole transactions, plus 20% (§1.7,
    /// §3.4; asserted there for k = 2 .. 4096 and every arity). Base: the `timeout` it calls to end
    /// a void (118,623: two fresh credits) or the challenger's silence, its `withdrawCredit`
    /// (36,183) and the first dissect's fresh points slot (17,088). Per round: a dissect of p
    /// points, 47,366 + 1,767 * p.
    uint256 public constant DEFENCE_BASE_GAS = 207_000;
    uint256 public constant DEFENCE_MOVE_GAS = 57_000;
    uint256 public constant DEFENCE_POINT_GAS = 2_200;

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
        uint24 epoch; // the job's oracle epoch
        uint32 clockBudget;
        uint32 moveExtension;
        uint32 oracleTimeout;
        uint8 arity; // the job's, so that a move reads no job slot but the hot one
        uint8 bondLevel; // the job's bond level at opening: this dispute's bond is the job's bond << it
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

    // slot 0: read by post and challenge, written by every ETH inflow and outflow. Counters
    // (§3.7): a job and a dispute each cost a transaction of more than 60,000 gas, so 2^48 of
    // them (1.7e19 gas, 5,000 years of a 100 Mgas/s chain) are out of reach; the two governance
    // counters are the owner's and refuse (ParamOutOfBounds) past 2^24 - 1.
    uint48 internal _jobCount;
    uint48 internal _disputeCount;
    uint24 internal _paramsVersion;
    uint128 internal _liabilities;
    // slot 1: the oracle epochs in one read (§1.6): at most one is pending, so the effective one is
    // the latest once its time has come, else the one effective when it was scheduled
    uint128 internal _totalBurned;
    uint24 internal _latestEpoch;
    uint32 internal _maxDisputeBound;
    uint40 internal _latestEffectiveAt;
    uint24 internal _previousEpoch;
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

    function _minStake(Params storage p, uint256 reward) internal view returns (uint256) {
        uint256 scaled = (reward * p.minStakeBps) / BPS;
        return scaled > p.minStake ? scaled : p.minStake;
    }

    /// @dev What one false segment dispute costs the honest provider of a job whose reward +
    /// stake is `locked` (§1.5, §1.7): its defence gas at refGasPrice plus the carrying cost of
    /// `locked` over the longest delay one dispute buys, Dmax + reactionTime, at carryBps a year
    /// (rounded up). The least bond's forfeit share and every void fee pay at least this.
    function _disputeCost(Params storage p, uint256 locked, uint256 interval, uint256 arity)
        internal
        view
        returns (uint256)
    {
        uint256 rounds = _roundsFor(interval, arity); // once: the span and the gas both need it
        uint256 span = 2 * (uint256(p.clockBudget) + rounds * p.moveExtension) + p.oracleTimeout + p.reactionTime;
        uint256 carry = (locked * p.carryBps * span + BPS * YEAR - 1) / (BPS * YEAR); // < 2^97 * 2^14 * 2^24
        uint256 gas = DEFENCE_BASE_GAS + rounds * (DEFENCE_MOVE_GAS + (arity - 1) * DEFENCE_POINT_GAS);
        return gas * p.refGasPrice + carry;
    }

    /// @dev (bond - oracleFee) * providerBondShareBps / BPS >= disputeCost (§1.7), at least minBond.
    function _minBond(Params storage p, uint256 locked, uint256 interval, uint256 arity)
        internal
        view
        returns (uint256)
    {
        uint256 share = p.providerBondShareBps;
        uint256 bond = p.oracleFee + (_disputeCost(p, locked, interval, arity) * BPS + share - 1) / share;
        return bond > p.minBond ? bond : p.minBond;
    }

    /// @dev What a void of a dispute with bond `bond` on `job` pays its provider (§1.3):
    /// max(bond * voidFeeBps / BPS, disputeCost), never more than the bond. The job's bond is
    /// >= minBond >= disputeCost, so the cap binds only on bounds no job reaches.
    function _voidFee(Params storage p, Job storage job, uint256 bond) internal view returns (uint256 fee) {
        fee = (bond * p.voidFeeBps) / BPS;
        uint256 cost = _disputeCost(p, uint256(job.reward) + job.stake, job.interval, job.arity);
        if (cost > fee) fee = cost;
        if (fee > bond) fee = bond;
    }

    /// @dev The bond a dispute opened on `job` now must post: the job's bond << its bond level (§1.5).
    function _bondNow(Job storage job) internal view returns (uint256) {
        return uint256(job.bond) << job.bondLevel; // < 2^(96 + 16)
    }

    /// @dev Dmax = 2 * (clockBudget + rounds * moveExtension) + oracleTimeout (§1.4).
    function _segmentBound(Params storage p, uint256 interval, uint256 arity) internal view returns (uint256) {
        return 2 * (uint256(p.clockBudget) + _roundsFor(interval, arity) * p.moveExtension) + p.oracleTimeout;
    }

    /// @dev Dissection rounds for a segment of `interval` steps: ceil(log_arity(interval)) (§1.4).
    function _roundsFor(uint256 interval, uint256 arity) internal pure returns (uint256 rounds) {
        uint256 reach = 1;
        while (reach < interval) {
            reach *= arity;
            ++rounds;
        }
    }

    /// @dev Gas an honest provider spends defending one segment dispute (§1.7).
    function _defenceGas(uint256 interval, uint256 arity) internal pure returns (uint256) {
        return DEFENCE_BASE_GAS + _roundsFor(interval, arity) * (DEFENCE_MOVE_GAS + (arity - 1) * DEFENCE_POINT_GAS);
    }

    // ------------------------------------------------------------------ internal: disputes

    /// @dev Parts of a dissection round over `len` > 1 steps: min(arity, len) (§1.4).
    function _parts(uint256 len, uint256 arity) internal pure returns (uint256) {
        return len < arity ? len : arity;
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

    /// @dev The oracle epoch effective now, in one storage read: at most one epoch is pending
    /// (scheduling replaces it), so it is the latest once its time has come, else the epoch that
    /// was effective when the latest was scheduled (§1.6).
    function _currentEpoch() internal view returns (uint24) {
        return _latestEffectiveAt <= block.timestamp ? _latestEpoch : _previousEpoch;
    }

    /// @dev Whether `account`'s vote counts on dispute `d`: a member of the job's epoch (fixed at
    /// claim, so a later set adds no voter) and of the epoch effective now (so a removal takes
    /// effect for every job once it is effective) (§1.6). The epoch that excludes it, 0 if none.
    function _excludingEpoch(DisputeSlot storage d, address account) internal view returns (uint256) {
        uint256 epoch = d.epoch;
        if (!_isMember[epoch][account]) return epoch;
        uint256 current = _currentEpoch();
        if (current != epoch && !_isMember[current][account]) return current;
        return 0;
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

    // ------------------------------------------------------------------ internal: money

    /// @dev Moves `amount` from another bucket of the liabilities into `account`'s credit.
    function _credit(address account, uint256 jobId, uint256 amount) internal {
        _credits[account] += amount;
        emit ICrucibleMarket.Credited(account, jobId, amount);
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
        _checkBounds("carryBps", p.carryBps, MIN_CARRY_BPS, MAX_CARRY_BPS);
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
        uint256 version = uint256(_paramsVersion) + 1;
        _checkBounds("paramsVersion", version, 1, type(uint24).max);
        _paramsVersion = uint24(version);
        _params[version] = p;
        emit ICrucibleMarket.ParamsUpdated(version, p);
    }

    function _checkBounds(string memory name, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParamOutOfBounds(name, value, min, max);
    }

    /// @dev Epoch e+1 (§1.6): a strict-majority quorum, no duplicates, no zero address. It replaces
    /// an epoch still pending (which then never takes effect): the epoch effective now stays so
    /// until `effectiveAt`, so at most one epoch is ever pending and `_currentEpoch` needs no loop.
    function _scheduleOracleSet(address[] memory members, uint8 newQuorum, uint256 effectiveAt)
        internal
        returns (uint256 epoch)
    {
        uint256 size = members.length;
        if (size == 0 || size > MAX_ORACLES) revert InvalidOracleSetSize(size, MAX_ORACLES);
        if (newQuorum > size || 2 * uint256(newQuorum) <= size) revert InvalidQuorum(newQuorum, size);
        uint24 previous = _currentEpoch(); // 0 before the constructor's epoch 1
        epoch = uint256(_latestEpoch) + 1;
        _checkBounds("oracleEpoch", epoch, 1, type(uint24).max);
        _latestEpoch = uint24(epoch);
        _latestEffectiveAt = uint40(effectiveAt); // now + <= 400 days fits 40 bits
        _previousEpoch = previous;
        for (uint256 i; i < size; ++i) {
            address m = members[i];
            if (m == address(0)) revert ZeroAddress();
            if (_isMember[epoch][m]) revert DuplicateOracle(m);
            _isMember[epoch][m] = true;
        }
        _epochMembers[epoch] = members;
        _epochs[epoch] = EpochSlot(uint40(effectiveAt), newQuorum);
        emit ICrucibleMarket.OracleSetScheduled(epoch, members, newQuorum, effectiveAt, previous);
    }
}
