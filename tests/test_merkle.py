"""The positional keccak Merkle tree: shared vectors are current, proofs verify, tampering fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crucible.protocol import merkle
from scripts.gen_merkle_vectors import VECTORS, render

CASES = json.loads(Path(VECTORS).read_text())["cases"]


def _b(h: str) -> bytes:
    return bytes.fromhex(h.removeprefix("0x"))


def test_committed_vectors_equal_what_the_generator_renders():
    assert Path(VECTORS).read_text() == render(), "run: python scripts/gen_merkle_vectors.py"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c['segments']}k{c['interval']}")
def test_vector_leaves_root_and_proofs(case):
    leaves = [merkle.leaf(e["step"], _b(e["stateHash"])) for e in case["leaves"]]
    assert [x.hex() for x in leaves] == [e["leaf"][2:] for e in case["leaves"]]
    root = merkle.root(leaves)
    assert root == _b(case["root"]) and merkle.depth(len(leaves)) == case["depth"]
    for e in case["leaves"]:
        proof = [_b(p) for p in e["proof"]]
        assert merkle.proof(leaves, e["index"]) == proof
        assert merkle.verify(root, _b(e["leaf"]), e["index"], proof)


@pytest.mark.parametrize("case", CASES[1:4], ids=lambda c: f"n{c['segments']}")
def test_tampered_proofs_fail(case):
    root = _b(case["root"])
    e = case["leaves"][1]
    leaf, proof, index = _b(e["leaf"]), [_b(p) for p in e["proof"]], e["index"]
    assert not merkle.verify(root, bytes(32), index, proof)  # wrong leaf
    assert not merkle.verify(root, leaf, index ^ 1, proof)  # wrong position
    assert not merkle.verify(root, leaf, index + (1 << len(proof)), proof)  # index out of range
    assert not merkle.verify(root, leaf, index, proof[:-1])  # short proof
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not merkle.verify(root, leaf, index, bad)
    other_step = merkle.leaf(e["step"] + 1, _b(e["stateHash"]))
    assert not merkle.verify(root, other_step, index, proof)


def test_leaf_rejects_bad_inputs():
    with pytest.raises(ValueError, match="uint64"):
        merkle.leaf(2**64, bytes(32))
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.leaf(0, bytes(31))
