"""`crucible explorer`: serve the read-only web explorer (mounted by the root CLI as a command)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from crucible.console import PubsubApi, err_console, reports_errors


@reports_errors
def explorer(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8800,
    oracle_url: Annotated[
        str | None, typer.Option(help="An oracle's HTTP API (e.g. http://127.0.0.1:8700) for verdict evidence.")
    ] = None,
    pubsub_api: PubsubApi = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where the read model is cached between runs (default: <state root>/explorer)."),
    ] = None,
    poll_interval: Annotated[float, typer.Option(help="Seconds between reads of the chain.")] = 0.5,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
) -> None:
    """Serve the market, job, provider and challenger pages, updating live, from the chain and IPFS."""
    import uvicorn

    from crucible.settings import RoleSettings
    from crucible.store.artifacts import ArtifactStore
    from crucible.store.ipfs import IpfsStore
    from crucible.store.pubsub import IpfsPubsubTransport, ProgressFeed
    from crucible.store.pubsub import pubsub_api as default_pubsub
    from explorer.app import Explorer, create_app
    from explorer.indexer import Indexer

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = RoleSettings()
    deployment = settings.load_deployment()
    cache_dir = cache_dir or settings.role_state_dir("explorer")
    store = ArtifactStore(IpfsStore(deployment.ipfs_api, timeout=5.0, fetch_timeout=5.0))
    indexer = Indexer(deployment, cache_path=cache_dir / f"{deployment.chain_id}-{deployment.market}.json", store=store)
    feed = ProgressFeed(
        IpfsPubsubTransport(pubsub_api or default_pubsub(deployment.ipfs_api)),
        chain_id=deployment.chain_id,
        market=deployment.market,
        provider_of=indexer.provider_of,
    )
    app = create_app(Explorer(indexer, feed, oracle_url=oracle_url, poll_interval=poll_interval))
    err_console.print(f"explorer for market {deployment.market} on http://{host}:{port}/ (pid {os.getpid()})")
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower())
