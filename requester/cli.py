"""`crucible requester`: post and pay for training jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from crucible.chain.units import format_eth, parse_eth
from crucible.console import JsonOut, PubsubApi, console, err_console, print_json, reports_errors, transactions_json

if TYPE_CHECKING:
    from crucible.chain.market import JobTerms
    from requester.client import JobView, ProgressSeen, Requester

app = typer.Typer(no_args_is_help=True, help="Post training jobs, watch them, fetch and check the models.")

Account = Annotated[str | None, typer.Option("--dev-account", help="Devnet account name (only on chain 31337).")]
Amount = "ETH by default; also 0.5eth, 1ether, 10gwei or 1000wei"


def _requester(dev_account: str | None, read_only: bool = False) -> Requester:
    from crucible.context import role_context
    from crucible.settings import RoleSettings
    from requester.client import Requester

    settings = RoleSettings.with_overrides(dev_account=dev_account)
    ctx = role_context("requester", read_only=read_only, settings=settings)
    return Requester(ctx.market, ctx.store, stall_warning=settings.block_stall_warning)


def _written(req: Requester, **result: Any) -> dict[str, Any]:
    """A write command's JSON: its result, the transactions it sent (hash, block, gas)."""
    return {**result, "transactions": transactions_json(req.market.receipts)}


@app.command()
@reports_errors
def post(
    spec_file: Annotated[Path, typer.Argument(help="Job spec (YAML or JSON).")],
    reward: Annotated[str, typer.Option(help=f"Reward escrowed for the provider ({Amount}).")],
    stake: Annotated[
        str | None,
        typer.Option(help=f"Stake a provider must lock ({Amount}; default: the least the market accepts)."),
    ] = None,
    bond: Annotated[
        str | None,
        typer.Option(help=f"Bond a challenger must post ({Amount}; default: the least covering a defence)."),
    ] = None,
    arity: Annotated[
        int | None, typer.Option(help="Dissection arity, 2..16 (default: the cheapest defence in gas).")
    ] = None,
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
    from crucible.errors import ConfigError
    from requester.client import Offer

    offer = Offer(
        reward=parse_eth(reward),
        stake=parse_eth(stake) if stake is not None else None,
        bond=parse_eth(bond) if bond is not None else None,
        arity=arity,
        duration=duration,
        challenge_window=window,
        refund_on_expiry=not reopen_on_expiry,
    )
    given = (("reward", offer.reward), ("stake", offer.stake), ("bond", offer.bond))
    for name, wei in given:
        if wei is not None and wei <= 0:  # refused here, before anything is uploaded
            raise ConfigError(f"--{name} must be more than 0 (got {format_eth(wei)} ETH)")
    req = _requester(dev_account)
    if not json_out:
        req.on_upload = lambda what, path, size: err_console.print(
            f"uploading {what} {path} ({size:,} bytes)…", highlight=False
        )
    spec, spec_cid = req.prepare_spec(spec_file, dataset=dataset, eval_data=eval_data, weights=weights)
    terms = req.terms(spec, spec_cid, offer)
    _posted(req, req.market.post_job(terms, reward=offer.reward), terms, offer.reward, json_out)


def _posted(req: Requester, job_id: int, terms: JobTerms, reward: int, json_out: bool) -> None:
    """Say what was posted: the job, and the stake, bond and arity the defaults chose."""
    if json_out:
        fields = {"stake_wei": terms.stake, "bond_wei": terms.bond, "arity": terms.arity}
        print_json(_written(req, job_id=job_id, spec_cid=terms.spec_cid, reward_wei=reward, status="open", **fields))
        return
    console.print(
        f"posted job [bold]{job_id}[/bold] (spec {terms.spec_cid}), {format_eth(reward)} ETH escrowed; "
        f"stake {format_eth(terms.stake)} ETH, bond {format_eth(terms.bond)} ETH, arity {terms.arity}."
    )
    console.print(
        f"Next: a provider claims and trains it; follow with `crucible requester watch {job_id}`, "
        f"then `crucible requester fetch {job_id} model.safetensors` once it is submitted."
    )


def _table(views: list[JobView]) -> Table:
    table = Table()
    for col in ("job", "status", "provider", "reward (ETH)", "steps", "time left", "disputes", "paid by"):
        table.add_column(col, overflow="fold")
    for v in views:
        d = v.to_json()
        table.add_row(
            str(v.job_id),
            d["status"],
            d["provider"] or "-",
            format_eth(v.job.reward),
            str(v.job.total_steps),
            "-" if v.seconds_left is None else f"{v.seconds_left} s",
            f"{v.job.live_disputes} live / {len(v.disputes)}" if v.disputes else "-",
            "-" if v.payout_bound is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v.payout_bound)),
        )
    return table


