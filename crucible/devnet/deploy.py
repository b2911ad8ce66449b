"""The one deploy function: `crucible devnet up`, the ape script under scripts/ and tests call it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace

from web3.types import TxReceipt

from crucible.chain.abi import market_artifact
from crucible.chain.contract import deploy
from crucible.chain.signer import Signer

ETHER = 10**18
DAY = 86_400


@dataclass(frozen=True)
class MarketParams:
    """Governance parameters, field for field the Solidity ``Params`` struct (Types.sol)."""

    min_challenge_window: int
    max_challenge_window: int
    min_duration: int
    max_duration: int
    move_timeout: int
    oracle_timeout: int
    max_segments: int
    challenger_share_bps: int
    requester_share_bps: int
    provider_bond_share_bps: int
    expiry_slash_bps: int
    min_stake: int
    min_bond: int


# Realistic defaults for a public deployment: windows and move clocks in hours and days.
DEFAULT_PARAMS = MarketParams(
    min_challenge_window=DAY,
    max_challenge_window=14 * DAY,
    min_duration=3_600,
    max_duration=30 * DAY,
    move_timeout=DAY,
    oracle_timeout=2 * DAY,
    max_segments=65_536,
    challenger_share_bps=5_000,
    requester_share_bps=3_000,
    provider_bond_share_bps=5_000,
    expiry_slash_bps=2_000,
    min_stake=ETHER // 10,
    min_bond=ETHER // 100,
)
# The devnet's clocks are seconds so a demo finishes in minutes.
DEVNET_PARAMS = replace(
    DEFAULT_PARAMS,
    min_challenge_window=5,
    min_duration=10,
    move_timeout=20,
    oracle_timeout=60,
    min_stake=ETHER // 100,
    min_bond=ETHER // 1000,
)
PROFILES = {"default": DEFAULT_PARAMS, "devnet": DEVNET_PARAMS}


def market_settings(profile: str) -> MarketParams:
    if profile not in PROFILES:
        raise ValueError(f"unknown parameter profile {profile!r}; known: {', '.join(PROFILES)}")
    return PROFILES[profile]


def deploy_market(signer: Signer, params: MarketParams, oracles: Sequence[str], quorum: int) -> tuple[str, TxReceipt]:
    """Deploy CrucibleMarket; returns (address, receipt)."""
    return deploy(signer, market_artifact(), astuple(params), oracles, quorum)
