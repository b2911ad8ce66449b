// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title TraceMerkle
/// @notice The positional keccak Merkle tree over trace leaves (docs/design.md §5), bit for bit
/// the same as `crucible/merkle.py`: leaf i = keccak256(abi.encodePacked(uint64(i*k), stateHash)),
/// leaves 0..n padded with zero leaves to a power of two, parent = keccak256(left ++ right),
/// proofs list siblings bottom-up and bit d of the index says whether the node at depth d is a
/// right child. Shared vectors: `tests/vectors/merkle.json`.
library TraceMerkle {
    /// @notice The leaf committing to the checkpoint at `step` with canonical state hash `stateHash`.
    function leaf(uint64 step, bytes32 stateHash) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(192, step))
            mstore(add(ptr, 8), stateHash)
            h := keccak256(ptr, 40)
        }
    }

    /// @notice Levels above the leaves for a tree of `leafCount` leaves: ceil(log2(leafCount)), at least 1.
    /// @dev `leafCount` must be at least 1 (callers pass n + 1).
    function depth(uint256 leafCount) internal pure returns (uint256 d) {
        d = 1;
        while ((uint256(1) << d) < leafCount) ++d;
    }

    /// @notice Parent of two nodes.
    function hashPair(bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, left)
            mstore(0x20, right)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @notice True iff `proof` (siblings, bottom-up) proves `leafHash` at `index` under `traceRoot`.
    /// @dev Rejects an index that does not fit in `proof.length` bits, so one leaf cannot be
    /// proven at two positions. Callers also pin `proof.length` to the tree depth.
    function verify(bytes32 traceRoot, bytes32 leafHash, uint256 index, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        uint256 len = proof.length;
        if (len < 256 && (index >> len) != 0) return false;
        bytes32 node = leafHash;
        for (uint256 i; i < len; ++i) {
            node = (index & 1) == 1 ? hashPair(proof[i], node) : hashPair(node, proof[i]);
            index >>= 1;
        }
        return node == traceRoot;
    }

    /// @notice Root over `leaves` (positional, zero-padded to a power of two). For tests and tools.
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 width = uint256(1) << depth(leaves.length);
        bytes32[] memory level = new bytes32[](width);
        for (uint256 i; i < leaves.length; ++i) {
            level[i] = leaves[i];
        }
        while (width > 1) {
            width >>= 1;
            for (uint256 i; i < width; ++i) {
                level[i] = hashPair(level[2 * i], level[2 * i + 1]);
            }
        }
        return level[0];
    }
}