def _stall_note(views: list[JobView]) -> str | None:
    stalled = [v for v in views if v.chain_stalled]
    if not stalled:
        return None
    return (
        f"note: the chain has produced no block for {stalled[0].last_block_age} s; deadlines are counted on "
        "the wall clock but take effect only with the next block"
    )


@app.command()
@reports_errors
def status(job_id: int, dev_account: Account = None, json_out: JsonOut = False) -> None:
    """One job's state, provider, commitments and the time left on its clock (wall clock)."""
    view = _requester(dev_account, read_only=True).view(job_id)
    if json_out:
        print_json(view.to_json())
        return
    console.print(_table([view]))
    if note := _stall_note([view]):
        err_console.print(note, style="yellow")


@app.command()
@reports_errors
def jobs(
    all_jobs: Annotated[bool, typer.Option("--all", help="Every job, not only this account's (needs no key).")] = False,
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """List jobs (this account's by default)."""
    views = _requester(dev_account, read_only=all_jobs).jobs(mine_only=not all_jobs)
    if json_out:
        print_json([v.to_json() for v in views])
        return
    console.print(_table(views))
    if note := _stall_note(views):
        err_console.print(note, style="yellow")


WATCH_HELP = """Follow a job live: status, provider, countdowns, disputes, and the provider's signed training
progress (step, loss, checkpoint CID, ETA) as each checkpoint is reached.

Progress comes over IPFS pubsub from your own IPFS node (--pubsub-api, else CRUCIBLE_PUBSUB_API, else
the deployment's IPFS API), so it works with the provider on another host; only records signed by the
provider the chain names for the job, about this job, and past the last step shown are kept (see
--log-level debug for what is dropped and why). Without pubsub, the status is still shown.

--json prints one JSON object per line per event, each with a "type": "status" (the job as
`status --json` shows it, on each change), "progress" (job_id, step, total_steps, loss, cid,
state_hash, provider, time: the provider's clock at the checkpoint, received: this host's clock,
eta_s: seconds left or null) or "progress_unavailable" (job_id, reason). With --until-final (the
default) the last line is the final status and the exit code is 0."""


@app.command(help=WATCH_HELP)
@reports_errors
def watch(
    job_id: int,
    dev_account: Account = None,
    until_final: Annotated[bool, typer.Option(help="Exit once the job reaches a final state.")] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line per event (see above).")
    ] = False,
    pubsub_api: PubsubApi = None,
    log_level: Annotated[
        str, typer.Option(help="debug shows each progress record dropped and why; info, warning, error.")
    ] = "error",
) -> None:
    from crucible.store.ipfs import IpfsStore
    from crucible.store.pubsub import IpfsPubsubTransport
    from crucible.store.pubsub import pubsub_api as default_pubsub
    from requester.client import ProgressSeen, ProgressUnavailable, StatusSeen

    _log_to_stderr(log_level)
    req = _requester(dev_account, read_only=True)
    if pubsub_api is None and isinstance(req.store.blobs, IpfsStore):
        pubsub_api = default_pubsub(req.store.blobs.api)
    events = req.watch(job_id, IpfsPubsubTransport(pubsub_api) if pubsub_api else None, until_final=until_final)
    if json_out or not console.is_terminal:  # piped: one line per event, never a redrawn table
        for event in events:
            if isinstance(event, StatusSeen) and not event.changed:
                continue
            if json_out:
                print(json.dumps(event.to_json()), flush=True)
            elif isinstance(event, ProgressUnavailable):
                err_console.print(f"progress unavailable ({event.reason}); showing the status only", highlight=False)
            else:
                print(_plain(event.view) if isinstance(event, StatusSeen) else _progress_line(event), flush=True)
        return
    shown: list[Any] = [_table([req.view(job_id)]), ""]
    with Live(Group(*shown), console=console, refresh_per_second=4) as live:
        for event in events:
            if isinstance(event, StatusSeen):
                shown[0] = _table([event.view])
            elif isinstance(event, ProgressSeen):
                shown[1] = _progress_line(event)
            else:
                shown[1] = f"progress unavailable ({event.reason}); showing the status only"
            live.update(Group(*shown))


