"""What every role's command needs: settings, the deployment, a signer, the market and the store."""

from __future__ import annotations

from dataclasses import dataclass

from crucible.chain.deployment import Deployment
from crucible.chain.market import Market
from crucible.settings import RoleSettings
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore


@dataclass(frozen=True)
class RoleContext:
    settings: RoleSettings
    deployment: Deployment
    market: Market
    store: ArtifactStore


def role_context(role: str, *, read_only: bool = False, settings: RoleSettings | None = None) -> RoleContext:
    settings = settings or RoleSettings()
    deployment = settings.load_deployment(role)
    account = None if read_only else settings.signer_account(deployment, role)
    market = Market.from_deployment(deployment, account)
    return RoleContext(settings, deployment, market, ArtifactStore(IpfsStore(deployment.ipfs_api)))
