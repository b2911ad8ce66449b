"""The two local services a devnet runs: an anvil chain and an offline IPFS node, on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from crucible.chain.keys import DEV_CHAIN_ID, DEV_MNEMONIC
from crucible.devnet.processes import LOOPBACK, Daemon, ensure_port_free, free_port, spawn
from crucible.devnet.tools import tool
from crucible.errors import DevnetError
from crucible.store.ipfs import IpfsStore


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise DevnetError(f"{method} failed: {reply['error']}")
    return reply["result"]


@dataclass(frozen=True)
class RunningNode:
    daemon: Daemon
    url: str


def _answers(url: str) -> bool:
    try:
        rpc_call(url, "eth_chainId", timeout=0.5)
    except (OSError, DevnetError, ValueError):
        return False
    return True


def start_anvil(
    home: Path,
    port: int | None = None,
    *,
    state_file: Path | None = None,
    accounts: int = 20,
    chain_id: int = DEV_CHAIN_ID,
    block_time: float | None = None,
) -> RunningNode:
    """Start anvil on ``127.0.0.1:port`` (a free port if None); ``state_file`` persists the chain;
    ``block_time`` mines a block every that many seconds (interval mining) instead of one per
    transaction, so transactions wait for inclusion as on a public chain."""
    port = port or free_port()
    ensure_port_free(port, "anvil")
    argv = [
        str(tool("anvil")),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--mnemonic",
        DEV_MNEMONIC,
        "--accounts",
        str(accounts),
        "--balance",
        "10000",
    ]
    if block_time is not None:
        if not 0 < block_time <= 3600:
            raise DevnetError(f"block time {block_time} is not a number of seconds between 0 and 3600")
        argv += ["--block-time", f"{block_time:g}"]
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--state", str(state_file)]
    url = f"http://{LOOPBACK}:{port}"
    daemon = spawn("anvil", argv, home / "anvil.log", lambda: _answers(url))
    return RunningNode(daemon, url)


def init_ipfs_repo(
    repo: Path,
    api_port: int,
    gateway_port: int,
    rpc_port: int,
    *,
    swarm_port: int | None = None,
    pubsub: bool = True,
) -> None:
    """Create an IPFS repo and configure it *before* its first start.

    No bootstrap peers, no mDNS, no DHT, no NAT port mapping (UPnP): the node never dials out by
    itself, and its API, gateway and gRPC servers listen on loopback only. With ``swarm_port`` it
    also listens for peers on ``127.0.0.1:swarm_port`` (TCP only), and exchanges blocks with the
    nodes it is told to connect to; without, it has no swarm listener at all (offline).
    """
    if not (repo / "config").exists():
        env = {**os.environ, "IPFS_PATH": str(repo)}
        result = subprocess.run(
            [str(tool("jsipfs")), "init", "--profile", "test", "--emptyRepo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise DevnetError(f"jsipfs init failed:\n{result.stdout}{result.stderr}")
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Bootstrap"] = []
    config["Addresses"].update(
        Swarm=[f"/ip4/{LOOPBACK}/tcp/{swarm_port}"] if swarm_port else [],
        Announce=[],
        NoAnnounce=[],
        Delegates=[],  # no delegated-routing HTTP client
        API=f"/ip4/{LOOPBACK}/tcp/{api_port}",
        Gateway=f"/ip4/{LOOPBACK}/tcp/{gateway_port}",
        RPC=f"/ip4/{LOOPBACK}/tcp/{rpc_port}",
    )
    config.setdefault("Discovery", {})["MDNS"] = {"Enabled": False, "Interval": 10}
    config["Discovery"]["webRTCStar"] = {"Enabled": False}
    config["Routing"] = {"Type": "none"}
    config.setdefault("Swarm", {})["DisableNatPortMap"] = True
    # Pubsub carries the providers' signed training progress (crucible.store.pubsub); offline, the
    # node still relays between its own publishers and subscribers; online, between peered nodes.
    config.setdefault("Pubsub", {})["Enabled"] = pubsub
    config_path.write_text(json.dumps(config, indent=2))


def start_ipfs(
    home: Path, api_port: int | None = None, *, name: str = "ipfs", online: bool = False, pubsub: bool = True
) -> RunningNode:
    """Start a js-ipfs node (repo ``home/name``) whose kubo-compatible RPC API listens on loopback.

    Offline (the default) it serves only what was added to it. ``online`` gives it a loopback swarm
    listener so that nodes connected with :func:`connect_ipfs_nodes` exchange blocks by bitswap.
    """
    api_port = api_port or free_port()
    ensure_port_free(api_port, "the IPFS API" + ("" if name == "ipfs" else f" of {name}"))
    repo = home / name
    init_ipfs_repo(repo, api_port, free_port(), free_port(), swarm_port=free_port() if online else None, pubsub=pubsub)
    env = {**os.environ, "IPFS_PATH": str(repo)}
    argv = [str(tool("jsipfs")), "daemon", "--enable-preload=false", *([] if online else ["--offline"])]
    url = f"http://{LOOPBACK}:{api_port}"
    daemon = spawn(name, argv, home / f"{name}.log", lambda: _ipfs_answers(url), env=env, timeout=120)
    return RunningNode(daemon, url)


def _ipfs_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/api/v0/id", method="POST"), timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def connect_ipfs_nodes(urls: list[str]) -> None:
    """Peer every pair of the online nodes at ``urls`` explicitly (there is no discovery to do it)."""
    stores = [IpfsStore(url, timeout=10, fetch_timeout=10) for url in urls]
    addresses = [s.peer_address() for s in stores]
    for i, store in enumerate(stores):
        for address in addresses[i + 1 :]:
            store.connect_peer(address)
