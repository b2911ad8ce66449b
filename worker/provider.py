"""The provider daemon: finds jobs it can serve, claims one, trains it, submits, gets paid.

It is driven by the market's event log and rebuilt from the chain on every start: which jobs it
holds is read from ``JobClaimed`` events, where each stands from ``jobStatus``, and which disputes
are open on them from ``DisputeOpened``. Only checkpoints live on local disk
(``state_dir/jobs/<id>/``): they let a restarted worker resume training from its last checkpoint
instead of step 0, and answer dissection moves by replaying from the nearest one.

The dispute game (docs/dispute-game.md): any number of disputes may be live on one job; the worker
answers each on its own chess clock with a k-ary dissection (``worker.defence``), reports training
progress at least every ``progressTimeout / 2`` so its claim cannot be released, and keeps the
job's inputs (spec, dataset, initial weights) and its trace pinned until the job is settled.
Then it drops the job's folder and releases its pins, unless told to keep them, and garbage-collects
its node at most once per ``gc_interval`` (docs/retention.md, ``crucible.store.retention``).
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
from crucible.chain.market import DisputeStatus, Job, JobStatus, Market
from crucible.chain.units import eth
from crucible.daemon import ClaimTimeout, RoleDaemon
from crucible.engine.behaviour import Honest, ProviderBehaviour
from crucible.engine.job import TrainResult, train_job
from crucible.engine.progress import publisher_for
from crucible.engine.step import Engine, TrainingStopped, TrainState, state_bytes
from crucible.errors import (
    ArtifactRejected,
    ArtifactUnavailable,
    ChainError,
    CrucibleError,
    ProfileError,
    StoreError,
    WouldRevert,
)
from crucible.logs import Progress
from crucible.protocol.checkpoint import CheckpointEntry, decode_checkpoint, encode_checkpoint
from crucible.protocol.hashing import to_hex
from crucible.protocol.profiles import ensure_profile
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore
from crucible.store.pins import JobPins, inputs_of, provider_artifacts
from crucible.store.retention import Keep, Retention, RetentionPolicy
from worker.defence import InputKeeper, Move, dissection_move
from worker.disputes import announce_dispute_event
from worker.metrics import WorkerMetrics

#: Backoff (seconds) before a job is looked at again when this provider's IPFS node did not answer.
RECHECK_MIN, RECHECK_MAX = 2.0, 30.0
#: Seconds between checks that this provider's node still serves a submitted job's inputs.
INPUT_CHECK_INTERVAL = 2.0


@dataclass(frozen=True)
class WorkerConfig:
    state_dir: Path
    min_reward_per_step: int = 0  # wei: the provider's price
    max_state_bytes: int = 2 << 30  # largest training state (params + optimizer) it will hold
    poll_interval: float = 0.5
    max_jobs: int | None = None  # stop claiming after this many (None: no limit)
    retention: RetentionPolicy = RetentionPolicy()  # what is kept of a settled job (docs/retention.md)


@dataclass
class Held:
    """A job this worker claimed, and what it knows locally about it."""

    job_id: int
    spec: JobSpec | None = None
    spec_cid: str = ""
    dataset: dict[str, torch.Tensor] = field(default_factory=dict)
    engine: Engine | None = None
    result: TrainResult | None = None
    disputes: set[int] = field(default_factory=set)  # every dispute opened on the job
    moves: dict[int, int] = field(default_factory=dict)  # dispute id -> dissection moves made
    progress: int = 0  # the latest training step reached locally (written by the training thread)
    reported: tuple[int, float] = (0, 0.0)  # (step, monotonic time) of this worker's last reportProgress
    inputs_pinned: bool = False
    inputs_checked: float = 0.0  # monotonic time the node's pins on the inputs were last checked
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
class ReportProgress:
    """Tell the market training goes on (``reportProgress``), so the claim cannot be released."""

    job_id: int
    step: int


@dataclass(frozen=True)
class Dissect:
    """Post this provider's hashes and states at the interior points of a dissection round."""

    dispute_id: int
    job_id: int
    a: int
    b: int
    move: Move


