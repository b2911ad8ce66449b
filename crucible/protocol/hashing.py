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


#: Dtypes numpy cannot view directly (no bfloat16) or that are encoded as another (bool as uint8).
_NO_NUMPY = frozenset({torch.bool, torch.bfloat16})
_LITTLE_ENDIAN = sys.byteorder == "little"


def dtype_code(dtype: torch.dtype) -> str:
    try:
        return DTYPE_CODES[dtype]
    except KeyError:
        allowed = ", ".join(str(d).removeprefix("torch.") for d in DTYPE_CODES)
        raise ValueError(f"dtype {dtype} cannot be committed to; allowed: {allowed}") from None


def tensor_buffer(tensor: torch.Tensor) -> bytes | memoryview:
    """The tensor's elements as C-contiguous little-endian bytes (on any host, from any device),
    without a copy where the tensor is already a contiguous CPU tensor: what hashing and encoding read."""
    t = tensor.detach()
    if t.device.type == "cpu" and t.dtype not in _NO_NUMPY and t.is_contiguous() and _LITTLE_ENDIAN:
        # The common case (every tensor of a state the engine or a checkpoint produced), in a few
        # microseconds: the per-tensor cost is what a state of many small tensors hashes in.
        return t.numpy().data.cast("B") if t.numel() else b""
    t = t.to("cpu").contiguous()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    if not t.numel():
        return b""
    if not _LITTLE_ENDIAN and t.element_size() > 1:  # pragma: no cover - no big-endian CI
        return t.numpy().byteswap().tobytes()
    return t.reshape(-1).view(torch.uint8).numpy().data


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """:func:`tensor_buffer` as a ``bytes`` object."""
    return bytes(tensor_buffer(tensor))


_U32 = struct.Struct(">I").pack
_U64 = struct.Struct(">Q").pack
#: ``u32(len(dtype)) dtype`` of each committable dtype, encoded once.
_DTYPE_FIELDS = {dtype: _U32(len(code)) + code.encode("ascii") for dtype, code in DTYPE_CODES.items()}


def _dtype_field(dtype: torch.dtype) -> bytes:
    field = _DTYPE_FIELDS.get(dtype)
    if field is None:
        dtype_code(dtype)  # raises, naming the allowed dtypes
        raise AssertionError("unreachable")  # pragma: no cover
    return field


def _entry_header(name: str, dtype_field: bytes, shape: torch.Size, data_len: int) -> bytes:
    """Everything of an entry before its data: name, dtype, shape and the data's length."""
    name_b = name.encode("utf-8")
    return b"".join((_U32(len(name_b)), name_b, dtype_field, _U32(len(shape)), *map(_U64, shape), _U64(data_len)))


def sorted_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    return sorted(tensors, key=lambda n: n.encode("utf-8"))


def encode_state(tensors: Mapping[str, torch.Tensor]) -> Iterator[bytes | memoryview]:
    """The canonical encoding, in chunks (see the module docstring for the layout)."""
    yield MAGIC + _U64(len(tensors))
    for name in sorted_names(tensors):
        if not isinstance(name, str):  # pragma: no cover - typing guards this
            raise TypeError(f"tensor names must be str, got {type(name).__name__}")
        tensor = tensors[name]
        dtype_field = _dtype_field(tensor.dtype)  # before reading the data: refuse what cannot be committed
        data = tensor_buffer(tensor)
        yield _entry_header(name, dtype_field, tensor.shape, len(data))
        yield data


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
