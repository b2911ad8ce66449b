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
