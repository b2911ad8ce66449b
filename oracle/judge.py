"""The oracle's decision (docs/design.md §7), with no HTTP and no transactions.

:class:`Judge` reads one dispute, its job and the provider's submitted result from the chain,
fetches what the dispute kind needs from IPFS, and returns :class:`Evidence`: every hash it
compared, where each came from, and the verdict. Every fact comes from the chain and IPFS; nothing
comes from whoever asks. Anyone holding the same public data can recompute the same evidence.

Rules, by dispute kind:

* **Segment** (``b = a + 1``): fetch ``S_a`` (``stateCidA``, or the manifest's checkpoint ``a/k``
  when that is zero) and require its canonical hash to be the agreed ``hashA``; replay exactly
  step ``a`` under the job's profile; ``PROVIDER_CORRECT`` iff the result hashes to ``hashB``.
  A missing, unreadable or hash-mismatched ``S_a`` (or manifest) is ``PROVIDER_DATA_UNAVAILABLE``:
  keeping the trace available during the window is the provider's duty.
* **InitialState**: ``S_0`` from the spec (seeded, or the initial weights CID) must hash to the
  committed C_0 hash (``hashB``).
* **FinalModel**: C_n (via the manifest, hash ``hashA``) must be available, the final stateHash
  (``hashB``) must equal ``hashA``, and the final-model CID must hold exactly C_n's parameters.
* **Manifest**: the manifest at the CID of the job's ``ResultSubmitted`` event must be fetchable
  (within the store's fetch timeout; if not, ``PROVIDER_DATA_UNAVAILABLE``), a valid manifest
  (else ``PROVIDER_WRONG``), and agree with the chain: trace root, final stateHash, spec CID,
  checkpoint interval, total steps and final-model CID (else ``PROVIDER_WRONG``). Needs neither the
  spec nor any replay: it is decided from the chain and the manifest alone.

**Inputs** (docs/dispute-game.md §1.3): the provider must keep the inputs it trained from (spec,
dataset, initial weights) available, pinned on its node, until settlement. When any artifact the
oracle needs cannot be fetched (and this oracle's own IPFS node is up), the verdict is
``PROVIDER_DATA_UNAVAILABLE``: a requester who deleted its dataset cannot freeze an honest provider,
which serves it.

Where the oracle cannot decide honestly (a profile this process cannot run, a spec that is not a
valid spec or does not match the job's terms, this oracle's IPFS node down, a dispute this key may
not vote on: not a member of its job's oracle epoch, or removed from the epoch effective now) it
raises :class:`Refused` instead of guessing: no verdict is posted and, without a quorum, the
contract voids the dispute at the oracle timeout.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from crucible.chain.market import Dispute, DisputeKind, DisputeStatus, Job, Market, SubmittedResult, Verdict
from crucible.engine.job import initial_state
from crucible.engine.step import Engine, EngineCache, TrainState, check_state
from crucible.errors import (
    ArtifactRejected,
    ArtifactUnavailable,
    ChainError,
    CrucibleError,
    InvalidDataset,
    InvalidState,
    ProfileError,
    StoreError,
)
from crucible.protocol import hashing
from crucible.protocol.checkpoint import Manifest
from crucible.protocol.profiles import ensure_profile
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import digest_to_cid

_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)

log = logging.getLogger("crucible.oracle")

ZERO32 = b"\x00" * 32

Outcome = Literal["judged", "posted", "refused", "not_posted"]


class Refused(CrucibleError, RuntimeError):
    """The oracle will not decide this dispute. ``retryable``: the cause may pass (e.g. the IPFS
    node was unreachable), so the service tries again while the dispute still awaits oracles."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Evidence(BaseModel):
    """What the oracle compared and decided for one dispute: enough for anyone to re-check it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dispute_id: int
    job_id: int
    market: str
    kind: str = Field(description="SEGMENT, INITIAL_STATE, FINAL_MODEL or MANIFEST")
    a: int = Field(description="the disputed step: step a -> a+1 is replayed (Segment)")
    b: int
    agreed_hash: str | None = Field(
        description="hashA: H(a) both parties agree on (FinalModel: committed C_n; Manifest: committed trace root)"
    )
    claimed_hash: str = Field(description="hashB: what the provider claims (H(a+1), C_0 hash, final stateHash)")
    replayed_hash: str | None = Field(
        default=None,
        description="what the oracle computed: H(S_a replayed one step), S_0's hash, C_n's hash, or "
        "the fetched manifest's trace root",
    )
    verdict: str | None = Field(
        default=None, description="PROVIDER_CORRECT, PROVIDER_WRONG, PROVIDER_DATA_UNAVAILABLE; None when refused"
    )
    outcome: Outcome = "judged"
    reason: str
    replay_seconds: float | None = None
    state_cid: str | None = Field(default=None, description="CID of the state the oracle started from")
    spec_cid: str | None = None
    manifest_cid: str | None = None
    final_model_cid: str | None = None
    profile: str | None = None
    details: dict[str, str] = Field(default_factory=dict)
    oracle: str
    tx_hash: str | None = None
    post_error: str | None = None
    retryable: bool = Field(default=False, description="refused for a cause that may pass; judged again later")
    dispute_outcome: str | None = Field(default=None, description="the dispute's final status on chain, once seen")
    epoch: int | None = Field(default=None, description="the oracle epoch that decides the dispute")
    fee_wei: int | None = Field(default=None, description="oracle fee credited to this oracle for the verdict")
    judged_at: str

    def summary(self) -> dict[str, object]:
        return {
            k: getattr(self, k)
            for k in (
                "dispute_id",
                "job_id",
                "kind",
                "verdict",
                "outcome",
                "reason",
                "tx_hash",
                "dispute_outcome",
                "judged_at",
            )
        }


def _hex(digest: bytes | None) -> str | None:
    return None if digest is None else hashing.to_hex(bytes(digest))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Decided(Exception):
    """Internal: a verdict reached before the end of a rule (carries it up to :meth:`Judge.judge`)."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        self.verdict, self.reason = verdict, reason


