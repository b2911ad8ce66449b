"""The `crucible` command: one entry point with a subcommand group per role."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.keys import app as keys_app
from crucible.console import JsonOut, console, err_console, print_json, reports_errors
from explorer.cli import explorer
from oracle.cli import app as oracle_app
from requester.cli import app as requester_app
from verifier.cli import app as verifier_app
from worker import cli as worker_cli

if TYPE_CHECKING:
    from crucible.engine.behaviour import ProviderBehaviour


def _adversary(name: str) -> ProviderBehaviour:
    """A provider behaviour by name, dishonest ones included (imported only when a worker runs)."""
    from crucible.testing.adversaries import parse_behaviour

    return parse_behaviour(name)


app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Verifiable ML training on untrusted GPUs. Every command that uses a market also takes "
        "--deployment FILE, --rpc-url URL and --network NAME (see docs/networks.md)."
    ),
    pretty_exceptions_enable=False,
)
devnet_app = typer.Typer(no_args_is_help=True, help="A local chain + IPFS node with the contracts deployed.")
contracts_app = typer.Typer(no_args_is_help=True, help="Compile the contracts and check the ABI snapshots.")
app.add_typer(devnet_app, name="devnet")
app.add_typer(contracts_app, name="contracts")
data_app = typer.Typer(no_args_is_help=True, help="Build tensor-only datasets (safetensors) for jobs.")
app.add_typer(data_app, name="data")
app.add_typer(requester_app, name="requester")
app.add_typer(worker_cli.app, name="worker")
# The demo runs a cheating worker through the hidden `worker run --behaviour` option.
worker_cli.behaviour_parser = _adversary
app.add_typer(verifier_app, name="verifier")
app.add_typer(oracle_app, name="oracle")
app.add_typer(keys_app, name="keys")
app.command()(explorer)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"crucible {version('crucible')}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Verifiable ML training on untrusted GPUs."""
    from crucible.logs import quiet_one_shot_logging

    quiet_one_shot_logging()  # the daemons turn their own logging on


HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Devnet state folder (default: <state root>/devnet, see CRUCIBLE_STATE_DIR)."),
]
JsonOpt = JsonOut


def _devnet(home: Path | None):  # type: ignore[no-untyped-def]
    from crucible.devnet.manage import Devnet

    return Devnet(home)


