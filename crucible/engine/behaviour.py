"""How a provider produces and defends its trace: the hooks the worker calls, typed as a Protocol.

:class:`Honest` is what `crucible worker run` uses. The dishonest providers of the attack suite
and the demo (``crucible.testing.adversaries``) implement the same hooks; because training *and*
bisection answers go through them, a cheater defends its lie consistently, as a real one would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch

from crucible.engine.job import TrainResult
from crucible.engine.step import Engine, TrainState
from crucible.protocol.spec import JobSpec
from crucible.store.artifacts import ArtifactStore


class ProviderBehaviour(Protocol):
    name: str

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        """The step function this provider trains and answers bisection moves with."""
        ...

    def initial_state(self, spec: JobSpec, store: ArtifactStore) -> TrainState | None:
        """S_0 to train from; None means the spec's own."""
        ...

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        """What gets submitted (and kept available)."""
        ...

    def trains(self) -> bool:
        """Whether to train a claimed job at all."""
        ...

    def answers(self, moves_made: int) -> bool:
        """Whether to make the next bisection move."""
        ...


class Honest:
    """Follows the protocol: the job's own S_0, the honest step, every move answered."""

    name = "honest"

    def engine(self, spec: JobSpec, dataset: Mapping[str, torch.Tensor]) -> Engine:
        return Engine(spec, dataset)

    def initial_state(self, spec: JobSpec, store: ArtifactStore) -> TrainState | None:
        return None

    def after_training(self, result: TrainResult, spec_cid: str, store: ArtifactStore) -> TrainResult:
        return result

    def trains(self) -> bool:
        return True

    def answers(self, moves_made: int) -> bool:
        return True
