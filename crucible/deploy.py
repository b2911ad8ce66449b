"""The one deploy function: devnet up, the ape script under scripts/ and tests all call it."""

from __future__ import annotations

from typing import Any

from web3.types import TxReceipt

from crucible.chain import Signer, deploy, market_artifact

# Governance parameters per network profile. The devnet's windows are seconds so a demo finishes
# in minutes; the default profile's are what a real deployment would use.
PROFILES: dict[str, dict[str, Any]] = {
    "devnet": {},
    "default": {},
}


def market_settings(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ValueError(f"unknown parameter profile {profile!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[profile])


def deploy_market(signer: Signer, settings: dict[str, Any], oracles: list[str], quorum: int) -> tuple[str, TxReceipt]:
    """Deploy CrucibleMarket with ``settings`` as its Params; returns (address, receipt)."""
    return deploy(signer, market_artifact(), tuple(settings.values()), oracles, quorum)
