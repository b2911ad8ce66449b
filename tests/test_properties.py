"""Property tests (hypothesis) for what crosses trust boundaries or decides disputes: the job-spec
parser, the trace Merkle tree and the canonical state hash. Example counts are bounded so the file
runs in seconds; ``HYPOTHESIS_PROFILE=thorough`` runs many more."""

from __future__ import annotations

import contextlib
import copy
import json
import os
from typing import Any

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crucible.errors import InvalidJobSpec
from crucible.protocol import merkle
from crucible.protocol.hashing import state_hash
from crucible.protocol.spec import JobSpec, canonical_json, load_spec, parse_document, validate_spec
from crucible.store.ipfs import digest_to_cid

settings.register_profile("default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

VALID: dict[str, Any] = {
    "version": 1,
    "model": {"arch": "mlp", "input_dim": 64, "hidden": [64, 32], "num_classes": 10},
    "dataset": {"kind": "classification", "cid": digest_to_cid(b"\x01" * 32)},
    "train": {
        "optimizer": {"name": "adamw", "lr": 0.001, "betas": [0.9, 0.999]},
        "loss": "cross_entropy",
        "batch_size": 32,
        "total_steps": 100,
        "checkpoint_interval": 10,
        "seed": 7,
    },
    "eval": {"cid": digest_to_cid(b"\x02" * 32), "metric": "accuracy"},
}


# ---------------------------------------------------------------------------------------------- spec


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, (*prefix, i))
    return out


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["mlp", "cnn", "gpt", "sgd", "adamw", "tokens", "weights", "cuda", "Qm", "0x00"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)

mutation = st.tuples(
    st.sampled_from(["set", "delete", "add"]), st.integers(min_value=0), json_values, st.text(min_size=1, max_size=12)
)


def apply(spec: dict[str, Any], op: str, where: int, value: Any, key: str) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    path = paths(spec)[where % len(paths(spec))]
    parent: Any = spec
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "set":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][key] = value
    else:
        parent[last] = [value]
    return spec


@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_spec_validates_or_raises_invalid_job_spec(mutations: list[tuple[str, int, Any, str]]) -> None:
    spec: Any = VALID
    for op, where, value, key in mutations:
        spec = apply(spec, op, where, value, key)
    try:
        parsed = validate_spec(spec)
    except InvalidJobSpec as exc:
        assert str(exc), "every refusal says why"
        return
    assert isinstance(parsed, JobSpec)
    again = validate_spec(json.loads(parsed.canonical_json()))
    assert again == parsed and again.canonical_json() == parsed.canonical_json()


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_any_document_parses_or_raises_invalid_job_spec(document: bytes | str) -> None:
    with contextlib.suppress(InvalidJobSpec):  # anything else escaping is the failure
        load_spec(document)


@given(st.lists(mutation, max_size=2), st.randoms(use_true_random=False))
def test_canonical_json_round_trips_and_ignores_key_order(mutations: list[tuple[str, int, Any, str]], rnd: Any) -> None:
    spec: Any = VALID
    for op, where, value, key in mutations:
        spec = apply(spec, op, where, value, key)
    try:
        parsed = validate_spec(spec)
    except InvalidJobSpec:
        assume(False)
        return

    def shuffled(obj: Any) -> Any:
        if isinstance(obj, dict):
            items = list(obj.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        return [shuffled(v) for v in obj] if isinstance(obj, list) else obj

    canonical = parsed.canonical_json()
    assert validate_spec(shuffled(spec)).canonical_json() == canonical, "authoring order does not matter"
    assert load_spec(canonical).canonical_json() == canonical, "canonical bytes are a fixed point"
    assert canonical_json(parse_document(canonical)) == canonical


def test_valid_base_spec_is_valid() -> None:
    assert validate_spec(VALID).train.total_steps == 100


# -------------------------------------------------------------------------------------------- merkle


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    n = draw(st.integers(min_value=1, max_value=70))
    interval = draw(st.integers(min_value=1, max_value=1000))
    hashes = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=n, max_size=n))
    leaves = [merkle.leaf(i * interval, h) for i, h in enumerate(hashes)]
    i = draw(st.integers(min_value=0, max_value=n - 1))
    j = draw(st.integers(min_value=0, max_value=(1 << merkle.depth(n)) - 1).filter(lambda x: x != i))
    return leaves, i, j


