"""`crucible devnet`: a local chain + IPFS node + deployed contracts, for demos and tests.

State lives in one folder (``.devnet/`` by default): ``devnet.json`` records the daemons this
project started (PID and kernel start time), ``deployment.json`` is what every role reads.
``down`` stops exactly those processes and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crucible.chain.deployment import Deployment, checksum
from crucible.chain.keys import DEV_ACCOUNTS, DEV_CHAIN_ID, dev_account
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.devnet.deploy import deploy_market, market_settings
from crucible.devnet.nodes import RunningNode, connect_ipfs_nodes, rpc_call, start_anvil, start_ipfs
from crucible.devnet.processes import Daemon
from crucible.errors import DevnetError, StoreError
from crucible.settings import CoreSettings
from crucible.store.ipfs import IpfsStore

#: The roles that get their own IPFS node with ``devnet up --hosts``.
HOST_ROLES = ("requester", "provider", "verifier", "oracle")


def host_roles(providers: int = 1) -> tuple[str, ...]:
    """:data:`HOST_ROLES` with ``providers`` provider accounts (``provider``, ``provider-2``, …)."""
    extra = tuple(f"provider-{i}" for i in range(2, providers + 1))
    return (*HOST_ROLES, *extra)


STATE_FILE = "devnet.json"
DEPLOYMENT_FILE = "deployment.json"


@dataclass
class DevnetStatus:
    home: Path
    daemons: dict[str, tuple[Daemon, bool]] = field(default_factory=dict)
    deployment: Deployment | None = None
    chain_block: int | None = None
    ipfs_version: str | None = None
    #: With ``--hosts``: for each role's node, its peer count (None: it did not answer).
    ipfs_peers: dict[str, int | None] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return (
            bool(self.daemons)
            and all(alive for _, alive in self.daemons.values())
            and self.chain_block is not None
            and self.ipfs_version is not None
            and all(self.ipfs_peers.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "healthy": self.healthy,
            "processes": {n: {"pid": d.pid, "alive": a} for n, (d, a) in self.daemons.items()},
            "chain_block": self.chain_block,
            "ipfs_version": self.ipfs_version,
            "ipfs_peers": self.ipfs_peers,
            "deployment": self.deployment.model_dump() if self.deployment else None,
        }


class Devnet:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or CoreSettings().devnet_home()

    @property
    def deployment_path(self) -> Path:
        return self.home / DEPLOYMENT_FILE

    def _recorded(self) -> dict[str, Daemon]:
        path = self.home / STATE_FILE
        if not path.exists():
            return {}
        data = json.loads(path.read_text())
        return {name: Daemon.from_json(d) for name, d in data.get("daemons", {}).items()}

    def _record(self, daemons: dict[str, Daemon], ports: dict[str, int]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        payload = {"daemons": {n: d.to_json() for n, d in daemons.items()}, "ports": ports}
        (self.home / STATE_FILE).write_text(json.dumps(payload, indent=2) + "\n")

    def up(
        self,
        *,
        anvil_port: int | None = None,
        ipfs_port: int | None = None,
        persist: bool = False,
        hosts: Sequence[str] = (),
    ) -> Deployment:
        """Start anvil and IPFS, deploy, write the deployment file. Harmless if already up.

        With ``hosts`` (role names, e.g. :data:`HOST_ROLES`), every role gets its own online IPFS node,
        all peered on loopback, recorded in the deployment's ``ipfs_nodes``; the first role's node is
        also the default ``ipfs_api``. Without, one offline node serves everyone.
        """
        status = self.status()
        if status.healthy and status.deployment is not None and set(status.deployment.ipfs_nodes) == set(hosts):
            return status.deployment
        if any(alive for _, alive in status.daemons.values()):
            self.down()  # half up, or up in another shape: start clean rather than guess
        self.home.mkdir(parents=True, exist_ok=True)
        state_file = self.home / "anvil-state.json" if persist else None
        started: dict[str, Daemon] = {}
        try:
            anvil = start_anvil(self.home, anvil_port, state_file=state_file)
            started["anvil"] = anvil.daemon
            self._record(started, {})
            nodes = self._start_ipfs_nodes(hosts, ipfs_port, started)
            self._record(started, {"anvil": _port(anvil), **{n: _port(node) for n, node in nodes.items()}})
            default = next(iter(nodes.values())).url
            ipfs_nodes = {role: nodes[f"ipfs-{role}"].url for role in hosts}
            deployment = self._deploy_or_reuse(anvil, default, ipfs_nodes)
        except BaseException:
            for daemon in reversed(list(started.values())):
                daemon.stop()
            (self.home / STATE_FILE).unlink(missing_ok=True)
            raise
        deployment.save(self.deployment_path)
        return deployment

    def _start_ipfs_nodes(
        self, hosts: Sequence[str], api_port: int | None, started: dict[str, Daemon]
    ) -> dict[str, RunningNode]:
        """One offline node named ``ipfs``, or one online node ``ipfs-<role>`` per host, peered pairwise.

        Nodes start in parallel (each takes seconds of CPU to start); every one that started is put in
        ``started`` and recorded before anything else can fail, so ``down`` finds them all.
        """
        if not hosts:
            node = start_ipfs(self.home, api_port)
            started["ipfs"] = node.daemon
            return {"ipfs": node}
        names = [f"ipfs-{role}" for role in hosts]
        nodes: dict[str, RunningNode] = {}
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = {
                name: pool.submit(start_ipfs, self.home, api_port if i == 0 else None, name=name, online=True)
                for i, name in enumerate(names)
            }
            errors = []
            for name, future in futures.items():
                try:
                    nodes[name] = future.result()
                    started[name] = nodes[name].daemon
                except Exception as exc:  # the others still start; all are stopped by the caller
                    errors.append(exc)
        if errors:
            raise errors[0]
        self._record(started, {})
        connect_ipfs_nodes([node.url for node in nodes.values()])
        return nodes

    def _deploy_or_reuse(self, anvil: RunningNode, ipfs_api: str, ipfs_nodes: dict[str, str]) -> Deployment:
        w3 = connect(anvil.url, expected_chain_id=DEV_CHAIN_ID)
        if self.deployment_path.exists():
            previous = Deployment.load(self.deployment_path)
            if w3.eth.get_code(checksum(previous.market)):  # persisted chain still holds the contracts
                where = {"rpc_url": anvil.url, "ipfs_api": ipfs_api, "ipfs_nodes": ipfs_nodes}
                return previous.model_copy(update=where)
        signer = Signer(w3, dev_account("deployer"))
        settings = market_settings("devnet")
        oracles = [dev_account("oracle").address]
        address, receipt = deploy_market(signer, settings, oracles, quorum=1)
        return Deployment(
            chain_id=DEV_CHAIN_ID,
            market=address,
            deploy_block=int(receipt["blockNumber"]),
            accounts={role: dev_account(role).address for role in DEV_ACCOUNTS},
            rpc_url=anvil.url,
            ipfs_api=ipfs_api,
            ipfs_nodes=ipfs_nodes,
        )

    def status(self) -> DevnetStatus:
        status = DevnetStatus(self.home)
        status.daemons = {name: (d, d.alive()) for name, d in self._recorded().items()}
        if self.deployment_path.exists():
            status.deployment = Deployment.load(self.deployment_path)
            dep = status.deployment
            try:
                status.chain_block = int(str(rpc_call(dep.rpc_url, "eth_blockNumber")), 16)
            except (OSError, DevnetError, ValueError):
                status.chain_block = None
            try:
                status.ipfs_version = IpfsStore(dep.ipfs_api, timeout=3).version()
            except StoreError:
                status.ipfs_version = None
            status.ipfs_peers = {role: _peer_count(api) for role, api in dep.ipfs_nodes.items()}
        return status

    def down(self) -> list[str]:
        """Stop the processes this devnet started. Raises if nothing was up."""
        recorded = self._recorded()
        if not recorded:
            raise DevnetError(f"no devnet is running from {self.home} (nothing recorded to stop)")
        stopped = []
        for name, daemon in reversed(list(recorded.items())):
            if daemon.alive():
                daemon.stop()
                stopped.append(f"{name} (pid {daemon.pid})")
        (self.home / STATE_FILE).unlink(missing_ok=True)
        return stopped


def _peer_count(api: str) -> int | None:
    try:
        return len(IpfsStore(api, timeout=3, fetch_timeout=3).peers())
    except StoreError:
        return None


def _port(node: RunningNode) -> int:
    return int(node.url.rsplit(":", 1)[1])
