"""`crucible verifier`: check results and challenge the wrong ones, for the bond's reward."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crucible.chain.units import format_eth
from crucible.console import reports_errors

app = typer.Typer(no_args_is_help=True, help="Audit submitted results and challenge wrong ones.")
console = Console()


@app.command()
@reports_errors
def run(
    dev_account: Annotated[
        str | None, typer.Option("--dev-account", help="Devnet account name (chain 31337 only).")
    ] = None,
    sample: Annotated[int | None, typer.Option(help="Segments replayed per result (default: all).")] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Audit reports, one JSON file per job (default: <state root>/verifier/<address>)."),
    ] = None,
    audit_only: Annotated[bool, typer.Option(help="Report findings without challenging.")] = False,
) -> None:
    """Run the verifier daemon until interrupted."""
    from crucible.context import role_context
    from crucible.settings import RoleSettings
    from verifier.daemon import Verifier, VerifierConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s verifier %(message)s", datefmt="%H:%M:%S")
    ctx = role_context("verifier", settings=RoleSettings.with_overrides(dev_account=dev_account))
    me = ctx.market.signer.address  # type: ignore[union-attr]
    config = VerifierConfig(
        state_dir=state_dir or ctx.settings.role_state_dir("verifier", me), sample=sample, challenge=not audit_only
    )
    verifier = Verifier(ctx.market, ctx.store, config, start_block=ctx.deployment.deploy_block)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    report = verifier.run(stop)
    console.print(
        f"verifier stopped: audited {sorted(report.audits)}, disputes {report.disputes}, "
        f"withdrew {format_eth(report.withdrawn)} ETH"
    )
