"""Typed bindings for CrucibleMarket: the calls each role makes, and the views decoded into
dataclasses. The ABI comes from the package's snapshot, so no compiler is needed at run time."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

from web3 import Web3
from web3.types import TxReceipt

from crucible.chain.abi import market_artifact
from crucible.chain.contract import ContractClient
from crucible.chain.deployment import Deployment
from crucible.chain.rpc import RetryingHTTPProvider, connect
from crucible.chain.signer import Signer
from crucible.errors import ChainError
from crucible.store.ipfs import cid_to_digest, digest_to_cid


class JobStatus(IntEnum):
    NONE = 0
    OPEN = 1
    CLAIMED = 2
    EXPIRED = 3
    SUBMITTED = 4
    DISPUTED = 5
    ACCEPTED = 6
    FINALIZED = 7
    SLASHED = 8
    CANCELLED = 9
    REFUNDED = 10


class DisputeKind(IntEnum):
    NONE = 0
    SEGMENT = 1
    INITIAL_STATE = 2
    FINAL_MODEL = 3
    MANIFEST = 4  # the submitted manifest is unavailable or does not match the chain; a = b = 0,
    # hash_a = the trace root, hash_b = the final stateHash


class DisputeStatus(IntEnum):
    NONE = 0
    DISSECTING = 1  # b - a > 1: the provider posts interior points, the challenger picks a part
    AWAITING_ORACLE = 2
    CHALLENGER_WON = 3
    PROVIDER_WON = 4
    VOIDED = 5

    @property
    def live(self) -> bool:
        return self in (DisputeStatus.DISSECTING, DisputeStatus.AWAITING_ORACLE)


class Verdict(IntEnum):
    NONE = 0
    PROVIDER_CORRECT = 1
    PROVIDER_WRONG = 2
    PROVIDER_DATA_UNAVAILABLE = 3


@dataclass(frozen=True)
class JobTerms:
    """What a requester posts a job with (Solidity ``JobTerms``); the reward is the value sent."""

    spec_cid: str
    stake: int
    bond: int
    duration: int
    challenge_window: int
    interval: int
    total_steps: int
    arity: int = 2
    refund_on_expiry: bool = True

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            cid_to_digest(self.spec_cid),
            self.stake,
            self.bond,
            self.duration,
            self.challenge_window,
            self.interval,
            self.total_steps,
            self.arity,
            self.refund_on_expiry,
        )


@dataclass(frozen=True)
class Job:
    """A job as stored on chain (Types.sol ``Job``). ``deadline`` is the submission deadline while
    Claimed; challenges are allowed while now < ``window_end``. Manifest and final-model CIDs live
    in the ``ResultSubmitted`` event (see :meth:`Market.result`), not in storage."""

    provider: str
    status: JobStatus
    window_end: int
    live_disputes: int
    arity: int
    refund_on_expiry: bool
    requester: str
    reward: int
    stake: int
    bond: int
    total_steps: int
    interval: int
    duration: int
    challenge_window: int
    params_version: int
    oracle_epoch: int  # fixed at the claim: its quorum decides every dispute on the job (docs/dispute-game.md §1.6)
    deadline: int
    submitted_at: int
    last_progress_at: int
    winner_share: int
    payout_bound: int
    progress_step: int
    winners: int
    bond_level: int  # a dispute opened now posts bond << bond_level (see :meth:`Market.bond_for`)
    spec_cid: bytes
    trace_root: bytes
    final_state_hash: bytes

    @property
    def segments(self) -> int:
        return self.total_steps // self.interval

    @property
    def spec_cid_str(self) -> str:
        return digest_to_cid(self.spec_cid)


@dataclass(frozen=True)
class SubmittedResult:
    """What the provider committed to, from its ``ResultSubmitted`` event."""

    trace_root: bytes
    final_state_hash: bytes
    manifest_cid: str
    final_model_cid: str
    block: int


@dataclass(frozen=True)
class Dispute:
    """A dispute as stored (Types.sol ``Dispute``): [a, b] with agreed H(a) = ``hash_a`` and rejected
    H(b) = ``hash_b``; ``awaiting_response`` means it is the challenger's turn; ``epoch`` is the
    oracle epoch that decides it (the job's); ``deadline`` is exclusive; ``bond`` is what its
    challenger posted."""

    challenger: str
    job_id: int
    kind: DisputeKind
    status: DisputeStatus
    correct_votes: int
    wrong_votes: int
    awaiting_response: bool
    a: int
    b: int
    deadline: int
    opened_at: int
    epoch: int
    provider_clock_used: int
    challenger_clock_used: int
    turn_started_at: int
    clock_budget: int
    move_extension: int
    hash_a: bytes
    hash_b: bytes
    state_cid_a: bytes
    points_hash: bytes
    bond: int

    @property
    def live(self) -> bool:
        return self.status.live


@dataclass(frozen=True)
class Dissection:
    """A provider's move, from its ``DisputeDissected`` event: H(m_i) and the digest of the CID of
    S_{m_i} for the interior points m_1..m_{p-1} of [a, b]. The challenger re-sends both arrays."""

    dispute_id: int
    a: int
    b: int
    hashes: list[bytes]
    state_cids: list[bytes]
    deadline: int
    block: int


@dataclass(frozen=True)
class OracleEpoch:
    effective_at: int
    quorum: int
    members: list[str]


@dataclass(frozen=True)
class ProviderInfo:
    free: int
    locked: int
    finalized: int
    slashed: int
    expired: int


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _decode(cls: type[Any], components: list[dict[str, Any]], raw: Any) -> Any:
    """A struct returned by web3 (a tuple) into ``cls``, matched by field name, not position."""
    by_name = {_snake(c["name"]): v for c, v in zip(components, raw, strict=True)}
    values = {}
    for f in fields(cls):
        kind = globals().get(str(f.type))
        value = by_name[f.name]
        values[f.name] = kind(value) if isinstance(kind, type) and issubclass(kind, IntEnum) else value
    return cls(**values)


class Market(ContractClient):
    """CrucibleMarket for one account (or read-only without a signer)."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        signer: Signer | None = None,
        *,
        deploy_block: int = 0,
        confirmations: int = 0,
        log_page: int = 2_000,
    ) -> None:
        """``deploy_block``: where log queries start; ``confirmations``: how deep an event must be
        before daemons act on it; ``log_page``: the most blocks one ``eth_getLogs`` covers."""
        super().__init__(w3, address, market_artifact(), signer)
        self.deploy_block = deploy_block
        self.confirmations = confirmations
        self.log_page = log_page
        self._structs = {
            item["name"]: item["outputs"][0]["components"]
            for item in self.artifact.abi
            if item.get("type") == "function"
            and len(item.get("outputs", [])) == 1
            and item["outputs"][0].get("components")
        }

    def _struct(self, cls: type[Any], fn: str, *args: Any) -> Any:
        return _decode(cls, self._structs[fn], self.call(fn, *args))

    @classmethod
    def from_deployment(
        cls,
        deployment: Deployment,
        signer_account: Any = None,
        *,
        confirmations: int | None = None,
        retry_for: float | None = None,
    ) -> Market:
        """The deployment's market; ``retry_for`` seconds of RPC retries (default: the daemons' budget)."""
        w3 = connect(deployment.rpc_url, expected_chain_id=deployment.chain_id, retry_for=retry_for)
        return cls(
            w3,
            deployment.market,
            Signer(w3, signer_account) if signer_account is not None else None,
            deploy_block=deployment.deploy_block,
            confirmations=deployment.confirmations if confirmations is None else confirmations,
        )

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)  # answered from the connection's cache after the first time

    def read_only_within(self, seconds: float) -> Market:
        """This market, read through a provider that gives up after ``seconds`` (health checks answer fast)."""
        uri = str(getattr(self.w3.provider, "endpoint_uri", ""))
        return Market(Web3(RetryingHTTPProvider(uri, timeout=seconds, retry_for=seconds)), self.address)

    # -- views
    def job(self, job_id: int) -> Job:
        return self._struct(Job, "getJob", job_id)  # type: ignore[no-any-return]

    def result(self, job_id: int) -> SubmittedResult | None:
        """The latest result submitted for ``job_id`` (None if none was)."""
        logs: list[Any] = []
        to_block = int(self.w3.eth.block_number)
        while not logs and to_block >= self.deploy_block:  # newest pages first: results are recent
            from_block = max(self.deploy_block, to_block - self.log_page + 1)
            logs = list(
                self.contract.events.ResultSubmitted().get_logs(
                    from_block=from_block, to_block=to_block, argument_filters={"jobId": job_id}
                )
            )
            to_block = from_block - 1
        if not logs:
            return None
        args = logs[-1]["args"]
        return SubmittedResult(
            args["traceRoot"],
            args["finalStateHash"],
            digest_to_cid(args["manifestCid"]),
            digest_to_cid(args["finalModelCid"]),
            int(logs[-1]["blockNumber"]),
        )

    def job_status(self, job_id: int) -> JobStatus:
        return JobStatus(self.call("jobStatus", job_id))

    def dispute(self, dispute_id: int) -> Dispute:
        return self._struct(Dispute, "getDispute", dispute_id)  # type: ignore[no-any-return]

    def disputes_of(self, job_id: int) -> list[int]:
        """Ids of every dispute opened on ``job_id``, oldest first (from ``DisputeOpened``)."""
        logs = self.contract.events.DisputeOpened().get_logs(from_block=0, argument_filters={"jobId": job_id})
        return [int(log["args"]["disputeId"]) for log in logs]

    def last_dissection(self, dispute_id: int) -> Dissection | None:
        """The provider's latest move in ``dispute_id`` (None before the first)."""
        logs = self.contract.events.DisputeDissected().get_logs(
            from_block=0, argument_filters={"disputeId": dispute_id}
        )
        if not logs:
            return None
        args = logs[-1]["args"]
        return Dissection(
            dispute_id,
            int(args["a"]),
            int(args["b"]),
            [bytes(h) for h in args["hashes"]],
            [bytes(c) for c in args["stateCids"]],
            int(args["deadline"]),
            int(logs[-1]["blockNumber"]),
        )

    def dissection_points(self, dispute_id: int) -> list[int]:
        """m_0 = a .. m_p = b of the current round (empty unless Dissecting)."""
        return [int(m) for m in self.call("dissectionPoints", dispute_id)]

    def provider_info(self, provider: str) -> ProviderInfo:
        return self._struct(ProviderInfo, "providerInfo", provider)  # type: ignore[no-any-return]

    def credits(self, account: str) -> int:
        return int(self.call("credits", account))

    def job_count(self) -> int:
        return int(self.call("jobCount"))

    def dispute_count(self) -> int:
        return int(self.call("disputeCount"))

    def dispute_deadline(self, dispute_id: int) -> int:
        return int(self.call("disputeDeadline", dispute_id))

    def has_voted(self, dispute_id: int, oracle: str) -> bool:
        """Whether ``oracle`` holds an unpaid, non-deciding vote on ``dispute_id``."""
        return bool(self.call("hasVoted", dispute_id, oracle))

    def payout_bound(self, job_id: int) -> int:
        """Latest time the job can be finalized given what is on chain (docs/dispute-game.md §1.5)."""
        return int(self.call("payoutBound", job_id))

    def dispute_duration_bound(self, job_id: int) -> int:
        """Dmax of a segment dispute on this job, in seconds."""
        return int(self.call("disputeDurationBound", job_id))

    def delay_cost_per_hour(self, job_id: int) -> int:
        """Least wei a griefer pays per hour of delay on this job."""
        return int(self.call("delayCostPerHour", job_id))

    def min_bond_for(self, reward: int, stake: int, interval: int, arity: int) -> int:
        """Least bond of a job with these terms (current params): covers the provider's defence gas
        and the carrying cost of reward + stake over one dispute's longest delay."""
        return int(self.call("minBondFor", reward, stake, interval, arity))

    def bond_for(self, job_id: int) -> int:
        """The bond a dispute opened on ``job_id`` now must send (doubled per level of disputes on
        the job that ended without a slash; docs/dispute-game.md §1.5)."""
        return int(self.call("bondFor", job_id))

    def void_fee_for(self, job_id: int, bond: int) -> int:
        """What a void of a dispute with ``bond`` on ``job_id`` pays the provider."""
        return int(self.call("voidFeeFor", job_id, bond))

    def can_vote(self, dispute_id: int, oracle: str) -> bool:
        """Whether ``oracle``'s vote on ``dispute_id`` would count now: the dispute awaits oracles and
        ``oracle`` has not voted and is a member of the job's epoch and of the current one."""
        return bool(self.call("canVote", dispute_id, oracle))

    def min_stake_for(self, reward: int) -> int:
        return int(self.call("minStakeFor", reward))

    def rounds_for(self, interval: int, arity: int) -> int:
        return int(self.call("roundsFor", interval, arity))

    def defence_gas(self, interval: int, arity: int) -> int:
        return int(self.call("defenceGas", interval, arity))

    def defence_gas_per_round(self) -> tuple[int, int]:
        """``(DEFENCE_MOVE_GAS, DEFENCE_POINT_GAS)``: ``defenceGas`` is a base plus, per dissection
        round, a move and one point per part past the first, so these two rank every arity."""
        return int(self.call("DEFENCE_MOVE_GAS")), int(self.call("DEFENCE_POINT_GAS"))

    def params_at(self, version: int) -> dict[str, int]:
        """Governance parameters of ``version`` by snake-case name (``progress_timeout``, ...)."""
        components = self._structs["paramsAt"]
        return {_snake(c["name"]): int(v) for c, v in zip(components, self.call("paramsAt", version), strict=True)}

    def params(self) -> dict[str, int]:
        return self.params_at(int(self.call("paramsVersion")))

    def current_oracle_epoch(self) -> int:
        return int(self.call("currentOracleEpoch"))

    def latest_oracle_epoch(self) -> int:
        return int(self.call("latestOracleEpoch"))

    def oracle_epoch(self, epoch: int) -> OracleEpoch:
        effective_at, quorum, members = self.call("oracleEpoch", epoch)
        return OracleEpoch(int(effective_at), int(quorum), [str(m) for m in members])

    def is_oracle(self, epoch: int, account: str) -> bool:
        return bool(self.call("isOracle", epoch, account))

    def total_liabilities(self) -> int:
        return int(self.call("totalLiabilities"))

    def total_burned(self) -> int:
        return int(self.call("totalBurned"))

    def balance(self) -> int:
        """The contract's ETH balance (equals :meth:`total_liabilities` when solvent)."""
        return int(self.w3.eth.get_balance(self.address))

    # -- requester
    def post_job(self, terms: JobTerms, *, reward: int) -> int:
        receipt = self.transact("postJob", terms.as_tuple(), value=reward)
        return int(self.events("JobPosted", receipt)[0]["jobId"])

    def cancel_job(self, job_id: int) -> TxReceipt:
        return self.transact("cancelJob", job_id)

    def expire_job(self, job_id: int) -> TxReceipt:
        return self.transact("expireJob", job_id)

    def release_job(self, job_id: int) -> TxReceipt:
        """Requester: take back a claim with no progress for ``progressTimeout`` (the squatter pays)."""
        return self.transact("releaseJob", job_id)

    # -- provider
    def deposit_stake(self, amount: int) -> TxReceipt:
        return self.transact("depositStake", value=amount)

    def withdraw_stake(self, amount: int) -> TxReceipt:
        return self.transact("withdrawStake", amount)

    def claim_job(self, job_id: int) -> TxReceipt:
        return self.transact("claimJob", job_id)

    def report_progress(self, job_id: int, step: int) -> TxReceipt:
        return self.transact("reportProgress", job_id, step)

    def submit_result(
        self, job_id: int, *, trace_root: bytes, final_state_hash: bytes, manifest_cid: str, final_model_cid: str
    ) -> TxReceipt:
        return self.transact(
            "submitResult",
            job_id,
            trace_root,
            final_state_hash,
            cid_to_digest(manifest_cid),
            cid_to_digest(final_model_cid),
        )

    def finalize_job(self, job_id: int) -> TxReceipt:
        return self.transact("finalizeJob", job_id)

    def dissect(self, dispute_id: int, hashes: list[bytes], state_cids: list[str]) -> TxReceipt:
        """Post H(m_i) and the CID of S_{m_i} for the interior points of the current round."""
        return self.transact("dissect", dispute_id, hashes, [cid_to_digest(c) for c in state_cids])

    # -- challenger
    def challenge(
        self,
        job_id: int,
        segment: int,
        hash_j: bytes,
        hash_j1: bytes,
        proof_j: list[bytes],
        proof_j1: list[bytes],
        bond: int,
    ) -> int:
        receipt = self.transact("challenge", job_id, segment, hash_j, hash_j1, proof_j, proof_j1, value=bond)
        return int(self.events("DisputeOpened", receipt)[0]["disputeId"])

    def challenge_initial_state(self, job_id: int, initial_hash: bytes, proof: list[bytes], bond: int) -> int:
        receipt = self.transact("challengeInitialState", job_id, initial_hash, proof, value=bond)
        return int(self.events("DisputeOpened", receipt)[0]["disputeId"])

    def challenge_final_model(self, job_id: int, final_checkpoint_hash: bytes, proof: list[bytes], bond: int) -> int:
        receipt = self.transact("challengeFinalModel", job_id, final_checkpoint_hash, proof, value=bond)
        return int(self.events("DisputeOpened", receipt)[0]["disputeId"])

    def challenge_manifest(self, job_id: int, bond: int) -> int:
        """Dispute the manifest behind the job's submitted manifest CID: unavailable, or not matching
        the commitments on chain. Needs no proof; the oracle decides directly."""
        receipt = self.transact("challengeManifest", job_id, value=bond)
        return int(self.events("DisputeOpened", receipt)[0]["disputeId"])

    def respond(self, dispute_id: int, index: int, move: Dissection) -> TxReceipt:
        """Dispute part ``index`` of the provider's last move (re-sending its arrays as posted)."""
        return self.transact("respond", dispute_id, index, move.hashes, move.state_cids)

    def timeout(self, dispute_id: int) -> TxReceipt:
        return self.transact("timeout", dispute_id)

    def settle_dispute(self, dispute_id: int) -> TxReceipt:
        """Settle a dispute that was live when another dispute slashed its job: its challenger wins."""
        return self.transact("settleDispute", dispute_id)

    # -- oracle
    def submit_verdict(self, dispute_id: int, verdict: Verdict) -> TxReceipt:
        return self.transact("submitVerdict", dispute_id, int(verdict))

    def claim_oracle_fee(self, dispute_id: int) -> TxReceipt:
        return self.transact("claimOracleFee", dispute_id)

    # -- governance
    def schedule_oracle_set(self, members: list[str], quorum: int) -> int:
        """Owner: the next oracle epoch, effective after ``oracleSetDelay``; returns its number."""
        receipt = self.transact("scheduleOracleSet", members, quorum)
        return int(self.events("OracleSetScheduled", receipt)[0]["epoch"])

    # -- everyone
    def withdraw_credit(self) -> TxReceipt:
        return self.transact("withdrawCredit")

    def collect_credit(self) -> int:
        """Withdraw whatever the market owes this account; returns the wei withdrawn (0 if none)."""
        assert self.signer is not None
        credit = self.credits(self.signer.address)
        if credit:
            self.withdraw_credit()
        return credit

    def now(self) -> int:
        """The chain's current time: the pending block's timestamp, which moves even when no block is mined."""
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def timeout_if_due(self, dispute_id: int, dispute: Dispute) -> bool:
        """End a live dispute whose turn (or oracle) deadline passed (deadlines are exclusive:
        ``timeout`` works from the deadline on); True if this call ended it."""
        if self.now() < dispute.deadline:
            return False
        try:
            self.timeout(dispute_id)
        except ChainError:  # someone else was first, or the clock has not quite passed on chain
            return False
        return True
