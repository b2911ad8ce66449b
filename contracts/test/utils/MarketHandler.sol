// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./Test.sol";
import {MockStepper} from "./MockStepper.sol";
import {CrucibleMarket} from "../../src/CrucibleMarket.sol";
import {Job, JobTerms, Dispute, JobStatus, DisputeStatus, Verdict, ProviderInfo} from "../../src/libraries/Types.sol";

/// @notice Random actors for the invariant run: requesters post and cancel, providers stake, claim,
/// submit honest or forged traces and defend (k-ary dissection), four challengers open concurrent
/// disputes on the same jobs (segments or manifests, at the bond each job asks now) and respond
/// truthfully or not, oracles vote (truthfully or not) and claim fees, the owner (this handler)
/// rotates the oracle set (3 of 4, replacing a pending set), anyone finalizes, expires, times out,
/// settles and withdraws, and time passes. A vote from an oracle outside the job's epoch or the
/// current one must revert (docs/dispute-game.md §1.6).
/// Ghost variables track every wei in and out and every payout.
contract MarketHandler is Test {
    using MockStepper for MockStepper.Trace;

    CrucibleMarket public immutable market;
    address[] public requesters;
    address[] public providers;
    address[] public challengers;
    address[] public oracles;
    address[] public everyone;

    uint256 public ghostIn;
    uint256 public ghostOut;
    uint256 public ghostDeposited;
    uint256 public ghostStakeWithdrawn;
    mapping(uint256 jobId => uint256) public payouts; // finalize or slash, at most one per job
    mapping(uint256 jobId => uint256) public slashedAmount;
    mapping(uint256 jobId => bool) public everFinalized;
    mapping(uint256 jobId => MockStepper.Trace) internal traces;
    mapping(address provider => uint256) public deposited;
    uint256[] public jobIds;
    /// @dev Successful calls per action, to check the run actually reaches every state.
    mapping(bytes4 selector => uint256) public hits;
    uint256[] public disputeIds;
    /// @dev Payouts per dispute as the winner (ChallengerWon), at most one.
    mapping(uint256 disputeId => uint256) public disputePayouts;
    mapping(uint256 disputeId => mapping(address oracle => bool wrong)) internal votedWrong;
    mapping(uint256 disputeId => bytes32[]) internal postedHashes;
    mapping(uint256 disputeId => bytes32[]) internal postedCids;
    bytes32 internal constant SEED = keccak256("invariant");

    constructor(CrucibleMarket m, address[] memory os) {
        market = m;
        oracles = os;
        for (uint256 i; i < 3; ++i) {
            requesters.push(makeAddr(string.concat("req", vm.toString(i))));
            providers.push(makeAddr(string.concat("prov", vm.toString(i))));
            everyone.push(requesters[i]);
            everyone.push(providers[i]);
        }
        for (uint256 i; i < 4; ++i) {
            challengers.push(makeAddr(string.concat("chal", vm.toString(i))));
            everyone.push(challengers[i]);
        }
        for (uint256 i; i < everyone.length; ++i) {
            vm.deal(everyone[i], 1000 ether);
        }
    }

    function jobCount() external view returns (uint256) {
        return jobIds.length;
    }

    function everyoneCount() external view returns (uint256) {
        return everyone.length;
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    // ---------------------------------------------------------------- actions

    function post(uint256 actor, uint96 reward, uint32 kSeed, uint8 nSeed, bool refund) external {
        address r = requesters[actor % requesters.length];
        reward = uint96(bound(reward, 1, 1 ether));
        uint32 k = uint32(bound(kSeed, 1, 64));
        uint64 t = uint64(k) * uint64(bound(nSeed, 1, 8));
        uint8 arity = uint8(bound(uint256(kSeed) >> 8, 2, 16));
        vm.prank(r);
        uint256 id = market.postJob{value: reward}(
            JobTerms(keccak256("spec"), 1 ether, 0.1 ether, 100, 50, k, t, arity, refund)
        );
        jobIds.push(id);
        ghostIn += reward;
        ++hits[this.post.selector];
    }

    function cancel(uint256 jobSeed) external {
        uint256 id = _findJob(jobSeed, JobStatus.Open);
        if (id == 0) return;
        vm.prank(market.getJob(id).requester);
        market.cancelJob(id);
        ++hits[this.cancel.selector];
    }

    function deposit(uint256 actor, uint96 amount) external {
        address p = providers[actor % providers.length];
        amount = uint96(bound(amount, 1, 5 ether));
        vm.prank(p);
        market.depositStake{value: amount}();
        ghostIn += amount;
        ghostDeposited += amount;
        deposited[p] += amount;
    }

    function withdrawStake(uint256 actor, uint96 amount) external {
        address p = providers[actor % providers.length];
        uint256 free = market.providerInfo(p).free;
        if (free == 0) return;
        amount = uint96(bound(amount, 1, free));
        vm.prank(p);
        market.withdrawStake(amount);
        ghostOut += amount;
        ghostStakeWithdrawn += amount;
    }

    function claim(uint256 actor, uint256 jobSeed) external {
        uint256 id = _findJob(jobSeed, JobStatus.Open);
        if (id == 0) return;
        address p = providers[actor % providers.length];
        uint256 free = market.providerInfo(p).free;
        uint256 stake = market.getJob(id).stake;
        if (free < stake) {
            // top up, so that claims are not starved by small random deposits
            vm.prank(p);
            market.depositStake{value: stake - free}();
            ghostIn += stake - free;
            ghostDeposited += stake - free;
            deposited[p] += stake - free;
        }
        vm.prank(p);
        market.claimJob(id);
        ++hits[this.claim.selector];
    }

    function submit(uint256 jobSeed, uint256 lieAt, bool honest) external {
        uint256 id = _findJob(jobSeed, JobStatus.Claimed);
        if (id == 0) return;
        Job memory job = market.getJob(id);
        MockStepper.Trace memory tr =
            honest ? MockStepper.honest(SEED) : MockStepper.liar(SEED, bound(lieAt, 0, job.totalSteps));
        traces[id] = tr;
        uint256 n = job.totalSteps / job.interval;
        vm.prank(job.provider);
        market.submitResult(id, tr.root(job.interval, n), tr.hashAt(job.totalSteps), keccak256("m"), keccak256("f"));
        ++hits[this.submit.selector];
    }

    function finalize(uint256 jobSeed) external {
        uint256 id = _findJob(jobSeed, JobStatus.Accepted);
        if (id == 0) return;
        market.finalizeJob(id);
        ++payouts[id];
        everFinalized[id] = true;
        ++hits[this.finalize.selector];
    }

    function expire(uint256 jobSeed) external {
        uint256 id = _findJob(jobSeed, JobStatus.Expired);
        if (id == 0) return;
        market.expireJob(id);
        ++hits[this.expire.selector];
    }

    /// @dev Challenges segment j of the committed trace (any j: honest challengers pick the first
    /// bad one, griefers any).
    function challenge(uint256 actor, uint256 jobSeed, uint256 j) external {
        uint256 id = _findChallengeable(jobSeed);
        if (id == 0) return;
        Job memory job = market.getJob(id);
        j = bound(j, 0, job.totalSteps / job.interval - 1);
        (bytes32 hj, bytes32 hj1, bytes32[] memory pj, bytes32[] memory pj1) = _segment(id, job, j);
        uint256 bond = market.bondFor(id); // doubled per level of disputes that ended without a slash
        vm.prank(challengers[actor % challengers.length]);
        uint256 d = market.challenge{value: bond}(id, j, hj, hj1, pj, pj1);
        disputeIds.push(d);
        ++hits[this.challenge.selector];
        if (job.bondLevel > 0) ++hits[bytes4(keccak256("raised bond"))];
        ghostIn += bond;
    }

    /// @dev Challenges the manifest of a submitted job (no proof: the oracles decide directly).
    function challengeManifest(uint256 actor, uint256 jobSeed) external {
        uint256 id = _findChallengeable(jobSeed);
        if (id == 0) return;
        uint256 bond = market.bondFor(id);
        vm.prank(challengers[actor % challengers.length]);
        uint256 d = market.challengeManifest{value: bond}(id);
        disputeIds.push(d);
        ++hits[this.challengeManifest.selector];
        ghostIn += bond;
    }

    function _segment(uint256 id, Job memory job, uint256 j)
        internal
        view
        returns (bytes32 hj, bytes32 hj1, bytes32[] memory pj, bytes32[] memory pj1)
    {
        MockStepper.Trace memory tr = traces[id];
        bytes32[] memory ls = tr.leaves(job.interval, job.totalSteps / job.interval);
        hj = tr.hashAt(j * job.interval);
        hj1 = tr.hashAt((j + 1) * job.interval);
        pj = MockStepper.proof(ls, j);
        pj1 = MockStepper.proof(ls, j + 1);
    }

    function dissect(uint256 dSeed) external {
        uint256 d = _findDispute(dSeed, DisputeStatus.Dissecting);
        if (d == 0) return;
        Dispute memory ds = market.getDispute(d);
        if (ds.awaitingResponse || block.timestamp >= ds.deadline || _slashed(ds.jobId)) return;
        uint256[] memory pts = market.dissectionPoints(d);
        uint256 interior = pts.length - 2;
        bytes32[] memory hs = new bytes32[](interior);
        bytes32[] memory cids = new bytes32[](interior);
        for (uint256 i; i < interior; ++i) {
            hs[i] = traces[ds.jobId].hashAt(pts[i + 1]);
            cids[i] = bytes32(pts[i + 1] + 1);
        }
        postedHashes[d] = hs;
        postedCids[d] = cids;
        vm.prank(market.getJob(ds.jobId).provider);
        market.dissect(d, hs, cids);
        ++hits[this.dissect.selector];
    }

    /// @dev Truthful: the first part whose end the honest run disputes; otherwise a random part.
    function respond(uint256 dSeed, bool truthful, uint256 pick) external {
        uint256 d = _findDispute(dSeed, DisputeStatus.Dissecting);
        if (d == 0) return;
        Dispute memory ds = market.getDispute(d);
        if (!ds.awaitingResponse || block.timestamp >= ds.deadline || _slashed(ds.jobId)) return;
        uint256[] memory pts = market.dissectionPoints(d);
        bytes32[] memory hs = postedHashes[d];
        uint256 index = pick % (hs.length + 1);
        if (truthful) {
            index = hs.length;
            for (uint256 i; i < hs.length; ++i) {
                if (hs[i] != MockStepper.honest(SEED).hashAt(pts[i + 1])) {
                    index = i;
                    break;
                }
            }
        }
        vm.prank(ds.challenger);
        market.respond(d, index, hs, postedCids[d]);
        ++hits[this.respond.selector];
    }

    function verdict(uint256 oSeed, uint256 dSeed, uint8 v) external {
        uint256 d = _findDispute(dSeed, DisputeStatus.AwaitingOracle);
        if (d == 0) return;
        Dispute memory ds = market.getDispute(d);
        address o = oracles[oSeed % oracles.length];
        if (block.timestamp >= ds.deadline || _slashed(ds.jobId)) return;
        if (market.hasVoted(d, o)) return;
        Verdict vv = Verdict(bound(v, 1, 3));
        uint256 jobEpoch = market.getJob(ds.jobId).oracleEpoch;
        uint256 current = market.currentOracleEpoch();
        bool member = market.isOracle(jobEpoch, o) && market.isOracle(current, o);
        require(market.canVote(d, o) == member, "canVote is membership of the job's and the current epoch");
        if (!member) {
            // removed (or never added for this job): refused whatever it votes
            vm.expectRevert();
            vm.prank(o);
            market.submitVerdict(d, vv);
            ++hits[bytes4(keccak256("vote refused"))];
            return;
        }
        vm.prank(o);
        market.submitVerdict(d, vv);
        votedWrong[d][o] = vv != Verdict.ProviderCorrect;
        ++hits[this.verdict.selector];
        _afterSettlement(d, ds.jobId);
    }

    function timeout(uint256 dSeed) external {
        if (disputeIds.length == 0) return;
        uint256 d = disputeIds[dSeed % disputeIds.length];
        Dispute memory ds = market.getDispute(d);
        if (ds.status != DisputeStatus.Dissecting && ds.status != DisputeStatus.AwaitingOracle) return;
        if (block.timestamp < ds.deadline || _slashed(ds.jobId)) return;
        market.timeout(d);
        ++hits[this.timeout.selector];
        _afterSettlement(d, ds.jobId);
    }

    /// @dev Settles a dispute that was live when another dispute slashed its job.
    function settle(uint256 dSeed) external {
        uint256 len = disputeIds.length;
        for (uint256 i; i < len; ++i) {
            uint256 d = disputeIds[(dSeed % len + i) % len];
            Dispute memory ds = market.getDispute(d);
            bool live = ds.status == DisputeStatus.Dissecting || ds.status == DisputeStatus.AwaitingOracle;
            if (live && _slashed(ds.jobId)) {
                market.settleDispute(d);
                ++disputePayouts[d];
                ++hits[this.settle.selector];
                return;
            }
        }
    }

    function claimFee(uint256 oSeed, uint256 dSeed) external {
        uint256 len = disputeIds.length;
        address o = oracles[oSeed % oracles.length];
        for (uint256 i; i < len; ++i) {
            uint256 d = disputeIds[(dSeed % len + i) % len];
            if (_pendingFee(d, o)) {
                vm.prank(o);
                market.claimOracleFee(d);
                ++hits[this.claimFee.selector];
                return;
            }
        }
    }

    function withdrawCredit(uint256 actor) external {
        address a = everyone[actor % everyone.length];
        uint256 credit = market.credits(a);
        if (credit == 0) return;
        uint256 before = a.balance;
        vm.prank(a);
        market.withdrawCredit();
        require(a.balance - before == credit, "paid exactly the credit");
        ghostOut += credit;
        ++hits[this.withdrawCredit.selector];
    }

    /// @dev The first job at or after a random position whose derived status is `want`; 0 if none.
    function _findJob(uint256 seed, JobStatus want) internal view returns (uint256) {
        uint256 len = jobIds.length;
        for (uint256 i; i < len; ++i) {
            uint256 id = jobIds[(seed % len + i) % len];
            if (market.jobStatus(id) == want) return id;
        }
        return 0;
    }

    /// @dev A job a challenge can open on: submitted, window open (live disputes or not).
    function _findChallengeable(uint256 seed) internal view returns (uint256) {
        uint256 len = jobIds.length;
        for (uint256 i; i < len; ++i) {
            uint256 id = jobIds[(seed % len + i) % len];
            JobStatus s = market.jobStatus(id);
            if ((s == JobStatus.Submitted || s == JobStatus.Disputed) && block.timestamp < market.getJob(id).windowEnd)
            {
                return id;
            }
        }
        return 0;
    }

    function _slashed(uint256 jobId) internal view returns (bool) {
        return market.getJob(jobId).status == JobStatus.Slashed;
    }

    /// @dev Oracle `o` holds an unpaid vote for the verdict that decided dispute `d`.
    function _pendingFee(uint256 d, address o) internal view returns (bool) {
        if (!market.hasVoted(d, o)) return false;
        Dispute memory ds = market.getDispute(d);
        if (ds.status == DisputeStatus.ChallengerWon) return votedWrong[d][o] && ds.wrongVotes >= 2;
        if (ds.status == DisputeStatus.ProviderWon) return !votedWrong[d][o] && ds.correctVotes >= 2;
        return false;
    }

    function _findDispute(uint256 seed, DisputeStatus want) internal view returns (uint256) {
        uint256 len = disputeIds.length;
        for (uint256 i; i < len; ++i) {
            uint256 d = disputeIds[(seed % len + i) % len];
            if (market.getDispute(d).status == want) return d;
        }
        return 0;
    }

    /// @dev The owner schedules 3 of the 4 oracles, quorum 2 (the bucket sum counts fee shares of
    /// quorum 2): effective after oracleSetDelay, replacing a set still pending.
    function rotateOracles(uint256 skipSeed) external {
        address[] memory set = new address[](3);
        uint256 skip = skipSeed % oracles.length;
        uint256 n;
        for (uint256 i; i < oracles.length; ++i) {
            if (i != skip) set[n++] = oracles[i];
        }
        market.scheduleOracleSet(set, 2);
        ++hits[this.rotateOracles.selector];
    }

    /// @dev Lets a scheduled set take effect (the other warps are short next to oracleSetDelay).
    function warpPastSetDelay() external {
        vm.warp(block.timestamp + market.params().oracleSetDelay);
        ++hits[this.warpPastSetDelay.selector];
    }

    function warp(uint256 secondsSeed) external {
        vm.warp(block.timestamp + bound(secondsSeed, 1, 80));
    }

    function _afterSettlement(uint256 d, uint256 jobId) internal {
        if (market.getDispute(d).status == DisputeStatus.ChallengerWon) {
            ++disputePayouts[d];
            ++payouts[jobId];
            ++hits[bytes4(keccak256("slash"))];
            slashedAmount[jobId] += market.getJob(jobId).stake;
        }
    }

    // ---------------------------------------------------------------- ghost views

    function disputeCount() external view returns (uint256) {
        return disputeIds.length;
    }

    /// @dev Escrows + stakes + live bonds + unpaid oracle fees + credits, summed independently of
    /// the market's counter.
    function bucketSum() external view returns (uint256 sum) {
        for (uint256 i; i < jobIds.length; ++i) {
            Job memory job = market.getJob(jobIds[i]);
            JobStatus s = job.status;
            if (s == JobStatus.Open || s == JobStatus.Claimed || s == JobStatus.Submitted) sum += job.reward;
        }
        uint256 share = market.params().oracleFee / 2; // quorum 2 in every epoch of the run
        for (uint256 i; i < disputeIds.length; ++i) {
            uint256 d = disputeIds[i];
            Dispute memory ds = market.getDispute(d);
            if (ds.status == DisputeStatus.Dissecting || ds.status == DisputeStatus.AwaitingOracle) {
                Job memory job = market.getJob(ds.jobId);
                sum += ds.bond; // what its challenger posted, the job's bond << the level at opening
                // a winner of a slash not yet settled: its part of the pool is held for it
                if (job.status == JobStatus.Slashed) sum += job.winnerShare;
            }
            for (uint256 o; o < oracles.length; ++o) {
                if (_pendingFee(d, oracles[o])) sum += share;
            }
        }
        for (uint256 i; i < providers.length; ++i) {
            ProviderInfo memory info = market.providerInfo(providers[i]);
            sum += uint256(info.free) + info.locked;
        }
        for (uint256 i; i < everyone.length; ++i) {
            sum += market.credits(everyone[i]);
        }
        for (uint256 i; i < oracles.length; ++i) {
            sum += market.credits(oracles[i]);
        }
    }
}
