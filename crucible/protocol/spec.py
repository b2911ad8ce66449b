"""The job spec (docs/design.md §2): a versioned, strictly validated document that names artifacts by CID.

A spec crosses a trust boundary (a requester writes it, providers, verifiers and oracles obey it),
so it is parsed defensively: at most :data:`MAX_SPEC_BYTES`, JSON without duplicate keys or YAML
without anchors/aliases, then a strict, frozen pydantic model that forbids unknown fields. Every
failure is an :class:`~crucible.errors.InvalidJobSpec` whose message lists each bad field by its
path (``train.optimizer.lr``) and what is allowed there.

:meth:`JobSpec.canonical_json` renders the one byte string that goes to IPFS (sorted keys, no
whitespace, UTF-8, every default written out), so its CID does not depend on how it was authored.
The published JSON schema is ``crucible/schemas/jobspec-v1.json`` (``python -m crucible.protocol.spec``
rewrites it; a test checks the committed file is current).

Example (YAML)::

    version: 1
    model: {arch: mlp, input_dim: 64, hidden: [64], num_classes: 10, init: {kind: seeded, seed: 0}}
    dataset: {kind: classification, cid: Qm..., inputs: inputs, labels: labels}
    train:
      optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
      loss: cross_entropy
      batch_size: 32
      total_steps: 200
      checkpoint_interval: 20
      seed: 7
    profile: cpu-portable
"""

from __future__ import annotations

import json
import math
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from crucible.errors import InvalidJobSpec

MAX_SPEC_BYTES = 64 * 1024
MAX_CHECKPOINTS = 4096  # n = T / k segments; bounds the manifest and the Merkle tree
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "jobspec-v1.json"

Cid = Annotated[
    str,
    StringConstraints(pattern=r"^Qm[1-9A-HJ-NP-Za-km-z]{44}$"),
    Field(description="CIDv0 (Qm..., sha2-256) of an artifact on IPFS"),
]
TensorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-/]{1,128}$")]
PosInt = Annotated[int, Field(ge=1)]
Dim = Annotated[int, Field(ge=1, le=65536)]
Width = Annotated[int, Field(ge=1, le=8192)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]
Rate = Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
Decay = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- model ---------------------------------------------------------------------------------------


class SeededInit(_Strict):
    """S_0's parameters drawn from a torch.Generator seeded with ``seed`` (see engine.models)."""

    kind: Literal["seeded"] = "seeded"
    seed: Seed = 0


class WeightsInit(_Strict):
    """S_0's parameters loaded from a safetensors file whose names/shapes/dtypes match the arch."""

    kind: Literal["weights"]
    cid: Cid


def _tag(field: str, default: str, allowed: tuple[str, ...]) -> Discriminator:
    """A discriminator on ``field`` that falls back to ``default`` when the field is left out."""

    def pick(value: Any) -> str | None:
        tag = value.get(field, default) if isinstance(value, dict) else getattr(value, field, None)
        return tag if isinstance(tag, str) else None

    return Discriminator(
        pick,
        custom_error_type="invalid_kind",
        custom_error_message=f"'{field}' must be one of: {', '.join(map(repr, allowed))}",
    )


Init = Annotated[
    Annotated[SeededInit, Tag("seeded")] | Annotated[WeightsInit, Tag("weights")],
    _tag("kind", "seeded", ("seeded", "weights")),
]


class _ModelBase(_Strict):
    init: Init = SeededInit()


class MlpModel(_ModelBase):
    """Fully connected classifier over flat float32 inputs of ``input_dim`` features."""

    arch: Literal["mlp"]
    input_dim: Dim
    hidden: Annotated[list[Width], Field(max_length=16)] = [64]
    num_classes: Annotated[int, Field(ge=2, le=65536)]
    activation: Literal["relu", "tanh", "gelu"] = "relu"


class CnnModel(_ModelBase):
    """Conv net over CxHxW float32 images: per entry of ``channels`` a 3x3 conv, ReLU and 2x2 max-pool."""

    arch: Literal["cnn"]
    in_channels: Annotated[int, Field(ge=1, le=64)] = 1
    height: Annotated[int, Field(ge=2, le=1024)]
    width: Annotated[int, Field(ge=2, le=1024)]
    channels: Annotated[list[Annotated[int, Field(ge=1, le=1024)]], Field(min_length=1, max_length=8)] = [16, 32]
    hidden: Width = 64
    num_classes: Annotated[int, Field(ge=2, le=65536)]

    @model_validator(mode="after")
    def _pools_fit(self) -> CnnModel:
        factor = 2 ** len(self.channels)
        if self.height % factor or self.width % factor:
            raise ValueError(
                f"height and width ({self.height}x{self.width}) must be divisible by 2**len(channels) = "
                f"{factor}, since every conv block halves them; use fewer channels entries or another size"
            )
        return self


