"""`ape run deploy --network ...`: deploy CrucibleMarket through ape with the function `crucible
deploy` uses, and write a deployment file the roles can use.

The deployer: on ape's local network the first test account, elsewhere the key in
CRUCIBLE_DEPLOYER_KEY (never a file in the repository). The file goes to ``--out`` (default
./deployment.json; an existing one is kept unless ``--overwrite``), never to the devnet's own file.
ape's ``ethereum:local`` chain is a temporary anvil that stops when ape exits: deploy to a node
that keeps running instead (``--network http://127.0.0.1:PORT``, or a network of ape's config).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from ape import accounts, chain, networks
from ape.cli import ConnectedProviderCommand

from crucible.chain.keys import load_key
from crucible.devnet.deploy import deploy_to_chain


@click.command(cls=ConnectedProviderCommand)
@click.option("--profile", default="default", help="Governance parameter profile (devnet or default).")
@click.option(
    "--ipfs-api", envvar="CRUCIBLE_IPFS_API", required=True, help="IPFS API the roles should use (a running node)."
)
@click.option("--out", default="deployment.json", type=click.Path(path_type=Path), help="Deployment file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing deployment file.")
def cli(profile: str, ipfs_api: str, out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise click.UsageError(f"{out} exists; pass --overwrite or another --out")
    network = networks.provider.network.name
    if network == "local":
        key = accounts.test_accounts[0].private_key
        click.echo("warning: ape's local chain stops when this command ends; the file is only good until then")
    else:
        key = os.environ.get("CRUCIBLE_DEPLOYER_KEY", "")
    deployment = deploy_to_chain(
        chain.provider.web3,
        load_key(key),
        rpc_url=str(chain.provider.http_uri),
        ipfs_api=ipfs_api,
        profile=profile,
        oracles=[o for o in os.environ.get("CRUCIBLE_ORACLES", "").split(",") if o],
    )
    deployment.save(out)
    click.echo(f"CrucibleMarket deployed at {deployment.market} on chain {deployment.chain_id}; deployment file {out}")
