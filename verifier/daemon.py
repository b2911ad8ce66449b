"""The verifier daemon: audits every submitted result, challenges the earliest bad part with its
bond, plays the bisection to the end, claims timeouts and withdraws its winnings.

Everything it needs is rebuilt from the chain and IPFS on start, so a restart mid-dispute
carries on where the last process stopped: the disputes it opened are found in the event log and
its honest per-step hashes are recomputed by replaying the disputed segment.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path

from crucible.chain.events import Event, EventLog, poll_forever
from crucible.chain.market import DisputeKind, DisputeStatus, JobStatus, Market
from crucible.engine.job import initial_state
from crucible.engine.step import Engine, TrainState
from crucible.errors import ChainError, CrucibleError
from crucible.protocol import merkle
from crucible.protocol.checkpoint import Manifest
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore
from verifier.audit import Audit, Finding, FindingKind, audit_result

log = logging.getLogger("crucible.verifier")


@dataclass(frozen=True)
class VerifierConfig:
    state_dir: Path
    sample: int | None = None  # segments replayed per result (None: all of them)
    poll_interval: float = 0.5
    challenge: bool = True  # False: audit and report only


@dataclass
class Case:
    """A dispute this verifier opened, with the hashes it holds to be true for each step."""

    dispute_id: int
    job_id: int
    truth: dict[int, bytes] | None  # None: the start state is unavailable, so disagree with everything


@dataclass
class VerifierReport:
    audits: dict[int, Audit] = field(default_factory=dict)
    disputes: dict[int, int] = field(default_factory=dict)  # dispute id -> job id
    outcomes: dict[int, DisputeStatus] = field(default_factory=dict)
    withdrawn: int = 0


class Verifier:
    def __init__(
        self,
        market: Market,
        store: ArtifactStore,
        config: VerifierConfig,
        *,
        start_block: int,
        rng: random.Random | None = None,
    ) -> None:
        if market.signer is None:
            raise CrucibleError("a verifier needs a signing key (and ETH for bonds)")
        self.market = market
        self.store = store
        self.config = config
        self.address = market.signer.address
        self.rng = rng or random.Random()
        self.events = EventLog(market.contract, start_block)
        self.to_audit: list[int] = []
        self.challenged: set[int] = set()
        self.cases: dict[int, Case] = {}
        self.report = VerifierReport()

    def run(self, stop: threading.Event) -> VerifierReport:
        log.info("verifier %s watching market %s", self.address, self.market.address)
        poll_forever(self.tick, stop, self.config.poll_interval, log)
        return self.report

    def tick(self) -> None:
        for event in self.events.poll():
            self._on_event(event)
        while self.to_audit:
            self._audit(self.to_audit.pop(0))
        for case in list(self.cases.values()):
            self._play(case)
        self._withdraw()

    def _on_event(self, event: Event) -> None:
        if event.name in ("ResultSubmitted", "JobResumed"):
            self.to_audit.append(int(event.args["jobId"]))
        elif event.name == "DisputeOpened" and event.args["challenger"] == self.address:
            dispute_id, job_id = int(event.args["disputeId"]), int(event.args["jobId"])
            self.challenged.add(job_id)
            self.report.disputes[dispute_id] = job_id
            if dispute_id not in self.cases and self.market.dispute(dispute_id).status in (
                DisputeStatus.BISECTING,
                DisputeStatus.AWAITING_ORACLE,
            ):
                self.cases[dispute_id] = self._rebuild_case(dispute_id, job_id)

    # ------------------------------------------------------------------ auditing

    def _job_inputs(self, job_id: int) -> tuple[JobSpec, dict]:  # type: ignore[type-arg]
        spec = self.store.fetch_spec(self.market.job(job_id).spec_cid_str)
        return spec, self.store.fetch_dataset(spec.dataset.cid)

    def _audit(self, job_id: int) -> None:
        if job_id in self.challenged or self.market.job_status(job_id) != JobStatus.SUBMITTED:
            return
        result = self.market.result(job_id)
        if result is None:
            return
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
            log.warning("job %d: cannot audit: %s", job_id, exc)
            return
        self.report.audits[job_id] = audit
        n, q = audit.segments, len(audit.sampled)
        if audit.unverifiable:
            log.warning("job %d: unverifiable: %s", job_id, audit.unverifiable)
            return
        if manifest is not None:
            log.info(
                "job %d: replayed %d of %d segments in %.2fs; a single forged segment escapes this sample "
                "with probability %.3f",
                job_id,
                q,
                n,
                audit.replay_seconds,
                audit.escape_probability,
            )
        finding = audit.first
        if finding is None:
            log.info("job %d: result checks out", job_id)
            return
        log.warning("job %d: %s", job_id, finding.detail)
        if not self.config.challenge:
            return
        try:
            self._challenge(job_id, spec, dataset, manifest, finding)
        except ChainError:
            if self.market.job_status(job_id) == JobStatus.SUBMITTED:
                raise
            # Another challenger was first (one live dispute per job); if its dispute ends without
            # a slash, JobResumed brings the job back here.
            log.info("job %d: already disputed by someone else", job_id)

    def _challenge(
        self,
        job_id: int,
        spec: JobSpec,
        dataset: dict,
        manifest: Manifest | None,  # type: ignore[type-arg]
        finding: Finding,
    ) -> None:
        job = self.market.job(job_id)
        truth: dict[int, bytes] | None = {}  # direct kinds: nothing to bisect
        if finding.kind == FindingKind.MANIFEST:  # no manifest to prove anything from: the oracle decides
            self._open_case(job_id, self.market.challenge_manifest(job_id, job.bond), truth, finding, job.bond)
            return
        if manifest is None:
            raise CrucibleError(f"job {job_id}: a {finding.kind.value} challenge needs the provider's manifest")
        leaves = manifest.leaves()
        hashes = [c.digest for c in manifest.checkpoints]
        j = finding.segment
        if finding.kind == FindingKind.INITIAL_STATE:
            dispute_id = self.market.challenge_initial_state(job_id, hashes[0], merkle.proof(leaves, 0), job.bond)
        elif finding.kind == FindingKind.FINAL_MODEL:
            dispute_id = self.market.challenge_final_model(
                job_id, hashes[-1], merkle.proof(leaves, len(leaves) - 1), job.bond
            )
        else:
            truth = self._segment_truth(spec, dataset, manifest, j) if finding.kind == FindingKind.SEGMENT else None
            dispute_id = self.market.challenge(
                job_id, j, hashes[j], hashes[j + 1], merkle.proof(leaves, j), merkle.proof(leaves, j + 1), job.bond
            )
        self._open_case(job_id, dispute_id, truth, finding, job.bond)

    def _open_case(
        self, job_id: int, dispute_id: int, truth: dict[int, bytes] | None, finding: Finding, bond: int
    ) -> None:
        self.challenged.add(job_id)
        self.report.disputes[dispute_id] = job_id
        self.cases[dispute_id] = Case(dispute_id, job_id, truth)
        log.warning(
            "job %d: challenged (%s, dispute %d) with a bond of %d wei", job_id, finding.kind.value, dispute_id, bond
        )

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

    # ------------------------------------------------------------------ playing

    def _play(self, case: Case) -> None:
        d = self.market.dispute(case.dispute_id)
        if d.status not in (DisputeStatus.BISECTING, DisputeStatus.AWAITING_ORACLE):
            self.report.outcomes[case.dispute_id] = d.status
            del self.cases[case.dispute_id]
            log.info("dispute %d ended: %s", case.dispute_id, d.status.name.lower())
            return
        if d.status == DisputeStatus.BISECTING and d.awaiting_response:
            m = (d.a + d.b) // 2
            agree = case.truth is not None and case.truth.get(m) == d.mid_hash
            self.market.respond(case.dispute_id, agree)
            log.info("dispute %d: %s with H(%d)", case.dispute_id, "agreed" if agree else "disagreed", m)
            return
        if self.market.timeout_if_due(case.dispute_id, d):
            log.info("dispute %d: claimed the timeout", case.dispute_id)

    def _withdraw(self) -> None:
        credit = self.market.collect_credit()
        if credit:
            self.report.withdrawn += credit
            log.info("withdrew %d wei", credit)
