"""Writes tests/vectors/merkle.json: shared Merkle test vectors checked by pytest and forge.

Deterministic (state hashes are sha256 of a counter), so regenerating gives the same file; a test
fails if the committed file drifts from what crucible.protocol.merkle computes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from crucible.protocol import merkle

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "merkle.json"


def build() -> dict[str, object]:
    cases = []
    for n_segments, interval in [(1, 1), (2, 5), (3, 10), (4, 128), (7, 3), (8, 64), (13, 1000)]:
        hashes = [hashlib.sha256(f"state-{n_segments}-{i}".encode()).digest() for i in range(n_segments + 1)]
        leaves = [merkle.leaf(i * interval, h) for i, h in enumerate(hashes)]
        tree_root = merkle.root(leaves)
        cases.append(
            {
                "segments": n_segments,
                "interval": interval,
                "root": "0x" + tree_root.hex(),
                "depth": merkle.depth(len(leaves)),
                "leaves": [
                    {
                        "index": i,
                        "step": i * interval,
                        "stateHash": "0x" + h.hex(),
                        "leaf": "0x" + leaves[i].hex(),
                        "proof": ["0x" + s.hex() for s in merkle.proof(leaves, i)],
                    }
                    for i, h in enumerate(hashes)
                ],
            }
        )
    return {"description": "positional keccak Merkle tree over (uint64 step, bytes32 stateHash) leaves", "cases": cases}


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


if __name__ == "__main__":
    VECTORS.parent.mkdir(parents=True, exist_ok=True)
    VECTORS.write_text(render())
    sys.stdout.write(f"wrote {VECTORS}\n")
