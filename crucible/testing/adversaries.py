"""Dishonest providers: the attacks of ``docs/design.md`` §10, for the attack suite and the demo.

Each one changes one hook of :class:`~crucible.engine.behaviour.Honest`, most through the engine's
public step hook. The production worker never imports this module; the application wires it in
for the demo's hidden ``--behaviour`` option.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace

import torch

from crucible.engine.behaviour import Honest, ProviderBehaviour
from crucible.engine.job import TrainResult, initial_state
from crucible.engine.step import Engine, TrainState
from crucible.errors import ConfigError
from crucible.protocol import checkpoint as ckpt
from crucible.protocol import hashing
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore


def _nudge(t: torch.Tensor, salt: str) -> torch.Tensor:
    """A small deterministic perturbation: a plausible-looking but wrong tensor."""
    gen = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(salt.encode()).digest()[:7], "big"))
    return t + 1e-3 * torch.randn(t.shape, generator=gen, dtype=t.dtype)


def _perturb_params(state: TrainState, salt: str) -> TrainState:
    return TrainState({n: _nudge(v, f"{salt}/{n}") if n.startswith("param/") else v for n, v in state.tensors.items()})


class LazyProvider(Honest):
    """Never trains: every 'step' only nudges the weights (invented checkpoints)."""

    name = "lazy"

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        def lazy(state: TrainState, honest: Callable[[TrainState], TrainState]) -> TrainState:
            t = state.step
            nudged = _perturb_params(state, f"lazy/{t}").tensors
            return TrainState({**nudged, "step": torch.tensor(t + 1, dtype=torch.int64)})

        return Engine(spec, dataset, step_hook=lazy)


class SkipSteps(Honest):
    """Does only every other step, to save half the compute."""

    name = "skip-steps"

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        def skipping(state: TrainState, honest: Callable[[TrainState], TrainState]) -> TrainState:
            t = state.step
            if t % 2:
                return TrainState({**state.tensors, "step": torch.tensor(t + 1, dtype=torch.int64)})
            return honest(state)

        return Engine(spec, dataset, step_hook=skipping)


class PoisonStep(Honest):
    """Trains honestly except at one step, where it plants a backdoor in the weights."""

    name = "poison-step"

    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        at = self.at_step

        def poisoned(state: TrainState, honest: Callable[[TrainState], TrainState]) -> TrainState:
            after = honest(state)
            return _perturb_params(after, "backdoor") if state.step == at else after

        return Engine(spec, dataset, step_hook=poisoned)


class OtherData(Honest):
    """Trains on other data than the job's (here: the labels shuffled)."""

    name = "other-data"

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        swapped = dict(dataset)
        if "labels" in swapped:
            swapped["labels"] = swapped["labels"].roll(1)
        else:
            swapped["tokens"] = swapped["tokens"].flip(0).contiguous()
        return Engine(spec, swapped)


class WrongInitialState(Honest):
    """Starts from weights other than the spec's S_0 (and trains honestly from there)."""

    name = "wrong-initial-state"

    def initial_state(self, spec: JobSpec, store: ArtifactStore) -> TrainState:
        return _perturb_params(initial_state(spec, store), "other-init")


class FinalModelSwap(Honest):
    """Trains honestly but submits a different final model than its last checkpoint."""

    name = "final-model-swap"

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        swapped = _perturb_params(result.final_state, "swap")
        model_cid = store.put(ckpt.encode_final_model(swapped.tensors, spec_cid))
        return _with_manifest(result, store, final_model_cid=model_cid)


class ForgedRoot(Honest):
    """Uploads honest checkpoints but commits a trace whose hash for checkpoint ``segment`` is made up."""

    name = "forged-root"

    def __init__(self, segment: int) -> None:
        self.segment = segment

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        entries = list(result.checkpoints)
        forged = hashlib.sha256(b"forged" + entries[self.segment].digest).digest()
        entries[self.segment] = entries[self.segment].model_copy(update={"state_hash": hashing.to_hex(forged)})
        return _with_manifest(result, store, checkpoints=entries)


class WithheldCheckpoint(Honest):
    """Trains honestly, then stops serving one checkpoint it committed to."""

    name = "withheld-checkpoint"

    def __init__(self, segment: int) -> None:
        self.segment = segment

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        store.blobs.remove(result.checkpoints[self.segment].cid)  # type: ignore[attr-defined]
        return result


