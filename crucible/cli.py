"""The `crucible` command: one entry point with a subcommand group per role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from crucible.errors import CrucibleError
from crucible.keys_cli import app as keys_app
from explorer.cli import explorer
from oracle.cli import app as oracle_app
from requester.cli import app as requester_app
from verifier.cli import app as verifier_app
from worker.cli import app as worker_app

app = typer.Typer(
    no_args_is_help=True, help="Verifiable ML training on untrusted GPUs.", pretty_exceptions_enable=False
)
devnet_app = typer.Typer(no_args_is_help=True, help="A local chain + IPFS node with the contracts deployed.")
contracts_app = typer.Typer(no_args_is_help=True, help="Compile the contracts and check the ABI snapshots.")
app.add_typer(devnet_app, name="devnet")
app.add_typer(contracts_app, name="contracts")
data_app = typer.Typer(no_args_is_help=True, help="Build tensor-only datasets (safetensors) for jobs.")
app.add_typer(data_app, name="data")
app.add_typer(requester_app, name="requester")
app.add_typer(worker_app, name="worker")
app.add_typer(verifier_app, name="verifier")
app.add_typer(oracle_app, name="oracle")
app.add_typer(keys_app, name="keys")
app.command()(explorer)

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Devnet state folder (default: .devnet in the checkout).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(exc: CrucibleError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=1)


def _devnet(home: Path | None):  # type: ignore[no-untyped-def]
    from crucible.devnet import DEFAULT_HOME, Devnet

    return Devnet(home or DEFAULT_HOME)


@devnet_app.command("up")
def devnet_up(
    home: HomeOpt = None,
    anvil_port: Annotated[int | None, typer.Option(help="Anvil RPC port (default: a free one).")] = None,
    ipfs_port: Annotated[int | None, typer.Option(help="IPFS API port (default: a free one).")] = None,
    persist: Annotated[bool, typer.Option(help="Keep chain state across restarts (anvil --state).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Start anvil and an offline IPFS node on loopback, deploy the contracts, write the deployment file."""
    devnet = _devnet(home)
    try:
        deployment = devnet.up(anvil_port=anvil_port, ipfs_port=ipfs_port, persist=persist)
    except CrucibleError as exc:
        raise fail(exc) from None
    if json_out:
        print(deployment.model_dump_json(indent=2))
        return
    console.print(
        f"[green]devnet up[/green]: chain {deployment.chain_id} at {deployment.rpc_url}, "
        f"IPFS API at {deployment.ipfs_api}"
    )
    console.print(f"CrucibleMarket at {deployment.market}; deployment file {devnet.deployment_path}")


@devnet_app.command("status")
def devnet_status(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Show whether the devnet's processes, chain and IPFS node answer. Exit 1 if not healthy."""
    status = _devnet(home).status()
    if json_out:
        print(json.dumps(status.to_json(), indent=2))
    else:
        table = Table(title=f"devnet at {status.home}")
        table.add_column("part")
        table.add_column("state")
        for name, (daemon, alive) in status.daemons.items():
            table.add_row(f"{name} (pid {daemon.pid})", "[green]running[/green]" if alive else "[red]gone[/red]")
        table.add_row(
            "chain", f"block {status.chain_block}" if status.chain_block is not None else "[red]no answer[/red]"
        )
        table.add_row("ipfs", f"version {status.ipfs_version}" if status.ipfs_version else "[red]no answer[/red]")
        if status.deployment:
            table.add_row("market", status.deployment.market)
        console.print(table)
        if not status.daemons:
            err_console.print("no devnet is running: start one with `crucible devnet up`")
    raise typer.Exit(code=0 if status.healthy else 1)


@devnet_app.command("down")
def devnet_down(home: HomeOpt = None) -> None:
    """Stop exactly the processes `devnet up` started (by PID)."""
    try:
        stopped = _devnet(home).down()
    except CrucibleError as exc:
        raise fail(exc) from None
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was still running"))


@contracts_app.command("build")
def contracts_build(
    check: Annotated[bool, typer.Option(help="Only report whether the ABI snapshots match the sources.")] = False,
) -> None:
    """Compile contracts/src with the pinned solc and refresh the ABI snapshots in crucible/abi/."""
    from crucible.contracts import BUILD_DIR, SNAPSHOTS, build

    try:
        drifted = build(check=check)
    except CrucibleError as exc:
        raise fail(exc) from None
    if check and drifted:
        err_console.print(f"[red]ABI snapshots out of date[/red]: {', '.join(drifted)}; run `crucible contracts build`")
        raise typer.Exit(code=1)
    console.print(
        f"compiled into {BUILD_DIR}; snapshots in {SNAPSHOTS} "
        + ("match" if not drifted else f"updated: {', '.join(drifted)}")
    )


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(help="Folder for the demo's devnet (default: .devnet/demo).")] = None,
    keep: Annotated[bool, typer.Option(help="Leave the devnet running afterwards.")] = False,
) -> None:
    """The end-to-end demo: an honest job paid, then a cheater caught and slashed, on a fresh devnet."""
    from crucible.demo import run_demo
    from crucible.devnet import DEFAULT_HOME

    try:
        run_demo(home or DEFAULT_HOME / "demo", Console(width=max(console.width, 110)), keep=keep)
    except CrucibleError as exc:
        raise fail(exc) from None


@data_app.command("digits")
def data_digits(
    out_dir: Annotated[Path, typer.Argument(help="Folder for digits-train.safetensors and digits-test.safetensors.")],
    layout: Annotated[str, typer.Option(help="'flat' [N, 64] for mlp, 'image' [N, 1, 8, 8] for cnn.")] = "flat",
) -> None:
    """The handwritten digits that ship with scikit-learn, split into train and held-out files."""
    from crucible.data import build_digits, dataset_bytes

    train, test = build_digits(layout)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, tensors in (("train", train), ("test", test)):
        (out_dir / f"digits-{name}.safetensors").write_bytes(dataset_bytes(tensors))
    console.print(
        f"wrote {out_dir}/digits-train.safetensors ({len(train['labels'])} examples) and "
        f"digits-test.safetensors ({len(test['labels'])})"
    )


if __name__ == "__main__":
    app()
