// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";
import {DisputeModule} from "../src/DisputeModule.sol";

/// @notice Every contract the deployment creates fits the limits real chains enforce; the test
/// EVM here does not enforce them, so these assertions are what catches growth.
contract CodeSizeTest is MarketFixture {
    /// @dev EIP-170: the largest runtime code a CREATE may leave.
    uint256 internal constant MAX_RUNTIME = 24_576;
    /// @dev EIP-3860: the largest init code of a creation transaction.
    uint256 internal constant MAX_INITCODE = 49_152;

    function test_codeSize_marketAndModule_fitEip170() public view {
        assertGe(disputeModule.code.length, 1, "DisputeModule deployed by the market's constructor");
        assertLe(address(market).code.length, MAX_RUNTIME, "CrucibleMarket runtime > EIP-170");
        assertLe(disputeModule.code.length, MAX_RUNTIME, "DisputeModule runtime > EIP-170");
    }

    function test_codeSize_deployTransaction_fitsEip3860() public pure {
        address[] memory oracles = new address[](32); // the largest oracle set
        for (uint256 i; i < oracles.length; ++i) {
            oracles[i] = address(uint160(i + 1));
        }
        bytes memory initcode =
            abi.encodePacked(type(CrucibleMarket).creationCode, abi.encode(defaultParams(), oracles, uint8(17)));
        assertLe(initcode.length, MAX_INITCODE, "CrucibleMarket deploy init code > EIP-3860");
    }

    /// @dev The module's functions only make sense in a market's storage.
    function test_disputeModule_calledDirectly_reverts() public {
        uint256 jobId = _submitted(MockStepper.honest(SEED));
        vm.prank(challenger);
        vm.expectRevert(DisputeModule.NotDelegated.selector);
        DisputeModule(disputeModule).challengeManifest{value: BOND}(jobId);
        vm.expectRevert(DisputeModule.NotDelegated.selector);
        DisputeModule(disputeModule).setParams(defaultParams());
    }
}
