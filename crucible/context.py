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


def role_context(
    role: str, *, read_only: bool = False, settings: RoleSettings | None = None, daemon: bool = False
) -> RoleContext:
    """``daemon``: retry the RPC for ``rpc_timeout`` (30 s); a one-shot command gives up after
    ``rpc_command_timeout`` (5 s) with the clear message instead of making its user wait."""
    settings = settings or RoleSettings()
    deployment = settings.load_deployment(role)
    account = None if read_only else settings.signer_account(deployment, role)
    budget = settings.rpc_timeout if daemon else settings.rpc_command_timeout
    market = Market.from_deployment(deployment, account, retry_for=budget)
    return RoleContext(settings, deployment, market, ArtifactStore(IpfsStore(deployment.ipfs_api)))
