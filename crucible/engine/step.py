"""The training step: ``S_{t+1} = step(S_t)``, a pure function of the state, the spec and the dataset.

State layout (a flat ``dict[str, Tensor]``, hashed by :func:`crucible.protocol.hashing.state_hash`)::

    param/<name>              model parameters (float32), <name> as in the module's named_parameters
    opt/<name>/momentum       SGD with momentum > 0: the momentum buffer
    opt/<name>/exp_avg        AdamW: first moment
    opt/<name>/exp_avg_sq     AdamW: second moment
    step                      int64 scalar: t, the number of steps already taken

Step ``t`` draws its batch from a CPU ``torch.Generator`` seeded with :func:`step_seed` (seed, t),
so any party can replay step t from ``S_t`` alone, on any device. The optimizers are written out as
explicit out-of-place tensor math (no ``torch.optim``: its foreach/fused paths and state layout vary
between versions and devices), so their state is part of ``S_t`` and every old state stays intact.
This module imports neither the chain nor IPFS: worker, verifier and oracle share it.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import torch
import torch.nn.functional as F
from torch.func import functional_call

from crucible.engine.models import build_model, check_weights, param_specs, seeded_params
from crucible.errors import InvalidState
from crucible.protocol import hashing
from crucible.protocol.data import validate_dataset
from crucible.protocol.profiles import ProfileInfo, ensure_profile, pinned_threads
from crucible.protocol.spec import AdamW, JobSpec, Sgd, WeightsInit

STEP_KEY = "step"
TensorList = tuple[torch.Tensor, ...] | list[torch.Tensor]
EVAL_BATCH = 256


def step_seed(seed: int, t: int) -> int:
    """63-bit generator seed for step ``t``: the first 8 bytes of sha256("crucible.step"|seed|t) >> 1."""
    digest = hashlib.sha256(b"crucible.step" + seed.to_bytes(8, "big") + t.to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _powi(base: float, n: int) -> float:
    """base**n by repeated squaring: plain IEEE multiplies, unlike libm's pow, which may differ by host."""
    result, b = 1.0, base
    while n:
        if n & 1:
            result *= b
        b *= b
        n >>= 1
    return result


@dataclass(frozen=True)
class TrainState:
    """``S_t``: an immutable mapping of named tensors (see the module docstring for the layout)."""

    tensors: Mapping[str, torch.Tensor] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", MappingProxyType(dict(self.tensors)))

    @property
    def step(self) -> int:
        return int(self.tensors[STEP_KEY].item())

    def params(self) -> dict[str, torch.Tensor]:
        return hashing.split_params(self.tensors)

    def hash(self) -> bytes:
        return hashing.state_hash(self.tensors)

    def params_hash(self) -> bytes:
        return hashing.params_hash(self.tensors)

    def to(self, device: str | torch.device) -> TrainState:
        return TrainState({n: t.to(device) for n, t in self.tensors.items()})

    def __repr__(self) -> str:
        return f"TrainState(step={self.step}, tensors={len(self.tensors)})"


def _opt_slots(spec: JobSpec) -> tuple[str, ...]:
    opt = spec.train.optimizer
    if isinstance(opt, AdamW):
        return ("exp_avg", "exp_avg_sq")
    return ("momentum",) if opt.momentum > 0 else ()


def state_layout(spec: JobSpec) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Every tensor a valid state of this job holds: name -> (shape, dtype)."""
    layout: dict[str, tuple[tuple[int, ...], torch.dtype]] = {STEP_KEY: ((), torch.int64)}
    for name, spec_ in param_specs(spec.model).items():
        layout[f"{hashing.PARAM_PREFIX}{name}"] = spec_
        for slot in _opt_slots(spec):
            layout[f"opt/{name}/{slot}"] = spec_
    return layout


def state_bytes(spec: JobSpec) -> int:
    """Size of this job's training state (parameters, optimizer slots, step counter) in bytes."""
    return sum(math.prod(shape) * dtype.itemsize for shape, dtype in state_layout(spec).values())


def check_state(spec: JobSpec, state: TrainState) -> None:
    """Raise :class:`InvalidState` unless ``state`` has exactly this job's layout (names, shapes, dtypes)."""
    layout = state_layout(spec)
    problems = [f"missing {n!r}" for n in sorted(layout) if n not in state.tensors]
    problems += [f"unexpected {n!r}" for n in sorted(state.tensors) if n not in layout]
    for name, (shape, dtype) in layout.items():
        t = state.tensors.get(name)
        if t is not None and (tuple(t.shape) != shape or t.dtype != dtype):
            problems.append(f"{name!r} is {t.dtype}{list(t.shape)}, needs {dtype}{list(shape)}")
    if problems:
        raise InvalidState(f"state does not fit this job's model and optimizer: {'; '.join(problems[:20])}")
    if state.step < 0 or state.step > spec.train.total_steps:
        raise InvalidState(f"state step {state.step} is outside 0..{spec.train.total_steps}")


