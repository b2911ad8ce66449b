"""The verifier daemon: audits every submitted result, challenges the earliest bad part with its
bond, plays the k-ary dissection to the end, claims timeouts, settles shared wins and withdraws.

It tracks disputes, not jobs (docs/dispute-game.md §1.1, §1.3): a job already disputed by someone
else (an accomplice's decoy included) is still challenged when this verifier finds it wrong, and
when one of its own disputes ends without a slash (voided, say, because no oracle answered) it
audits the job again and challenges again while the reopened window runs. When another dispute
slashes the job first, it settles its own live disputes on it (``settleDispute``) for its share.

Everything it needs is rebuilt from the chain and IPFS on start, so a restart mid-dispute
carries on where the last process stopped: the disputes it opened are found in the event log and
its honest per-step hashes are recomputed by replaying the disputed segment.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crucible.chain.events import Event
from crucible.chain.market import DisputeKind, DisputeStatus, Dissection, JobStatus, Market
from crucible.chain.units import eth
from crucible.daemon import ClaimTimeout, RoleDaemon
from crucible.engine.job import initial_state
from crucible.engine.step import Engine, TrainState
from crucible.errors import ChainError, CrucibleError
from crucible.protocol import dissection, merkle
from crucible.protocol.checkpoint import Manifest
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore
from verifier.audit import Audit, Finding, FindingKind, audit_result
from verifier.metrics import VerifierMetrics


@dataclass(frozen=True)
class VerifierConfig:
    state_dir: Path  # audit reports, one JSON file per job
    sample: int | None = None  # segments replayed per result (None: all of them)
    poll_interval: float = 0.5
    challenge: bool = True  # False: audit and report only


@dataclass
class Case:
    """A dispute this verifier opened, with the hashes it holds to be true for each step."""

    dispute_id: int
    job_id: int
    truth: dict[int, bytes] | None  # None: the start state is unavailable, so disagree with everything


@dataclass(frozen=True)
class Challenge:
    """Open a dispute on ``job_id``: ``method`` of the market with ``args`` and the bond it asks now."""

    job_id: int
    finding: Finding
    method: str  # challenge, challenge_manifest, challenge_initial_state or challenge_final_model
    args: tuple[Any, ...]
    bond: int
    truth: dict[int, bytes] | None  # this verifier's per-step hashes for the bisection to come


@dataclass(frozen=True)
class Respond:
    """Dispute part ``index`` of the provider's last dissection: [m_index, m_index+1]."""

    dispute_id: int
    index: int
    part: tuple[int, int]
    move: Dissection


@dataclass(frozen=True)
class Settle:
    """Another dispute slashed the job while this one was live: collect this dispute's share."""

    dispute_id: int


@dataclass(frozen=True)
class CloseCase:
    """The dispute ended: record its outcome and stop playing it."""

    dispute_id: int
    status: DisputeStatus


Action = Challenge | Respond | Settle | ClaimTimeout | CloseCase


@dataclass
class VerifierReport:
    audits: dict[int, Audit] = field(default_factory=dict)
    disputes: dict[int, int] = field(default_factory=dict)  # dispute id -> job id
    outcomes: dict[int, DisputeStatus] = field(default_factory=dict)
    withdrawn: int = 0


