"""`crucible worker`: a provider's commands."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crucible.chain.units import format_eth, parse_eth
from crucible.console import JsonOut, console, print_json, reports_errors, transactions_json
from crucible.errors import ConfigError

if TYPE_CHECKING:
    from crucible.context import RoleContext
    from crucible.engine.behaviour import ProviderBehaviour
    from crucible.store.retention import Keep


def _honest_only(name: str) -> ProviderBehaviour:
    from crucible.engine.behaviour import Honest

    if name != Honest.name:
        raise ConfigError(f"unknown behaviour {name!r}: this worker knows only {Honest.name!r}")
    return Honest()


#: Turns ``--behaviour`` into a provider behaviour. The production worker knows only the honest one;
#: the application (``app/cli.py``) wires in the dishonest ones of ``crucible.testing`` for the demo.
behaviour_parser: Callable[[str], ProviderBehaviour] = _honest_only

app = typer.Typer(no_args_is_help=True, help="Provide GPU/CPU time: stake, then train jobs for rewards.")

Account = Annotated[str | None, typer.Option("--dev-account", help="Devnet account name (only on chain 31337).")]
Amount = "ETH by default; also 0.5eth, 1ether, 10gwei or 1000wei"


def _ctx(dev_account: str | None, *, read_only: bool = False, daemon: bool = False) -> RoleContext:
    from crucible.context import role_context
    from crucible.settings import RoleSettings

    settings = RoleSettings.with_overrides(dev_account=dev_account)
    return role_context("provider", read_only=read_only, settings=settings, daemon=daemon)


def _stake_json(ctx: RoleContext, **result: Any) -> dict[str, Any]:
    me = ctx.market.signer.address  # type: ignore[union-attr]
    info = ctx.market.provider_info(me)
    return {
        **result,
        "address": me,
        "free_stake_wei": info.free,
        "locked_stake_wei": info.locked,
        "transactions": transactions_json(ctx.market.receipts),
    }


@app.command()
@reports_errors
def stake(
    amount: Annotated[str, typer.Argument(help=f"Amount to deposit ({Amount}).")],
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """Deposit free stake into the market."""
    wei = parse_eth(amount)
    if wei <= 0:
        raise ConfigError(f"stake must be more than 0 (got {amount!r})")
    ctx = _ctx(dev_account)
    ctx.market.deposit_stake(wei)
    data = _stake_json(ctx, deposited_wei=wei)
    if json_out:
        print_json(data)
        return
    console.print(
        f"staked {format_eth(wei)} ETH; free stake {format_eth(data['free_stake_wei'])} ETH, "
        f"locked {format_eth(data['locked_stake_wei'])} ETH"
    )


@app.command()
@reports_errors
def unstake(
    amount: Annotated[str, typer.Argument(help=f"Amount to withdraw ({Amount}), or 'all' for all free stake")],
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """Withdraw free (unlocked) stake."""
    ctx = _ctx(dev_account)
    me = ctx.market.signer.address  # type: ignore[union-attr]
    free = ctx.market.provider_info(me).free
    wei = free if amount == "all" else parse_eth(amount)
    if wei <= 0 or wei > free:
        raise ConfigError(f"cannot unstake {format_eth(wei)} ETH: this provider has {format_eth(free)} ETH free")
    ctx.market.withdraw_stake(wei)
    data = _stake_json(ctx, withdrawn_wei=wei)
    if json_out:
        print_json(data)
        return
    console.print(f"withdrew {format_eth(wei)} ETH of stake; {format_eth(data['free_stake_wei'])} ETH free")


@app.command()
@reports_errors
def status(
    dev_account: Account = None,
    address: Annotated[
        str | None, typer.Option(help="Any provider's address (needs no key); default: this account's.")
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """A provider's stake, credits and reputation."""
    from crucible.chain.deployment import checksum

    ctx = _ctx(dev_account, read_only=address is not None)
    me = checksum(address) if address is not None else ctx.market.signer.address  # type: ignore[union-attr]
    info = ctx.market.provider_info(me)
    data = {
        "address": me,
        "free_stake_wei": info.free,
        "locked_stake_wei": info.locked,
        "credit_wei": ctx.market.credits(me),
        "finalized": info.finalized,
        "slashed": info.slashed,
        "expired": info.expired,
    }
    if json_out:
        print_json(data)
        return
    for k, v in data.items():
        shown = f"{format_eth(v)} ETH" if k.endswith("_wei") else v  # type: ignore[arg-type]
        console.print(f"{k.removesuffix('_wei'):>12}: {shown}")


