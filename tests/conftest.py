"""Fixtures that start the real parts (anvil, a js-ipfs node) on free loopback ports and stop
exactly the processes they started, by PID, however the tests end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import crucible  # noqa: F401  (sets the determinism environment before anything imports torch)
from crucible.chain import Deployment, Signer, connect, dev_account
from crucible.devnet import Devnet
from crucible.ipfs import IpfsStore
from crucible.market import Market
from crucible.nodes import RunningNode, rpc_call, start_anvil, start_ipfs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    node = start_anvil(tmp_path_factory.mktemp("anvil"))
    try:
        yield node
    finally:
        node.daemon.stop()


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    node = start_ipfs(tmp_path_factory.mktemp("ipfs"))
    try:
        yield node
    finally:
        node.daemon.stop()


@pytest.fixture(scope="session")
def pubsub_ipfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A js-ipfs node like the devnet's but with pubsub on: the devnet's node has it off, and a
    progress channel needs it (publisher and subscribers share this node)."""
    import json

    from crucible.nodes import init_ipfs_repo
    from crucible.processes import free_port, port_open, spawn
    from crucible.tools import tool

    home = tmp_path_factory.mktemp("pubsub-ipfs")
    api_port = free_port()
    init_ipfs_repo(home / "ipfs", api_port, free_port(), free_port())
    config = json.loads((home / "ipfs" / "config").read_text())
    config["Pubsub"]["Enabled"] = True
    (home / "ipfs" / "config").write_text(json.dumps(config))
    argv = [str(tool("jsipfs")), "daemon", "--offline", "--enable-preload=false"]
    env = {**os.environ, "IPFS_PATH": str(home / "ipfs")}
    daemon = spawn("ipfs-pubsub", argv, home / "ipfs.log", lambda: port_open(api_port), env=env, timeout=60)
    try:
        yield RunningNode(daemon, f"http://127.0.0.1:{api_port}")
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def ipfs_store(ipfs_node: RunningNode) -> IpfsStore:
    return IpfsStore(ipfs_node.url)


@pytest.fixture
def chain(anvil: RunningNode) -> Iterator[RunningNode]:
    """The session's anvil, with every change a test makes rolled back afterwards (evm_snapshot)."""
    snapshot = rpc_call(anvil.url, "evm_snapshot")
    try:
        yield anvil
    finally:
        rpc_call(anvil.url, "evm_revert", [snapshot])


@pytest.fixture
def deployer(chain: RunningNode) -> Signer:
    return Signer(connect(chain.url), dev_account("deployer"))


@pytest.fixture
def market_address(deployer: Signer) -> str:
    """A fresh CrucibleMarket with the devnet parameters, the `oracle` dev account registered (quorum 1)."""
    from crucible.deploy import DEVNET_PARAMS, deploy_market

    address, _ = deploy_market(deployer, DEVNET_PARAMS, [dev_account("oracle").address], quorum=1)
    return address


def advance_time(node: RunningNode, seconds: int) -> None:
    """Move the chain's clock forward and mine a block (anvil)."""
    rpc_call(node.url, "evm_increaseTime", [seconds])
    rpc_call(node.url, "evm_mine")


class Cli:
    """Runs `crucible` against one devnet, as a user would, and the daemons it starts."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "CRUCIBLE_DEPLOYMENT": str(home / "deployment.json"), "PYTHONUNBUFFERED": "1"}
        self.daemons: list[subprocess.Popen[bytes]] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "crucible.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"crucible {' '.join(args)} failed:\n{out.stderr}")
        return out

    def start(self, log: Path, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crucible.cli", *args],
            env=self.env,
            cwd=self.home,
            stdout=open(log, "wb"),  # noqa: SIM115 (open as long as the process runs)
            stderr=subprocess.STDOUT,
        )
        self.daemons.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.daemons:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.daemons:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[tuple[Cli, Deployment, Market]]:
    """A fresh devnet from `crucible devnet up` (anvil + IPFS + market) and a Cli bound to it."""
    home = tmp_path / "devnet"
    deployment = Devnet(home).up()
    cli = Cli(home)
    cli("data", "digits", str(home / "data"))
    try:
        yield cli, deployment, Market(connect(deployment.rpc_url), deployment.market)
    finally:
        cli.stop_all()
        Devnet(home).down()
