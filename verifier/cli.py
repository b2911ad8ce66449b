"""`crucible verifier`: check results and challenge the wrong ones, for the bond's reward."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crucible.chain.units import format_eth
from crucible.console import console, print_json, reports_errors

app = typer.Typer(no_args_is_help=True, help="Audit submitted results and challenge wrong ones.")


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
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on HOST:PORT.")] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="Address the metrics bind (default CRUCIBLE_METRICS_HOST, else 127.0.0.1).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the final report as JSON.")] = False,
) -> None:
    """Run the verifier daemon until interrupted (Ctrl-C exits 130, SIGTERM 0)."""
    from crucible.context import role_context
    from crucible.daemon import StopSignals
    from crucible.logs import setup_logging
    from crucible.settings import RoleSettings
    from verifier.daemon import Verifier, VerifierConfig

    setup_logging("verifier")
    ctx = role_context("verifier", settings=RoleSettings.with_overrides(dev_account=dev_account), daemon=True)
    me = ctx.market.signer.address  # type: ignore[union-attr]
    setup_logging("verifier", me)
    config = VerifierConfig(
        state_dir=state_dir or ctx.settings.role_state_dir("verifier", me), sample=sample, challenge=not audit_only
    )
    verifier = Verifier(ctx.market, ctx.store, config, start_block=ctx.deployment.deploy_block)
    if metrics_port is not None:
        verifier.metrics.serve(metrics_port, metrics_host or ctx.settings.metrics_host)
    signals = StopSignals()
    report = verifier.run(signals.event)
    if json_out:
        print_json(
            {
                "audited": sorted(report.audits),
                "disputes": {str(k): v for k, v in report.disputes.items()},
                "withdrawn_wei": report.withdrawn,
            }
        )
    else:
        console.print(
            f"verifier stopped: audited {sorted(report.audits)}, disputes {report.disputes}, "
            f"withdrew {format_eth(report.withdrawn)} ETH"
        )
    raise typer.Exit(signals.exit_code)
