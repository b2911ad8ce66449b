"""Fixtures that start the real parts (anvil, a js-ipfs node) on free loopback ports and stop
exactly the processes they started, by PID, however the tests end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import crucible  # noqa: F401  (sets the determinism environment before anything imports torch)
from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.devnet.deploy import deploy_market, market_settings
from crucible.devnet.manage import Devnet
from crucible.devnet.nodes import RunningNode, connect_ipfs_nodes, rpc_call, start_anvil, start_ipfs
from crucible.store.ipfs import IpfsStore

REPO = Path(__file__).resolve().parent.parent

#: Fixtures that start real processes: a test using any of them (directly or through another
#: fixture) is an integration test, marked so without anyone having to remember to.
PROCESS_FIXTURES = frozenset({"anvil", "ipfs_node", "ipfs_hosts", "shared_devnet", "own_devnet"})


def pytest_configure(config: pytest.Config) -> None:
    """Local state of everything the tests run (in-process or as processes) goes to a temporary
    folder, never to the user's own state folder."""
    if "CRUCIBLE_STATE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="crucible-test-state-")
        os.environ["CRUCIBLE_STATE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark integration tests, and run the longest first: `scripts/test.sh` spreads the tests over
    workers one at a time (pytest-xdist), so a long test started last would leave the others idle."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda it: (it.get_closest_marker("slow") is None, it.get_closest_marker("integration") is None))


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
def ipfs_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, RunningNode]]:
    """Two online nodes on loopback, peered: a provider's and a verifier's (started once, in parallel)."""
    home = tmp_path_factory.mktemp("ipfs-hosts")
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(start_ipfs, home, name=f"ipfs-{role}", online=True) for role in ("provider", "verifier")]
    nodes = [f.result() for f in futures if f.exception() is None]
    try:
        if len(nodes) < 2:
            raise next(e for f in futures if (e := f.exception()) is not None)
        up = time.monotonic()
        connect_ipfs_nodes([n.url for n in nodes])
        took = f"init+start {up - began:.1f}s (parallel), peering {time.monotonic() - up:.2f}s"
        print(f"\n[measure] two online IPFS nodes: {took}")
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.daemon.stop()


@pytest.fixture(scope="session")
def ipfs_without_pubsub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node with pubsub switched off (the devnet's nodes have it on): what a progress reader meets
    on a user's node that does not serve pubsub."""
    node = start_ipfs(tmp_path_factory.mktemp("ipfs-no-pubsub"), pubsub=False)
    try:
        yield node
    finally:
        node.daemon.stop()


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
    from crucible.devnet.deploy import DEVNET_PARAMS, deploy_market

    address, _ = deploy_market(deployer, DEVNET_PARAMS, [dev_account("oracle").address], quorum=1)
    return address


@pytest.fixture
def arena_for(chain: RunningNode, market_address: str, ipfs_node: RunningNode, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Make an :class:`arena.Arena`: one job on the market with a provider of the given behaviour."""
    from arena import Arena

    from crucible.store.artifacts import ArtifactStore

    store = ArtifactStore(IpfsStore(ipfs_node.url, fetch_timeout=2))
    return lambda behaviour: Arena(chain, market_address, store, tmp_path, behaviour)


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
            [sys.executable, "-m", "app.cli", *args],
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
            [sys.executable, "-m", "app.cli", *args],
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


@pytest.fixture(scope="session")
def shared_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One `crucible devnet up` (anvil + IPFS) and the digits dataset for the whole session: starting
    a devnet costs seconds, so tests that do not stop its processes share it (see :func:`devnet`)."""
    home = tmp_path_factory.mktemp("shared-devnet")
    Devnet(home).up()
    try:
        Cli(home)("data", "digits", str(home / "data"))
        yield home
    finally:
        Devnet(home).down()


@pytest.fixture
def devnet(shared_devnet: Path, tmp_path: Path) -> Iterator[tuple[Cli, Deployment, Market]]:
    """A market of its own, deployed as `devnet up` deploys one, on the session's devnet chain and IPFS
    node, and a Cli bound to it (its own home and deployment file): no job, stake or credit of another
    test is visible, and the daemons' cursors and journals are kept per market. A test that stops the
    chain or the node uses :func:`own_devnet`."""
    base = Deployment.load(shared_devnet / "deployment.json")
    w3 = connect(base.rpc_url)
    address, receipt = deploy_market(
        Signer(w3, dev_account("deployer")), market_settings("devnet"), [dev_account("oracle").address], quorum=1
    )
    deployment = base.model_copy(update={"market": address, "deploy_block": int(receipt["blockNumber"])})
    home = tmp_path / "devnet"
    home.mkdir()
    deployment.save(home / "deployment.json")
    (home / "data").symlink_to(shared_devnet / "data")
    cli = Cli(home)
    try:
        yield cli, deployment, Market(w3, deployment.market)
    finally:
        cli.stop_all()


@pytest.fixture
def own_devnet(tmp_path: Path) -> Iterator[tuple[Cli, Deployment, Market]]:
    """A devnet of this test's own from `crucible devnet up` (anvil + IPFS + market), for a test that
    stops or kills the chain or the node, and a Cli bound to it."""
    home = tmp_path / "devnet"
    deployment = Devnet(home).up()
    cli = Cli(home)
    cli("data", "digits", str(home / "data"))
    try:
        yield cli, deployment, Market(connect(deployment.rpc_url), deployment.market)
    finally:
        cli.stop_all()
        Devnet(home).down()
