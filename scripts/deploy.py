"""`ape run deploy --network ...`: deploy CrucibleMarket with the same function `crucible devnet up` uses.

On ape's local network (ape-foundry's anvil) it uses the first test account; on any other network
the deployer key comes from the CRUCIBLE_DEPLOYER_KEY environment variable (never a file in the repo).
Writes the deployment file to CRUCIBLE_DEPLOYMENT (default: deployment.json).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from ape import accounts, chain, networks
from ape.cli import ConnectedProviderCommand

from crucible.chain.deployment import Deployment
from crucible.chain.keys import load_key
from crucible.chain.signer import Signer
from crucible.devnet.deploy import deploy_market, market_settings


@click.command(cls=ConnectedProviderCommand)
@click.option("--profile", default="default", help="Governance parameter profile (devnet or default).")
@click.option("--ipfs-api", default="http://127.0.0.1:5001", help="IPFS API the roles should use.")
def cli(profile: str, ipfs_api: str) -> None:
    w3 = chain.provider.web3
    if networks.provider.network.name == "local":
        key = accounts.test_accounts[0].private_key
    else:
        key = os.environ.get("CRUCIBLE_DEPLOYER_KEY", "")
    signer = Signer(w3, load_key(key))
    oracles = [o for o in os.environ.get("CRUCIBLE_ORACLES", signer.address).split(",") if o]
    address, receipt = deploy_market(signer, market_settings(profile), oracles, quorum=1)
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        rpc_url=chain.provider.uri,
        ipfs_api=ipfs_api,
        market=address,
        deploy_block=int(receipt["blockNumber"]),
    )
    out = Path(os.environ.get("CRUCIBLE_DEPLOYMENT", "deployment.json"))
    deployment.save(out)
    click.echo(f"CrucibleMarket deployed at {address}; deployment file {out}")