def initial_state_from(spec: JobSpec, weights: Mapping[str, torch.Tensor] | None = None) -> TrainState:
    """``S_0``: seeded parameters, or ``weights`` (required iff the spec names initial weights),
    with zeroed optimizer state and step 0. Always on the CPU, so it is device-independent."""
    with pinned_threads(spec.profile):  # one thread, as the steps: see Engine.__init__
        if isinstance(spec.model.init, WeightsInit):
            if weights is None:
                raise InvalidState(f"the spec initialises from weights {spec.model.init.cid}; pass them in")
            try:
                params = check_weights(spec.model, weights)
            except ValueError as exc:
                raise InvalidState(str(exc)) from None
        else:
            if weights is not None:
                raise InvalidState("the spec uses a seeded init; initial weights were given but are not used")
            params = seeded_params(spec.model, spec.model.init.seed)
    tensors: dict[str, torch.Tensor] = {STEP_KEY: torch.tensor(0, dtype=torch.int64)}
    for name, p in params.items():
        tensors[f"{hashing.PARAM_PREFIX}{name}"] = p
        for slot in _opt_slots(spec):
            tensors[f"opt/{name}/{slot}"] = torch.zeros_like(p)
    return TrainState(tensors)


class StepHook(Protocol):
    """Replaces single steps (the attack suite's dishonest providers): given ``S_t`` and the honest
    step, returns the ``S_{t+1}`` to use. Training and bisection answers both go through it."""

    def __call__(self, state: TrainState, honest: Callable[[TrainState], TrainState], /) -> TrainState: ...


class TrainingStopped(Exception):
    """:meth:`Engine.run` was cancelled between steps; the caller asked for it, so it is no error."""