class Verifier(RoleDaemon):
    """Audits results, challenges the wrong ones and plays their bisections. Decisions
    (:meth:`audit`, :meth:`plan_challenge`, :meth:`next_move`) return actions; :meth:`execute` sends."""

    role = "verifier"

    def __init__(
        self,
        market: Market,
        store: ArtifactStore,
        config: VerifierConfig,
        *,
        start_block: int,
        rng: random.Random | None = None,
        metrics: VerifierMetrics | None = None,
    ) -> None:
        super().__init__(
            market, start_block=start_block, poll_interval=config.poll_interval, state_dir=config.state_dir
        )
        self.store = store
        self.config = config
        self.rng = rng or random.Random()
        self.to_audit: list[int] = []
        self.cases: dict[int, Case] = {}  # this verifier's live disputes
        self.report = VerifierReport()
        self.metrics = metrics or VerifierMetrics()

    def run(self, stop: threading.Event) -> VerifierReport:  # type: ignore[override]
        super().run(stop)
        return self.report

    def act(self) -> None:
        for case in list(self.cases.values()):  # first, so a dispute that just ended is closed
            move = self.next_move(case)
            if move is not None:
                self.execute(move)
        while self.to_audit:
            job_id = self.to_audit.pop(0)
            if job_id in self.to_audit:
                continue  # audited once, later in this round
            challenge = self.audit(job_id)
            self.metrics.audits.labels(outcome="wrong" if challenge is not None else "checked").inc()
            if challenge is not None:
                self._send_challenge(challenge)

    def on_withdrawn(self, wei: int) -> None:
        self.report.withdrawn += wei
        self.metrics.earnings_wei.inc(wei)

    def on_event(self, event: Event) -> None:
        if event.name in ("ResultSubmitted", "JobResumed"):
            self.to_audit.append(int(event.args["jobId"]))
        elif event.name == "DisputeOpened" and event.args["challenger"] == self.address:
            dispute_id, job_id = int(event.args["disputeId"]), int(event.args["jobId"])
            self.report.disputes[dispute_id] = job_id
            if dispute_id not in self.cases and self.market.dispute(dispute_id).live:
                self.cases[dispute_id] = self._rebuild_case(dispute_id, job_id)
        elif event.name == "DisputeResolved" and int(event.args["disputeId"]) in self.report.disputes:
            outcome = DisputeStatus(event.args["outcome"])
            if outcome == DisputeStatus.VOIDED:  # no oracle quorum in time: the window reopened
                self.log.warning(
                    "dispute %d voided; auditing job %d again (window open until %d)",
                    event.args["disputeId"],
                    event.args["jobId"],
                    event.args["windowEnd"],
                )
                self.to_audit.append(int(event.args["jobId"]))

    def _has_live_dispute(self, job_id: int) -> bool:
        return any(case.job_id == job_id and self.market.dispute(case.dispute_id).live for case in self.cases.values())

    # ------------------------------------------------------------------ auditing (decisions)

    def _job_inputs(self, job_id: int) -> tuple[JobSpec, dict]:  # type: ignore[type-arg]
        spec = self.store.fetch_spec(self.market.job(job_id).spec_cid_str)
        return spec, self.store.fetch_dataset(spec.dataset.cid)

    def audit(self, job_id: int) -> Challenge | None:
        """Audit the submitted result of ``job_id``; the challenge to send if it is wrong (and this
        verifier challenges), else None."""
        if self._has_live_dispute(job_id):
            return None  # one live dispute per verifier and job is enough: a win pays every live one
        if self.market.job_status(job_id) not in (JobStatus.SUBMITTED, JobStatus.DISPUTED):
            return None
        if self.market.now() >= self.market.job(job_id).window_end:
            return None  # the window closed: no challenge can be opened
        result = self.market.result(job_id)
        if result is None:
            return None
        try:
            spec, dataset = self._job_inputs(job_id)
            audit, manifest = audit_result(
                job_id,
                spec,
                dataset,
                self.store,
                result,
                sample=self.config.sample,
                rng=self.rng,
                job=self.market.job(job_id),
            )
        except CrucibleError as exc:
            self.log.warning("job %d: cannot audit: %s", job_id, exc)
            return None
        self.report.audits[job_id] = audit
        self._keep(audit)
        finding = self._finding(job_id, audit, manifest is not None)
        if finding is None or not self.config.challenge:
            return None
        return self._plan(job_id, spec, dataset, manifest, finding)

    def _keep(self, audit: Audit) -> None:
        """Write the audit to ``state_dir/audits/<job id>.json``: why a job was challenged (or not)
        stays readable after the daemon stops."""
        folder = self.config.state_dir / "audits"
        folder.mkdir(parents=True, exist_ok=True)
        record = {**asdict(audit), "first": asdict(audit.first) if audit.first else None}
        tmp = folder / f".{audit.job_id}.json.tmp"
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
        tmp.replace(folder / f"{audit.job_id}.json")

    def _finding(self, job_id: int, audit: Audit, has_manifest: bool) -> Finding | None:
        if audit.unverifiable:
            self.log.warning("job %d: unverifiable: %s", job_id, audit.unverifiable)
            return None
        if has_manifest:
            self.log.info(
                "job %d: replayed %d of %d segments in %.2fs; a single forged segment escapes this sample "
                "with probability %.3f",
                job_id,
                len(audit.sampled),
                audit.segments,
                audit.replay_seconds,
                audit.escape_probability,
            )
        if audit.first is None:
            self.log.info("job %d: result checks out", job_id)
        else:
            self.log.warning("job %d: %s", job_id, audit.first.detail)
        return audit.first

    def plan_challenge(self, job_id: int, finding: Finding) -> Challenge:
        """The challenge of ``job_id`` on ``finding``, whatever the audit said (tests use it to
        challenge an honest result)."""
        spec, dataset = self._job_inputs(job_id)
        manifest = None
        if finding.kind != FindingKind.MANIFEST:
            result = self.market.result(job_id)
            if result is None:
                raise CrucibleError(f"job {job_id} has no submitted result to challenge")
            manifest = self.store.fetch_manifest(result.manifest_cid)
        return self._plan(job_id, spec, dataset, manifest, finding)

    def _plan(
        self,
        job_id: int,
        spec: JobSpec,
        dataset: dict,  # type: ignore[type-arg]
        manifest: Manifest | None,
        finding: Finding,
    ) -> Challenge:
        bond = self.market.bond_for(job_id)  # the job's bond, doubled per level of failed disputes
        if finding.kind == FindingKind.MANIFEST:  # no manifest to prove anything from: the oracle decides
            return Challenge(job_id, finding, "challenge_manifest", (), bond, {})
        if manifest is None:
            raise CrucibleError(f"job {job_id}: a {finding.kind.value} challenge needs the provider's manifest")
        leaves = manifest.leaves()
        hashes = [c.digest for c in manifest.checkpoints]
        j = finding.segment
        if finding.kind == FindingKind.INITIAL_STATE:
            return Challenge(job_id, finding, "challenge_initial_state", (hashes[0], merkle.proof(leaves, 0)), bond, {})
        if finding.kind == FindingKind.FINAL_MODEL:
            proof = merkle.proof(leaves, len(leaves) - 1)
            return Challenge(job_id, finding, "challenge_final_model", (hashes[-1], proof), bond, {})
        truth = self._segment_truth(spec, dataset, manifest, j) if finding.kind == FindingKind.SEGMENT else None
        proofs = (merkle.proof(leaves, j), merkle.proof(leaves, j + 1))
        return Challenge(job_id, finding, "challenge", (j, hashes[j], hashes[j + 1], *proofs), bond, truth)

    def _segment_truth(self, spec: JobSpec, dataset: dict, manifest: Manifest, j: int) -> dict[int, bytes] | None:  # type: ignore[type-arg]
        """The honest hash of every state in segment j, replayed from S_{j·k}."""
        k = spec.train.checkpoint_interval
        start = self._honest_state(spec, dataset, manifest, j)
        if start is None:
            return None
        truth = {j * k: start.hash()}
        Engine(spec, dataset).run(start, j * k, (j + 1) * k, on_step=lambda s: truth.__setitem__(s.step, s.hash()))
        return truth

    def _honest_state(self, spec: JobSpec, dataset: dict, manifest: Manifest, j: int) -> TrainState | None:  # type: ignore[type-arg]
        entry = manifest.checkpoints[j]
        try:
            return TrainState(self.store.fetch_checkpoint(entry.cid, expected_hash=entry.digest))
        except CrucibleError:
            pass
        k = spec.train.checkpoint_interval
        state = initial_state(spec, self.store)  # replay from S_0: costly, but needs nothing of the provider's
        state = Engine(spec, dataset).run(state, 0, j * k)
        return state if state.hash() == entry.digest else None

    def _rebuild_case(self, dispute_id: int, job_id: int) -> Case:
        dispute = self.market.dispute(dispute_id)
        if dispute.kind != DisputeKind.SEGMENT:
            return Case(dispute_id, job_id, {})
        spec, dataset = self._job_inputs(job_id)
        result = self.market.result(job_id)
        assert result is not None
        manifest = self.store.fetch_manifest(result.manifest_cid)
        j = dispute.a // spec.train.checkpoint_interval
        start = self._honest_state(spec, dataset, manifest, j)
        if start is None:
            return Case(dispute_id, job_id, None)
        return Case(dispute_id, job_id, self._segment_truth(spec, dataset, manifest, j))

    # ------------------------------------------------------------------ playing (decisions)

    def next_move(self, case: Case) -> Action | None:
        """This verifier's move in the dispute of ``case``, read from the chain."""
        d = self.market.dispute(case.dispute_id)
        if not d.live:
            return CloseCase(case.dispute_id, d.status)
        if self.market.job_status(d.job_id) == JobStatus.SLASHED:
            return Settle(case.dispute_id)  # another dispute proved the provider wrong first
        if d.status == DisputeStatus.DISSECTING and d.awaiting_response:
            move = self.market.last_dissection(case.dispute_id)
            if move is not None and (move.a, move.b) == (d.a, d.b):
                inner = dissection.interior(d.a, d.b, self.market.job(d.job_id).arity)
                own = [case.truth.get(m) if case.truth is not None else None for m in inner]
                index = dissection.choose_part(move.hashes, own)
                points = [d.a, *inner, d.b]
                return Respond(case.dispute_id, index, (points[index], points[index + 1]), move)
        if self.market.now() >= d.deadline:
            return ClaimTimeout(case.dispute_id)
        return None

    # ------------------------------------------------------------------ sending (the executor)

    def execute(self, action: Action) -> None:
        """Send ``action`` and book what it changed."""
        if isinstance(action, Challenge):
            self._open(action)
        elif isinstance(action, Respond):
            self.market.respond(action.dispute_id, action.index, action.move)
            a, b = action.part
            self.log.info("dispute %d: disputed part %d, [%d, %d]", action.dispute_id, action.index, a, b)
        elif isinstance(action, Settle):
            self.market.settle_dispute(action.dispute_id)
            self.log.info("dispute %d: settled as a shared win (the job was slashed)", action.dispute_id)
        elif isinstance(action, CloseCase):
            self.report.outcomes[action.dispute_id] = action.status
            self.metrics.disputes.labels(outcome=action.status.name.lower()).inc()
            del self.cases[action.dispute_id]
            self.log.info("dispute %d ended: %s", action.dispute_id, action.status.name.lower())
        else:
            self.claim_timeout(action)

    def _send_challenge(self, action: Challenge) -> None:
        try:
            self.execute(action)
        except ChainError as exc:
            # The window closed or the job was slashed meanwhile: nothing to win any more.
            self.log.warning("job %d: challenge not opened: %s", action.job_id, exc)

    def _open(self, action: Challenge) -> None:
        # the bond asked now: a dispute on the job that failed since the plan doubled it (§1.5)
        bond = self.market.bond_for(action.job_id)
        dispute_id = int(getattr(self.market, action.method)(action.job_id, *action.args, bond))
        self.report.disputes[dispute_id] = action.job_id
        self.cases[dispute_id] = Case(dispute_id, action.job_id, action.truth)
        self.metrics.challenges.inc()
        kind = action.finding.kind.value
        self.log.warning(
            "job %d: challenged (%s, dispute %d) with a bond of %s", action.job_id, kind, dispute_id, eth(bond)
        )
