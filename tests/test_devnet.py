"""`crucible devnet` through the real CLI: processes, deployment, health, clean shutdown."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crucible.chain.abi import market_artifact
from crucible.chain.contract import ContractClient
from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.devnet.processes import Daemon, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def crucible(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def recorded_daemons(home: Path) -> list[Daemon]:
    state = json.loads((home / "devnet.json").read_text())
    return [Daemon.from_json(d) for d in state["daemons"].values()]


def test_up_deploys_serves_and_down_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    up = crucible("devnet", "up", "--home", str(home), "--json")
    try:
        assert up.returncode == 0, up.stderr
        deployment = Deployment.model_validate_json(up.stdout)
        daemons = recorded_daemons(home)
        assert {d.name for d in daemons} == {"anvil", "ipfs"}
        assert all(d.alive() for d in daemons)
        assert deployment.rpc_url.startswith("http://127.0.0.1:")
        assert deployment.ipfs_api.startswith("http://127.0.0.1:")
        assert Deployment.load(home / "deployment.json") == deployment

        # A transaction and its event, read back through web3.
        w3 = connect(deployment.rpc_url, expected_chain_id=deployment.chain_id)
        provider = Signer(w3, dev_account("provider"))
        market = ContractClient(w3, deployment.market, market_artifact(), provider)
        receipt = market.transact("depositStake", value=w3.to_wei(3, "ether"))
        assert market.events("StakeDeposited", receipt)[0]["provider"] == provider.address
        assert w3.eth.get_balance(deployment.market) == w3.to_wei(3, "ether")

        status = crucible("devnet", "status", "--home", str(home), "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["healthy"] is True

        again = crucible("devnet", "up", "--home", str(home), "--json")
        assert again.returncode == 0, again.stderr
        assert Deployment.model_validate_json(again.stdout).market == deployment.market
        assert recorded_daemons(home) == daemons, "a second `up` must not start new processes"
    finally:
        down = crucible("devnet", "down", "--home", str(home))
    assert down.returncode == 0, down.stderr
    assert not any(d.alive() for d in daemons)
    assert "stopped: " in down.stdout

    after = crucible("devnet", "status", "--home", str(home))
    assert after.returncode == 1


def test_down_when_nothing_is_up_says_so(tmp_path: Path) -> None:
    result = crucible("devnet", "down", "--home", str(tmp_path))

    assert result.returncode == 1
    assert "no devnet is running" in result.stderr


def test_taken_port_is_reported_and_nothing_left_running(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        result = crucible("devnet", "up", "--home", str(tmp_path), "--ipfs-port", str(port))

    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 (wanted for the IPFS API) is already in use" in result.stderr
    assert not (tmp_path / "devnet.json").exists(), "the anvil started before the failure must be stopped"
    assert "Traceback" not in result.stderr


def test_unreachable_rpc_is_reported(tmp_path: Path) -> None:
    from crucible.errors import ChainError

    with pytest.raises(ChainError, match="cannot reach the chain RPC"):
        connect(f"http://127.0.0.1:{free_port()}", timeout=2)


def test_persisted_chain_keeps_contracts_across_restart(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    first = crucible("devnet", "up", "--home", str(home), "--persist", "--json")
    try:
        assert first.returncode == 0, first.stderr
        market = Deployment.model_validate_json(first.stdout).market
    finally:
        crucible("devnet", "down", "--home", str(home))
    assert (home / "anvil-state.json").exists()

    second = crucible("devnet", "up", "--home", str(home), "--persist", "--json")
    try:
        assert second.returncode == 0, second.stderr
        restarted = Deployment.model_validate_json(second.stdout)
        assert restarted.market == market
        assert connect(restarted.rpc_url).eth.get_code(market) != b""
    finally:
        crucible("devnet", "down", "--home", str(home))