class Engine:
    """One job's step function bound to its dataset, under the job's determinism profile.

    Constructing it applies and checks the profile (raising ProfileError if this process cannot
    honour it) and validates the dataset against the spec; build one per (spec, dataset) and reuse
    it: every per-step object that does not depend on ``t`` (generator, index ranges, the slots the
    parameters are bound into) is made here, once.
    """

    def __init__(
        self, spec: JobSpec, dataset: Mapping[str, torch.Tensor], *, step_hook: StepHook | None = None
    ) -> None:
        self.step_hook = step_hook
        pin = spec.environment.model_dump() if spec.environment is not None else None
        self.profile: ProfileInfo = ensure_profile(spec.profile, required=pin)
        self.spec = spec
        self.device = torch.device("cuda" if spec.profile == "cuda" else "cpu")
        # Under the profile's thread count too: on a busy host a two-thread OpenMP region (the
        # dataset's isfinite check, the model's init) waits for a second core, 50-500 ms per region
        # on a loaded 2-core machine against 0.5 ms on one thread. Checks and inits are exact either way.
        with pinned_threads(spec.profile):
            data = validate_dataset(spec, dataset)
            self._data = {k: v.to(self.device) for k, v in data.items()}
            self._n = next(iter(data.values())).shape[0]
            self.model = build_model(spec.model).to(self.device)
        self.model.requires_grad_(False)
        self._names = sorted(param_specs(spec.model))
        self._slots = _opt_slots(spec)
        self._keys = [f"param/{n}" for n in self._names]
        # Where each parameter lives in the module tree: the step writes its tensors straight into
        # these modules' parameter tables (what torch.func.functional_call does, minus its per-call
        # tree walk and tie checks; the model zoo ties no weights).
        self._owners = [(self.model.get_submodule(n.rpartition(".")[0]), n.rpartition(".")[2]) for n in self._names]
        self._own_params = [module._parameters[attr] for module, attr in self._owners]
        self._gen = torch.Generator(device="cpu")
        self._offsets = torch.arange(spec.model.block_size + 1)[None, :] if spec.is_lm else None  # type: ignore[union-attr]
        #: Set from another thread to stop :meth:`run` between two steps (a daemon shutting down).
        self.cancel: threading.Event | None = None
        #: The loss of the latest honest step, kept on the device: read (and synced) only for progress.
        self.last_loss: torch.Tensor | None = None

    # -- data --

    def batch(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of step ``t``; indices from the CPU generator seeded by (seed, t)."""
        gen = self._gen
        gen.manual_seed(step_seed(self.spec.train.seed, t))
        bs = self.spec.train.batch_size
        if self._offsets is not None:
            block = self._offsets.shape[1] - 1
            starts = torch.randint(0, self._n - block, (bs,), generator=gen)
            idx = (starts[:, None] + self._offsets).to(self.device)
            chunk = self._data["tokens"][idx].long()
            return chunk[:, :-1], chunk[:, 1:]
        idx = torch.randint(0, self._n, (bs,), generator=gen).to(self.device)
        return self._data["inputs"][idx], self._data["labels"][idx]

    def loss(self, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for (module, attr), name in zip(self._owners, self._names, strict=True):
            module._parameters[attr] = params[name]  # type: ignore[assignment]
        try:
            logits = self.model(x)
        finally:
            for (module, attr), own in zip(self._owners, self._own_params, strict=True):
                module._parameters[attr] = own  # drop the state's tensors: the module keeps none
        if self.spec.is_lm:
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return F.cross_entropy(logits, y)

    # -- the step --

    def step(self, state: TrainState) -> TrainState:
        """``S_{t+1}`` from ``S_t`` (t read from the state). Does not modify ``state``."""
        with pinned_threads(self.spec.profile):
            return self._next(state)

    def _next(self, state: TrainState) -> TrainState:
        return self.honest_step(state) if self.step_hook is None else self.step_hook(state, self.honest_step)

    def honest_step(self, state: TrainState) -> TrainState:
        """The protocol's transition ``S_t -> S_{t+1}``, without the step hook or thread pinning."""
        s = state.tensors
        t = int(s[STEP_KEY].item())
        if t >= self.spec.train.total_steps:
            raise InvalidState(f"state is at step {t}; the job has only {self.spec.train.total_steps} steps")
        ps = [s[k].detach() for k in self._keys]
        leaves = [p.detach().requires_grad_(True) for p in ps]
        x, y = self.batch(t)
        with torch.enable_grad():
            loss = self.loss(dict(zip(self._names, leaves, strict=True)), x, y)
            grads = list(torch.autograd.grad(loss, leaves))
        self.last_loss = loss.detach()
        out: dict[str, torch.Tensor] = {STEP_KEY: torch.tensor(t + 1, dtype=torch.int64, device=s[STEP_KEY].device)}
        opt = self.spec.train.optimizer
        if isinstance(opt, Sgd):
            bufs = [s[f"opt/{n}/momentum"] for n in self._names] if opt.momentum > 0 else None
            new_ps, slots = _sgd(opt, ps, grads, bufs)
        else:
            ms = [s[f"opt/{n}/exp_avg"] for n in self._names]
            vs = [s[f"opt/{n}/exp_avg_sq"] for n in self._names]
            new_ps, slots = _adamw(opt, t + 1, ps, grads, ms, vs)
        for i, name in enumerate(self._names):
            out[self._keys[i]] = new_ps[i]
            for slot, values in slots.items():
                out[f"opt/{name}/{slot}"] = values[i]
        return TrainState(out)

    def run(
        self, state: TrainState, a: int, b: int, *, on_step: Callable[[TrainState], None] | None = None
    ) -> TrainState:
        """Replay steps a..b-1: ``S_a`` -> ``S_b``. ``on_step`` sees every new state."""
        if state.step != a:
            raise InvalidState(f"run({a}, {b}) needs S_{a}, got a state at step {state.step}")
        if not 0 <= a <= b <= self.spec.train.total_steps:
            raise InvalidState(f"segment [{a}, {b}] is outside 0..{self.spec.train.total_steps}")
        state = state.to(self.device)
        with pinned_threads(self.spec.profile):
            for _ in range(a, b):
                if self.cancel is not None and self.cancel.is_set():
                    raise TrainingStopped(f"stopped at step {state.step} of [{a}, {b}]")
                state = self._next(state)
                if on_step is not None:
                    on_step(state)
        return state

    # -- evaluation --

    @torch.no_grad()
    def evaluate(
        self, params: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor], metric: str = "accuracy"
    ) -> float:
        """``metric`` ("accuracy" or "loss") of ``params`` on held-out tensors (same layout as training)."""
        data = {k: v.to(self.device) for k, v in validate_dataset(self.spec, tensors).items()}
        ps = {n: params[n].to(self.device) for n in self._names}
        total_loss, correct, count = 0.0, 0, 0
        for x, y in _eval_batches(self.spec, data):  # not part of the trace: threads not pinned
            logits = functional_call(self.model, ps, (x,))
            flat, target = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
            total_loss += float(F.cross_entropy(flat, target, reduction="sum"))
            correct += int((flat.argmax(dim=-1) == target).sum())
            count += target.numel()
        return correct / count if metric == "accuracy" else total_loss / count


