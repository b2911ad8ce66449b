"""Checking a submitted result: the initial state, a sample of segments, the final model.

Each sampled segment j is replayed from the provider's own checkpoint C_j (or from the state the
verifier itself reached, where C_j cannot be used) and compared with the committed hash of C_{j+1}.
A checkpoint the provider committed to but does not serve is a finding too: keeping the trace
available during the window is the provider's duty, and the dispute game enforces it. So is a
manifest that cannot be fetched, is not a manifest, or does not match the result committed on chain
(trace root, final stateHash, spec, schedule, final model): without it no proof for any other
dispute can be built, so it is challenged directly, before anything else.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from enum import Enum

import torch

from crucible.chain.market import Job, SubmittedResult
from crucible.engine.job import initial_state
from crucible.engine.step import Engine, TrainState
from crucible.errors import ArtifactRejected, ArtifactUnavailable, CrucibleError
from crucible.protocol.checkpoint import Manifest
from crucible.protocol.hashing import params_hash, to_hex
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore


class FindingKind(Enum):
    MANIFEST = "manifest"  # the submitted manifest is unavailable, invalid, or does not match the chain
    INITIAL_STATE = "initial-state"  # C_0 is not the spec's S_0
    SEGMENT = "segment"  # replaying segment j from S_j does not give the committed H_{j+1}
    UNAVAILABLE = "unavailable"  # C_j is committed but not served (or not what was committed)
    FINAL_MODEL = "final-model"  # the final model is not C_n's parameters


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    segment: int  # j for SEGMENT/UNAVAILABLE, 0 for INITIAL_STATE and MANIFEST, n for FINAL_MODEL
    detail: str

    @property
    def order(self) -> tuple[int, int]:
        """The manifest first (nothing else can be proven without it), then the earliest disputed
        step; the final model is checked last."""
        rank = {
            FindingKind.MANIFEST: -1,
            FindingKind.INITIAL_STATE: 0,
            FindingKind.UNAVAILABLE: 1,
            FindingKind.SEGMENT: 1,
            FindingKind.FINAL_MODEL: 2,
        }[self.kind]
        return (rank, self.segment)


@dataclass
class Audit:
    job_id: int
    segments: int
    sampled: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    replay_seconds: float = 0.0
    unverifiable: str | None = None  # why nothing could be checked (no challenge is possible, e.g. our
    # own IPFS node is down); a manifest the provider does not serve is a MANIFEST finding instead

    @property
    def first(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.order) if self.findings else None

    @property
    def escape_probability(self) -> float:
        """Chance that one forged segment escapes this sample: (n - q) / n (sampling without replacement)."""
        return (self.segments - len(self.sampled)) / self.segments if self.segments else 0.0


def choose_segments(n: int, sample: int | None, rng: random.Random) -> list[int]:
    """All segments, or an unpredictable sample of ``sample`` of them (a provider cannot guess which)."""
    if sample is None or sample >= n:
        return list(range(n))
    return sorted(rng.sample(range(n), sample))


def audit_result(
    job_id: int,
    spec: JobSpec,
    dataset: dict[str, torch.Tensor],
    store: ArtifactStore,
    result: SubmittedResult,
    *,
    sample: int | None = None,
    rng: random.Random | None = None,
    job: Job | None = None,
) -> tuple[Audit, Manifest | None]:
    """Check a result; returns the audit and the manifest (None if it could not be had, or does not
    describe the committed result: then the audit holds a MANIFEST finding, or says why it is
    unverifiable). ``job``: the job as on chain, whose spec CID and schedule the manifest must
    match (without it, the spec's schedule is used and the spec CID is not compared)."""
    n = spec.train.total_steps // spec.train.checkpoint_interval
    audit = Audit(job_id, n)
    try:
        manifest = store.fetch_manifest(result.manifest_cid)
    except (ArtifactUnavailable, ArtifactRejected) as exc:  # the node answered: the provider's fault
        audit.findings.append(Finding(FindingKind.MANIFEST, 0, f"manifest {result.manifest_cid}: {exc}"))
        return audit, None
    except CrucibleError as exc:  # e.g. our own IPFS node is down: blame nobody
        audit.unverifiable = f"manifest {result.manifest_cid} could not be checked: {exc}"
        return audit, None
    differ = manifest_mismatches(manifest, result, spec, job)
    if differ:
        audit.findings.append(
            Finding(
                FindingKind.MANIFEST,
                0,
                f"manifest {result.manifest_cid} does not match the result committed on chain: {'; '.join(differ)}",
            )
        )
        return audit, None
    started = time.monotonic()
    own = _replay_sample(audit, spec, dataset, store, manifest, sample, rng or random.Random())
    audit.replay_seconds = time.monotonic() - started

    final_model = _check_final_model(store, manifest, result.final_model_cid, n, own.get(n))
    if final_model is not None:
        audit.findings.append(final_model)
    return audit, manifest


def _replay_sample(
    audit: Audit,
    spec: JobSpec,
    dataset: dict[str, torch.Tensor],
    store: ArtifactStore,
    manifest: Manifest,
    sample: int | None,
    rng: random.Random,
) -> dict[int, TrainState]:
    """Check C_0 against the spec and replay the sampled segments, adding findings to ``audit``;
    returns the states this verifier computed and found to match (by checkpoint index)."""
    n, k = audit.segments, spec.train.checkpoint_interval
    hashes = [c.digest for c in manifest.checkpoints]

    s0 = initial_state(spec, store)
    if s0.hash() != hashes[0]:
        audit.findings.append(
            Finding(
                FindingKind.INITIAL_STATE, 0, f"C_0 hash {to_hex(hashes[0])} is not the spec's S_0 {to_hex(s0.hash())}"
            )
        )
    engine = Engine(spec, dataset)
    audit.sampled = choose_segments(n, sample, rng)
    own: dict[int, TrainState] = {0: s0} if s0.hash() == hashes[0] else {}
    for j in audit.sampled:
        entry = manifest.checkpoints[j]
        start: TrainState | None
        try:
            start = TrainState(store.fetch_checkpoint(entry.cid, expected_hash=entry.digest, expected_step=j * k))
        except (ArtifactUnavailable, ArtifactRejected) as exc:
            if j > 0:  # C_0 is checked against the spec above
                audit.findings.append(Finding(FindingKind.UNAVAILABLE, j, f"checkpoint {j} (step {j * k}): {exc}"))
            start = own.get(j)
        if start is None:
            continue
        end = engine.run(start, j * k, (j + 1) * k)
        if end.hash() == hashes[j + 1]:
            own[j + 1] = end
        else:
            audit.findings.append(
                Finding(
                    FindingKind.SEGMENT,
                    j,
                    f"replaying steps {j * k}..{(j + 1) * k} gives {to_hex(end.hash())}, "
                    f"committed {to_hex(hashes[j + 1])}",
                )
            )
    return own


def manifest_mismatches(manifest: Manifest, result: SubmittedResult, spec: JobSpec, job: Job | None) -> list[str]:
    """The committed fields the manifest disagrees with (the oracle's Manifest rule), as text."""
    compared = manifest.compare_commitments(
        trace_root=result.trace_root,
        final_state_hash=result.final_state_hash,
        spec_cid=job.spec_cid_str if job is not None else manifest.spec_cid,
        checkpoint_interval=job.interval if job is not None else spec.train.checkpoint_interval,
        total_steps=job.total_steps if job is not None else spec.train.total_steps,
        final_model_cid=result.final_model_cid,
    )
    return [f"{name} {ours} (chain: {theirs})" for name, (ours, theirs) in compared.items() if ours != theirs]


def _check_final_model(
    store: ArtifactStore, manifest: Manifest, final_model_cid: str, n: int, own_final: TrainState | None
) -> Finding | None:
    """The model the provider committed on chain must hold exactly C_n's parameters."""
    last = manifest.checkpoints[-1]
    try:
        final_tensors = store.fetch_checkpoint(last.cid, expected_hash=last.digest)
    except (ArtifactUnavailable, ArtifactRejected) as exc:
        if own_final is None:
            return Finding(FindingKind.FINAL_MODEL, n, f"last checkpoint unavailable: {exc}")
        final_tensors = dict(own_final.tensors)
    try:
        store.fetch_final_model(final_model_cid, expected_params_hash=params_hash(final_tensors))
    except (ArtifactUnavailable, ArtifactRejected) as exc:
        return Finding(FindingKind.FINAL_MODEL, n, f"final model {final_model_cid}: {exc}")
    return None