Action = Claim | Submit | Finalize | Release | ReportProgress | Dissect | ClaimTimeout

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
        super().__init__(
            market, start_block=start_block, poll_interval=config.poll_interval, state_dir=config.state_dir
        )
        self.store = store
        self.pins = JobPins(store, config.state_dir / "pins.json")  # what this provider serves, per job
        kept = JobPins(store, config.state_dir / "kept.json")  # what ``--keep final`` holds on to
        self.retention = Retention(store, self.pins, kept, config.state_dir / "jobs", config.retention)
        self.config = config
        self.metrics = metrics or WorkerMetrics()
        self.behaviour: ProviderBehaviour = behaviour or Honest()
        # signed step/loss/CID per checkpoint, for watchers (the explorer)
        account = market.signer.account if market.signer is not None else None
        self.progress_publisher = publisher_for(account, store, chain_id=market.chain_id, market=market.address)
        self.open: set[int] = set()
        self.held: dict[int, Held] = {}
        self.report = WorkerReport()
        self._claims = 0
        self._recheck: dict[int, tuple[float, float]] = {}  # job id -> (monotonic time to look again, backoff s)
        self._waiting: dict[int, str] = {}  # job id -> why it is not claimed yet (said once per reason)
        self._my_disputes: dict[int, int] = {}  # dispute id -> job id, of disputes against this provider
        #: job id -> (status read, chain time from which it may change with no event; None: only by
        #: one): a held job's ``jobStatus`` is read again only then, after an event naming the job,
        #: after this provider's own transaction, or when the head jumped (see :meth:`job_status`).
        self._statuses: dict[int, tuple[JobStatus, int | None]] = {}
        self._head_jumps = 0
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
            for action in self.next_actions(held):
                self.execute(action)
        if self.retention.collect():
            self.log.info("garbage-collected this provider's IPFS node (pins of settled jobs released)")
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
        if event.tx_hash not in self.own_txs:  # after its own, the status was read again already
            self._statuses.pop(job_id, None)
        reopened = event.name in ("JobExpired", "JobReleased") and not event.args["refunded"]
        if event.name == "JobPosted" or reopened:
            self.open.add(job_id)
        elif event.name in ("JobClaimed", "JobCancelled"):
            self.open.discard(job_id)
            if event.name == "JobClaimed" and event.args["provider"] == self.address:
                self.held.setdefault(job_id, Held(job_id))
        held = self.held.get(job_id)
        if held is None:
            return
        if event.name == "DisputeOpened":
            held.disputes.add(int(event.args["disputeId"]))
        elif event.name == "JobReleased":
            self.log.error(
                "job %d released by its requester (no progress reported): %s of the stake to the requester",
                job_id,
                eth(event.args["toRequester"]),
            )

    # ------------------------------------------------------------------ claiming

    def choose_job(self) -> Claim | None:
        """The open job to claim next, if any this provider will serve (jobs it will never serve are
        recorded in ``report.skipped``; ones its own IPFS node could not look at are retried later)."""
        if self.config.max_jobs is not None and self._claims >= self.config.max_jobs:
            return None
        for job_id in sorted(self.open):
            if job_id in self.report.skipped or self._recheck.get(job_id, (0.0, 0.0))[0] > time.monotonic():
                continue
            if self.backing_off("claim of job", job_id):
                continue
            if self.market.job_status(job_id) != JobStatus.OPEN:
                self.open.discard(job_id)
                continue
            job = self.market.job(job_id)
            free, stake = self.market.provider_info(self.address).free, job.stake
            if free < stake:  # not now: stake comes free again as jobs finish, or the provider adds some
                self._wait(
                    job_id,
                    f"needs {eth(stake)} of stake, this provider has {eth(free)} free "
                    "(add some with `crucible worker stake`)",
                )
                continue
            try:
                reason = self._why_not(job)
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
        self._statuses.pop(job_id, None)
        try:
            self.market.claim_job(job_id)
        except WouldRevert as exc:  # another worker was faster: nothing was sent
            self.lost_race("claim of job", job_id, exc)
            return False
        except ChainError as exc:
            self.log.warning("claim of job %d failed: %s", job_id, exc)
            return False
        self._claims += 1
        self.report.claimed.append(job_id)
        self.metrics.jobs_claimed.inc()
        self.held.setdefault(job_id, Held(job_id))
        self.log.info("claimed job %d", job_id)
        return True

    def _why_not(self, job: Job) -> str | None:
        """Why this worker will not serve ``job`` (None: it will)."""
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

    def next_actions(self, held: Held) -> list[Action]:
        """What to do about a held job, from its status on chain. Starting or retrying training
        happens here (local work); everything the chain sees is returned as actions."""
        status = self.job_status(held.job_id)
        if status == JobStatus.CLAIMED:
            report = self._progress_due(held)
            submit = self._train_or_submit(held)
            return [a for a in (report, submit) if a is not None]
        if status == JobStatus.ACCEPTED:
            return [Finalize(held.job_id)]
        if status in _DONE:
            if self._still_needed(held):
                self._keep_inputs(held)
                return []
            return [Release(held.job_id, status)]
        self._keep_inputs(held)  # SUBMITTED or DISPUTED: the oracle may need them any time
        if status == JobStatus.DISPUTED:
            return self._defence(held)
        return []  # SUBMITTED: the window runs; nothing to do until it ends.

    def job_status(self, job_id: int) -> JobStatus:
        """``jobStatus`` of a held job, read from the chain only when it may have changed: an event
        naming the job came from another party's transaction, this provider sent one, the head jumped (a reorg may have
        undone what was read), or the deadline passed at which time alone changes it (a claim
        expires after ``deadline``, a submission is accepted at ``windowEnd``)."""
        assert self.events is not None
        if self.events.head_jumps != self._head_jumps:
            self._head_jumps = self.events.head_jumps
            self._statuses.clear()
        known = self._statuses.get(job_id)
        if known is not None and (known[1] is None or self.events.chain_time() < known[1]):
            return known[0]
        status = self.market.job_status(job_id)
        changes_at = None
        if status == JobStatus.CLAIMED:
            changes_at = self.market.job(job_id).deadline + 1
        elif status == JobStatus.SUBMITTED:
            changes_at = self.market.job(job_id).window_end
        self._statuses[job_id] = (status, changes_at)
        return status

    def _still_needed(self, held: Held) -> bool:
        """Whether a job that reached an end state still needs its files and pins: a dispute on it is
        live (one opened before another slashed the job waits for ``settleDispute``), or its training
        thread has not stopped writing yet."""
        if held.training is not None and held.training.is_alive():
            return True
        return self.market.job(held.job_id).live_disputes > 0

    def _keep_inputs(self, held: Held) -> None:
        """Add back any input of the job this provider's node stopped serving (local work)."""
        if time.monotonic() - held.inputs_checked < INPUT_CHECK_INTERVAL:
            return
        held.inputs_checked = time.monotonic()
        for cid in self._keeper(held.job_id).restore():
            self.log.warning(
                "job %d: input %s was gone from the node; served again from the local copy", held.job_id, cid
            )

    def _progress_due(self, held: Held) -> ReportProgress | None:
        """A progress report when half the job's ``progressTimeout`` passed since the last one
        (or the claim) and training reached a new step."""
        if held.progress <= held.reported[0]:
            return None
        job = self.market.job(held.job_id)
        if held.progress <= job.progress_step:
            return None
        timeout = self.market.params_at(job.params_version)["progress_timeout"]
        if self.market.now() < job.last_progress_at + timeout // 2:
            return None
        return ReportProgress(held.job_id, held.progress)

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
        """Send ``action`` and book what it changed (the job's status is read again after it)."""
        if isinstance(action, ClaimTimeout):
            self._statuses.clear()  # rare: which job the dispute is on is not worth looking up
        else:
            self._statuses.pop(action.job_id, None)
        if isinstance(action, Claim):
            self._claim(action)
        elif isinstance(action, Submit):
            self._submit(action)
        elif isinstance(action, Finalize):
            receipt = self.market.finalize_job(action.job_id)
            self.report.finalized.append(action.job_id)
            self.metrics.jobs_finalized.inc()
            reward = sum(int(e["reward"]) for e in self.market.events("JobFinalized", receipt))
            self.log.info("job %d finalized: reward %s credited", action.job_id, eth(reward))
        elif isinstance(action, Release):
            if action.status == JobStatus.EXPIRED:
                self.log.warning("job %d expired before this worker submitted", action.job_id)
            if action.status == JobStatus.OPEN:  # its claim is gone (a reorg): a candidate again
                self.log.warning("job %d is open again (its claim was reorged out)", action.job_id)
                self.open.add(action.job_id)
            self._settle(self.held.pop(action.job_id), action.status)
        elif isinstance(action, ReportProgress):
            self.market.report_progress(action.job_id, action.step)
            self.held[action.job_id].reported = (action.step, time.monotonic())
            self.log.info("job %d: reported progress at step %d", action.job_id, action.step)
        elif isinstance(action, Dissect):
            self._dissect(action)
        else:
            self.claim_timeout(action)

    def _settle(self, held: Held, status: JobStatus) -> None:
        """Drop what the settled job held, as the retention policy says (docs/retention.md)."""
        final: list[str] = []
        if self.retention.policy.keep == Keep.FINAL and status == JobStatus.FINALIZED:
            final = self._final_artifacts(held)
        released = self.retention.settle(held.job_id, final)
        self.log.info(
            "job %d settled (%s): %d pin(s) released, %d bytes of local files deleted (keep=%s)",
            held.job_id,
            status.name.lower(),
            len(released.unpinned),
            released.bytes_deleted,
            self.retention.policy.keep,
        )

    def _final_artifacts(self, held: Held) -> list[str]:
        """What `requester fetch` reads of a finalized job: the final model, the manifest and C_n.

        Only a paid-for result is worth keeping; a slashed one (whose manifest may never have been
        uploaded) is released whole."""
        if held.result is not None:
            result = held.result
            return [result.final_model_cid, result.manifest_cid, result.manifest.checkpoints[-1].cid]
        submitted = self.market.result(held.job_id)  # after a restart: the chain says what was committed
        if submitted is None:
            return []
        try:
            last = self.store.fetch_manifest(submitted.manifest_cid).checkpoints[-1].cid
        except ArtifactUnavailable:
            self.log.warning(
                "job %d: manifest %s unavailable; keeping only the final model", held.job_id, submitted.manifest_cid
            )
            return [submitted.final_model_cid]
        return [submitted.final_model_cid, submitted.manifest_cid, last]

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
                held.progress = step
                self.metrics.steps.inc(step - last[0])
                last[0] = step
                self.metrics.steps_per_second.set(progress.rate(step))
                loss = engine.last_loss
                progress.update(step, float(loss) if loss is not None and step > first else None)
                self.progress_publisher.checkpoint(held.job_id, engine, state, digest, held.spec_cid)

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
            committed = provider_artifacts(spec, result.manifest_cid, result.manifest)
            self.pins.hold(held.job_id, committed - inputs_of(held.spec_cid, spec))  # inputs: see _load
            held.result = self.behaviour.after_training(result, held.spec_cid, self.store)
        except TrainingStopped:
            pass  # the daemon is shutting down; the local checkpoints stay for the next start
        except BaseException as exc:
            held.error = exc

    def _load(self, held: Held) -> tuple[JobSpec, Engine]:
        """The job's spec and the step function this provider runs it with (cached). The inputs
        are pinned on this provider's node (docs/retention.md): the oracle rules against a provider
        that cannot serve them (docs/dispute-game.md §1.3). They are never unpinned by the provider:
        on a shared node the pin may be the requester's own, and jobs share datasets."""
        if held.spec is None or held.engine is None:
            held.spec_cid = self.market.job(held.job_id).spec_cid_str
            held.spec = self.store.fetch_spec(held.spec_cid)
            held.dataset = self.store.fetch_dataset(held.spec.dataset.cid)
            held.engine = self.behaviour.engine(held.spec, held.dataset)
            held.engine.cancel = self._cancel
        if not held.inputs_pinned:
            inputs = sorted(inputs_of(held.spec_cid, held.spec))
            self._keeper(held.job_id).keep(inputs)
            self.retention.kept.hold(held.job_id, inputs)
            held.inputs_pinned = True
            self.log.info("job %d: pinned its inputs (spec, dataset, initial weights)", held.job_id)
        return held.spec, held.engine

    # ------------------------------------------------------------------ disputes

    def _defence(self, held: Held) -> list[Action]:
        """This provider's moves in every live dispute on ``held`` whose turn is its own, and the
        timeouts it can claim (a challenger's clock ran out, or no oracle quorum in time)."""
        if not held.disputes:  # a restart between DisputeOpened and this round: read them back
            held.disputes.update(self.market.disputes_of(held.job_id))
        actions: list[Action] = []
        now = self.market.now()
        for dispute_id in sorted(held.disputes):
            d = self.market.dispute(dispute_id)
            if not d.live:
                continue
            if d.status == DisputeStatus.DISSECTING and not d.awaiting_response:
                if self.behaviour.answers(held.moves.get(dispute_id, 0)):
                    actions.append(self._dissection(held, dispute_id, d.a, d.b))
            elif now >= d.deadline:
                actions.append(ClaimTimeout(dispute_id))
        return actions

    def _dissection(self, held: Held, dispute_id: int, a: int, b: int) -> Dissect:
        """Replay from this provider's checkpoint at or before ``a`` to each point of the round."""
        spec, engine = self._load(held)
        job = self.market.job(held.job_id)
        move = dissection_move(
            engine, self._checkpoint_at_or_before(held, a), a, b, job.arity, store=self.store, spec_cid=held.spec_cid
        )
        self.pins.hold(held.job_id, move.state_cids)  # uploaded pinned: released with the job
        return Dissect(dispute_id, held.job_id, a, b, move)

    def _dissect(self, action: Dissect) -> None:
        held = self.held[action.job_id]
        self.market.dissect(action.dispute_id, action.move.hashes, action.move.state_cids)
        held.moves[action.dispute_id] = held.moves.get(action.dispute_id, 0) + 1
        self.log.info(
            "dispute %d: dissected [%d, %d] at %s (%d points)",
            action.dispute_id,
            action.a,
            action.b,
            action.move.points,
            len(action.move.points),
        )

    def _checkpoint_at_or_before(self, held: Held, step: int) -> TrainState:
        """This provider's checkpoint at ``step - step % k``: local, else its own upload on IPFS."""
        spec, _ = self._load(held)
        k = spec.train.checkpoint_interval
        base = step - step % k
        local = self._job_dir(held.job_id) / f"ckpt-{base:012d}.safetensors"
        if local.exists():
            return TrainState(decode_checkpoint(local.read_bytes(), expected_step=base)[0])
        result = self.market.result(held.job_id)
        assert result is not None, "a disputed job has a result"
        entry = self.store.fetch_manifest(result.manifest_cid).entry(base)
        return TrainState(self.store.fetch_checkpoint(entry.cid, expected_hash=entry.digest, expected_step=base))

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

    def _keeper(self, job_id: int) -> InputKeeper:
        return InputKeeper(self.store, self._job_dir(job_id) / "inputs")

    def _job_dir(self, job_id: int) -> Path:
        path = self.config.state_dir / "jobs" / str(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
