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
    BISECTING = 1
    AWAITING_ORACLE = 2
    CHALLENGER_WON = 3
    PROVIDER_WON = 4
    VOIDED = 5


class Verdict(IntEnum):
    NONE = 0
    PROVIDER_CORRECT = 1
    PROVIDER_WRONG = 2
    PROVIDER_DATA_UNAVAILABLE = 3


@dataclass(frozen=True)
class Job:
    """A job as stored on chain. ``deadline`` is the submission deadline while Claimed and the end of
    the challenge window from submission on. Manifest and final-model CIDs live in the
    ``ResultSubmitted`` event (see :meth:`Market.result`), not in storage."""

    provider: str
    status: JobStatus
    deadline: int
    dispute_id: int
    requester: str
    reward: int
    stake: int
    bond: int
    total_steps: int
    interval: int
    duration: int
    challenge_window: int
    params_version: int
    refund_on_expiry: bool
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
    hash_a: bytes
    hash_b: bytes
    mid_hash: bytes
    mid_state_cid: bytes
    state_cid_a: bytes


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

    def __init__(self, w3: Web3, address: str, signer: Signer | None = None) -> None:
        super().__init__(w3, address, market_artifact(), signer)
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
        cls, deployment: Deployment, signer_account: Any = None, *, retry_for: float | None = None
    ) -> Market:
        """The deployment's market; ``retry_for`` seconds of RPC retries (default: the daemons' budget)."""
        w3 = connect(deployment.rpc_url, expected_chain_id=deployment.chain_id, retry_for=retry_for)
        return cls(w3, deployment.market, Signer(w3, signer_account) if signer_account is not None else None)

    def read_only_within(self, seconds: float) -> Market:
        """This market, read through a provider that gives up after ``seconds`` (health checks answer fast)."""
        uri = str(getattr(self.w3.provider, "endpoint_uri", ""))
        return Market(Web3(RetryingHTTPProvider(uri, timeout=seconds, retry_for=seconds)), self.address)

    # -- views
    def job(self, job_id: int) -> Job:
        return self._struct(Job, "getJob", job_id)  # type: ignore[no-any-return]

    def result(self, job_id: int) -> SubmittedResult | None:
        """The latest result submitted for ``job_id`` (None if none was)."""
        logs = self.contract.events.ResultSubmitted().get_logs(from_block=0, argument_filters={"jobId": job_id})
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

    def provider_info(self, provider: str) -> ProviderInfo:
        return self._struct(ProviderInfo, "providerInfo", provider)  # type: ignore[no-any-return]

    def credits(self, account: str) -> int:
        return int(self.call("credits", account))

    def job_count(self) -> int:
        return int(self.call("jobCount"))

    def dispute_deadline(self, dispute_id: int) -> int:
        return int(self.call("disputeDeadline", dispute_id))

    # -- requester
    def post_job(
        self,
        *,
        spec_cid: str,
        reward: int,
        stake: int,
        bond: int,
        duration: int,
        challenge_window: int,
        interval: int,
        total_steps: int,
        refund_on_expiry: bool = True,
    ) -> int:
        receipt = self.transact(
            "postJob",
            cid_to_digest(spec_cid),
            stake,
            bond,
            duration,
            challenge_window,
            interval,
            total_steps,
            refund_on_expiry,
            value=reward,
        )
        return int(self.events("JobPosted", receipt)[0]["jobId"])

    def cancel_job(self, job_id: int) -> TxReceipt:
        return self.transact("cancelJob", job_id)

    def expire_job(self, job_id: int) -> TxReceipt:
        return self.transact("expireJob", job_id)

    # -- provider
    def deposit_stake(self, amount: int) -> TxReceipt:
        return self.transact("depositStake", value=amount)

    def withdraw_stake(self, amount: int) -> TxReceipt:
        return self.transact("withdrawStake", amount)

    def claim_job(self, job_id: int) -> TxReceipt:
        return self.transact("claimJob", job_id)

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

    def bisect(self, dispute_id: int, mid_hash: bytes, mid_state_cid: str) -> TxReceipt:
        return self.transact("bisect", dispute_id, mid_hash, cid_to_digest(mid_state_cid))

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

    def respond(self, dispute_id: int, agree: bool) -> TxReceipt:
        return self.transact("respond", dispute_id, agree)

    def timeout(self, dispute_id: int) -> TxReceipt:
        return self.transact("timeout", dispute_id)

    # -- oracle
    def submit_verdict(self, dispute_id: int, verdict: Verdict) -> TxReceipt:
        return self.transact("submitVerdict", dispute_id, int(verdict))

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
        """End a live dispute whose move (or oracle) deadline passed; True if this call ended it."""
        if self.now() <= dispute.deadline:
            return False
        try:
            self.timeout(dispute_id)
        except ChainError:  # someone else was first, or the clock has not quite passed on chain
            return False
        return True
