"""`crucible oracle`: run the oracle service (mounted by the root CLI as ``oracle``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from crucible.console import err_console, reports_errors

app = typer.Typer(no_args_is_help=True, help="Judge disputes: replay the one disputed step, post verdicts.")


@app.callback()
def main() -> None:
    """Judge disputes: replay the one disputed step, post verdicts, publish the evidence."""


@app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8700,
    dev_account: Annotated[
        str, typer.Option("--dev-account", help="Devnet account name (only on chain 31337).")
    ] = "oracle",
    state_dir: Annotated[
        Path | None, typer.Option(help="Where evidence is kept (default: CRUCIBLE_ORACLE_STATE_DIR or .devnet/oracle).")
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

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, object] = {"host": host, "port": port}
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if poll_interval is not None:
        overrides["poll_interval"] = poll_interval
    settings = Settings(**overrides)  # type: ignore[arg-type]
    service = build_service(settings, RoleSettings(dev_account=dev_account))
    err_console.print(
        f"oracle {service.address} on market {service.market.address}, evidence in {service.evidence.folder}"
    )
    uvicorn.run(create_app(service), host=settings.host, port=settings.port, log_level=log_level.lower())
