"""Fixtures that start the real parts (anvil, a js-ipfs node) on free loopback ports and stop
exactly the processes they started, by PID, however the tests end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import crucible  # noqa: F401  (sets the determinism environment before anything imports torch)
from crucible.chain import Signer, connect, dev_account
from crucible.ipfs import IpfsStore
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
