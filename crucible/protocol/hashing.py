"""Canonical state hash (docs/design.md §3): SHA-256 over an unambiguous byte encoding of named tensors.

Byte layout (all integers unsigned, big-endian; every variable-length field is length-prefixed, so
no two different states encode to the same bytes)::

    encoding  := MAGIC  u64(count)  entry*            entries in ascending order of name's UTF-8 bytes
    MAGIC     := b"crucible.state.v1\\x00"            (18 bytes)
    entry     := u32(len(name))  name                 name: UTF-8
                 u32(len(dtype)) dtype                dtype: ASCII code from DTYPE_CODES ("F32", "I64", ...)
                 u32(ndim) u64(dim)*ndim              shape; ndim 0 for a scalar
                 u64(len(data)) data                  data: the tensor's elements, C-contiguous, little-endian

``state_hash = sha256(encoding)``. Only the *values* matter: device, strides, ``requires_grad`` and
dict insertion order do not; dtype and shape do. The dtype codes are safetensors' names, so a
checkpoint's header and its hash speak the same vocabulary.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Iterator, Mapping

import torch

MAGIC = b"crucible.state.v1\x00"
PARAM_PREFIX = "param/"

DTYPE_CODES: Mapping[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def dtype_code(dtype: torch.dtype) -> str:
    try:
        return DTYPE_CODES[dtype]
    except KeyError:
        allowed = ", ".join(str(d).removeprefix("torch.") for d in DTYPE_CODES)
        raise ValueError(f"dtype {dtype} cannot be committed to; allowed: {allowed}") from None


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The tensor's elements as C-contiguous little-endian bytes (on any host, from any device)."""
    t = tensor.detach().to("cpu").contiguous()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    if sys.byteorder != "little" and t.element_size() > 1:  # pragma: no cover - no big-endian CI
        raw = t.numpy().byteswap().tobytes()
    return raw


def _u32(n: int) -> bytes:
    return struct.pack(">I", n)


def _u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def _encode_entry(name: str, tensor: torch.Tensor) -> Iterator[bytes]:
    name_b = name.encode("utf-8")
    code = dtype_code(tensor.dtype).encode("ascii")
    data = tensor_bytes(tensor)
    yield _u32(len(name_b)) + name_b
    yield _u32(len(code)) + code
    yield _u32(tensor.dim()) + b"".join(_u64(d) for d in tensor.shape)
    yield _u64(len(data))
    yield data


def sorted_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    return sorted(tensors, key=lambda n: n.encode("utf-8"))


def encode_state(tensors: Mapping[str, torch.Tensor]) -> Iterator[bytes]:
    """The canonical encoding, in chunks (see the module docstring for the layout)."""
    yield MAGIC + _u64(len(tensors))
    for name in sorted_names(tensors):
        if not isinstance(name, str):  # pragma: no cover - typing guards this
            raise TypeError(f"tensor names must be str, got {type(name).__name__}")
        yield from _encode_entry(name, tensors[name])


def state_hash(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """``stateHash(S)``: 32-byte SHA-256 of the canonical encoding of ``tensors``."""
    h = hashlib.sha256()
    for chunk in encode_state(tensors):
        h.update(chunk)
    return h.digest()


def split_params(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model parameters of a training state, under their module names (``param/`` stripped)."""
    return {n[len(PARAM_PREFIX) :]: t for n, t in tensors.items() if n.startswith(PARAM_PREFIX)}


def params_hash(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """Hash of a state's parameters alone: what a final model file must hash to (its own state_hash)."""
    return state_hash(split_params(tensors))


def to_hex(digest: bytes) -> str:
    return "0x" + digest.hex()


def from_hex(text: str) -> bytes:
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"a state hash is 32 bytes, got {len(raw)}")
    return raw
