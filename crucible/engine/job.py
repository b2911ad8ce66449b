"""Worker-side orchestration: train a whole job, committing to it as it goes.

:func:`train_job` runs the pure step function of :mod:`crucible.engine.step` from ``S_0`` (or a
checkpoint) to ``S_T``, hashes every k-th state, hands it to a background uploader, and at the
end uploads the final model and the manifest. It returns everything the provider submits on chain.
This is the one engine module that touches the artifact store; the step itself never does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from crucible.engine.step import Engine, TrainState, check_state, initial_state_from
from crucible.errors import InvalidState
from crucible.protocol import checkpoint as ckpt
from crucible.protocol import merkle
from crucible.protocol.checkpoint import CheckpointEntry, Manifest
from crucible.protocol.profiles import pinned_threads
from crucible.protocol.spec import JobSpec, WeightsInit
from crucible.store.artifacts import ArtifactStore, CheckpointUploader

OnCheckpoint = Callable[[int, bytes, TrainState], None]


@dataclass(frozen=True)
class TrainResult:
    """What the provider submits (trace root, final hash, manifest and model CIDs) and the evidence."""

    trace_root: bytes
    final_state_hash: bytes
    manifest_cid: str
    final_model_cid: str
    checkpoints: tuple[CheckpointEntry, ...]
    manifest: Manifest
    final_state: TrainState


def initial_state(spec: JobSpec, store: ArtifactStore | None = None) -> TrainState:
    """``S_0`` of ``spec``: seeded, or from the initial weights fetched (and validated) from ``store``."""
    weights = None
    if isinstance(spec.model.init, WeightsInit):
        if store is None:
            raise InvalidState(f"spec initialises from weights {spec.model.init.cid}; a store is needed to fetch them")
        weights = store.fetch_weights(spec.model.init.cid)
    return initial_state_from(spec, weights)


def trace_commitment(
    spec: JobSpec, dataset: Mapping[str, torch.Tensor], state0: TrainState
) -> tuple[list[bytes], bytes]:
    """Hashes of every checkpoint and the trace root, without uploading anything (for checks and tests)."""
    engine = Engine(spec, dataset)
    k, T = spec.train.checkpoint_interval, spec.train.total_steps
    state, hashes = state0, [state0.hash()]
    with pinned_threads(spec.profile):  # once for the whole job, not per segment: see train_job
        for a in range(0, T, k):
            state = engine.run(state, a, a + k)
            hashes.append(state.hash())
    leaves = [merkle.leaf(i * k, h) for i, h in enumerate(hashes)]
    return hashes, merkle.root(leaves)


def train_job(
    spec: JobSpec,
    dataset: Mapping[str, torch.Tensor],
    store: ArtifactStore,
    *,
    spec_cid: str | None = None,
    on_checkpoint: OnCheckpoint | None = None,
    resume_from: tuple[TrainState, Sequence[CheckpointEntry]] | None = None,
    queue_size: int = 16,
    engine: Engine | None = None,
    state0: TrainState | None = None,
) -> TrainResult:
    """Train ``spec`` to ``T``, uploading checkpoints as it goes; returns the commitments.

    ``resume_from=(S_j, entries)`` continues from a checkpoint state at step j (a multiple of k)
    whose entries for steps 0..j were already uploaded (``entries[-1]`` must commit to ``S_j``).
    ``on_checkpoint(step, state_hash, state)`` runs on the training thread after each checkpoint is
    queued. The manifest goes up with the last checkpoint and the final model, in one request.
    Upload failures raise :class:`~crucible.errors.StoreError` and no manifest is produced.
    ``engine`` and ``state0`` replace the job's own step function and S_0: the attack suite's
    dishonest providers are built this way; an honest provider never passes them.
    """
    engine = engine or Engine(spec, dataset)
    k, T = spec.train.checkpoint_interval, spec.train.total_steps
    spec_cid = spec_cid or store.put_spec(spec)
    if resume_from is None:
        state, prior = state0 or initial_state(spec, store), []
    else:
        state, prior = resume_from[0], list(resume_from[1])
        _check_resume(spec, state, prior)

    # The profile's thread count holds for the whole job: between segments no second OpenMP thread
    # runs (on a busy host it waits for a free core), and segments do not switch the count.
    with pinned_threads(spec.profile), CheckpointUploader(store, spec_cid, queue_size=queue_size) as uploader:
        if not prior:
            _checkpoint(uploader, state, on_checkpoint)
        for a in range(state.step, T, k):
            state = engine.run(state, a, a + k)
            _checkpoint(uploader, state, on_checkpoint)
        final_state = state.to("cpu")
        uploader.submit_final_model(ckpt.encode_final_model(final_state.tensors, spec_cid))
        params_hash = final_state.params_hash()

        def build(uploaded: list[CheckpointEntry], model_cid: str) -> Manifest:
            return ckpt.build_manifest(spec_cid, k, T, prior + uploaded, params_hash, model_cid, engine.profile)

        entries = prior + uploader.close(manifest=build)  # the manifest rides in the last request
        final_model_cid, manifest, manifest_cid = uploader.final_model_cid, uploader.manifest, uploader.manifest_cid
        assert final_model_cid is not None and manifest is not None and manifest_cid is not None  # else close() raised

    return TrainResult(
        trace_root=manifest.root(),
        final_state_hash=entries[-1].digest,
        manifest_cid=manifest_cid,
        final_model_cid=final_model_cid,
        checkpoints=tuple(entries),
        manifest=manifest,
        final_state=final_state,
    )


def _checkpoint(uploader: CheckpointUploader, state: TrainState, on_checkpoint: OnCheckpoint | None) -> None:
    """Hash ``state`` on the training thread and queue it for upload; then tell ``on_checkpoint``."""
    digest = state.hash()
    uploader.submit(state.tensors, digest)
    if on_checkpoint is not None:
        on_checkpoint(state.step, digest, state)


def load_checkpoint_state(store: ArtifactStore, spec: JobSpec, entry: CheckpointEntry) -> TrainState:
    """Fetch a committed checkpoint, verify it against its committed hash and the job's state layout."""
    tensors = store.fetch_checkpoint(entry.cid, expected_hash=entry.digest, expected_step=entry.step)
    state = TrainState(tensors)
    check_state(spec, state)
    return state


__all__ = ["TrainResult", "initial_state", "load_checkpoint_state", "trace_commitment", "train_job"]


def _check_resume(spec: JobSpec, state: TrainState, prior: Sequence[CheckpointEntry]) -> None:
    """``state`` must be a checkpoint state at step j (a multiple of k) committed by ``prior[-1]``,
    with ``prior`` holding the entries for steps 0..j."""
    check_state(spec, state)
    k, j = spec.train.checkpoint_interval, state.step
    if j % k or [e.step for e in prior] != list(range(0, j + 1, k)):
        raise InvalidState(f"resume needs a checkpoint state at a multiple of {k} and entries for steps 0..{j}")
    if prior[-1].digest != state.hash():
        raise InvalidState(f"resume state does not hash to the committed checkpoint at step {j}")
