"""`crucible requester`: post and pay for training jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from crucible.chain.units import format_eth, parse_eth
from crucible.console import reports_errors

if TYPE_CHECKING:
    from requester.client import Requester

app = typer.Typer(no_args_is_help=True, help="Post training jobs, watch them, fetch and check the models.")
console = Console()

Account = Annotated[str | None, typer.Option("--dev-account", help="Devnet account name (only on chain 31337).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _requester(dev_account: str | None, read_only: bool = False) -> Requester:
    from crucible.context import role_context
    from crucible.settings import RoleSettings
    from requester.client import Requester

    ctx = role_context("requester", read_only=read_only, settings=RoleSettings.with_overrides(dev_account=dev_account))
    return Requester(ctx.market, ctx.store)


@app.command()
@reports_errors
def post(
    spec_file: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).")],
    reward: Annotated[str, typer.Option(help="Reward escrowed for the provider, in ETH.")],
    stake: Annotated[str, typer.Option(help="Stake a provider must lock, in ETH.")] = "0.1",
    bond: Annotated[str, typer.Option(help="Bond a challenger must post, in ETH.")] = "0.01",
    duration: Annotated[int, typer.Option(help="Seconds from claim to the submission deadline.")] = 3600,
    window: Annotated[int, typer.Option(help="Challenge window after submission, seconds.")] = 86_400,
    reopen_on_expiry: Annotated[
        bool, typer.Option(help="Reopen (instead of refund) if a provider misses the deadline.")
    ] = False,
    dataset: Annotated[
        Path | None, typer.Option(help="Training data (safetensors) to upload; sets dataset.cid.")
    ] = None,
    eval_data: Annotated[
        Path | None, typer.Option("--eval", help="Held-out data (safetensors); sets eval.cid.")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="Initial weights (safetensors); sets model.init.")] = None,
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """Upload the spec and its files to IPFS, escrow the reward and post the job."""
    from requester.client import JobTerms

    req = _requester(dev_account)
    spec, spec_cid = req.prepare_spec(spec_file, dataset=dataset, eval_data=eval_data, weights=weights)
    terms = JobTerms(
        reward=parse_eth(reward),
        stake=parse_eth(stake),
        bond=parse_eth(bond),
        duration=duration,
        challenge_window=window,
        refund_on_expiry=not reopen_on_expiry,
    )
    job_id = req.post(spec, spec_cid, terms)
    if json_out:
        print(json.dumps({"job_id": job_id, "spec_cid": spec_cid}))
        return
    console.print(f"posted job [bold]{job_id}[/bold] (spec {spec_cid}), {reward} ETH escrowed.")
    console.print(
        f"Next: a provider claims and trains it; follow with `crucible requester watch {job_id}`, "
        f"then `crucible requester fetch {job_id} model.safetensors` once it is submitted."
    )


def _table(views) -> Table:  # type: ignore[no-untyped-def]
    table = Table()
    for col in ("job", "status", "provider", "reward (ETH)", "steps", "time left (s)", "dispute"):
        table.add_column(col)
    for v in views:
        d = v.to_json()
        table.add_row(
            str(v.job_id),
            d["status"],
            (d["provider"] or "-")[:10],
            format_eth(v.job.reward),
            str(v.job.total_steps),
            "-" if v.seconds_left is None else str(v.seconds_left),
            str(d["dispute_id"] or "-"),
        )
    return table


@app.command()
@reports_errors
def status(job_id: int, dev_account: Account = None, json_out: JsonOut = False) -> None:
    """One job's state, provider, commitments and the time left on its clock."""
    view = _requester(dev_account, read_only=True).view(job_id)
    if json_out:
        print(json.dumps(view.to_json(), indent=2))
    else:
        console.print(_table([view]))


@app.command()
@reports_errors
def jobs(
    all_jobs: Annotated[bool, typer.Option("--all", help="Every job, not only this account's.")] = False,
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """List jobs (this account's by default)."""
    views = _requester(dev_account).jobs(mine_only=not all_jobs)
    if json_out:
        print(json.dumps([v.to_json() for v in views], indent=2))
    else:
        console.print(_table(views))


@app.command()
@reports_errors
def watch(
    job_id: int,
    dev_account: Account = None,
    until_final: Annotated[bool, typer.Option(help="Exit once the job reaches a final state.")] = True,
) -> None:
    """Follow a job live: status, provider, countdowns, disputes."""
    from crucible.chain.market import JobStatus

    final = {JobStatus.FINALIZED, JobStatus.SLASHED, JobStatus.CANCELLED, JobStatus.REFUNDED}
    req = _requester(dev_account, read_only=True)
    with Live(_table([req.view(job_id)]), console=console, refresh_per_second=2) as live:
        while True:
            view = req.view(job_id)
            live.update(_table([view]))
            if until_final and view.status in final:
                break
            time.sleep(1)


@app.command()
@reports_errors
def fetch(
    job_id: int,
    out: Annotated[Path, typer.Argument(help="Where to write the model (safetensors).")],
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """Download the final model, check it against the committed final state, report the eval metric."""
    result = _requester(dev_account, read_only=True).fetch(job_id, out)
    data = {
        "path": str(result.path),
        "params_hash": "0x" + result.params_hash.hex(),
        "metric": result.metric,
        "value": result.value,
    }
    if json_out:
        print(json.dumps(data))
    else:
        console.print(f"model written to {result.path}; matches the committed final state.")
        if result.metric:
            console.print(f"{result.metric} on the held-out data: {result.value:.4f}")


@app.command()
@reports_errors
def cancel(job_id: int, dev_account: Account = None) -> None:
    """Cancel an open job and withdraw the escrow."""
    wei = _requester(dev_account).cancel(job_id)
    console.print(f"job {job_id} cancelled; withdrew {format_eth(wei)} ETH")


@app.command()
@reports_errors
def withdraw(dev_account: Account = None) -> None:
    """Withdraw everything the market owes this account (refunds, slashing shares)."""
    wei = _requester(dev_account).withdraw()
    console.print(f"withdrew {format_eth(wei)} ETH")


@app.command()
@reports_errors
def reclaim(job_id: int, dev_account: Account = None) -> None:
    """After a provider missed its deadline: expire the claim and withdraw what is owed."""
    wei = _requester(dev_account).reclaim(job_id)
    console.print(f"job {job_id}: withdrew {format_eth(wei)} ETH")
