"""`crucible devnet`: a local chain + IPFS node + deployed contracts, for demos and tests.

State lives in one folder (``.devnet/`` by default): ``devnet.json`` records the daemons this
project started (PID and kernel start time), ``deployment.json`` is what every role reads.
``down`` stops exactly those processes and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crucible.chain.deployment import Deployment, checksum
from crucible.chain.keys import DEV_ACCOUNTS, DEV_CHAIN_ID, dev_account
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.devnet.deploy import deploy_market, market_settings
from crucible.devnet.nodes import RunningNode, rpc_call, start_anvil, start_ipfs
from crucible.devnet.processes import Daemon
from crucible.errors import DevnetError, StoreError
from crucible.settings import CoreSettings
from crucible.store.ipfs import IpfsStore

STATE_FILE = "devnet.json"
DEPLOYMENT_FILE = "deployment.json"
#: Blocks the daemons wait on top of an event's block on a chain that mines on a clock.
DEFAULT_CONFIRMATIONS = 2


@dataclass
class DevnetStatus:
    home: Path
    daemons: dict[str, tuple[Daemon, bool]] = field(default_factory=dict)
    deployment: Deployment | None = None
    chain_block: int | None = None
    ipfs_version: str | None = None

    @property
    def healthy(self) -> bool:
        return (
            bool(self.daemons)
            and all(alive for _, alive in self.daemons.values())
            and self.chain_block is not None
            and self.ipfs_version is not None
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "healthy": self.healthy,
            "processes": {n: {"pid": d.pid, "alive": a} for n, (d, a) in self.daemons.items()},
            "chain_block": self.chain_block,
            "ipfs_version": self.ipfs_version,
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
        block_time: float | None = None,
        confirmations: int | None = None,
    ) -> Deployment:
        """Start anvil and IPFS, deploy, write the deployment file. Harmless if already up.

        ``block_time``: interval mining (default: a block per transaction). ``confirmations``: blocks
        the daemons wait on top of an event (default: 0 when automining, else
        :data:`DEFAULT_CONFIRMATIONS`)."""
        status = self.status()
        if status.healthy and status.deployment is not None:
            return status.deployment
        if any(alive for _, alive in status.daemons.values()):
            self.down()  # half up: start clean rather than guess
        self.home.mkdir(parents=True, exist_ok=True)
        state_file = self.home / "anvil-state.json" if persist else None
        started: dict[str, Daemon] = {}
        try:
            anvil = start_anvil(self.home, anvil_port, state_file=state_file, block_time=block_time)
            started["anvil"] = anvil.daemon
            self._record(started, {})
            ipfs = start_ipfs(self.home, ipfs_port)
            started["ipfs"] = ipfs.daemon
            self._record(started, {"anvil": _port(anvil), "ipfs": _port(ipfs)})
            deployment = self._deploy_or_reuse(anvil, ipfs)
            if confirmations is None:
                confirmations = 0 if block_time is None else DEFAULT_CONFIRMATIONS
            deployment = deployment.model_copy(update={"confirmations": confirmations})
        except BaseException:
            for daemon in reversed(list(started.values())):
                daemon.stop()
            (self.home / STATE_FILE).unlink(missing_ok=True)
            raise
        deployment.save(self.deployment_path)
        return deployment

    def _deploy_or_reuse(self, anvil: RunningNode, ipfs: RunningNode) -> Deployment:
        w3 = connect(anvil.url, expected_chain_id=DEV_CHAIN_ID)
        if self.deployment_path.exists():
            previous = Deployment.load(self.deployment_path)
            if w3.eth.get_code(checksum(previous.market)):  # persisted chain still holds the contracts
                return previous.model_copy(update={"rpc_url": anvil.url, "ipfs_api": ipfs.url})
        signer = Signer(w3, dev_account("deployer"))
        settings = market_settings("devnet")
        oracles = [dev_account("oracle").address]
        address, receipt = deploy_market(signer, settings, oracles, quorum=1)
        return Deployment(
            chain_id=DEV_CHAIN_ID,
            rpc_url=anvil.url,
            ipfs_api=ipfs.url,
            market=address,
            deploy_block=int(receipt["blockNumber"]),
            accounts={role: dev_account(role).address for role in DEV_ACCOUNTS},
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


def _port(node: RunningNode) -> int:
    return int(node.url.rsplit(":", 1)[1])