@app.command()
@reports_errors
def run(
    dev_account: Account = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Local checkpoints (default: <state root>/worker/<address>).")
    ] = None,
    price: Annotated[str, typer.Option(help=f"Minimum reward per training step ({Amount}).")] = "0",
    max_jobs: Annotated[int | None, typer.Option(help="Stop claiming after this many jobs.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on HOST:PORT.")] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="Address the metrics bind (default CRUCIBLE_METRICS_HOST, else 127.0.0.1).")
    ] = None,
    exit_when_done: Annotated[bool, typer.Option(help="Exit once max-jobs jobs are finalized.")] = False,
    keep: Annotated[
        str,
        typer.Option(
            help="What to keep of a settled job (docs/retention.md): final (the final model; default), nothing, "
            "or everything (all checkpoints and pins)."
        ),
    ] = "final",
    gc_interval: Annotated[
        float, typer.Option(help="Least seconds between garbage collections of this provider's IPFS node.")
    ] = 60.0,
    behaviour: Annotated[
        str,
        typer.Option(
            hidden=True,
            help="A dishonest behaviour (crucible.testing.adversaries) for demonstrations, e.g. poison-step:137.",
        ),
    ] = "honest",
    json_out: Annotated[bool, typer.Option("--json", help="Print the final report as JSON.")] = False,
) -> None:
    """Run the provider daemon until interrupted: Ctrl-C (exit 130) or SIGTERM (exit 0) stop training
    between two steps; the next start resumes from the last local checkpoint."""
    from crucible.daemon import StopSignals
    from crucible.logs import setup_logging
    from crucible.store.retention import RetentionPolicy
    from worker.provider import Worker, WorkerConfig

    setup_logging("worker")
    ctx = _ctx(dev_account, daemon=True)
    me = ctx.market.signer.address  # type: ignore[union-attr]
    setup_logging("worker", me)
    config = WorkerConfig(
        state_dir=state_dir or ctx.settings.role_state_dir("worker", me),
        min_reward_per_step=parse_eth(price),
        max_jobs=max_jobs,
        retention=RetentionPolicy(keep=_keep(keep), gc_interval=gc_interval),
    )
    signals = StopSignals()
    worker = Worker(
        ctx.market, ctx.store, config, start_block=ctx.deployment.deploy_block, behaviour=behaviour_parser(behaviour)
    )
    if metrics_port is not None:
        worker.metrics.serve(metrics_port, metrics_host or ctx.settings.metrics_host)
    if exit_when_done and max_jobs is not None:
        threading.Thread(target=_stop_when_done, args=(worker, max_jobs, signals.event), daemon=True).start()
    _print_report(worker.run(signals.event), json_out)
    raise typer.Exit(signals.exit_code)


def _print_report(report, json_out: bool) -> None:  # type: ignore[no-untyped-def]
    if json_out:
        print_json(
            {
                "claimed": report.claimed,
                "submitted": report.submitted,
                "finalized": report.finalized,
                "skipped": {str(k): v for k, v in report.skipped.items()},
                "withdrawn_wei": report.withdrawn,
            }
        )
        return
    console.print(
        f"worker stopped: claimed {report.claimed}, finalized {report.finalized}, "
        f"withdrew {format_eth(report.withdrawn)} ETH"
    )


def _keep(value: str) -> Keep:
    from crucible.store.retention import Keep

    try:
        return Keep(value)
    except ValueError:
        raise ConfigError(f"--keep {value!r}: choose one of {', '.join(k.value for k in Keep)}") from None


def _stop_when_done(worker, max_jobs: int, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    while not stop.wait(0.5):
        if len(worker.report.finalized) >= max_jobs and not worker.held:
            stop.set()