def _eval_batches(spec: JobSpec, data: Mapping[str, torch.Tensor]):  # type: ignore[no-untyped-def]
    if spec.is_lm:
        block = spec.model.block_size  # type: ignore[union-attr]
        tokens = data["tokens"]
        n_blocks = (tokens.shape[0] - 1) // block
        for i in range(0, n_blocks, EVAL_BATCH):
            starts = torch.arange(i, min(i + EVAL_BATCH, n_blocks), device=tokens.device) * block
            idx = starts[:, None] + torch.arange(block + 1, device=tokens.device)[None, :]
            chunk = tokens[idx].long()
            yield chunk[:, :-1], chunk[:, 1:]
    else:
        for i in range(0, data["inputs"].shape[0], EVAL_BATCH):
            yield data["inputs"][i : i + EVAL_BATCH], data["labels"][i : i + EVAL_BATCH]


# The optimizers apply each elementwise operation to all parameters at once with torch's _foreach
# ops. On the CPU these run the very same per-tensor kernel as ``a * b``, ``a + b`` (one rounding per
# operation, in the same order), so the bits are those of the plain out-of-place formulas in the
# docstrings, with one Python dispatch per operation instead of one per parameter. Only freshly
# allocated intermediates are updated in place: the input state's tensors are never written.


def _sgd(opt: Sgd, p: TensorList, g: TensorList, buf: TensorList | None) -> tuple[TensorList, dict[str, TensorList]]:
    """torch.optim.SGD semantics (dampening 0, no nesterov), out of place; the buffer starts at 0.

    Per parameter: ``g = g + p*wd``; ``g = buf*momentum + g`` (the new buffer); ``p - g*lr``."""
    if opt.weight_decay:
        g = torch._foreach_add(g, torch._foreach_mul(p, opt.weight_decay))
    slots: dict[str, TensorList] = {}
    if opt.momentum > 0:
        assert buf is not None
        new_buf = torch._foreach_mul(buf, opt.momentum)
        torch._foreach_add_(new_buf, g)
        g = slots["momentum"] = new_buf
    return torch._foreach_sub(p, torch._foreach_mul(g, opt.lr)), slots


def _adamw(
    opt: AdamW, t: int, p: TensorList, g: TensorList, m: TensorList, v: TensorList
) -> tuple[TensorList, dict[str, TensorList]]:
    """torch.optim.AdamW semantics (decoupled decay, bias correction, no amsgrad), out of place.

    Per parameter: ``p = p*(1 - lr*wd)``; ``m = m*b1 + g*(1-b1)``; ``v = v*b2 + (g*g)*(1-b2)``;
    ``p - (m/bc1) / (sqrt(v/bc2) + eps) * lr`` with ``bc_i = 1 - b_i**t``."""
    b1, b2 = opt.betas
    p = torch._foreach_mul(p, 1.0 - opt.lr * opt.weight_decay)
    m = torch._foreach_mul(m, b1)
    torch._foreach_add_(m, torch._foreach_mul(g, 1.0 - b1))
    gg = torch._foreach_mul(g, g)
    torch._foreach_mul_(gg, 1.0 - b2)
    v = torch._foreach_mul(v, b2)
    torch._foreach_add_(v, gg)
    bc1 = 1.0 - _powi(b1, t)
    bc2 = 1.0 - _powi(b2, t)
    denom = torch._foreach_div(v, bc2)
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, opt.eps)
    update = torch._foreach_div(m, bc1)
    torch._foreach_div_(update, denom)
    torch._foreach_mul_(update, opt.lr)
    return torch._foreach_sub(p, update), {"exp_avg": m, "exp_avg_sq": v}


class EngineCache:
    """Engines kept by a key naming their inputs (e.g. the spec and dataset CIDs), least recently
    used dropped first: a party replaying many steps of one job (the oracle, dispute after dispute)
    builds the model and validates the dataset once, not per replay. Content-addressed keys never
    go stale."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._engines: OrderedDict[Hashable, Engine] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Engine]) -> Engine:
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = build()
            while len(self._engines) > self.size:
                self._engines.popitem(last=False)
        self._engines.move_to_end(key)
        return engine


def replay_segment(
    spec: JobSpec, dataset: Mapping[str, torch.Tensor], state_a: TrainState, a: int, b: int
) -> TrainState:
    """The verifier's and oracle's entry point: check ``S_a``'s layout, replay to ``S_b`` (on the CPU)."""
    check_state(spec, state_a)
    return Engine(spec, dataset).run(state_a, a, b).to("cpu")


def evaluate(
    spec: JobSpec,
    params: Mapping[str, torch.Tensor],
    eval_tensors: Mapping[str, torch.Tensor],
    metric: str | None = None,
) -> float:
    """The requester's metric (``spec.eval.metric`` unless given) of ``params`` on held-out tensors."""
    chosen = metric or (spec.eval.metric if spec.eval is not None else "accuracy")
    engine = Engine(spec, eval_tensors)
    return engine.evaluate(params, eval_tensors, chosen)
