"""The positional keccak Merkle tree over trace leaves (docs/design.md §5).

Leaf ``i`` commits to checkpoint ``i``: ``keccak256(abi.encodePacked(uint64(step), stateHash))``.
The tree is built over leaves ``0..n`` padded with zero leaves (``bytes32(0)``) to a power of two;
a parent is ``keccak256(left ++ right)``. Proofs list siblings bottom-up; bit ``d`` of the leaf index
says whether the node at depth ``d`` is a right child. ``contracts/src/libraries/TraceMerkle.sol``
implements the same verification, and ``tests/vectors/merkle.json`` holds shared vectors that both
test suites check.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

ZERO = b"\x00" * 32


def leaf(step: int, state_hash: bytes) -> bytes:
    """Leaf for the checkpoint at ``step`` whose canonical state hash is ``state_hash``."""
    if not 0 <= step < 2**64:
        raise ValueError(f"step {step} does not fit in uint64")
    if len(state_hash) != 32:
        raise ValueError(f"state hash must be 32 bytes, got {len(state_hash)}")
    return keccak(step.to_bytes(8, "big") + state_hash)


def depth(n_leaves: int) -> int:
    """Number of levels above the leaves: ceil(log2(n_leaves)), at least 1."""
    if n_leaves < 1:
        raise ValueError("a tree needs at least one leaf")
    return max(1, (n_leaves - 1).bit_length())


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    width = 1 << depth(len(leaves))
    level = list(leaves) + [ZERO] * (width - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle root over ``leaves`` (positional, zero-padded to a power of two)."""
    return _levels(leaves)[-1][0]


def proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to (not including) the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} outside 0..{len(leaves) - 1}")
    levels = _levels(leaves)
    siblings = []
    for level in levels[:-1]:
        siblings.append(level[index ^ 1])
        index //= 2
    return siblings


def verify(root_hash: bytes, leaf_hash: bytes, index: int, siblings: Sequence[bytes]) -> bool:
    """True iff ``siblings`` prove ``leaf_hash`` at ``index`` under ``root_hash``."""
    if index >> len(siblings):
        return False
    node = leaf_hash
    for sibling in siblings:
        node = keccak(sibling + node) if index & 1 else keccak(node + sibling)
        index //= 2
    return node == root_hash
