"""The one deploy function: `crucible devnet up`, the ape script under scripts/ and tests call it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace
from typing import Any

from web3.types import TxReceipt

from crucible.chain.abi import market_artifact
from crucible.chain.contract import deploy
from crucible.chain.deployment import Deployment, checksum
from crucible.chain.signer import Signer
from crucible.errors import ConfigError

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
    carry_bps: int  # carrying cost of a delayed payout, bps a year of reward + stake (sizes bonds, void fees)
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
    carry_bps=500,
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
        raise ConfigError(f"unknown parameter profile {profile!r}; known: {', '.join(PROFILES)}")
    return PROFILES[profile]


def deploy_market(signer: Signer, params: MarketParams, oracles: Sequence[str], quorum: int) -> tuple[str, TxReceipt]:
    """Deploy CrucibleMarket; returns (address, receipt)."""
    return deploy(signer, market_artifact(), astuple(params), oracles, quorum)


#: Blocks the daemons wait on top of an event on a chain that is not an automining devnet.
PUBLIC_CONFIRMATIONS = 2


def deploy_to_chain(
    w3: Any,
    account: Any,
    *,
    rpc_url: str,
    ipfs_api: str,
    profile: str = "default",
    oracles: Sequence[str] = (),
    quorum: int = 1,
    confirmations: int | None = None,
) -> Deployment:
    """Deploy CrucibleMarket on the chain behind ``w3`` with ``account`` and describe it as a
    :class:`Deployment` for the roles (oracles default to the deployer). ``confirmations`` defaults
    to 0 on a chain that mines a block per transaction (an automining anvil), else
    :data:`PUBLIC_CONFIRMATIONS`."""
    signer = Signer(w3, account)
    oracles = [checksum(o, "oracle address") for o in oracles] or [signer.address]
    if not 1 <= quorum <= len(oracles):
        raise ConfigError(f"quorum {quorum} must be between 1 and the number of oracles ({len(oracles)})")
    address, receipt = deploy_market(signer, market_settings(profile), oracles, quorum)
    if confirmations is None:
        confirmations = 0 if _automines(w3) else PUBLIC_CONFIRMATIONS
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        rpc_url=rpc_url,
        ipfs_api=ipfs_api,
        market=address,
        deploy_block=int(receipt["blockNumber"]),
        confirmations=confirmations,
    )


def _automines(w3: Any) -> bool:
    """Whether the node mines a block per transaction (anvil's automine); False where unknown."""
    try:
        return bool(w3.provider.make_request("anvil_getAutomine", [])["result"])
    except Exception:  # noqa: BLE001 - not anvil: a real chain mines on its own clock
        return False
