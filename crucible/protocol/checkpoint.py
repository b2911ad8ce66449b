"""Checkpoints, final models and the manifest: the artifacts a trace commits to (docs/design.md §5).

* A checkpoint ``C_i`` is a safetensors file holding the full state ``S_{i·k}`` plus string
  metadata ``{"format": "crucible-checkpoint", "step", "state_hash", "spec_cid"}``.
* A final model is a safetensors file holding the parameters alone, under their module names; its
  canonical hash (:func:`crucible.protocol.hashing.state_hash` of its tensors) must equal
  ``params_hash(C_n)``, which is how anyone checks "the final model is the last checkpoint".
* The manifest (strict pydantic JSON) lists every checkpoint's step, stateHash and CID, the trace
  root over them and the environment the trace was produced in.

Bytes from elsewhere are only ever parsed by :func:`read_safetensors`, which checks the safetensors
framing first and then uses ``safetensors.torch.load`` on the bytes: never ``torch.load``, never
pickle. Anything else (a pickle, a truncated file, trailing garbage) raises
:class:`~crucible.errors.ArtifactRejected` before a single tensor is used.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from safetensors.torch import load as st_load

from crucible.errors import ArtifactRejected, CrucibleError
from crucible.protocol import hashing, merkle
from crucible.protocol.profiles import ProfileInfo

MAX_CHECKPOINT_BYTES = 2 << 30
MAX_MANIFEST_BYTES = 4 << 20
MAX_HEADER_BYTES = 16 << 20

HexHash = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-f]{64}$")]
Cid = Annotated[str, StringConstraints(pattern=r"^Qm[1-9A-HJ-NP-Za-km-z]{44}$")]


# --- safetensors framing -------------------------------------------------------------------------


def write_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """Deterministic safetensors bytes: the same tensors and metadata always give the same bytes
    (so the same CID). The library's writer emits ``__metadata__`` from a hash map in per-process
    random order; this writer uses sorted JSON keys, tensors laid out in sorted-name order, and the
    header padded with spaces to a multiple of 8 bytes, as the format specifies."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks: list[bytes] = []
    offset = 0
    for name in hashing.sorted_names(tensors):
        t = tensors[name]
        data = hashing.tensor_bytes(t)
        header[name] = {
            "dtype": hashing.dtype_code(t.dtype),
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def read_safetensors(
    data: bytes,
    what: str,
    *,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
    error: type[CrucibleError] = ArtifactRejected,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Parse untrusted safetensors bytes into (tensors, metadata) or raise ``error`` saying why.

    The 8-byte little-endian header length and the JSON header are checked before the library
    sees the bytes, so a pickle (which starts with ``0x80``) or other file is named as such.
    """
    if len(data) > max_bytes:
        raise error(f"{what} is {len(data)} bytes, over the limit of {max_bytes}; refused")
    framed = len(data) >= 10 and data[8:9] == b"{"
    header_len = struct.unpack("<Q", data[:8])[0] if framed else 0
    if not framed or header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            kind = "a Python pickle"
        elif data[:2] in (b"PK", b"\x1f\x8b"):
            kind = "an archive (torch.save zip or gzip)"
        elif framed:
            kind = "truncated or not safetensors (its header length does not fit the file)"
        else:
            kind = "not a safetensors file"
        raise error(
            f"{what} is {kind}, not safetensors; refused without unpickling it"
            if "pickle" in kind or "archive" in kind
            else f"{what} is {kind}; refused"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except ValueError:
        raise error(f"{what} is not a safetensors file (its header is not JSON); refused") from None
    if not isinstance(header, dict):
        raise error(f"{what} is not a safetensors file (its header is not a JSON object); refused")
    raw_meta = header.get("__metadata__") or {}
    if not isinstance(raw_meta, dict) or not all(isinstance(v, str) for v in raw_meta.values()):
        raise error(f"{what} has malformed safetensors metadata; refused")
    try:
        tensors = st_load(bytes(data))
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        raise error(f"{what} is not a valid safetensors file ({exc}); refused") from None
    expected_end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + expected_end != len(data):
        raise error(f"{what} has {len(data) - 8 - header_len - expected_end} unexpected trailing bytes; refused")
    return tensors, {str(k): str(v) for k, v in raw_meta.items()}


# --- checkpoints ---------------------------------------------------------------------------------


def encode_checkpoint(tensors: Mapping[str, torch.Tensor], spec_cid: str, state_hash: bytes | None = None) -> bytes:
    """Checkpoint bytes for a state (``state_hash`` is computed if not given)."""
    digest = state_hash if state_hash is not None else hashing.state_hash(tensors)
    step = int(tensors["step"].item())
    meta = {
        "format": "crucible-checkpoint",
        "version": "1",
        "step": str(step),
        "state_hash": hashing.to_hex(digest),
        "spec_cid": spec_cid,
    }
    return write_safetensors(tensors, meta)


def decode_checkpoint(
    data: bytes,
    *,
    expected_hash: bytes | None = None,
    expected_step: int | None = None,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
    what: str = "checkpoint",
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint, *verified*: its recomputed canonical hash must equal the
    hash in its own metadata and ``expected_hash`` (the committed one), and its step ``expected_step``."""
    tensors, meta = read_safetensors(data, what, max_bytes=max_bytes)
    if meta.get("format") != "crucible-checkpoint":
        raise ArtifactRejected(f"{what} is safetensors but not a Crucible checkpoint (format {meta.get('format')!r})")
    step_t = tensors.get("step")
    if step_t is None or step_t.dtype != torch.int64 or step_t.dim() != 0:
        raise ArtifactRejected(f"{what} lacks an int64 scalar 'step' tensor")
    actual = hashing.state_hash(tensors)
    claimed = meta.get("state_hash", "")
    if claimed != hashing.to_hex(actual):
        raise ArtifactRejected(
            f"{what}: its tensors hash to {hashing.to_hex(actual)} but its metadata claims "
            f"{claimed!r}; corrupted or forged"
        )
    if expected_hash is not None and actual != expected_hash:
        raise ArtifactRejected(
            f"{what}: state hash {hashing.to_hex(actual)} does not match the committed "
            f"{hashing.to_hex(expected_hash)}; refused"
        )
    step = int(step_t.item())
    if meta.get("step") != str(step) or (expected_step is not None and step != expected_step):
        raise ArtifactRejected(f"{what}: holds step {step} (metadata {meta.get('step')!r}), expected {expected_step}")
    return tensors, meta


# --- final model ---------------------------------------------------------------------------------


def encode_final_model(state_tensors: Mapping[str, torch.Tensor], spec_cid: str) -> bytes:
    params = hashing.split_params(state_tensors)
    meta = {
        "format": "crucible-model",
        "version": "1",
        "params_hash": hashing.to_hex(hashing.state_hash(params)),
        "spec_cid": spec_cid,
        "step": str(int(state_tensors["step"].item())),
    }
    return write_safetensors(params, meta)


def decode_final_model(
    data: bytes, *, expected_params_hash: bytes | None = None, max_bytes: int = MAX_CHECKPOINT_BYTES
) -> dict[str, torch.Tensor]:
    """Parameters of a final model, checked against ``expected_params_hash`` (= params_hash(C_n))."""
    params, _ = read_safetensors(data, "final model", max_bytes=max_bytes)
    if expected_params_hash is not None:
        actual = hashing.state_hash(params)
        if actual != expected_params_hash:
            raise ArtifactRejected(
                f"final model hashes to {hashing.to_hex(actual)}, but the last checkpoint's "
                f"parameters hash to {hashing.to_hex(expected_params_hash)}; refused"
            )
    return params


# --- manifest ------------------------------------------------------------------------------------


class CheckpointEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    step: Annotated[int, Field(ge=0, lt=2**64)]
    state_hash: HexHash
    cid: Cid

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.state_hash[2:])

    def leaf(self) -> bytes:
        return merkle.leaf(self.step, self.digest)


class Manifest(BaseModel):
    """The trace's table of contents, uploaded to IPFS; its CID goes on chain with the trace root."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    spec_cid: Cid
    checkpoint_interval: Annotated[int, Field(ge=1)]
    total_steps: Annotated[int, Field(ge=1)]
    checkpoints: Annotated[list[CheckpointEntry], Field(min_length=2, max_length=65537)]
    trace_root: HexHash
    final_state_hash: HexHash
    final_params_hash: HexHash
    final_model_cid: Cid
    environment: ProfileInfo

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        k, T = self.checkpoint_interval, self.total_steps
        if T % k:
            raise ValueError(f"total_steps {T} is not a multiple of checkpoint_interval {k}")
        steps = [c.step for c in self.checkpoints]
        if steps != list(range(0, T + 1, k)):
            raise ValueError(f"checkpoints must be at steps 0, {k}, ..., {T} in order")
        if self.final_state_hash != self.checkpoints[-1].state_hash:
            raise ValueError("final_state_hash must be the last checkpoint's state hash")
        if self.trace_root != hashing.to_hex(merkle.root(self.leaves())):
            raise ValueError("trace_root is not the Merkle root of the listed checkpoints")
        return self

    def leaves(self) -> list[bytes]:
        return [c.leaf() for c in self.checkpoints]

    def root(self) -> bytes:
        return bytes.fromhex(self.trace_root[2:])

    def entry(self, step: int) -> CheckpointEntry:
        for c in self.checkpoints:
            if c.step == step:
                return c
        raise KeyError(f"no checkpoint at step {step}")

    def compare_commitments(
        self,
        *,
        trace_root: bytes,
        final_state_hash: bytes,
        spec_cid: str,
        checkpoint_interval: int,
        total_steps: int,
        final_model_cid: str,
    ) -> dict[str, tuple[str, str]]:
        """Every field the result on chain commits this manifest to, as (this manifest's value, the
        committed value), both as text. A manifest describes the committed trace only if each pair is
        equal; the verifier and the oracle's Manifest rule use this one comparison."""
        return {
            "trace_root": (self.trace_root, hashing.to_hex(bytes(trace_root))),
            "final_state_hash": (self.final_state_hash, hashing.to_hex(bytes(final_state_hash))),
            "spec_cid": (self.spec_cid, spec_cid),
            "checkpoint_interval": (str(self.checkpoint_interval), str(checkpoint_interval)),
            "total_steps": (str(self.total_steps), str(total_steps)),
            "final_model_cid": (self.final_model_cid, final_model_cid),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest:
        if len(data) > max_bytes:
            raise ArtifactRejected(f"manifest is {len(data)} bytes, over the limit of {max_bytes}; refused")
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:10])
            raise ArtifactRejected(f"manifest does not validate: {problems}") from None


def build_manifest(
    spec_cid: str,
    interval: int,
    total_steps: int,
    entries: Sequence[CheckpointEntry],
    final_params_hash: bytes,
    final_model_cid: str,
    environment: ProfileInfo,
) -> Manifest:
    leaves = [e.leaf() for e in entries]
    return Manifest(
        spec_cid=spec_cid,
        checkpoint_interval=interval,
        total_steps=total_steps,
        checkpoints=list(entries),
        trace_root=hashing.to_hex(merkle.root(leaves)),
        final_state_hash=entries[-1].state_hash,
        final_params_hash=hashing.to_hex(final_params_hash),
        final_model_cid=final_model_cid,
        environment=environment,
    )