@given(trees())
def test_merkle_proof_verifies_at_its_index_and_nowhere_else(tree: tuple[list[bytes], int, int]) -> None:
    leaves, i, j = tree
    root = merkle.root(leaves)
    proof = merkle.proof(leaves, i)

    assert len(proof) == merkle.depth(len(leaves))
    assert merkle.verify(root, leaves[i], i, proof)
    assert not merkle.verify(root, leaves[i], j, proof), "a proof never verifies at another index"
    assert not merkle.verify(root, leaves[i], i + (1 << len(proof)), proof), "nor at an index beyond the tree"
    if j < len(leaves):
        assert not merkle.verify(root, leaves[j], i, proof), "nor for another leaf"


@given(trees(), st.integers(min_value=0, max_value=255))
def test_merkle_any_bit_flip_in_leaf_or_proof_fails(tree: tuple[list[bytes], int, int], bit: int) -> None:
    leaves, i, _ = tree
    root = merkle.root(leaves)
    proof = merkle.proof(leaves, i)

    flipped_leaf = bytearray(leaves[i])
    flipped_leaf[bit // 8] ^= 1 << (bit % 8)
    assert not merkle.verify(root, bytes(flipped_leaf), i, proof)
    level = bit % len(proof)
    sibling = bytearray(proof[level])
    sibling[bit // 8] ^= 1 << (bit % 8)
    assert not merkle.verify(root, leaves[i], i, [*proof[:level], bytes(sibling), *proof[level + 1 :]])


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70), st.data())
def test_merkle_root_changes_with_any_leaf(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(leaves) - 1))
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != leaves[i]))

    assert merkle.root(leaves) != merkle.root([*leaves[:i], other, *leaves[i + 1 :]])


# ------------------------------------------------------------------------------------ canonical hash

DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.int8,
]


@st.composite
def tensor(draw: st.DrawFn) -> torch.Tensor:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(min_value=0, max_value=4), max_size=3))
    numel = 1
    for d in shape:
        numel *= d
    size = torch.tensor([], dtype=dtype).element_size()
    raw = draw(st.binary(min_size=numel * size, max_size=numel * size))
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape) if numel else torch.empty(shape, dtype=dtype)


states = st.dictionaries(st.text(alphabet="abcdefgh/._0123é", min_size=1, max_size=10), tensor(), max_size=6)


@given(states, st.randoms(use_true_random=False))
def test_state_hash_is_stable_under_reordering(state: dict[str, torch.Tensor], rnd: Any) -> None:
    items = list(state.items())
    rnd.shuffle(items)

    assert state_hash(dict(items)) == state_hash(state)
    assert state_hash({k: v.clone() for k, v in items}) == state_hash(state), "copies hash alike"


@given(states.filter(lambda s: any(t.numel() for t in s.values())), st.data())
def test_state_hash_changes_with_any_single_bit_flip(state: dict[str, torch.Tensor], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(n for n, t in state.items() if t.numel())))
    t = state[name]
    raw = bytearray(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    flipped = {**state, name: torch.frombuffer(raw, dtype=t.dtype).reshape(t.shape)}

    assert state_hash(flipped) != state_hash(state)


@given(states.filter(bool), st.data())
def test_state_hash_depends_on_names_dtypes_and_shapes(state: dict[str, torch.Tensor], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(state)))
    t = state[name]
    renamed = {**{k: v for k, v in state.items() if k != name}, name + "x": t}
    assume(name + "x" not in state)
    reshaped = {**state, name: t.reshape(-1, 1) if t.dim() != 2 or t.shape[1] != 1 else t.reshape(-1)}
    other_dtype = torch.int8 if t.dtype != torch.int8 else torch.uint8
    retyped = {**state, name: t.view(other_dtype) if t.element_size() == 1 else t.to(other_dtype)}

    base = state_hash(state)
    assert state_hash(renamed) != base
    assert state_hash(reshaped) != base
    assert state_hash(retyped) != base
