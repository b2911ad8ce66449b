// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./utils/MarketFixture.sol";
import {MarketHandler} from "./utils/MarketHandler.sol";

/// @notice Invariants of the market under random actors (see `MarketHandler`).
contract InvariantTest is MarketFixture {
    MarketHandler internal handler;

    function setUp() public override {
        super.setUp();
        address[] memory os = new address[](4); // the market's set is the first three
        os[0] = oracle1;
        os[1] = oracle2;
        os[2] = oracle3;
        os[3] = makeAddr("oracle4");
        handler = new MarketHandler(market, os);
        market.transferOwnership(address(handler)); // the handler schedules oracle sets
        vm.prank(address(handler));
        market.acceptOwnership();
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](20);
        selectors[0] = MarketHandler.post.selector;
        selectors[1] = MarketHandler.cancel.selector;
        selectors[2] = MarketHandler.deposit.selector;
        selectors[3] = MarketHandler.withdrawStake.selector;
        selectors[4] = MarketHandler.claim.selector;
        selectors[5] = MarketHandler.submit.selector;
        selectors[6] = MarketHandler.finalize.selector;
        selectors[7] = MarketHandler.expire.selector;
        selectors[8] = MarketHandler.challenge.selector;
        selectors[9] = MarketHandler.dissect.selector;
        selectors[10] = MarketHandler.respond.selector;
        selectors[11] = MarketHandler.verdict.selector;
        selectors[12] = MarketHandler.timeout.selector;
        selectors[13] = MarketHandler.withdrawCredit.selector;
        selectors[14] = MarketHandler.warp.selector;
        selectors[15] = MarketHandler.challengeManifest.selector;
        selectors[16] = MarketHandler.settle.selector;
        selectors[17] = MarketHandler.claimFee.selector;
        selectors[18] = MarketHandler.rotateOracles.selector;
        selectors[19] = MarketHandler.warpPastSetDelay.selector;
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// @dev Logs how far the run got (successful calls per action); see `-vv`.
    function afterInvariant() public view {
        console.log("jobs", market.jobCount());
        console.log("claims", handler.hits(MarketHandler.claim.selector));
        console.log("submits", handler.hits(MarketHandler.submit.selector));
        console.log("challenges", handler.hits(MarketHandler.challenge.selector));
        console.log("manifest challenges", handler.hits(MarketHandler.challengeManifest.selector));
        console.log("dissects", handler.hits(MarketHandler.dissect.selector));
        console.log("settled shared wins", handler.hits(MarketHandler.settle.selector));
        console.log("oracle fees claimed", handler.hits(MarketHandler.claimFee.selector));
        console.log("verdicts", handler.hits(MarketHandler.verdict.selector));
        console.log("timeouts", handler.hits(MarketHandler.timeout.selector));
        console.log("oracle sets scheduled", handler.hits(MarketHandler.rotateOracles.selector));
        console.log(
            "votes refused (not in the job's and the current epoch)", handler.hits(bytes4(keccak256("vote refused")))
        );
        console.log("challenges at a raised bond", handler.hits(bytes4(keccak256("raised bond"))));
        console.log("slashes", handler.hits(bytes4(keccak256("slash"))));
        console.log("finalized", handler.hits(MarketHandler.finalize.selector));
        console.log("expired", handler.hits(MarketHandler.expire.selector));
    }

    /// @custom:invariant Solvency: the balance equals the liabilities (escrows + stakes + bonds +
    /// credits), the handler's independent bucket sum, and every wei in minus every wei out and burned.
    function invariant_solvency() public view {
        uint256 balance = address(market).balance;
        assertEq(balance, market.totalLiabilities(), "balance == totalLiabilities");
        assertEq(balance, handler.bucketSum(), "balance == escrows + stakes + bonds + credits");
        assertEq(balance, handler.ghostIn() - handler.ghostOut() - market.totalBurned(), "in - out - burned");
    }

    /// @custom:invariant No double payout: a job is finalized or slashed at most once, and a finalized
    /// job stays finalized (never disputed or paid again).
    function invariant_noDoublePayout() public view {
        uint256 n = handler.jobCount();
        for (uint256 i; i < n; ++i) {
            uint256 id = handler.jobIds(i);
            assertLe(handler.payouts(id), 1, "at most one payout");
            assertLe(market.getJob(id).liveDisputes, handler.disputeCount(), "live disputes counted");
            if (handler.everFinalized(id)) {
                assertTrue(market.jobStatus(id) == JobStatus.Finalized, "finalized is terminal");
            }
        }
    }

    /// @custom:invariant No dispute is paid as a winner twice (shared wins included).
    function invariant_noDoubleDisputePayout() public view {
        uint256 n = handler.disputeCount();
        for (uint256 i; i < n; ++i) {
            assertLe(handler.disputePayouts(handler.disputeIds(i)), 1, "one payout per dispute");
        }
    }

    /// @custom:invariant Locked stake never exceeds what a provider deposited, and the slashed
    /// amount of a job never exceeds the stake it locked.
    function invariant_stakeBounds() public view {
        uint256 p = handler.providerCount();
        for (uint256 i; i < p; ++i) {
            address prov = handler.providers(i);
            ProviderInfo memory info = market.providerInfo(prov);
            assertLe(info.locked, handler.deposited(prov), "locked <= deposited");
            assertLe(uint256(info.free) + info.locked, handler.deposited(prov), "stake <= deposited");
        }
        uint256 n = handler.jobCount();
        for (uint256 i; i < n; ++i) {
            uint256 id = handler.jobIds(i);
            assertLe(handler.slashedAmount(id), market.getJob(id).stake, "slashed <= locked stake");
        }
    }
}
