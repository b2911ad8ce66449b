"""The model zoo: architectures chosen by name from the spec, never user code.

Every model is built on the CPU in float32 and its parameters are initialised explicitly from a
``torch.Generator`` (in sorted parameter-name order), so ``S_0`` is a pure function of the spec and
independent of torch's default initialisers and global RNG. Ops are chosen for bit-stable replay
under the determinism profiles: LayerNorm and causal self-attention are written with plain tensor
ops (``F.layer_norm``'s CPU backward and the fused SDPA kernels give results that depend on the
thread count or the kernel picked), and there is no dropout, so a step draws no random numbers
besides its batch indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from crucible.protocol.spec import CnnModel, GptModel, MlpModel

ModelConfig = MlpModel | CnnModel | GptModel

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu}


class Mlp(nn.Module):
    def __init__(self, cfg: MlpModel) -> None:
        super().__init__()
        widths = [cfg.input_dim, *cfg.hidden, cfg.num_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.act = _ACTIVATIONS[cfg.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


class Cnn(nn.Module):
    def __init__(self, cfg: CnnModel) -> None:
        super().__init__()
        chans = [cfg.in_channels, *cfg.channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size=3, padding=1) for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
        factor = 2 ** len(cfg.channels)
        flat = cfg.channels[-1] * (cfg.height // factor) * (cfg.width // factor)
        self.fc = nn.Linear(flat, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        logits: torch.Tensor = self.head(F.relu(self.fc(x.flatten(1))))
        return logits


class LayerNorm(nn.Module):
    """LayerNorm from plain ops: its backward reduces with ``sum`` over leading dims, which is
    thread-count independent on the CPU, unlike the fused kernel's per-thread partial buffers."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dim=-1, keepdim=True)
        return centered / torch.sqrt(var + self.eps) * self.weight + self.bias


class CausalSelfAttention(nn.Module):
    mask: torch.Tensor  # registered buffer

    def __init__(self, cfg: GptModel) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool))
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        d = c // self.n_head
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.reshape(b, t, self.n_head, d).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        out: torch.Tensor = self.proj(y.transpose(1, 2).reshape(b, t, c))
        return out


class Block(nn.Module):
    def __init__(self, cfg: GptModel) -> None:
        super().__init__()
        self.ln1 = LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = LayerNorm(cfg.n_embd)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.out = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        out: torch.Tensor = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return out


class Gpt(nn.Module):
    def __init__(self, cfg: GptModel) -> None:
        super().__init__()
        self.block_size = cfg.block_size
        self.tok = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        pos = torch.arange(t, device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.head(self.ln_f(x))
        return logits


def build_model(cfg: ModelConfig) -> nn.Module:
    """The architecture ``cfg.arch`` on the CPU in float32 (parameters not yet initialised)."""
    with torch.device("cpu"):
        if isinstance(cfg, MlpModel):
            return Mlp(cfg)
        if isinstance(cfg, CnnModel):
            return Cnn(cfg)
        return Gpt(cfg)


def param_specs(cfg: ModelConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name -> (shape, dtype) of every parameter: what initial weights must match exactly."""
    with torch.device("meta"):
        model = _build_meta(cfg)
    return {n: (tuple(p.shape), p.dtype) for n, p in model.named_parameters()}


def _build_meta(cfg: ModelConfig) -> nn.Module:
    if isinstance(cfg, MlpModel):
        return Mlp(cfg)
    if isinstance(cfg, CnnModel):
        return Cnn(cfg)
    return Gpt(cfg)


def seeded_params(cfg: ModelConfig, seed: int) -> dict[str, torch.Tensor]:
    """S_0's parameters for a seeded init, drawn in sorted-name order from one CPU generator.

    Rules (by name and rank): LayerNorm weight 1 and bias 0; other biases 0; embeddings and the
    transformer's linear weights N(0, 0.02); other weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    specs = param_specs(cfg)
    out: dict[str, torch.Tensor] = {}
    gpt = isinstance(cfg, GptModel)
    for name in sorted(specs):
        shape, dtype = specs[name]
        leaf = name.rsplit(".", 1)[-1]
        is_norm = ".ln" in f".{name}" or name.startswith("ln_")
        if is_norm:
            out[name] = torch.ones(shape, dtype=dtype) if leaf == "weight" else torch.zeros(shape, dtype=dtype)
        elif leaf == "bias":
            out[name] = torch.zeros(shape, dtype=dtype)
        elif gpt:
            out[name] = torch.randn(shape, generator=gen, dtype=dtype) * 0.02
        else:
            bound = 1.0 / math.sqrt(math.prod(shape[1:]))
            out[name] = (torch.rand(shape, generator=gen, dtype=dtype) * 2.0 - 1.0) * bound
    return out


def check_weights(cfg: ModelConfig, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Validate initial weights against the architecture; returns them as contiguous CPU float32.

    Raises ValueError naming every missing, unexpected or mis-shaped tensor.
    """
    specs = param_specs(cfg)
    problems = [f"missing tensor {n!r} {list(s)}" for n, (s, _) in sorted(specs.items()) if n not in weights]
    problems += [f"unexpected tensor {n!r}" for n in sorted(weights) if n not in specs]
    for name, (shape, dtype) in sorted(specs.items()):
        t = weights.get(name)
        if t is None:
            continue
        if tuple(t.shape) != shape or t.dtype != dtype:
            problems.append(
                f"{name!r} is {str(t.dtype).removeprefix('torch.')}{list(t.shape)}, "
                f"architecture needs {str(dtype).removeprefix('torch.')}{list(shape)}"
            )
        elif not bool(torch.isfinite(t).all()):
            problems.append(f"{name!r} holds non-finite values")
    if problems:
        raise ValueError(f"initial weights do not fit model.arch {cfg.arch!r}: " + "; ".join(problems[:20]))
    return {n: weights[n].detach().to("cpu").contiguous().clone() for n in specs}
