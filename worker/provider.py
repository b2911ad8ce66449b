"""The provider daemon: finds jobs it can serve, claims one, trains it, submits, gets paid.

It is driven by the market's event log and rebuilt from the chain on every start: which jobs it
holds is read from ``JobClaimed`` events, where each stands from ``jobStatus``. Only checkpoints
live on local disk (``state_dir/jobs/<id>/``): they let a restarted worker resume training from
its last checkpoint instead of step 0, and answer bisection moves without recomputing.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from crucible.chain.events import Event
from crucible.chain.market import DisputeStatus, JobStatus, Market
from crucible.chain.units import eth
from crucible.daemon import ClaimTimeout, RoleDaemon
from crucible.engine.behaviour import Honest, ProviderBehaviour
from crucible.engine.job import TrainResult, train_job
from crucible.engine.step import Engine, TrainingStopped, TrainState, state_bytes
from crucible.errors import ArtifactRejected, ArtifactUnavailable, ChainError, CrucibleError, ProfileError, StoreError
from crucible.logs import Progress
from crucible.protocol.checkpoint import CheckpointEntry, decode_checkpoint, encode_checkpoint
from crucible.protocol.hashing import to_hex
from crucible.protocol.profiles import ensure_profile
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore
from worker.disputes import announce_dispute_event
from worker.metrics import WorkerMetrics

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


@dataclass(frozen=True)
class Claim:
    """Claim the open job ``job_id`` (locks this provider's stake)."""

    job_id: int


@dataclass(frozen=True)
class Submit:
    """Commit the trained result of a held job."""

    job_id: int
    result: TrainResult


@dataclass(frozen=True)
class Finalize:
    """Close an accepted job (the window passed unchallenged): pays the reward, frees the stake."""

    job_id: int


@dataclass(frozen=True)
class Release:
    """Forget a held job that reached a state where nothing is left for this provider to do."""

    job_id: int
    status: JobStatus


@dataclass(frozen=True)
class Bisect:
    """Post this provider's state at the midpoint ``step`` of a bisecting dispute."""

    dispute_id: int
    job_id: int
    step: int
    state: TrainState


Action = Claim | Submit | Finalize | Release | Bisect | ClaimTimeout

_DONE = (
    JobStatus.FINALIZED,
    JobStatus.SLASHED,
    JobStatus.CANCELLED,
    JobStatus.REFUNDED,
    JobStatus.OPEN,
    JobStatus.EXPIRED,
)


@dataclass
class WorkerReport:
    claimed: list[int] = field(default_factory=list)
    submitted: list[int] = field(default_factory=list)
    finalized: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    withdrawn: int = 0


class Worker(RoleDaemon):
    """Claims jobs it can serve, trains them, submits and defends the results. Decisions
    (:meth:`choose_job`, :meth:`next_action`) return actions; :meth:`execute` sends them."""

    role = "worker"

    def __init__(
        self,
        market: Market,
        store: ArtifactStore,
        config: WorkerConfig,
        *,
        start_block: int,
        metrics: WorkerMetrics | None = None,
        behaviour: ProviderBehaviour | None = None,
    ) -> None:
        super().__init__(market, start_block=start_block, poll_interval=config.poll_interval)
        self.store = store
        self.config = config
        self.metrics = metrics or WorkerMetrics()
        self.behaviour: ProviderBehaviour = behaviour or Honest()
        self.open: set[int] = set()
        self.held: dict[int, Held] = {}
        self.report = WorkerReport()
        self._claims = 0
        self._recheck: dict[int, tuple[float, float]] = {}  # job id -> (monotonic time to look again, backoff s)
        self._waiting: dict[int, str] = {}  # job id -> why it is not claimed yet (said once per reason)
        self._my_disputes: dict[int, int] = {}  # dispute id -> job id, of disputes against this provider
        self._cancel = threading.Event()

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> WorkerReport:  # type: ignore[override]
        super().run(stop)
        return self.report

    def shutdown(self) -> None:
        """Stop training between two steps and wait for it: a training thread killed at interpreter
        exit aborts the process (SIGABRT); its local checkpoints let the next start resume."""
        self._cancel.set()
        for held in self.held.values():
            if held.training is not None and held.training.is_alive():
                self.log.info("job %d: stopping training; the next start resumes from the last checkpoint", held.job_id)
                held.training.join()

    def act(self) -> None:
        for held in list(self.held.values()):
            action = self.next_action(held)
            if action is not None:
                self.execute(action)
        if not any(h.training and h.training.is_alive() for h in self.held.values()):
            while (claim := self.choose_job()) is not None:
                if self._claim(claim):
                    break

    def on_withdrawn(self, wei: int) -> None:
        self.report.withdrawn += wei
        self.metrics.earnings_wei.inc(wei)

    def on_event(self, event: Event) -> None:
        announce_dispute_event(self, event)
        job_id = int(event.args.get("jobId", 0))
        if event.name == "JobPosted" or event.name == "JobExpired" and not event.args["refunded"]:
            self.open.add(job_id)
        elif event.name in ("JobClaimed", "JobCancelled"):
            self.open.discard(job_id)
            if event.name == "JobClaimed" and event.args["provider"] == self.address:
                self.held.setdefault(job_id, Held(job_id))

    # ------------------------------------------------------------------ claiming

    def choose_job(self) -> Claim | None:
        """The open job to claim next, if any this provider will serve (jobs it will never serve are
        recorded in ``report.skipped``; ones its own IPFS node could not look at are retried later)."""
        if self.config.max_jobs is not None and self._claims >= self.config.max_jobs:
            return None
        for job_id in sorted(self.open):
            if job_id in self.report.skipped or self._recheck.get(job_id, (0.0, 0.0))[0] > time.monotonic():
                continue
            if self.market.job_status(job_id) != JobStatus.OPEN:
                self.open.discard(job_id)
                continue
            free, stake = self.market.provider_info(self.address).free, self.market.job(job_id).stake
            if free < stake:  # not now: stake comes free again as jobs finish, or the provider adds some
                self._wait(
                    job_id,
                    f"needs {eth(stake)} of stake, this provider has {eth(free)} free "
                    "(add some with `crucible worker stake`)",
                )
                continue
            try:
                reason = self._why_not(job_id)
            except StoreError as exc:  # this provider's own IPFS node is down or slow: not the job's fault
                backoff = min(RECHECK_MAX, 2 * self._recheck.get(job_id, (0.0, RECHECK_MIN / 2))[1])
                self._recheck[job_id] = (time.monotonic() + backoff, backoff)
                self.log.warning("job %d not looked at yet: %s; trying again in %.0fs", job_id, exc, backoff)
                continue
            self._recheck.pop(job_id, None)
            if reason:
                self.report.skipped[job_id] = reason
                self.log.info("job %d left alone: %s", job_id, reason)
                continue
            return Claim(job_id)
        return None

    def _wait(self, job_id: int, reason: str) -> None:
        """Say once (per reason) why an open job is not claimed yet."""
        if self._waiting.get(job_id) != reason:
            self._waiting[job_id] = reason
            self.log.info("job %d not claimed yet: %s", job_id, reason)

    def _claim(self, action: Claim) -> bool:
        """Send the claim; False if the chain refused it (another worker was faster, the job changed)."""
        job_id = action.job_id
        self.open.discard(job_id)
        try:
            self.market.claim_job(job_id)
        except ChainError as exc:
            self.log.info("claim of job %d failed: %s", job_id, exc)
            return False
        self._claims += 1
        self.report.claimed.append(job_id)
        self.metrics.jobs_claimed.inc()
        self.held.setdefault(job_id, Held(job_id))
        self.log.info("claimed job %d", job_id)
        return True

    def _why_not(self, job_id: int) -> str | None:
        """Why this worker will not serve ``job_id`` (None: it will)."""
        job = self.market.job(job_id)
        if job.reward < self.config.min_reward_per_step * job.total_steps:
            return (
                f"pays {eth(job.reward // max(1, job.total_steps))} per step, below this provider's price "
                f"of {eth(self.config.min_reward_per_step)} (--price)"
            )
        try:
            spec = self.store.fetch_spec(job.spec_cid_str)
        except (ArtifactUnavailable, ArtifactRejected) as exc:  # the node answered: nobody serves it, or it is bad
            return f"spec {job.spec_cid_str} unusable: {exc}"
        except StoreError:
            raise  # the node itself did not answer: choose_job looks at the job again later
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
            limit = self.config.max_state_bytes
            return f"training state of {size:,} bytes exceeds this provider's memory limit of {limit:,} bytes"
        return None

    # ------------------------------------------------------------------ held jobs

    def next_action(self, held: Held) -> Action | None:
        """What to do about a held job, from its status on chain. Starting or retrying training
        happens here (local work); everything the chain sees is returned as an action."""
        status = self.market.job_status(held.job_id)
        if status == JobStatus.CLAIMED:
            return self._train_or_submit(held)
        if status == JobStatus.ACCEPTED:
            return Finalize(held.job_id)
        if status in _DONE:
            return Release(held.job_id, status)
        if status == JobStatus.DISPUTED:
            return self._defence(held)
        return None  # SUBMITTED: the window runs; nothing to do until it ends.

    def _train_or_submit(self, held: Held) -> Submit | None:
        if held.training is not None and held.training.is_alive():
            return None
        if held.error is not None:  # e.g. IPFS down mid-training: retry with backoff, not every tick
            held.backoff = min(RECHECK_MAX, 2 * held.backoff or RECHECK_MIN)
            held.retry_at = time.monotonic() + held.backoff
            self.log.error("training job %d failed: %s; retrying in %.0fs", held.job_id, held.error, held.backoff)
            held.error, held.training = None, None
            return None
        if time.monotonic() < held.retry_at:
            return None
        if held.result is None:
            if self.behaviour.trains():
                held.training = threading.Thread(
                    target=self._train, args=(held,), name=f"train-{held.job_id}", daemon=True
                )
                held.training.start()
            return None
        return Submit(held.job_id, held.result)

    def execute(self, action: Action) -> None:
        """Send ``action`` and book what it changed."""
        if isinstance(action, Claim):
            self._claim(action)
        elif isinstance(action, Submit):
            self._submit(action)
        elif isinstance(action, Finalize):
            self.market.finalize_job(action.job_id)
            self.report.finalized.append(action.job_id)
            self.metrics.jobs_finalized.inc()
            self.log.info(
                "job %d finalized: reward %s credited", action.job_id, eth(self.market.job(action.job_id).reward)
            )
        elif isinstance(action, Release):
            if action.status == JobStatus.EXPIRED:
                self.log.warning("job %d expired before this worker submitted", action.job_id)
            del self.held[action.job_id]
        elif isinstance(action, Bisect):
            self._bisect(action)
        else:
            self.claim_timeout(action)

    def _submit(self, action: Submit) -> None:
        result = action.result
        self.market.submit_result(
            action.job_id,
            trace_root=result.trace_root,
            final_state_hash=result.final_state_hash,
            manifest_cid=result.manifest_cid,
            final_model_cid=result.final_model_cid,
        )
        self.report.submitted.append(action.job_id)
        self.log.info("job %d submitted: trace root %s", action.job_id, to_hex(result.trace_root))

    def _train(self, held: Held) -> None:
        try:
            job = self.market.job(held.job_id)
            held.spec_cid = job.spec_cid_str
            spec, engine = self._load(held)
            local = self._job_dir(held.job_id)
            resume = self._resume_point(spec, held.spec_cid, local)
            if resume is not None:
                self.log.info("job %d: resuming from local checkpoint at step %d", held.job_id, resume[0].step)
            first = resume[0].step if resume else 0
            progress, last = Progress(self.log, held.job_id, spec.train.total_steps, first), [first]

            def on_checkpoint(step: int, digest: bytes, state: TrainState) -> None:
                _atomic_write(
                    local / f"ckpt-{step:012d}.safetensors", encode_checkpoint(state.tensors, held.spec_cid, digest)
                )
                self.metrics.steps.inc(step - last[0])
                last[0] = step
                self.metrics.steps_per_second.set(progress.rate(step))
                loss = engine.last_loss
                progress.update(step, float(loss) if loss is not None and step > first else None)

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
        except TrainingStopped:
            pass  # the daemon is shutting down; the local checkpoints stay for the next start
        except BaseException as exc:
            held.error = exc

    def _load(self, held: Held) -> tuple[JobSpec, Engine]:
        """The job's spec and the step function this provider runs it with (cached)."""
        if held.spec is None or held.engine is None:
            held.spec_cid = self.market.job(held.job_id).spec_cid_str
            held.spec = self.store.fetch_spec(held.spec_cid)
            held.dataset = self.store.fetch_dataset(held.spec.dataset.cid)
            held.engine = self.behaviour.engine(held.spec, held.dataset)
            held.engine.cancel = self._cancel
        return held.spec, held.engine

    # ------------------------------------------------------------------ disputes

    def _defence(self, held: Held) -> Bisect | ClaimTimeout | None:
        """This provider's move in the live dispute on ``held``, or a timeout to claim."""
        dispute_id = self.market.job(held.job_id).dispute_id
        d = self.market.dispute(dispute_id)
        if d.status == DisputeStatus.BISECTING and not d.awaiting_response:
            if not self.behaviour.answers(held.moves.get(dispute_id, 0)):
                return None
            m = (d.a + d.b) // 2
            return Bisect(dispute_id, held.job_id, m, self._state_at(held, m))
        if d.status in (DisputeStatus.BISECTING, DisputeStatus.AWAITING_ORACLE):
            return ClaimTimeout(dispute_id)
        return None

    def _bisect(self, action: Bisect) -> None:
        held = self.held[action.job_id]
        digest = action.state.hash()
        cid = self.store.put(encode_checkpoint(action.state.tensors, held.spec_cid, digest))
        self.market.bisect(action.dispute_id, digest, cid)
        held.moves[action.dispute_id] = held.moves.get(action.dispute_id, 0) + 1
        self.log.info("dispute %d: posted H(%d) = %s", action.dispute_id, action.step, to_hex(digest))

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


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