@devnet_app.command("up")
@reports_errors
def devnet_up(
    home: HomeOpt = None,
    anvil_port: Annotated[int | None, typer.Option(help="Anvil RPC port (default: a free one).")] = None,
    ipfs_port: Annotated[int | None, typer.Option(help="IPFS API port (default: a free one).")] = None,
    persist: Annotated[bool, typer.Option(help="Keep chain state across restarts (anvil --state).")] = False,
    block_time: Annotated[
        float | None,
        typer.Option(help="Mine a block every S seconds (interval mining) instead of one per transaction."),
    ] = None,
    confirmations: Annotated[
        int | None,
        typer.Option(min=0, help="Blocks the daemons wait on top of an event (default: 0 automining, else 2)."),
    ] = None,
    hosts: Annotated[
        bool,
        typer.Option(
            help="One online IPFS node per role (requester, provider(s), verifier, oracle), peered on loopback, "
            "so artifacts move between nodes as between hosts."
        ),
    ] = False,
    providers: Annotated[int, typer.Option(min=1, max=3, help="With --hosts: how many providers get a node.")] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Start anvil and an offline IPFS node on loopback, deploy the contracts, write the deployment file."""
    from crucible.devnet.manage import host_roles

    devnet = _devnet(home)
    roles = host_roles(providers) if hosts else ()
    deployment = devnet.up(
        anvil_port=anvil_port,
        ipfs_port=ipfs_port,
        persist=persist,
        block_time=block_time,
        confirmations=confirmations,
        hosts=roles,
    )
    if json_out:
        print_json(deployment.model_dump(mode="json"))
        return
    console.print(
        f"[green]devnet up[/green]: chain {deployment.chain_id} at {deployment.rpc_url}, "
        f"IPFS API at {deployment.ipfs_api}"
    )
    for role, api in deployment.ipfs_nodes.items():
        console.print(f"  {role}'s IPFS node: {api}")
    console.print(f"CrucibleMarket at {deployment.market}; deployment file {devnet.deployment_path}")


@devnet_app.command("status")
def devnet_status(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Show whether the devnet's processes, chain and IPFS node answer. Exit 1 if not healthy."""
    status = _devnet(home).status()
    if json_out:
        print_json(status.to_json())
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
        for role, peers in status.ipfs_peers.items():
            table.add_row(f"ipfs ({role})", f"{peers} peers" if peers else "[red]no answer or no peers[/red]")
        if status.deployment:
            table.add_row("market", status.deployment.market)
        console.print(table)
        if not status.daemons:
            err_console.print("no devnet is running: start one with `crucible devnet up`")
    raise typer.Exit(code=0 if status.healthy else 1)


@devnet_app.command("down")
@reports_errors
def devnet_down(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Stop exactly the processes `devnet up` started (by PID)."""
    stopped = _devnet(home).down()
    if json_out:
        print_json({"stopped": stopped})
        return
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was still running"))


@app.command()
@reports_errors
def deploy(
    out: Annotated[
        Path | None,
        typer.Option(help="Deployment file to write (default: --deployment / the network's, else ./deployment.json)."),
    ] = None,
    ipfs_api: Annotated[str, typer.Option(help="IPFS API the roles should use.")] = "http://127.0.0.1:5001",
    profile: Annotated[str, typer.Option(help="Market parameters: 'default' (hours, days) or 'devnet' (seconds).")] = (
        "default"
    ),
    oracle: Annotated[
        list[str] | None, typer.Option("--oracle", help="Oracle address (repeatable; default: the deployer).")
    ] = None,
    quorum: Annotated[int, typer.Option(min=1, help="Oracle votes that decide a dispute.")] = 1,
    keystore: Annotated[
        Path | None, typer.Option(help="Deployer keystore (password in CRUCIBLE_KEYSTORE_PASSWORD or prompted).")
    ] = None,
    confirmations: Annotated[
        int | None, typer.Option(min=0, help="Blocks roles wait on top of an event (default: 0 automining, else 2).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing deployment file.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Deploy the market to any EVM chain (--rpc-url or --network) and write a deployment file the
    roles can use (give it to them with --deployment or CRUCIBLE_DEPLOYMENT)."""
    from crucible.chain.rpc import connect
    from crucible.devnet.deploy import deploy_to_chain
    from crucible.errors import ConfigError
    from crucible.settings import RoleSettings, deployer_account

    settings = RoleSettings()
    if not settings.rpc_url:
        raise ConfigError("which chain? pass --rpc-url URL or --network NAME (or set CRUCIBLE_RPC_URL)")
    if out is None:
        out = settings.deployment or Path("deployment.json")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it, or --out for another file")
    w3 = connect(settings.rpc_url)
    account = deployer_account(settings, int(w3.eth.chain_id), keystore)
    deployment = deploy_to_chain(
        w3,
        account,
        rpc_url=settings.rpc_url,
        ipfs_api=ipfs_api,
        profile=profile,
        oracles=oracle or [],
        quorum=quorum,
        confirmations=confirmations,
    )
    deployment.save(out)
    if json_out:
        print(deployment.model_dump_json(indent=2))
        return
    console.print(
        f"CrucibleMarket at {deployment.market} on chain {deployment.chain_id} (block {deployment.deploy_block}), "
        f"deployed by {account.address}; deployment file {out}"
    )


@contracts_app.command("build")
@reports_errors
def contracts_build(
    check: Annotated[bool, typer.Option(help="Only report whether the ABI snapshots match the sources.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Compile contracts/src with the pinned solc and refresh the ABI snapshots in crucible/abi/."""
    from crucible.chain.abi import SNAPSHOTS
    from crucible.devnet.contracts import BUILD_DIR, build

    drifted = build(check=check)
    if json_out:
        print_json({"build_dir": str(BUILD_DIR), "snapshots": str(SNAPSHOTS), "drifted": drifted})
        raise typer.Exit(code=1 if check and drifted else 0)
    if check and drifted:
        err_console.print(f"[red]ABI snapshots out of date[/red]: {', '.join(drifted)}; run `crucible contracts build`")
        raise typer.Exit(code=1)
    console.print(
        f"compiled into {BUILD_DIR}; snapshots in {SNAPSHOTS} "
        + ("match" if not drifted else f"updated: {', '.join(drifted)}")
    )


@app.command()
@reports_errors
def demo(
    home: Annotated[
        Path | None, typer.Option(help="Folder for the demo's devnet (default: <state root>/demo).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Leave the devnet running afterwards.")] = False,
) -> None:
    """The end-to-end demo: an honest job paid, then a cheater caught and slashed, on a fresh devnet."""
    from app.demo import run_demo
    from crucible.settings import CoreSettings

    run_demo(home or CoreSettings().role_state_dir("demo"), Console(width=max(console.width, 110)), keep=keep)


class Layout(StrEnum):
    flat = "flat"
    image = "image"


def _write_datasets(out_dir: Path, prefix: str, parts: dict[str, dict], meta: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    """Write ``<prefix>-<part>.safetensors`` per part; returns {part: path}."""
    from crucible.errors import ConfigError
    from crucible.protocol.data import dataset_bytes

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, tensors in parts.items():
            paths[name] = out_dir / f"{prefix}-{name}.safetensors"
            paths[name].write_bytes(dataset_bytes(tensors, meta))
    except OSError as exc:
        raise ConfigError(f"cannot write datasets into {out_dir}: {exc.strerror or exc}") from None
    return paths


@data_app.command("digits")
@reports_errors
def data_digits(
    out_dir: Annotated[Path, typer.Argument(help="Folder for digits-train.safetensors and digits-test.safetensors.")],
    layout: Annotated[Layout, typer.Option(help="'flat' [N, 64] for mlp, 'image' [N, 1, 8, 8] for cnn.")] = Layout.flat,
    json_out: JsonOpt = False,
) -> None:
    """The handwritten digits that ship with scikit-learn, split into train and held-out files."""
    from crucible.protocol.data import build_digits

    train, test = build_digits(layout.value)
    paths = _write_datasets(out_dir, "digits", {"train": train, "test": test})
    sizes = {"train": len(train["labels"]), "test": len(test["labels"])}
    if json_out:
        print_json({name: {"path": str(p), "examples": sizes[name]} for name, p in paths.items()})
        return
    console.print(f"wrote {paths['train']} ({sizes['train']} examples) and {paths['test']} ({sizes['test']})")


@data_app.command("text")
@reports_errors
def data_text(
    out_dir: Annotated[Path, typer.Argument(help="Folder for text-train.safetensors and text-test.safetensors.")],
    max_bytes: Annotated[int | None, typer.Option(min=1000, help="Use only the corpus's first N bytes.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """A character-level text corpus (the dataset descriptions bundled with scikit-learn) as uint8
    tokens plus their vocabulary, for the gpt architecture (examples/text-gpt.yaml)."""
    from crucible.protocol.data import build_text

    train, test, meta = build_text(max_bytes)
    paths = _write_datasets(out_dir, "text", {"train": train, "test": test}, meta)
    sizes = {"train": int(train["tokens"].numel()), "test": int(test["tokens"].numel())}
    if json_out:
        print_json({**{n: {"path": str(p), "tokens": sizes[n]} for n, p in paths.items()}, **meta})
        return
    console.print(
        f"wrote {paths['train']} ({sizes['train']:,} tokens) and {paths['test']} ({sizes['test']:,}); "
        f"vocabulary of {meta['vocab_size']} symbols (set model.vocab_size to it)"
    )


#: Groups whose commands never talk to a deployed market (the devnet writes its own deployment file).
_OFFLINE_GROUPS = ("devnet", "contracts", "data", "keys")

_CHAIN_OPTIONS = (
    ("--deployment", "CRUCIBLE_DEPLOYMENT", "Deployment file to use (default: the devnet's)."),
    ("--rpc-url", "CRUCIBLE_RPC_URL", "Chain RPC to use instead of the deployment file's."),
    ("--network", "CRUCIBLE_NETWORK", "A named network of ~/.config/crucible/networks.toml."),
)


def chain_options(argv: list[str]) -> list[str]:
    """Take ``--deployment``, ``--rpc-url`` and ``--network`` (Foundry and ape style) from anywhere on
    the command line of a command that uses a market, set the ``CRUCIBLE_*`` variable each stands for
    (which the settings read), and return the rest."""
    if argv and argv[0] in _OFFLINE_GROUPS:
        return argv
    variables = {flag: variable for flag, variable, _ in _CHAIN_OPTIONS}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        flag, eq, value = argv[i].partition("=")
        if flag in variables:
            if not eq:
                if i + 1 >= len(argv):
                    raise typer.BadParameter(f"{flag} needs a value")
                value = argv[i + 1]
                i += 1
            os.environ[variables[flag]] = value
        else:
            rest.append(argv[i])
        i += 1
    return rest


def main() -> None:
    app(args=chain_options(sys.argv[1:]), prog_name="crucible")


if __name__ == "__main__":
    main()
