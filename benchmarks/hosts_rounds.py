"""Every role on its own node, at three mining modes: ``python -m benchmarks.hosts_rounds [--modes auto,1,2]``.

One ``devnet up --hosts`` (anvil + an IPFS node for the requester, two providers, the verifier and
the oracle); for each mining mode (anvil switched with ``evm_setAutomine`` / ``evm_setIntervalMining``,
the daemons restarted with the confirmations of that mode) it runs, as real ``crucible`` processes:

* an honest job: wall time from the posted job to ``FINALIZED``; bytes received by bitswap on every
  node; every JSON-RPC request of every role from the post to the provider's withdrawn reward;
* a forged job (``poison-step``): wall time from the challenge seen on chain to the slash.

Each role talks to the chain through its own counting proxy on loopback (what reaches anvil,
batches split by method), so the counts are what a hosted RPC provider would bill.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import CountingProxy, by_method, named_views, start_cli, stop_processes
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market
from crucible.chain.rpc import connect
from crucible.devnet.manage import Devnet, host_roles
from crucible.devnet.nodes import rpc_call
from crucible.devnet.processes import free_port
from crucible.devnet.tools import REPO_ROOT
from crucible.protocol.spec import parse_document
from crucible.store.ipfs import IpfsStore

SPEC = REPO_ROOT / "examples" / "digits-mlp.yaml"
ROLES = ("requester", "provider", "provider-2", "verifier", "oracle")
#: Seconds of challenge window: the verifier sees a submission 2 blocks late and replays it within this.
WINDOW = 20


class Roles:
    """The ``crucible`` processes of one mining mode, each role through its own proxy."""

    def __init__(self, home: Path, folder: Path, proxies: dict[str, CountingProxy], confirmations: int) -> None:
        self.home, self.folder, self.proxies = home, folder, proxies
        self.confirmations = confirmations
        self.procs: list[subprocess.Popen[bytes]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def _env(self, role: str) -> dict[str, str]:
        return {
            **os.environ,
            "CRUCIBLE_DEPLOYMENT": str(self.home / "deployment.json"),
            "CRUCIBLE_RPC_URL": self.proxies[role].url,
            "CRUCIBLE_CONFIRMATIONS": str(self.confirmations),
            "PYTHONUNBUFFERED": "1",
        }

    def run(self, role: str, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", *args, "--dev-account", role],
            env=self._env(role),
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        if out.returncode:
            raise RuntimeError(f"crucible {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout

    def start(self, role: str, *args: str) -> None:
        argv = [*args, "--dev-account", role, "--state-dir", str(self.folder / role)]
        self.procs.append(start_cli(argv, self._env(role), self.folder / f"{role}.log"))

    def stop(self) -> None:
        stop_processes(self.procs, timeout=30)
        self.procs.clear()

    def post(self, seed: int) -> int:
        spec = self.folder / f"spec-{seed}.json"
        raw = parse_document(SPEC.read_bytes())
        raw["train"].update(total_steps=40, checkpoint_interval=10, seed=seed)
        spec.write_text(json.dumps(raw))
        data = self.home / "data"
        out = self.run(
            "requester", "requester", "post", str(spec), "--reward", "0.5", "--stake", "0.5", "--bond", "0.01",
            "--duration", "120", "--window", str(WINDOW), "--dataset", str(data / "digits-train.safetensors"),
            "--eval", str(data / "digits-test.safetensors"), "--json",
        )  # fmt: skip
        return int(json.loads(out)["job_id"])


def _wait(what: str, done: Callable[[], bool], timeout: float = 300, every: float = 0.1) -> float:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)
    return time.monotonic()


def _set_mining(rpc_url: str, block_time: float | None) -> None:
    if block_time is None:
        rpc_call(rpc_url, "evm_setAutomine", [True])
    else:
        rpc_call(rpc_url, "evm_setAutomine", [False])
        rpc_call(rpc_url, "evm_setIntervalMining", [int(block_time)])


@contextmanager
def _devnet(home: Path) -> Iterator[Devnet]:
    devnet = Devnet(home)
    devnet.up(block_time=1, hosts=host_roles(providers=2))
    try:
        yield devnet
    finally:
        devnet.down()


def measure_mode(home: Path, folder: Path, block_time: float | None) -> dict[str, Any]:
    deployment = Devnet(home).status().deployment
    assert deployment is not None
    _set_mining(deployment.rpc_url, block_time)
    w3 = connect(deployment.rpc_url)
    market = Market(w3, deployment.market)
    nodes = {role: IpfsStore(url) for role, url in deployment.ipfs_nodes.items()}
    proxies = {role: CountingProxy(deployment.rpc_url) for role in ROLES}
    roles = Roles(home, folder, proxies, confirmations=0 if block_time is None else 2)
    provider = dev_account("provider").address
    try:
        roles.run("provider", "worker", "stake", "1")
        roles.run("provider-2", "worker", "stake", "1")
        roles.start("oracle", "oracle", "serve", "--port", str(free_port()))
        roles.start("verifier", "verifier", "run")
        roles.start("provider", "worker", "run", "--max-jobs", "1")
        # The clock runs once every daemon is up and polling the chain (starting takes seconds: torch).
        _wait("daemons polling", lambda: all(proxies[r].by_method for r in ("provider", "verifier", "oracle")), every=1)
        time.sleep(3)
        for proxy in proxies.values():
            proxy.take()
        received = {role: node.bitswap_stats()["DataReceived"] for role, node in nodes.items()}
        credits_before = market.credits(provider)

        honest = roles.post(seed=100 + int(block_time or 0))
        posted = time.monotonic()
        finalized = _wait("honest job finalized", lambda: market.job_status(honest) == JobStatus.FINALIZED)
        _wait("reward withdrawn", lambda: market.credits(provider) <= credits_before, every=0.2)
        rpc = {role: proxy.take() for role, proxy in proxies.items()}
        time.sleep(2)  # js-ipfs updates its bitswap counters about once a second
        moved = {role: node.bitswap_stats()["DataReceived"] - received[role] for role, node in nodes.items()}

        roles.start("provider-2", "worker", "run", "--max-jobs", "1", "--behaviour", "poison-step:23")
        forged = roles.post(seed=200 + int(block_time or 0))
        challenged = _wait("challenge", lambda: market.job_status(forged) in (JobStatus.DISPUTED, JobStatus.SLASHED))
        slashed = _wait("slash", lambda: market.job_status(forged) == JobStatus.SLASHED)
        (dispute,) = market.disputes_of(forged)
        narrowed = market.contract.events.DisputeNarrowed().get_logs(
            from_block=0, argument_filters={"disputeId": dispute}
        )
        rounds = len(narrowed)
    finally:
        roles.stop()
        for proxy in proxies.values():
            proxy.close()
    total: Counter[str] = sum(rpc.values(), Counter())
    return {
        "mode": "automine" if block_time is None else f"{block_time:g} s blocks",
        "post_to_finalized_s": round(finalized - posted, 1),
        "challenge_to_slash_s": round(slashed - challenged, 1),
        "dissection_rounds": rounds,
        "bitswap_bytes_received": moved,
        "rpc_calls_total": sum(total.values()),
        "rpc_calls_by_role": {role: sum(c.values()) for role, c in rpc.items()},
        "rpc_calls_by_method": by_method(total),
        "rpc_calls_by_method_and_view": named_views(total, market),
        "rpc_calls_by_role_and_method": {role: named_views(c, market) for role, c in rpc.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--modes", default="auto,1,2", help="comma-separated: auto (automine) or seconds per block")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    modes = [None if m == "auto" else float(m) for m in args.modes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="crucible-hosts-") as tmp:
        home = Path(tmp) / "devnet"
        with _devnet(home):
            subprocess.run(
                [sys.executable, "-m", "app.cli", "data", "digits", str(home / "data")],
                env={**os.environ, "CRUCIBLE_DEPLOYMENT": str(home / "deployment.json")},
                check=True,
                capture_output=True,
            )
            for i, mode in enumerate(modes):
                results.append(measure_mode(home, Path(tmp) / f"mode-{i}", mode))
                print(json.dumps(results[-1], indent=2), flush=True)
    print(f"\n| mode | post → finalized (window {WINDOW} s) | challenge → slash | rounds | RPC calls per job |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['post_to_finalized_s']} s | {r['challenge_to_slash_s']} s | {r['dissection_rounds']} "
            f"| {r['rpc_calls_total']} ({', '.join(f'{k} {v}' for k, v in r['rpc_calls_by_role'].items())}) |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
