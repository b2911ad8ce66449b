"""The deterministic training engine: model zoo, the pure step function, replay and evaluation.

``step``/``run``/``replay_segment`` are pure PyTorch (no chain, no IPFS), so the worker, the
verifier and the oracle call the very same code. ``crucible.engine.job`` adds the worker-side
orchestration (checkpoint uploads, manifest) on top and is the only engine module that touches
the artifact store.
"""

from crucible.protocol.profiles import prepare_environment

prepare_environment()

from crucible.engine.models import build_model, param_specs  # noqa: E402
from crucible.engine.step import (  # noqa: E402
    Engine,
    TrainState,
    evaluate,
    initial_state_from,
    replay_segment,
    step_seed,
)

__all__ = [
    "Engine",
    "TrainState",
    "build_model",
    "evaluate",
    "initial_state_from",
    "param_specs",
    "replay_segment",
    "step_seed",
]
