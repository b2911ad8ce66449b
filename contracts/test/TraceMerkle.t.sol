// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {MockStepper} from "./utils/MockStepper.sol";
import {TraceMerkle} from "../src/libraries/TraceMerkle.sol";

/// @dev Exposes the library's calldata verification to memory-built proofs.
contract TraceMerkleHarness {
    function verify(bytes32 root, bytes32 leafHash, uint256 index, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return TraceMerkle.verify(root, leafHash, index, proof);
    }
}

/// @notice TraceMerkle against the vectors shared with `crucible/merkle.py`
/// (`tests/vectors/merkle.json`), plus fuzzed round trips and tampering.
contract TraceMerkleTest is Test {
    TraceMerkleHarness internal harness;
    string internal json;

    function setUp() public {
        harness = new TraceMerkleHarness();
        json = vm.readFile("tests/vectors/merkle.json");
    }

    function _key(uint256 c, string memory field) internal pure returns (string memory) {
        return string.concat(".cases[", _str(c), "].", field);
    }

    function _leafKey(uint256 c, uint256 i, string memory field) internal pure returns (string memory) {
        return string.concat(".cases[", _str(c), "].leaves[", _str(i), "].", field);
    }

    function _str(uint256 v) internal pure returns (string memory) {
        return vm.toString(v);
    }

    function test_vectors_matchPython_succeeds() public view {
        uint256 cases;
        while (vm.keyExistsJson(json, string.concat(".cases[", _str(cases), "]"))) ++cases;
        assertTrue(cases >= 5, "vectors present");
        for (uint256 c; c < cases; ++c) {
            uint256 n = vm.parseJsonUint(json, _key(c, "segments"));
            uint256 k = vm.parseJsonUint(json, _key(c, "interval"));
            bytes32 root = vm.parseJsonBytes32(json, _key(c, "root"));
            uint256 depth = vm.parseJsonUint(json, _key(c, "depth"));
            assertEq(TraceMerkle.depth(n + 1), depth, "depth");
            bytes32[] memory leaves = _leaves(json, c, n);
            for (uint256 i; i <= n; ++i) {
                assertEq(vm.parseJsonUint(json, _leafKey(c, i, "index")), i, "index");
                uint256 step = vm.parseJsonUint(json, _leafKey(c, i, "step"));
                assertEq(step, i * k, "step = i * k");
                bytes32 stateHash = vm.parseJsonBytes32(json, _leafKey(c, i, "stateHash"));
                bytes32 leaf = leaves[i];
                assertEq(TraceMerkle.leaf(uint64(step), stateHash), leaf, "leaf");
                bytes32[] memory proof = vm.parseJsonBytes32Array(json, _leafKey(c, i, "proof"));
                assertEq(proof.length, depth, "proof length");
                assertTrue(harness.verify(root, leaf, i, proof), "python proof verifies");
                bytes32[] memory ours = MockStepper.proof(leaves, i);
                for (uint256 d; d < depth; ++d) {
                    assertEq(ours[d], proof[d], "same siblings");
                }
                // tampering: a flipped sibling, the wrong index, or a foreign leaf never verifies
                proof[0] ^= bytes32(uint256(1));
                assertFalse(harness.verify(root, leaf, i, proof), "tampered sibling");
                proof[0] ^= bytes32(uint256(1));
                assertFalse(harness.verify(root, leaf, i ^ 1, proof), "wrong index");
                assertFalse(harness.verify(root, leaf, i + (uint256(1) << depth), proof), "index beyond depth");
                assertFalse(harness.verify(root, keccak256(abi.encode(leaf)), i, proof), "foreign leaf");
            }
            assertEq(TraceMerkle.root(leaves), root, "root");
        }
    }

    /// @dev All leaves of case c, parsed up front (proof building needs the whole level).
    function _leaves(string memory j, uint256 c, uint256 n) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](n + 1);
        for (uint256 i; i <= n; ++i) {
            leaves[i] = vm.parseJsonBytes32(j, _leafKey(c, i, "leaf"));
        }
    }

    function test_leaf_encodePacked_succeeds() public pure {
        bytes32 h = keccak256("state");
        assertEq(TraceMerkle.leaf(12_345, h), keccak256(abi.encodePacked(uint64(12_345), h)), "packed");
    }

    function test_depth_smallTrees_succeeds() public pure {
        assertEq(TraceMerkle.depth(1), 1, "1 leaf");
        assertEq(TraceMerkle.depth(2), 1, "2 leaves");
        assertEq(TraceMerkle.depth(3), 2, "3 leaves");
        assertEq(TraceMerkle.depth(5), 3, "5 leaves");
        assertEq(TraceMerkle.depth(9), 4, "9 leaves");
        assertEq(TraceMerkle.depth(65_537), 17, "n = 65536");
    }

    function testFuzz_verify_roundTrip_succeeds(bytes32 seed, uint256 n, uint256 k, uint256 index) public view {
        n = bound(n, 1, 70);
        k = bound(k, 1, 1e9);
        index = bound(index, 0, n);
        MockStepper.Trace memory tr = MockStepper.honest(seed);
        bytes32[] memory leaves = MockStepper.leaves(tr, k, n);
        bytes32 root = TraceMerkle.root(leaves);
        bytes32[] memory proof = MockStepper.proof(leaves, index);
        assertEq(proof.length, TraceMerkle.depth(n + 1), "depth");
        assertTrue(harness.verify(root, leaves[index], index, proof), "verifies");
    }

    function testFuzz_verify_wrongIndex_reverts(bytes32 seed, uint256 n, uint256 index, uint256 other) public view {
        n = bound(n, 1, 70);
        index = bound(index, 0, n);
        uint256 depth = TraceMerkle.depth(n + 1);
        other = bound(other, 0, (uint256(1) << depth) - 1);
        vm.assume(other != index);
        bytes32[] memory leaves = MockStepper.leaves(MockStepper.honest(seed), 7, n);
        bytes32[] memory proof = MockStepper.proof(leaves, index);
        assertFalse(harness.verify(TraceMerkle.root(leaves), leaves[index], other, proof), "positional");
    }
}
