// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TraceMerkle} from "../../src/libraries/TraceMerkle.sol";

/// @notice A toy training run for driving the dispute game cheaply (cf. Optimism's AlphabetVM):
/// the honest state hash after step t is H(t) = keccak256(seed, t). A trace with `divergeAt = X`
/// follows the honest run before step X and invents hashes from step X on (a lazy or cheating
/// party); `divergeAt = type(uint256).max` is honest.
library MockStepper {
    uint256 internal constant HONEST = type(uint256).max;

    struct Trace {
        bytes32 seed;
        uint256 divergeAt;
    }

    function honest(bytes32 seed) internal pure returns (Trace memory) {
        return Trace(seed, HONEST);
    }

    function liar(bytes32 seed, uint256 divergeAt) internal pure returns (Trace memory) {
        return Trace(seed, divergeAt);
    }

    /// @notice State hash after `t` steps under this trace.
    function hashAt(Trace memory tr, uint256 t) internal pure returns (bytes32) {
        if (t < tr.divergeAt) return keccak256(abi.encode(tr.seed, t));
        return keccak256(abi.encode(tr.seed, t, "forged"));
    }

    /// @notice Leaves 0..n of the trace with checkpoint interval k.
    function leaves(Trace memory tr, uint256 k, uint256 n) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](n + 1);
        for (uint256 i; i <= n; ++i) {
            out[i] = TraceMerkle.leaf(uint64(i * k), hashAt(tr, i * k));
        }
    }

    function root(Trace memory tr, uint256 k, uint256 n) internal pure returns (bytes32) {
        return TraceMerkle.root(leaves(tr, k, n));
    }

    /// @notice Siblings of leaf `index`, bottom-up (as `crucible/merkle.py`'s `proof`).
    function proof(bytes32[] memory ls, uint256 index) internal pure returns (bytes32[] memory siblings) {
        uint256 depth = TraceMerkle.depth(ls.length);
        uint256 width = uint256(1) << depth;
        bytes32[] memory level = new bytes32[](width);
        for (uint256 i; i < ls.length; ++i) {
            level[i] = ls[i];
        }
        siblings = new bytes32[](depth);
        for (uint256 d; d < depth; ++d) {
            siblings[d] = level[index ^ 1];
            width >>= 1;
            for (uint256 i; i < width; ++i) {
                level[i] = TraceMerkle.hashPair(level[2 * i], level[2 * i + 1]);
            }
            index >>= 1;
        }
    }

    function proofAt(Trace memory tr, uint256 k, uint256 n, uint256 index) internal pure returns (bytes32[] memory) {
        return proof(leaves(tr, k, n), index);
    }
}
