"""`crucible oracle`: run the oracle service (mounted by the root CLI as ``oracle``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from crucible.console import reports_errors
from crucible.logs import setup_logging

app = typer.Typer(no_args_is_help=True, help="Judge disputes: replay the one disputed step, post verdicts.")


@app.callback()
def main() -> None:
    """Judge disputes: replay the one disputed step, post verdicts, publish the evidence."""


@app.command()
@reports_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8700).")] = None,
    dev_account: Annotated[
        str | None, typer.Option("--dev-account", help="Devnet account name (only on chain 31337).")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Where evidence is kept (default: CRUCIBLE_ORACLE_STATE_DIR, else <state root>/oracle)."),
    ] = None,
    poll_interval: Annotated[float | None, typer.Option(help="Seconds between event polls.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Watch disputes awaiting oracles, judge them, post verdicts, and serve the evidence over HTTP."""
    import uvicorn

    from crucible.settings import RoleSettings
    from oracle.api.app import create_app
    from oracle.service import build_service
    from oracle.settings import Settings

    setup_logging("oracle", level=log_level)
    settings = Settings.with_overrides(host=host, port=port, state_dir=state_dir, poll_interval=poll_interval)
    service = build_service(settings, RoleSettings.with_overrides(dev_account=dev_account))
    setup_logging("oracle", service.address, level=log_level)
    logging.getLogger("crucible.oracle").info(
        "serving on http://%s:%d for market %s, evidence in %s",
        settings.host, settings.port, service.market.address, service.evidence.folder,
    )  # fmt: skip
    # log_config=None: uvicorn's own lines go through the one log format too.
    uvicorn.run(
        create_app(service), host=settings.host, port=settings.port, log_level=log_level.lower(), log_config=None
    )