class _Recent(Generic[_K, _T]):
    """The ``size`` most recently used values by key: what the oracle keeps per CID or per job, bounded
    because the daemon runs for months. Content-addressed keys never go stale."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[_K, _T] = OrderedDict()

    def get(self, key: _K) -> _T | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: _K, value: _T) -> _T:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


#: A state's layout as :func:`~crucible.engine.step.check_state` reads it: name -> (shape, dtype).
_Layout = dict[str, tuple[tuple[int, ...], torch.dtype]]


def _layout(state: TrainState) -> _Layout:
    return {name: (tuple(t.shape), t.dtype) for name, t in state.tensors.items()}


class Replayer:
    """The chain-free part of a Segment dispute: fetch ``S_a`` and check it, replay one step, hash.

    Everything that depends on the job alone is done once per job, not per dispute: the engine
    (model build, dataset validation) is kept by spec and dataset CID, and the layout
    ``check_state`` accepted for a job's states is remembered by spec CID, so the next ``S_a`` of
    the job with the very same names, shapes and dtypes is not checked against a freshly built
    model again. (``check_state`` also bounds the state's step; for a Segment dispute that step is
    ``a``, which the fetch pins and the contract bounds to ``0 <= a < T``, and ``Engine.run``
    checks it again.) ``benchmarks/sec_verify.py`` times this very code.
    """

    def __init__(self, store: ArtifactStore, *, jobs: int = 64) -> None:
        self.store = store
        self.engines = EngineCache()
        self._layouts: _Recent[str, _Layout] = _Recent(jobs)

    def agreed_state(self, spec_cid: str, spec: JobSpec, cid: str, agreed_hash: bytes, step: int) -> TrainState:
        """``S_step`` from ``cid``, only if its canonical hash is ``agreed_hash`` (else
        :class:`~crucible.errors.StoreError`) and it is a valid state of the job (else
        :class:`~crucible.errors.InvalidState`)."""
        state = TrainState(self.store.fetch_checkpoint(cid, expected_hash=agreed_hash, expected_step=step))
        layout = _layout(state)
        if self._layouts.get(spec_cid) != layout:
            check_state(spec, state)
            self._layouts.put(spec_cid, layout)
        return state

    @staticmethod
    def replay(engine: Engine, state: TrainState) -> tuple[bytes, float]:
        """``H(S_{a+1})`` from ``S_a`` (``a`` read from the state) and the seconds the step took."""
        a = state.step
        started = time.perf_counter()
        replayed = engine.run(state, a, a + 1).to("cpu")
        seconds = time.perf_counter() - started
        return replayed.hash(), seconds


class Judge:
    """Decides disputes of one market from chain + IPFS data (see the module docstring)."""

    def __init__(self, market: Market, store: ArtifactStore, oracle_address: str) -> None:
        self.market = market
        self.store = store
        self.oracle = oracle_address
        # Specs, manifests and engines by CID (immutable content), the accepted state layout by job:
        # a job's later disputes skip the spec and dataset downloads, the dataset validation, the
        # model build, the manifest's validation (its Merkle root over every checkpoint) and the
        # layout check, and pay for one fetch of S_a and one step.
        self._specs: _Recent[str, JobSpec] = _Recent(64)
        self._manifests: _Recent[str, Manifest] = _Recent(16)
        self.replayer = Replayer(store)

    def _spec(self, cid: str) -> JobSpec:
        spec = self._specs.get(cid)
        if spec is None:
            spec = self._specs.put(cid, self._job_input(lambda: self.store.fetch_spec(cid), f"job spec {cid}"))
        return spec

    def engine(self, spec_cid: str, spec: JobSpec) -> Engine:
        """The job's engine (cached per spec and dataset CID); refuses what this process cannot run."""

        def build() -> Engine:
            dataset = self._job_input(lambda: self.store.fetch_dataset(spec.dataset.cid), f"dataset {spec.dataset.cid}")
            try:
                return Engine(spec, dataset)
            except ProfileError as exc:
                raise Refused(f"cannot run profile {spec.profile!r}: {exc}") from None
            except InvalidDataset as exc:
                raise Refused(f"dataset {spec.dataset.cid} is invalid: {exc}") from None

        return self.replayer.engines.get((spec_cid, spec.dataset.cid), build)

    # ------------------------------------------------------------------ entry point

    def judge(self, dispute_id: int) -> Evidence:
        """Evidence for a dispute awaiting oracles: a verdict, or ``outcome="refused"`` and the reason.

        Raises only on chain errors (:class:`~crucible.errors.ChainError`): those are retried."""
        d = self.market.dispute(dispute_id)
        facts: dict[str, Any] = {
            "dispute_id": dispute_id,
            "job_id": d.job_id,
            "market": self.market.address,
            "kind": d.kind.name,
            "a": d.a,
            "b": d.b,
            "agreed_hash": _hex(d.hash_a) if d.kind != DisputeKind.INITIAL_STATE else None,
            "claimed_hash": _hex(d.hash_b),
            "oracle": self.oracle,
            "details": {},
            "epoch": d.epoch,
        }
        try:
            if d.status != DisputeStatus.AWAITING_ORACLE:
                raise Refused(f"dispute {dispute_id} is {d.status.name}, not AWAITING_ORACLE")
            if not self.market.can_vote(dispute_id, self.oracle):  # the job's epoch and the current one
                raise Refused(self._not_a_voter(dispute_id, d))
            job = self.market.job(d.job_id)
            facts["spec_cid"] = job.spec_cid_str
            result = self.market.result(d.job_id)
            if result is None:
                raise Refused(f"job {d.job_id} has no ResultSubmitted event; nothing to judge")
            facts.update(manifest_cid=result.manifest_cid, final_model_cid=result.final_model_cid)
            verdict, reason = self._decide(facts, d, job, result)
        except _Decided as decided:
            verdict, reason = decided.verdict, decided.reason
        except Refused as refused:
            return Evidence(
                **facts,
                verdict=None,
                outcome="refused",
                retryable=refused.retryable,
                reason=f"refused: {refused.reason}",
                judged_at=_now(),
            )
        except ChainError:
            raise
        except Exception as exc:  # a bug or a fault of this host must never turn into a verdict
            log.exception("dispute %d: judging failed", dispute_id)
            return Evidence(
                **facts,
                verdict=None,
                outcome="refused",
                retryable=True,
                reason=f"refused: internal error while judging ({type(exc).__name__}: {exc})",
                judged_at=_now(),
            )
        return Evidence(**facts, verdict=verdict.name, reason=reason, judged_at=_now())

    def _not_a_voter(self, dispute_id: int, d: Dispute) -> str:
        """Why this key's vote on ``d`` would not count (docs/dispute-game.md §1.6)."""
        if not self.market.is_oracle(d.epoch, self.oracle):
            return f"{self.oracle} is not a member of oracle epoch {d.epoch}, which decides dispute {dispute_id}"
        current = self.market.current_oracle_epoch()
        if not self.market.is_oracle(current, self.oracle):
            return (
                f"{self.oracle} is not a member of oracle epoch {current}, the one effective now: removed from "
                f"the set, it votes on no dispute any more (dispute {dispute_id} is epoch {d.epoch}'s)"
            )
        return f"{self.oracle} may not vote on dispute {dispute_id} now (already voted, or its job was slashed)"

    # ------------------------------------------------------------------ the rules

    def _decide(self, facts: dict[str, Any], d: Dispute, job: Job, result: SubmittedResult) -> tuple[Verdict, str]:
        if d.kind == DisputeKind.MANIFEST:  # chain + manifest only: no spec, no replay
            return self._manifest_kind(facts, job, result)
        spec = self._spec(job.spec_cid_str)
        facts["profile"] = spec.profile
        if (spec.train.total_steps, spec.train.checkpoint_interval) != (job.total_steps, job.interval):
            raise Refused(
                f"the spec's total_steps/checkpoint_interval ({spec.train.total_steps}/"
                f"{spec.train.checkpoint_interval}) differ from the job's on-chain terms "
                f"({job.total_steps}/{job.interval})"
            )
        if d.kind == DisputeKind.SEGMENT:
            return self._segment(facts, d, job, result, spec)
        if d.kind == DisputeKind.INITIAL_STATE:
            return self._initial_state(facts, d, spec)
        if d.kind == DisputeKind.FINAL_MODEL:
            return self._final_model(facts, d, job, result)
        raise Refused(f"unknown dispute kind {d.kind!r}")

    def _segment(
        self, facts: dict[str, Any], d: Dispute, job: Job, result: SubmittedResult, spec: JobSpec
    ) -> tuple[Verdict, str]:
        if d.b != d.a + 1:
            raise Refused(f"segment dispute is on [{d.a}, {d.b}], not a single step")
        try:  # before any download: a profile this process cannot honour is refused, never guessed
            ensure_profile(spec.profile, required=spec.environment.model_dump() if spec.environment else None)
        except ProfileError as exc:
            raise Refused(f"cannot run profile {spec.profile!r}: {exc}") from None
        engine = self.engine(job.spec_cid_str, spec)
        if d.state_cid_a != ZERO32:
            cid = digest_to_cid(bytes(d.state_cid_a))
            source = f"S_{d.a} at {cid} (posted by the provider during bisection)"
        else:
            manifest = self._manifest(job, result)
            try:
                entry = manifest.entry(d.a)
            except KeyError:
                raise _Decided(
                    Verdict.PROVIDER_DATA_UNAVAILABLE, f"the manifest lists no checkpoint at step {d.a}"
                ) from None
            if entry.digest != bytes(d.hash_a):
                raise _Decided(
                    Verdict.PROVIDER_DATA_UNAVAILABLE,
                    f"the manifest's checkpoint at step {d.a} has hash {entry.state_hash}, not the agreed "
                    f"{_hex(d.hash_a)}",
                )
            cid, source = entry.cid, f"S_{d.a} at {entry.cid} (manifest checkpoint {d.a // job.interval})"
        facts["state_cid"] = cid
        try:
            state_a = self._provider_data(
                lambda: self.replayer.agreed_state(job.spec_cid_str, spec, cid, bytes(d.hash_a), d.a), source
            )
        except InvalidState as exc:
            raise _Decided(
                Verdict.PROVIDER_WRONG, f"the agreed state {source} is not a valid state of this job: {exc}"
            ) from None
        try:
            digest, seconds = self.replayer.replay(engine, state_a)
        except ProfileError as exc:
            raise Refused(f"cannot run profile {spec.profile!r}: {exc}") from None
        except (InvalidState, InvalidDataset) as exc:
            raise Refused(f"cannot replay step {d.a}: {exc}") from None
        facts["replay_seconds"] = round(seconds, 6)
        facts["replayed_hash"] = _hex(digest)
        if digest == bytes(d.hash_b):
            return Verdict.PROVIDER_CORRECT, (
                f"replayed step {d.a} -> {d.a + 1} from {source}: the result matches the provider's H({d.a + 1})"
            )
        return Verdict.PROVIDER_WRONG, (
            f"replayed step {d.a} -> {d.a + 1} from {source}: the result hashes to "
            f"{_hex(digest)}, the provider claimed {_hex(d.hash_b)}"
        )

    def _initial_state(self, facts: dict[str, Any], d: Dispute, spec: JobSpec) -> tuple[Verdict, str]:
        # S_0 is built on the CPU whatever the profile (engine.step.initial_state_from), so no profile check.
        started = time.perf_counter()
        try:
            state0 = initial_state(spec, self.store)
        except ArtifactRejected as exc:
            raise Refused(f"the spec's initial weights are not valid weights for its model: {exc}") from None
        except StoreError as exc:
            self._check_node(exc)
            raise _Decided(
                Verdict.PROVIDER_DATA_UNAVAILABLE,
                f"the initial weights could not be fetched ({exc}); the provider must keep the inputs it "
                "trained from available until settlement",
            ) from None
        except InvalidState as exc:
            raise Refused(f"S_0 cannot be built from the spec: {exc}") from None
        facts["replay_seconds"] = round(time.perf_counter() - started, 6)
        digest = state0.hash()
        facts["replayed_hash"] = _hex(digest)
        if digest == bytes(d.hash_b):
            return Verdict.PROVIDER_CORRECT, "the committed C_0 is the spec's S_0"
        return Verdict.PROVIDER_WRONG, (
            f"the spec's S_0 hashes to {_hex(digest)}, the provider committed C_0 = {_hex(d.hash_b)}"
        )

    def _final_model(self, facts: dict[str, Any], d: Dispute, job: Job, result: SubmittedResult) -> tuple[Verdict, str]:
        manifest = self._manifest(job, result)
        T = job.total_steps
        try:
            entry = manifest.entry(T)
        except KeyError:
            raise _Decided(Verdict.PROVIDER_DATA_UNAVAILABLE, f"the manifest lists no checkpoint at step {T}") from None
        if entry.digest != bytes(d.hash_a):
            raise _Decided(
                Verdict.PROVIDER_DATA_UNAVAILABLE,
                f"the manifest's C_n hash {entry.state_hash} is not the committed {_hex(d.hash_a)}",
            )
        facts["state_cid"] = entry.cid
        cn = self._provider_data(
            lambda: self.store.fetch_checkpoint(entry.cid, expected_hash=bytes(d.hash_a), expected_step=T),
            f"C_n at {entry.cid}",
        )
        facts["replayed_hash"] = _hex(hashing.state_hash(cn))
        cn_params = hashing.params_hash(cn)
        facts["details"] = {"cn_params_hash": hashing.to_hex(cn_params)}
        if bytes(d.hash_b) != bytes(d.hash_a):
            return Verdict.PROVIDER_WRONG, (
                f"the submitted final stateHash {_hex(d.hash_b)} is not the committed C_n hash {_hex(d.hash_a)}"
            )
        cid = result.final_model_cid
        try:
            self.store.fetch_final_model(cid, expected_params_hash=cn_params)
        except ArtifactRejected as exc:
            return Verdict.PROVIDER_WRONG, f"the final model {cid} does not hold C_n's parameters: {exc}"
        except StoreError as exc:
            self._check_node(exc)
            return Verdict.PROVIDER_DATA_UNAVAILABLE, (
                f"the final model {cid} could not be fetched ({exc}); keeping it available is the provider's duty"
            )
        return Verdict.PROVIDER_CORRECT, f"the final model {cid} holds exactly C_n's parameters"

    def _manifest_kind(self, facts: dict[str, Any], job: Job, result: SubmittedResult) -> tuple[Verdict, str]:
        cid = result.manifest_cid
        try:
            manifest = self.store.fetch_manifest(cid)
        except ArtifactRejected as exc:
            return Verdict.PROVIDER_WRONG, f"the manifest {cid} is not a valid manifest: {exc}"
        except StoreError as exc:
            self._check_node(exc)
            return Verdict.PROVIDER_DATA_UNAVAILABLE, (
                f"the manifest {cid} could not be fetched ({exc}); keeping the trace available during the "
                "challenge window is the provider's duty"
            )
        facts["replayed_hash"] = manifest.trace_root
        facts["profile"] = manifest.environment.profile
        compared = manifest.compare_commitments(  # field: (the manifest's, the chain's)
            trace_root=job.trace_root,
            final_state_hash=job.final_state_hash,
            spec_cid=job.spec_cid_str,
            checkpoint_interval=job.interval,
            total_steps=job.total_steps,
            final_model_cid=result.final_model_cid,
        )
        facts["details"] = {
            f"{side}.{name}": value
            for name, pair in compared.items()
            for side, value in zip(("manifest", "chain"), pair, strict=True)
        }
        differ = [f"{name} {ours} (chain: {theirs})" for name, (ours, theirs) in compared.items() if ours != theirs]
        if differ:
            return Verdict.PROVIDER_WRONG, (
                f"the manifest {cid} does not match the result committed on chain: " + "; ".join(differ)
            )
        return Verdict.PROVIDER_CORRECT, (
            f"the manifest {cid} is available and matches the trace root, final "
            "stateHash, spec, schedule and final model committed on chain"
        )

    # ------------------------------------------------------------------ fetching, and whose fault a failure is

    def _manifest(self, job: Job, result: SubmittedResult) -> Manifest:
        """The result's manifest, fetched and validated once per CID, that must commit to the job's trace root."""
        cid = result.manifest_cid
        manifest = self._manifests.get(cid)
        if manifest is None:
            manifest = self._manifests.put(
                cid, self._provider_data(lambda: self.store.fetch_manifest(cid), f"manifest {cid}")
            )
        if manifest.root() != bytes(job.trace_root):
            raise _Decided(
                Verdict.PROVIDER_DATA_UNAVAILABLE,
                f"the manifest {cid} has trace root {manifest.trace_root}, "
                f"not the committed {_hex(job.trace_root)}: the committed trace is not available",
            )
        return manifest

    def _provider_data(self, fetch: Callable[[], _T], what: str) -> _T:
        """The provider's trace data; failing that (node reachable), DATA_UNAVAILABLE."""
        try:
            return fetch()
        except StoreError as exc:
            self._check_node(exc)
            raise _Decided(
                Verdict.PROVIDER_DATA_UNAVAILABLE,
                f"{what} is unavailable or not what was committed ({exc}); keeping the trace "
                f"available during the challenge window is the provider's duty",
            ) from None

    def _job_input(self, fetch: Callable[[], _T], what: str) -> _T:
        """An input the provider trained from (spec, dataset): it must keep them available, so a
        fetch failure (node reachable) is DATA_UNAVAILABLE; content that is not a valid spec or
        dataset is refused (an honest provider never claims such a job)."""
        try:
            return fetch()
        except ArtifactRejected as exc:
            raise Refused(f"{what} is not valid ({exc}); the oracle cannot judge with it") from None
        except StoreError as exc:
            self._check_node(exc)
            raise _Decided(
                Verdict.PROVIDER_DATA_UNAVAILABLE,
                f"{what} could not be fetched ({exc}); the provider must keep the inputs it trained from "
                "available until settlement",
            ) from None
        except CrucibleError as exc:  # InvalidJobSpec, InvalidDataset
            raise Refused(f"{what} is invalid: {exc}") from None

    def _check_node(self, exc: StoreError) -> None:
        """Blame nobody for our own IPFS node being down: that is retried, not judged."""
        if isinstance(exc, ArtifactRejected | ArtifactUnavailable):
            return  # the node answered: the artifact itself is at fault
        try:
            self.store.blobs.version()  # type: ignore[attr-defined]
        except StoreError:
            raise Refused(f"this oracle's IPFS node is unreachable ({exc}); will retry", retryable=True) from None