def _log_to_stderr(level: str) -> None:
    """Crucible's own log lines (dropped progress records at debug) on stderr, at ``level``."""
    import logging

    from crucible.errors import ConfigError

    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"--log-level must be debug, info, warning or error (got {level!r})")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("crucible").setLevel(level.upper())


def _plain(view: JobView) -> str:
    left = "" if view.seconds_left is None else f", {view.seconds_left} s left"
    return f"job {view.job_id}: {view.status.name.lower()}{left}"


def _progress_line(event: ProgressSeen) -> str:
    r = event.record
    eta = "" if event.eta is None else f", about {event.eta:.0f} s to go"
    return f"job {r.job_id}: step {r.step}/{r.total_steps}, loss {r.loss:.4f}, checkpoint {r.cid}{eta}"


def _model_json(result: Any) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "params_hash": "0x" + result.params_hash.hex(),
        "metric": result.metric,
        "value": result.value,
    }


@app.command()
@reports_errors
def fetch(
    job_id: int,
    out: Annotated[Path, typer.Argument(help="Where to write the model (the committed safetensors file).")],
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """Download the final model exactly as committed (the file hashes to its CID), check it against
    the committed final state, report the eval metric."""
    req = _requester(dev_account, read_only=True)
    result = req.fetch(job_id, out)
    cid = req.view(job_id).to_json()["final_model_cid"]
    if json_out:
        print_json({**_model_json(result), "cid": cid})
        return
    console.print(f"model {cid} written to {result.path}; matches the committed final state.")
    if result.metric:
        console.print(f"{result.metric} on the held-out data: {result.value:.4f}")


@app.command()
@reports_errors
def export(
    job_id: int,
    out: Annotated[Path, typer.Argument(help="Where to write the parameters (plain safetensors).")],
    dev_account: Account = None,
    json_out: JsonOut = False,
) -> None:
    """Check the final model like `fetch`, then write its parameters alone as plain safetensors."""
    result = _requester(dev_account, read_only=True).export(job_id, out)
    if json_out:
        print_json(_model_json(result))
        return
    console.print(f"parameters of job {job_id} written to {result.path} (params hash 0x{result.params_hash.hex()}).")


@app.command()
@reports_errors
def cancel(job_id: int, dev_account: Account = None, json_out: JsonOut = False) -> None:
    """Cancel an open job and withdraw the escrow."""
    req = _requester(dev_account)
    wei = req.cancel(job_id)
    if json_out:
        print_json(_written(req, job_id=job_id, status="cancelled", withdrawn_wei=wei))
        return
    console.print(f"job {job_id} cancelled; withdrew {format_eth(wei)} ETH")


@app.command()
@reports_errors
def withdraw(dev_account: Account = None, json_out: JsonOut = False) -> None:
    """Withdraw everything the market owes this account (refunds, slashing shares)."""
    req = _requester(dev_account)
    wei = req.withdraw()
    if json_out:
        print_json(_written(req, withdrawn_wei=wei))
        return
    console.print(f"withdrew {format_eth(wei)} ETH" if wei else "the market owes this account nothing")


@app.command()
@reports_errors
def release(job_id: int, dev_account: Account = None, json_out: JsonOut = False) -> None:
    """Take back a claimed job whose provider stopped reporting progress; the squatter pays."""
    req = _requester(dev_account)
    wei = req.release(job_id)
    if json_out:
        print_json(_written(req, job_id=job_id, status=req.view(job_id).status.name.lower(), withdrawn_wei=wei))
        return
    console.print(f"job {job_id} released; withdrew {format_eth(wei)} ETH")


@app.command()
@reports_errors
def reclaim(job_id: int, dev_account: Account = None, json_out: JsonOut = False) -> None:
    """After a provider missed its deadline: expire the claim and withdraw what is owed."""
    req = _requester(dev_account)
    wei = req.reclaim(job_id)
    if json_out:
        print_json(_written(req, job_id=job_id, status=req.view(job_id).status.name.lower(), withdrawn_wei=wei))
        return
    console.print(f"job {job_id}: withdrew {format_eth(wei)} ETH")
