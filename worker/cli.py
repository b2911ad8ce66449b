"""`crucible worker`: a provider's commands."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from crucible.chain.units import format_eth, parse_eth
from crucible.console import reports_errors
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
console = Console()

Account = Annotated[str | None, typer.Option("--dev-account", help="Devnet account name (only on chain 31337).")]


def _ctx(dev_account: str | None) -> RoleContext:
    from crucible.context import role_context
    from crucible.settings import RoleSettings

    return role_context("provider", settings=RoleSettings.with_overrides(dev_account=dev_account))


@app.command()
@reports_errors
def stake(amount: Annotated[str, typer.Argument(help="Amount in ETH, e.g. 1.5")], dev_account: Account = None) -> None:
    """Deposit free stake into the market."""
    ctx = _ctx(dev_account)
    ctx.market.deposit_stake(parse_eth(amount))
    info = ctx.market.provider_info(ctx.market.signer.address)  # type: ignore[union-attr]
    console.print(f"staked {amount} ETH; free stake {format_eth(info.free)} ETH, locked {format_eth(info.locked)} ETH")


@app.command()
@reports_errors
def unstake(
    amount: Annotated[str, typer.Argument(help="Amount in ETH, or 'all' for all free stake")],
    dev_account: Account = None,
) -> None:
    """Withdraw free (unlocked) stake."""
    ctx = _ctx(dev_account)
    me = ctx.market.signer.address  # type: ignore[union-attr]
    wei = ctx.market.provider_info(me).free if amount == "all" else parse_eth(amount)
    ctx.market.withdraw_stake(wei)
    console.print(f"withdrew {format_eth(wei)} ETH of stake")


@app.command()
@reports_errors
def status(dev_account: Account = None, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """This provider's stake, credits and reputation."""
    ctx = _ctx(dev_account)
    me = ctx.market.signer.address  # type: ignore[union-attr]
    info = ctx.market.provider_info(me)
    credit = ctx.market.credits(me)
    data = {
        "address": me,
        "free_stake_wei": info.free,
        "locked_stake_wei": info.locked,
        "credit_wei": credit,
        "finalized": info.finalized,
        "slashed": info.slashed,
        "expired": info.expired,
    }
    if json_out:
        print(json.dumps(data, indent=2))
    else:
        for k, v in data.items():
            console.print(f"{k:>17}: {v}")


@app.command()
@reports_errors
def run(
    dev_account: Account = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Local checkpoints (default: <state root>/worker/<address>).")
    ] = None,
    price: Annotated[str, typer.Option(help="Minimum reward per training step, in ETH.")] = "0",
    max_jobs: Annotated[int | None, typer.Option(help="Stop claiming after this many jobs.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT.")] = None,
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
) -> None:
    """Run the provider daemon until interrupted (SIGINT/SIGTERM finish the current tick cleanly)."""
    from crucible.store.retention import RetentionPolicy
    from worker.provider import Worker, WorkerConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s", datefmt="%H:%M:%S")
    ctx = _ctx(dev_account)
    me = ctx.market.signer.address  # type: ignore[union-attr]
    config = WorkerConfig(
        state_dir=state_dir or ctx.settings.role_state_dir("worker", me),
        min_reward_per_step=parse_eth(price),
        max_jobs=max_jobs,
        retention=RetentionPolicy(keep=_keep(keep), gc_interval=gc_interval),
    )
    worker = Worker(
        ctx.market, ctx.store, config, start_block=ctx.deployment.deploy_block, behaviour=behaviour_parser(behaviour)
    )
    if metrics_port is not None:
        worker.metrics.serve(metrics_port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if exit_when_done and max_jobs is not None:
        threading.Thread(target=_stop_when_done, args=(worker, max_jobs, stop), daemon=True).start()
    report = worker.run(stop)
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