class GptModel(_ModelBase):
    """Decoder-only transformer over byte/character tokens (no dropout: every step is a pure function)."""

    arch: Literal["gpt"]
    vocab_size: Annotated[int, Field(ge=2, le=65536)]
    block_size: Annotated[int, Field(ge=1, le=4096)]
    n_layer: Annotated[int, Field(ge=1, le=48)] = 2
    n_head: Annotated[int, Field(ge=1, le=64)] = 2
    n_embd: Annotated[int, Field(ge=1, le=4096)] = 64

    @model_validator(mode="after")
    def _heads_divide(self) -> GptModel:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        return self


ModelSpec = Annotated[MlpModel | CnnModel | GptModel, Field(discriminator="arch")]


# --- dataset -------------------------------------------------------------------------------------


class ClassificationData(_Strict):
    """A safetensors file with float32 ``inputs`` [N, ...] and int64 ``labels`` [N]."""

    kind: Literal["classification"] = "classification"
    cid: Cid
    inputs: TensorName = "inputs"
    labels: TensorName = "labels"


class TokenData(_Strict):
    """A safetensors file with a 1-D uint8/int64 ``tokens`` stream; blocks are model.block_size long."""

    kind: Literal["tokens"]
    cid: Cid
    tokens: TensorName = "tokens"


DatasetSpec = Annotated[
    Annotated[ClassificationData, Tag("classification")] | Annotated[TokenData, Tag("tokens")],
    _tag("kind", "classification", ("classification", "tokens")),
]


# --- training ------------------------------------------------------------------------------------


class Sgd(_Strict):
    """SGD with (heavy-ball) momentum and L2 weight decay, torch.optim.SGD semantics (dampening 0)."""

    name: Literal["sgd"]
    lr: Rate
    momentum: Fraction = 0.0
    weight_decay: Decay = 0.0


class AdamW(_Strict):
    """AdamW (decoupled weight decay), torch.optim.AdamW semantics without amsgrad."""

    name: Literal["adamw"]
    lr: Rate
    betas: Annotated[list[Fraction], Field(min_length=2, max_length=2)] = [0.9, 0.999]
    eps: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] = 1e-8
    weight_decay: Decay = 0.01


Optimizer = Annotated[Sgd | AdamW, Field(discriminator="name")]


class TrainSpec(_Strict):
    optimizer: Optimizer
    loss: Literal["cross_entropy", "lm_cross_entropy"]
    batch_size: Annotated[int, Field(ge=1, le=65536)]
    total_steps: Annotated[int, Field(ge=1, le=10_000_000)]
    checkpoint_interval: Annotated[int, Field(ge=1, le=10_000_000)]
    seed: Seed

    @model_validator(mode="after")
    def _interval_divides(self) -> TrainSpec:
        T, k = self.total_steps, self.checkpoint_interval
        if T % k:
            lo, hi = T - T % k, T - T % k + k
            raise ValueError(
                f"total_steps ({T}) must be a multiple of checkpoint_interval ({k}); "
                f"e.g. total_steps {lo or hi} or {hi}, or an interval that divides {T}"
            )
        if T // k > MAX_CHECKPOINTS:
            raise ValueError(
                f"total_steps / checkpoint_interval = {T // k} segments exceeds the limit of "
                f"{MAX_CHECKPOINTS}; use a checkpoint_interval of at least {math.ceil(T / MAX_CHECKPOINTS)}"
            )
        return self


# --- eval / environment --------------------------------------------------------------------------


class EvalSpec(_Strict):
    """Held-out tensors (same layout and tensor names as the training dataset) and the metric to report."""

    cid: Cid
    metric: Literal["accuracy", "loss"] = "accuracy"


class EnvironmentPin(_Strict):
    """For the ``cuda`` profile: the environment the trace reproduces in (unset fields are not pinned)."""

    gpu_arch: Annotated[str, StringConstraints(pattern=r"^sm_[0-9]{2,3}$")] | None = None
    torch_version: Annotated[str, StringConstraints(max_length=64)] | None = None
    cuda_version: Annotated[str, StringConstraints(max_length=32)] | None = None


# --- the spec ------------------------------------------------------------------------------------


