"""The canonical state hash: order-independent, sensitive to every bit, dtype and shape, unambiguous."""

from __future__ import annotations

import hashlib
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import crucible  # noqa: F401  (determinism environment before torch)
from crucible.protocol.checkpoint import read_safetensors, write_safetensors
from crucible.protocol.hashing import MAGIC, encode_state, params_hash, state_hash

DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int8,
    torch.uint8,
    torch.bool,
]
names = st.text(alphabet="abcdefghij/._0123456789", min_size=1, max_size=12)


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    n = 1
    for d in shape:
        n *= d
    raw = draw(
        st.binary(
            min_size=n * torch.empty((), dtype=dtype).element_size(),
            max_size=n * torch.empty((), dtype=dtype).element_size(),
        )
    )
    t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype) if raw else torch.empty(0, dtype=dtype)
    if dtype == torch.bool:
        t = t.view(torch.uint8) % 2 == 1
    return t.reshape(shape)


states = st.dictionaries(names, tensors(), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(states, st.randoms(use_true_random=False))
def test_hash_ignores_insertion_order(state, rnd):
    items = list(state.items())
    rnd.shuffle(items)
    assert state_hash(dict(items)) == state_hash(state)


@settings(max_examples=150, deadline=None)
@given(states, st.data())
def test_any_single_bit_flip_changes_the_hash(state, data):
    candidates = [n for n, t in state.items() if t.numel() > 0]
    if not candidates:
        return
    name = data.draw(st.sampled_from(sorted(candidates)))
    t = state[name]
    raw = bytearray(
        t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        if t.dtype != torch.bool
        else t.to(torch.uint8).numpy().tobytes()
    )
    bits = 1 if t.dtype == torch.bool else 8  # a bool has one meaningful bit
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= 1 << data.draw(st.integers(0, bits - 1))
    flipped = torch.frombuffer(raw, dtype=torch.uint8)
    flipped = (flipped == 1) if t.dtype == torch.bool else flipped.view(t.dtype)
    assert state_hash({**state, name: flipped.reshape(t.shape)}) != state_hash(state)


@settings(max_examples=60, deadline=None)
@given(states)
def test_safetensors_round_trip_preserves_the_hash_and_bytes_are_deterministic(state):
    data = write_safetensors(state, {"b": "2", "a": "1"})
    assert write_safetensors(dict(reversed(list(state.items()))), {"a": "1", "b": "2"}) == data
    loaded, meta = read_safetensors(data, "test")
    assert meta == {"a": "1", "b": "2"}
    assert state_hash(loaded) == state_hash(state)


def test_dtype_shape_and_name_are_committed():
    x = torch.arange(6, dtype=torch.float32)
    base = state_hash({"w": x})
    assert state_hash({"w": x.reshape(2, 3)}) != base
    assert state_hash({"w": x.to(torch.int32)}) != base  # different bytes anyway
    assert state_hash({"w": torch.zeros(2, dtype=torch.int32)}) != state_hash(
        {"w": torch.zeros(2, dtype=torch.float32)}
    )
    assert state_hash({"v": x}) != base
    # length prefixes: moving bytes between the name and the data cannot collide
    assert state_hash({"a": torch.zeros(0, dtype=torch.uint8)}) != state_hash({"": torch.zeros(1, dtype=torch.uint8)})


def test_strides_and_device_do_not_matter():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert state_hash({"w": x.t().contiguous().t()}) == state_hash({"w": x.clone()})
    assert state_hash({"w": x.t()}) == state_hash({"w": x.t().contiguous()})
    assert state_hash({"w": x.requires_grad_(True)}) == state_hash({"w": x.detach()})


def test_encoding_layout_is_as_documented():
    t = torch.tensor([1.0, -2.0], dtype=torch.float32)
    expected = (
        MAGIC
        + struct.pack(">Q", 1)
        + struct.pack(">I", 1)
        + b"w"
        + struct.pack(">I", 3)
        + b"F32"
        + struct.pack(">I", 1)
        + struct.pack(">Q", 2)
        + struct.pack(">Q", 8)
        + struct.pack("<2f", 1.0, -2.0)
    )
    assert b"".join(encode_state({"w": t})) == expected
    assert state_hash({"w": t}) == hashlib.sha256(expected).digest()


def test_params_hash_is_hash_of_params_without_prefix():
    w = torch.ones(2)
    state = {"param/fc.weight": w, "opt/fc.weight/momentum": torch.zeros(2), "step": torch.tensor(3)}
    assert params_hash(state) == state_hash({"fc.weight": w})


def test_unsupported_dtype_is_refused():
    with pytest.raises(ValueError, match="cannot be committed to; allowed: float64, float32"):
        state_hash({"z": torch.zeros(2, dtype=torch.complex64)})
