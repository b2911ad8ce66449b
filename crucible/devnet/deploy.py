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
    clock_budget: int
    move_extension: int
    oracle_timeout: int
    reaction_time: int
    progress_timeout: int
    oracle_set_delay: int
    max_segments: int
    challenger_share_bps: int
    requester_share_bps: int
    provider_bond_share_bps: int
    expiry_slash_bps: int
    void_fee_bps: int
    min_stake_bps: int
    min_stake: int
    min_bond: int
    oracle_fee: int
    ref_gas_price: int


GWEI = 10**9

# Realistic defaults for a public deployment: windows and clocks in hours and days
# (docs/dispute-game.md section 3 gives the worst-case dispute duration they imply).
DEFAULT_PARAMS = MarketParams(
    min_challenge_window=DAY,
    max_challenge_window=14 * DAY,
    min_duration=3_600,
    max_duration=30 * DAY,
    clock_budget=DAY,
    move_extension=3_600,
    oracle_timeout=2 * DAY,
    reaction_time=DAY,
    progress_timeout=6 * 3_600,
    oracle_set_delay=7 * DAY,
    max_segments=65_536,
    challenger_share_bps=1_000,
    requester_share_bps=1_000,
    provider_bond_share_bps=5_000,
    expiry_slash_bps=2_000,
    void_fee_bps=1_000,
    min_stake_bps=10_000,
    min_stake=ETHER // 10,
    min_bond=ETHER // 100,
    oracle_fee=ETHER // 500,
    ref_gas_price=20 * GWEI,
)
# The devnet's clocks are seconds so a demo finishes in minutes; fees are small.
DEVNET_PARAMS = replace(
    DEFAULT_PARAMS,
    min_challenge_window=5,
    min_duration=10,
    clock_budget=60,
    move_extension=30,
    oracle_timeout=60,
    reaction_time=30,
    progress_timeout=60,
    oracle_set_delay=2_400,
    void_fee_bps=500,
    min_stake=ETHER // 100,
    min_bond=ETHER // 1000,
    oracle_fee=ETHER // 10_000,
    ref_gas_price=GWEI,
)
PROFILES = {"default": DEFAULT_PARAMS, "devnet": DEVNET_PARAMS}


def market_settings(profile: str) -> MarketParams:
    if profile not in PROFILES:
        raise ValueError(f"unknown parameter profile {profile!r}; known: {', '.join(PROFILES)}")
    return PROFILES[profile]


def deploy_market(signer: Signer, params: MarketParams, oracles: Sequence[str], quorum: int) -> tuple[str, TxReceipt]:
    """Deploy CrucibleMarket; returns (address, receipt)."""
    return deploy(signer, market_artifact(), astuple(params), oracles, quorum)