class JobSpec(_Strict):
    """Version 1 of the Crucible job spec."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="Crucible job spec v1",
        json_schema_extra={"$id": "https://crucible.dev/schemas/jobspec-v1.json"},
    )

    version: Literal[1]
    model: ModelSpec
    dataset: DatasetSpec
    train: TrainSpec
    profile: Literal["cpu-portable", "cuda"] = "cpu-portable"
    environment: EnvironmentPin | None = None
    eval: EvalSpec | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        lm = self.model.arch == "gpt"
        if lm and self.dataset.kind != "tokens":
            raise ValueError("model.arch 'gpt' trains on a token stream: dataset.kind must be 'tokens'")
        if not lm and self.dataset.kind != "classification":
            raise ValueError(f"model.arch {self.model.arch!r} needs dataset.kind 'classification'")
        want_loss = "lm_cross_entropy" if lm else "cross_entropy"
        if self.train.loss != want_loss:
            raise ValueError(f"train.loss must be {want_loss!r} for model.arch {self.model.arch!r}")
        if self.environment is not None and self.profile != "cuda":
            raise ValueError("environment pins are only meaningful for profile 'cuda'; remove 'environment'")
        return self

    # -- I/O --

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8, all defaults present: the bytes whose CID names this job."""
        return canonical_json(self.model_dump(mode="json"))

    @property
    def is_lm(self) -> bool:
        return self.model.arch == "gpt"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# --- loading -------------------------------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidJobSpec(f"job spec: duplicate key {key!r}; each field may appear once")
        out[key] = value
    return out


def _parse_yaml(text: str) -> Any:
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise InvalidJobSpec("job spec: YAML anchors and aliases (*name) are not allowed; write values out")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidJobSpec(f"job spec is neither valid JSON nor valid YAML: {exc}") from None


def parse_document(data: bytes | str) -> Any:
    """Bytes/text of a JSON or YAML document -> Python data, within the size limit."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_SPEC_BYTES:
        raise InvalidJobSpec(f"job spec is {len(raw)} bytes; the limit is {MAX_SPEC_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJobSpec(f"job spec is not UTF-8 text: {exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise InvalidJobSpec(f"job spec is not valid JSON: {exc}") from None
    return _parse_yaml(text)


def _reject_constant(name: str) -> Any:
    raise InvalidJobSpec(f"job spec: {name} is not a valid number; use finite numbers")


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _describe(err: ErrorDetails) -> str:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        tail = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"{_loc(_public_loc(loc))}: unknown field{tail}"
    if err["type"] == "missing":
        return f"{_loc(_public_loc(loc))}: required field is missing"
    if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern", "").startswith("^Qm"):
        msg = "must be a CIDv0: base58, 46 characters starting with 'Qm' (add artifacts with cid_version=0)"
    elif err["type"] == "string_pattern_mismatch":
        msg = f"must match {err['ctx']['pattern']}"
    value = err.get("input")
    if isinstance(value, str | int | float | bool) and len(repr(value)) <= 60:
        msg += f" (got {value!r})"
    return f"{_loc(_public_loc(loc))}: {msg}"


_UNIONS: dict[str, dict[str, type[BaseModel]]] = {
    "model": {"mlp": MlpModel, "cnn": CnnModel, "gpt": GptModel},
    "dataset": {"classification": ClassificationData, "tokens": TokenData},
    "optimizer": {"sgd": Sgd, "adamw": AdamW},
    "init": {"seeded": SeededInit, "weights": WeightsInit},
}


def _public_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the discriminator tags pydantic inserts (``model.mlp.hidden`` -> ``model.hidden``)."""
    out: list[int | str] = []
    for part in loc:
        if out and isinstance(out[-1], str) and out[-1] in _UNIONS and part in _UNIONS[str(out[-1])]:
            continue
        out.append(part)
    return tuple(out)


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at ``loc`` (with pydantic's union tags in it), for error messages."""
    current: Any = JobSpec
    previous: int | str | None = None
    for part in loc:
        if previous is not None and str(previous) in _UNIONS and part in _UNIONS[str(previous)]:
            current = _UNIONS[str(previous)][str(part)]
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _unwrap(current.model_fields[str(part)].annotation)
        else:
            return []
        previous = part
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is not None and len(args) == 1:
        return _unwrap(args[0])
    return annotation


def validate_spec(obj: Any) -> JobSpec:
    """Python data -> JobSpec, or InvalidJobSpec listing every problem by field path."""
    if not isinstance(obj, dict):
        raise InvalidJobSpec(f"job spec must be a mapping (JSON object), got {type(obj).__name__}")
    try:
        return JobSpec.model_validate(obj)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        raise InvalidJobSpec("invalid job spec:\n  " + "\n  ".join(problems)) from None


def load_spec(source: bytes | str | Path) -> JobSpec:
    """Load a spec from a path (``.json``/``.yaml``/``.yml``), or from JSON/YAML bytes or text."""
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise InvalidJobSpec(f"cannot read job spec {source}: {exc}") from None
        if size > MAX_SPEC_BYTES:
            raise InvalidJobSpec(f"job spec {source} is {size} bytes; the limit is {MAX_SPEC_BYTES} bytes")
        source = source.read_bytes()
    return validate_spec(parse_document(source))


def json_schema() -> dict[str, Any]:
    return JobSpec.model_json_schema(mode="validation")


def render_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema())
    return path


if __name__ == "__main__":
    sys.stdout.write(f"wrote {write_schema()}\n")
