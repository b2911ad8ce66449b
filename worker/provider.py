"""The provider daemon: finds jobs it can serve, claims one, trains it, submits, gets paid.

It is driven by the market's event log and rebuilt from the chain on every start: which jobs it
holds is read from ``JobClaimed`` events, where each stands from ``jobStatus``. Only checkpoints
live on local disk (``state_dir/jobs/<id>/``): they let a restarted worker resume training from
its last checkpoint instead of step 0, and answer bisection moves without recomputing.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from crucible.artifacts import ArtifactStore
from crucible.checkpoint import CheckpointEntry, decode_checkpoint, encode_checkpoint
from crucible.engine.job import TrainResult, train_job
from crucible.engine.step import Engine, TrainState, state_bytes
from crucible.errors import ArtifactRejected, ArtifactUnavailable, ChainError, CrucibleError, ProfileError, StoreError
from crucible.events import Event, EventLog, poll_forever
from crucible.hashing import to_hex
from crucible.market import DisputeStatus, JobStatus, Market
from crucible.profiles import ensure_profile
from crucible.progress import publisher_for
from crucible.spec import JobSpec
from worker.behaviour import Honest
from worker.metrics import WorkerMetrics

log = logging.getLogger("crucible.worker")

#: Backoff (seconds) before a job is looked at again when this provider's IPFS node did not answer.
RECHECK_MIN, RECHECK_MAX = 2.0, 30.0


@dataclass(frozen=True)
class WorkerConfig:
    state_dir: Path
    min_reward_per_step: int = 0  # wei: the provider's price
    max_state_bytes: int = 2 << 30  # largest training state (params + optimizer) it will hold
    poll_interval: float = 0.5
    max_jobs: int | None = None  # stop claiming after this many (None: no limit)


@dataclass
class Held:
    """A job this worker claimed, and what it knows locally about it."""

    job_id: int
    spec: JobSpec | None = None
    spec_cid: str = ""
    dataset: dict[str, torch.Tensor] = field(default_factory=dict)
    engine: Engine | None = None
    result: TrainResult | None = None
    moves: dict[int, int] = field(default_factory=dict)  # dispute id -> bisection moves made
    training: threading.Thread | None = None
    error: BaseException | None = None
    retry_at: float = 0.0  # monotonic time before which a failed training is not restarted
    backoff: float = 0.0


@dataclass
class WorkerReport:
    claimed: list[int] = field(default_factory=list)
    submitted: list[int] = field(default_factory=list)
    finalized: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    withdrawn: int = 0


class Worker:
    def __init__(
        self,
        market: Market,
        store: ArtifactStore,
        config: WorkerConfig,
        *,
        start_block: int,
        metrics: WorkerMetrics | None = None,
        behaviour: Honest | None = None,
    ) -> None:
        if market.signer is None:
            raise CrucibleError("a worker needs a signing key")
        self.market = market
        self.store = store
        self.config = config
        self.address = market.signer.address
        self.metrics = metrics or WorkerMetrics()
        self.behaviour = behaviour or Honest()
        self.progress = publisher_for(market, store)  # signed step/loss/CID per checkpoint, for watchers
        self.events = EventLog(market.contract, start_block)
        self.open: set[int] = set()
        self.held: dict[int, Held] = {}
        self.report = WorkerReport()
        self._claims = 0
        self._recheck: dict[int, tuple[float, float]] = {}  # job id -> (monotonic time to look again, backoff s)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> WorkerReport:
        log.info("worker %s watching market %s", self.address, self.market.address)
        poll_forever(self.tick, stop, self.config.poll_interval, log)
        return self.report

    def tick(self) -> None:
        for event in self.events.poll():
            self._on_event(event)
        for held in list(self.held.values()):
            self._advance(held)
        if not any(h.training and h.training.is_alive() for h in self.held.values()):
            self._maybe_claim()
        self._withdraw()

    def _on_event(self, event: Event) -> None:
        job_id = event.args.get("jobId")
        if event.name == "JobPosted" or event.name == "JobExpired" and not event.args["refunded"]:
            self.open.add(job_id)
        elif event.name in ("JobClaimed", "JobCancelled"):
            self.open.discard(job_id)
            if event.name == "JobClaimed" and event.args["provider"] == self.address:
                self.held.setdefault(job_id, Held(job_id))

    # ------------------------------------------------------------------ claiming

    def _maybe_claim(self) -> None:
        if self.config.max_jobs is not None and self._claims >= self.config.max_jobs:
            return
        for job_id in sorted(self.open):
            if job_id in self.report.skipped or self._recheck.get(job_id, (0.0, 0.0))[0] > time.monotonic():
                continue
            if self.market.job_status(job_id) != JobStatus.OPEN:
                self.open.discard(job_id)
                continue
            free = self.market.provider_info(self.address).free
            if free < self.market.job(job_id).stake:  # not now: stake comes free again as jobs finish
                continue
            try:
                reason = self._why_not(job_id)
            except StoreError as exc:  # this provider's own IPFS node is down or slow: not the job's fault
                backoff = min(RECHECK_MAX, 2 * self._recheck.get(job_id, (0.0, RECHECK_MIN / 2))[1])
                self._recheck[job_id] = (time.monotonic() + backoff, backoff)
                log.warning("job %d not looked at yet: %s; trying again in %.0fs", job_id, exc, backoff)
                continue
            self._recheck.pop(job_id, None)
            if reason:
                self.report.skipped[job_id] = reason
                log.info("job %d left alone: %s", job_id, reason)
                continue
            try:
                self.market.claim_job(job_id)
            except ChainError as exc:  # another worker was faster, or the job changed meanwhile
                log.info("claim of job %d failed: %s", job_id, exc)
                self.open.discard(job_id)
                continue
            self.open.discard(job_id)
            self._claims += 1
            self.report.claimed.append(job_id)
            self.metrics.jobs_claimed.inc()
            self.held.setdefault(job_id, Held(job_id))
            log.info("claimed job %d", job_id)
            return

    def _why_not(self, job_id: int) -> str | None:
        """Why this worker will not serve ``job_id`` (None: it will)."""
        job = self.market.job(job_id)
        if job.reward < self.config.min_reward_per_step * job.total_steps:
            return (
                f"pays {job.reward // max(1, job.total_steps)} wei/step, below this provider's price "
                f"of {self.config.min_reward_per_step}"
            )
        try:
            spec = self.store.fetch_spec(job.spec_cid_str)
        except (ArtifactUnavailable, ArtifactRejected) as exc:  # the node answered: nobody serves it, or it is bad
            return f"spec {job.spec_cid_str} unusable: {exc}"
        except StoreError:
            raise  # the node itself did not answer: _maybe_claim looks at the job again later
        except CrucibleError as exc:
            return f"spec {job.spec_cid_str} unusable: {exc}"
        if spec.train.total_steps != job.total_steps or spec.train.checkpoint_interval != job.interval:
            return "spec's steps/interval differ from the job's on-chain terms"
        try:
            ensure_profile(spec.profile, required=spec.environment.model_dump() if spec.environment else None)
        except ProfileError as exc:
            return f"cannot honour profile {spec.profile!r}: {exc}"
        size = state_bytes(spec)
        if size > self.config.max_state_bytes:
            return f"training state of {size} bytes exceeds this provider's limit of {self.config.max_state_bytes}"
        return None

    # ------------------------------------------------------------------ held jobs

    def _advance(self, held: Held) -> None:
        status = self.market.job_status(held.job_id)
        if status == JobStatus.CLAIMED:
            self._train_or_submit(held)
        elif status == JobStatus.ACCEPTED:
            self.market.finalize_job(held.job_id)
            self.report.finalized.append(held.job_id)
            self.metrics.jobs_finalized.inc()
            log.info("job %d finalized", held.job_id)
        elif status in (
            JobStatus.FINALIZED,
            JobStatus.SLASHED,
            JobStatus.CANCELLED,
            JobStatus.REFUNDED,
            JobStatus.OPEN,
            JobStatus.EXPIRED,
        ):
            if status == JobStatus.EXPIRED:
                log.warning("job %d expired before this worker submitted", held.job_id)
            del self.held[held.job_id]
        elif status == JobStatus.DISPUTED:
            self._defend(held)
        # SUBMITTED: the window runs; nothing to do until it ends.

    def _train_or_submit(self, held: Held) -> None:
        if held.training is not None and held.training.is_alive():
            return
        if held.error is not None:  # e.g. IPFS down mid-training: retry with backoff, not every tick
            held.backoff = min(RECHECK_MAX, 2 * held.backoff or RECHECK_MIN)
            held.retry_at = time.monotonic() + held.backoff
            log.error("training job %d failed: %s; retrying in %.0fs", held.job_id, held.error, held.backoff)
            held.error, held.training = None, None
            return
        if time.monotonic() < held.retry_at:
            return
        if held.result is None:
            if not self.behaviour.trains():
                return
            held.training = threading.Thread(target=self._train, args=(held,), name=f"train-{held.job_id}", daemon=True)
            held.training.start()
            return
        result = held.result
        self.market.submit_result(
            held.job_id,
            trace_root=result.trace_root,
            final_state_hash=result.final_state_hash,
            manifest_cid=result.manifest_cid,
            final_model_cid=result.final_model_cid,
        )
        self.report.submitted.append(held.job_id)
        log.info("job %d submitted: trace root %s", held.job_id, to_hex(result.trace_root))

    def _train(self, held: Held) -> None:
        try:
            job = self.market.job(held.job_id)
            held.spec_cid = job.spec_cid_str
            spec, engine = self._load(held)
            local = self._job_dir(held.job_id)
            resume = self._resume_point(spec, held.spec_cid, local)
            if resume is not None:
                log.info("job %d: resuming from local checkpoint at step %d", held.job_id, resume[0].step)
            started, last = time.monotonic(), [resume[0].step if resume else 0]

            def on_checkpoint(step: int, digest: bytes, state: TrainState) -> None:
                _atomic_write(
                    local / f"ckpt-{step:012d}.safetensors", encode_checkpoint(state.tensors, held.spec_cid, digest)
                )
                self.metrics.steps.inc(step - last[0])
                last[0] = step
                self.metrics.steps_per_second.set(step / max(1e-9, time.monotonic() - started))
                log.info("job %d: step %d/%d", held.job_id, step, spec.train.total_steps)
                self.progress.checkpoint(held.job_id, engine, state, digest, held.spec_cid)

            result = train_job(
                spec,
                held.dataset,
                self.store,
                spec_cid=held.spec_cid,
                on_checkpoint=on_checkpoint,
                resume_from=resume,
                engine=engine,
                state0=self.behaviour.initial_state(spec, self.store) if resume is None else None,
            )
            held.result = self.behaviour.after_training(result, held.spec_cid, self.store)
        except BaseException as exc:
            held.error = exc

    def _load(self, held: Held) -> tuple[JobSpec, Engine]:
        """The job's spec and the step function this provider runs it with (cached)."""
        if held.spec is None or held.engine is None:
            held.spec_cid = self.market.job(held.job_id).spec_cid_str
            held.spec = self.store.fetch_spec(held.spec_cid)
            held.dataset = self.store.fetch_dataset(held.spec.dataset.cid)
            held.engine = self.behaviour.engine(held.spec, held.dataset)
        return held.spec, held.engine

    # ------------------------------------------------------------------ disputes

    def _defend(self, held: Held) -> None:
        """Make this provider's move in the live dispute on ``held``, or claim a timeout."""
        dispute_id = self.market.job(held.job_id).dispute_id
        d = self.market.dispute(dispute_id)
        if d.status == DisputeStatus.BISECTING and not d.awaiting_response:
            moves = held.moves.get(dispute_id, 0)
            if not self.behaviour.answers(moves):
                return
            m = (d.a + d.b) // 2
            state = self._state_at(held, m)
            digest = state.hash()
            cid = self.store.put(encode_checkpoint(state.tensors, held.spec_cid, digest))
            self.market.bisect(dispute_id, digest, cid)
            held.moves[dispute_id] = moves + 1
            log.info("dispute %d: posted H(%d) = %s", dispute_id, m, to_hex(digest))
        elif d.status in (DisputeStatus.BISECTING, DisputeStatus.AWAITING_ORACLE) and self.market.timeout_if_due(
            dispute_id, d
        ):
            log.info("dispute %d: claimed the timeout", dispute_id)

    def _state_at(self, held: Held, step: int) -> TrainState:
        """S_step of this provider's trace: from its checkpoint at or before ``step``, replayed forward."""
        spec, engine = self._load(held)
        k = spec.train.checkpoint_interval
        base = step - step % k
        local = self._job_dir(held.job_id) / f"ckpt-{base:012d}.safetensors"
        if local.exists():
            start = TrainState(decode_checkpoint(local.read_bytes(), expected_step=base)[0])
        else:
            result = self.market.result(held.job_id)
            assert result is not None, "a disputed job has a result"
            entry = self.store.fetch_manifest(result.manifest_cid).entry(base)
            start = TrainState(self.store.fetch_checkpoint(entry.cid, expected_hash=entry.digest, expected_step=base))
        return engine.run(start, base, step)

    def _resume_point(
        self, spec: JobSpec, spec_cid: str, local: Path
    ) -> tuple[TrainState, list[CheckpointEntry]] | None:
        """The latest local checkpoint and entries for all before it (re-pinned: same bytes, same CIDs)."""
        files = sorted(local.glob("ckpt-*.safetensors"))
        k = spec.train.checkpoint_interval
        entries: list[CheckpointEntry] = []
        state = None
        for i, path in enumerate(files):
            data = path.read_bytes()
            try:
                tensors, meta = decode_checkpoint(data, expected_step=i * k)
            except CrucibleError:
                break  # a torn or foreign file: resume from the last good one
            if meta.get("spec_cid") != spec_cid:
                break
            entries.append(CheckpointEntry(step=i * k, state_hash=meta["state_hash"], cid=self.store.put(data)))
            state = TrainState(tensors)
        return (state, entries) if state is not None else None

    def _job_dir(self, job_id: int) -> Path:
        path = self.config.state_dir / "jobs" / str(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _withdraw(self) -> None:
        credit = self.market.collect_credit()
        if credit:
            self.report.withdrawn += credit
            self.metrics.earnings_wei.inc(credit)
            log.info("withdrew %d wei", credit)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