class HiddenManifest(Honest):
    """Trains honestly but submits the CID of a manifest it never uploads: nobody can fetch the
    trace's table of contents, so nobody can build a Merkle proof to challenge anything else."""

    name = "hidden-manifest"

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        # A valid manifest for the committed trace (a trailing newline is still the same JSON), but
        # bytes nobody ever stored: only its CID is computed, so no node can serve it.
        hidden = result.manifest.to_bytes() + b"\n"
        return replace(result, manifest_cid=store.blobs.cid_of(hidden))  # type: ignore[attr-defined]


class MismatchedManifest(Honest):
    """Trains honestly and submits the honest trace root, but uploads a manifest (valid on its own)
    for another trace: one whose checkpoint ``segment`` hash is made up, so its root differs."""

    name = "mismatched-manifest"

    def __init__(self, segment: int = 1) -> None:
        self.segment = segment

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        entries = list(result.checkpoints)
        forged = hashlib.sha256(b"mismatched" + entries[self.segment].digest).digest()
        entries[self.segment] = entries[self.segment].model_copy(update={"state_hash": hashing.to_hex(forged)})
        other = _with_manifest(result, store, checkpoints=entries)
        # The other trace's manifest, submitted next to the honest commitments.
        return replace(
            other,
            trace_root=result.trace_root,
            final_state_hash=result.final_state_hash,
            checkpoints=result.checkpoints,
        )


class SilentInDispute(Honest):
    """Forges a step and then, once challenged, stops answering after ``moves`` bisection moves."""

    name = "silent-in-dispute"

    def __init__(self, at_step: int, moves: int) -> None:
        self.poison = PoisonStep(at_step)
        self.moves = moves

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        return self.poison.engine(spec, dataset)

    def answers(self, moves_made: int) -> bool:
        return moves_made < self.moves


class ClaimAndVanish(Honest):
    """Claims a job, locks its stake, and never delivers."""

    name = "claim-and-vanish"

    def trains(self) -> bool:
        return False


def _with_manifest(result: TrainResult, store: ArtifactStore, **changes: object) -> TrainResult:
    """Re-issue the manifest with ``changes`` (checkpoints and/or final_model_cid) and upload it."""
    m = result.manifest
    entries = changes.get("checkpoints", list(m.checkpoints))
    manifest = ckpt.build_manifest(
        m.spec_cid,
        m.checkpoint_interval,
        m.total_steps,
        entries,  # type: ignore[arg-type]
        bytes.fromhex(m.final_params_hash[2:]),
        str(changes.get("final_model_cid", m.final_model_cid)),
        m.environment,
    )
    return replace(
        result,
        manifest=manifest,
        manifest_cid=store.put(manifest.to_bytes()),
        trace_root=manifest.root(),
        final_state_hash=manifest.checkpoints[-1].digest,
        final_model_cid=manifest.final_model_cid,
        checkpoints=tuple(manifest.checkpoints),
    )


_PLAIN = {
    b.name: b
    for b in (
        Honest,
        LazyProvider,
        SkipSteps,
        OtherData,
        WrongInitialState,
        FinalModelSwap,
        ClaimAndVanish,
        HiddenManifest,
        MismatchedManifest,
    )
}
_AT = {b.name: b for b in (PoisonStep, ForgedRoot, WithheldCheckpoint)}


def parse_behaviour(text: str) -> ProviderBehaviour:
    """``honest``, ``lazy``, ``poison-step:137``, ``withheld-checkpoint:2``, ``silent-in-dispute:137:2``…"""
    name, *args = text.split(":")
    try:
        if name in _PLAIN and not args:
            return _PLAIN[name]()
        if name in _AT and len(args) == 1:
            return _AT[name](int(args[0]))
        if name == SilentInDispute.name and len(args) == 2:
            return SilentInDispute(int(args[0]), int(args[1]))
    except ValueError:
        pass
    known = [*_PLAIN, *(f"{n}:N" for n in _AT), f"{SilentInDispute.name}:STEP:MOVES"]
    raise ConfigError(f"unknown behaviour {text!r}; known: {', '.join(known)}")
