"""Section 8, soak: many jobs through the real daemons, each a separate process, and what running
for a long time costs them (docs/retention.md).

A devnet with one online IPFS node per provider (`devnet up --hosts`; the requester's node also
serves the verifier and the oracle), two honest workers, a cheating worker (``poison-step``), a
verifier and an oracle, each started as ``python -m app.cli …`` like a user would. The benchmark
posts jobs (the tiny mlp job, a new seed each, challenge window 20 s) keeping a few unsettled at a
time, and samples after warm-up, half way and at the end:

- per settled job, the growth of each provider's state folder and of its IPFS repository
  (``repo/stat``) and pins (target: zero beyond what ``--keep`` keeps; ``nothing`` here);
- each daemon's resident memory and open file descriptors (psutil; target: flat after warm-up);
- every transaction mined with status 0, by sender and function (target: none);
- and that every job settled exactly once with the market solvent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ETHER, ROOT, Ctx, reverted, start_cli, stop_processes, table

WINDOW = 20  # long enough for the verifier to audit every result on a loaded 2-core machine
#: Bytes left per settled job that still count as "nothing kept": a few metadata blocks over the whole
#: run (the node's empty pin-set root, say), against about 420 kB of files and pins per tiny job.
TOLERANCE_BYTES_PER_JOB = 1000
GC_INTERVAL = 5.0
POISONED_STEP = 5
PROVIDERS = ("provider", "provider-2", "cheater")
HOSTS = ("requester", *PROVIDERS)  # the first is the default node: the verifier's and oracle's too


class Roles:
    """The daemons of one soak run, each a ``python -m app.cli`` process this run started and stops by PID."""

    def __init__(self, home: Path, deployment: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "CRUCIBLE_DEPLOYMENT": str(deployment),
            "CRUCIBLE_STATE_DIR": str(home / "state"),
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def cli(self, *args: str) -> str:
        argv = [sys.executable, "-m", "app.cli", *args]
        out = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"crucible {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout

    def start(self, name: str, *args: str) -> None:
        self.procs[name] = start_cli(args, self.env, self.home / f"{name}.log")

    def state_dir(self, name: str) -> Path:
        return self.home / name

    def stop(self) -> None:
        stop_processes(self.procs.values())

    def tracebacks(self) -> dict[str, int]:
        return {n: (self.home / f"{n}.log").read_text(errors="replace").count("Traceback") for n in self.procs}


def start_roles(roles: Roles, oracle_port: int) -> None:
    for name in PROVIDERS:
        roles.cli("worker", "stake", "1", "--dev-account", name)
    roles.start("oracle", "oracle", "serve", "--dev-account", "oracle", "--port", str(oracle_port))
    roles.start("verifier", "verifier", "run", "--state-dir", str(roles.state_dir("verifier")))
    for name in PROVIDERS:
        args = ["worker", "run", "--dev-account", name, "--state-dir", str(roles.state_dir(name))]
        args += ["--keep", "nothing", "--gc-interval", str(GC_INTERVAL)]
        if name == "cheater":
            args += ["--behaviour", f"poison-step:{POISONED_STEP}"]
        roles.start(name, *args)


def ipfs_post(url: str, path: str, **params: str) -> Any:
    import requests

    reply = requests.post(f"{url}/api/v0/{path}", params=params, timeout=60)
    reply.raise_for_status()
    return reply.json()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def sample(roles: Roles, nodes: dict[str, str], settled: int) -> dict[str, Any]:
    """Memory and descriptors of every daemon; disk, repo and pins of every provider."""
    import psutil

    daemons = {}
    for name, proc in roles.procs.items():
        try:
            p = psutil.Process(proc.pid)
            daemons[name] = {"rss_mb": p.memory_info().rss / 2**20, "fds": p.num_fds()}
        except psutil.Error:
            daemons[name] = {"rss_mb": float("nan"), "fds": -1}
    providers = {}
    for name in PROVIDERS:
        stat = ipfs_post(nodes[name], "repo/stat")
        pins = ipfs_post(nodes[name], "pin/ls", type="recursive").get("Keys") or {}
        providers[name] = {
            "state_bytes": folder_bytes(roles.state_dir(name)),
            "repo_bytes": int(stat["RepoSize"]),
            "repo_objects": int(stat["NumObjects"]),
            "pins": len(pins),
        }
    return {"settled": settled, "t": time.perf_counter(), "daemons": daemons, "providers": providers}


def one_run(ctx: Ctx, jobs: int, in_flight: int) -> dict[str, Any]:
    from crucible.chain.keys import dev_account
    from crucible.chain.market import JobStatus, Market
    from crucible.chain.rpc import connect
    from crucible.chain.signer import Signer
    from crucible.devnet.manage import Devnet
    from crucible.devnet.processes import free_port
    from crucible.engine.examples import example_data, example_job
    from crucible.protocol.data import dataset_bytes
    from crucible.store.artifacts import ArtifactStore
    from crucible.store.ipfs import IpfsStore
    from requester.client import Offer, Requester

    home = ctx.home / f"soak-{jobs}"
    home.mkdir(parents=True, exist_ok=True)
    devnet = Devnet(home / "devnet")
    deployment = devnet.up(hosts=HOSTS)
    roles = Roles(home, devnet.deployment_path)
    try:
        w3 = connect(deployment.rpc_url)
        requester = Requester(
            Market(w3, deployment.market, Signer(w3, dev_account("requester"))),
            ArtifactStore(IpfsStore(deployment.ipfs_nodes["requester"])),
        )
        monitor = Market(connect(deployment.rpc_url), deployment.market)
        first_block = int(w3.eth.block_number)
        start_roles(roles, free_port())
        dataset_cid = requester.store.put(dataset_bytes(example_data("mlp")[0]))
        offer = Offer(reward=ETHER // 100, duration=600, challenge_window=WINDOW)
        posted: list[int] = []
        settled: set[int] = set()
        samples = [sample(roles, deployment.ipfs_nodes, 0)]  # the baseline: nothing posted yet
        marks = {max(1, jobs // 4): "start", jobs // 2: "middle"}
        t0 = time.perf_counter()
        deadline = t0 + 120 + 40 * jobs
        while len(settled) < jobs and time.perf_counter() < deadline:
            if len(posted) < jobs and len(posted) - len(settled) < in_flight:
                spec, _, _ = example_job("mlp", "tiny", dataset_cid=dataset_cid, seed=1000 + len(posted))
                posted.append(requester.post(spec, requester.store.put_spec(spec), offer))
            for j in posted:
                if j not in settled and _settled(monitor, j, JobStatus):
                    settled.add(j)
                    if len(settled) in marks:
                        ctx.log(f"  soak: {len(settled)}/{jobs} settled ({marks[len(settled)]} sample)")
                        samples.append(sample(roles, deployment.ipfs_nodes, len(settled)))
            time.sleep(0.5)
        released_at = _wait_released(roles, time.perf_counter() + 60)
        time.sleep(GC_INTERVAL + 2)  # the last release's garbage collection
        samples.append(sample(roles, deployment.ipfs_nodes, len(settled)))
        names = {dev_account(n).address: n for n in (*PROVIDERS, "requester", "verifier", "oracle")}
        failed = reverted(monitor, first_block, names)
        outcomes = {j: monitor.job_status(j).name for j in posted}
        solvent = monitor.balance() == monitor.total_liabilities()
        tracebacks = roles.tracebacks()
    finally:
        roles.stop()
        devnet.down()
    return {
        "jobs": jobs,
        "in_flight": in_flight,
        "settled": len(settled),
        "wall_s": time.perf_counter() - t0,
        "released_all": released_at is not None,
        "outcomes": {s: sum(1 for o in outcomes.values() if o == s) for s in sorted(set(outcomes.values()))},
        "solvent": solvent,
        "reverted": failed,
        "tracebacks": tracebacks,
        "samples": samples,
        "growth_per_job": _growth(samples),
        "gc_interval_s": GC_INTERVAL,
    }


def _settled(market: Any, job_id: int, statuses: Any) -> bool:
    status = market.job_status(job_id)
    return status in (statuses.FINALIZED, statuses.SLASHED) and market.job(job_id).live_disputes == 0


def _wait_released(roles: Roles, until: float) -> float | None:
    """When every provider's pins.json holds no job any more (all settled jobs released), or None."""
    while time.perf_counter() < until:
        held = 0
        for name in PROVIDERS:
            path = roles.state_dir(name) / "pins.json"
            held += len(json.loads(path.read_text())) if path.exists() else 0
        if not held:
            return time.perf_counter()
        time.sleep(0.5)
    return None


def _growth(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per provider, bytes (and pins) left behind per settled job: the end against the baseline taken
    before any job was posted (so jobs still in flight at a middle sample do not count either way)."""
    if len(samples) < 2:
        return {}
    first, last = samples[0], samples[-1]
    jobs = max(1, last["settled"] - first["settled"])
    out = {}
    for name in PROVIDERS:
        a, b = first["providers"][name], last["providers"][name]
        out[name] = {k: (b[k] - a[k]) / jobs for k in ("state_bytes", "repo_bytes", "repo_objects", "pins")}
    return out


def run(ctx: Ctx, jobs: int | None = None, in_flight: int = 3) -> dict[str, Any]:
    n = jobs or (8 if ctx.quick else 40)
    ctx.log(f"  soak: {n} jobs, at most {in_flight} unsettled at a time")
    return one_run(ctx, n, in_flight)


def headline(result: dict[str, Any]) -> dict[str, Any]:
    growth = result["growth_per_job"]
    honest = [g for name, g in growth.items() if name != "cheater"]
    end, start = result["samples"][-1], result["samples"][min(1, len(result["samples"]) - 1)]
    return {
        "state_bytes_per_job": max((g["state_bytes"] for g in honest), default=float("nan")),
        "repo_bytes_per_job": max((g["repo_bytes"] for g in honest), default=float("nan")),
        "rss_growth_mb": max(end["daemons"][n]["rss_mb"] - start["daemons"][n]["rss_mb"] for n in end["daemons"]),
        "fd_growth": max(end["daemons"][n]["fds"] - start["daemons"][n]["fds"] for n in end["daemons"]),
        "reverted": len(result["reverted"]),
    }


def render(result: dict[str, Any], plots: Path) -> str:
    samples = result["samples"]
    names = list(samples[-1]["daemons"]) if samples else []
    labels = ["before any job", "after warm-up", "middle", "end"] if len(samples) == 4 else []
    reverted_by: dict[str, int] = {}
    for r in result["reverted"]:
        key = f"{r['from']}: {r['function']}"
        reverted_by[key] = reverted_by.get(key, 0) + 1
    outcomes = ", ".join(f"{k.lower()} {v}" for k, v in result["outcomes"].items())
    lines = [
        "## 8. Soak: many jobs through the real daemons",
        "",
        f"{result['jobs']} tiny mlp jobs (12 steps, k = 4, a new seed each; window {WINDOW} s) through two honest "
        f"workers, a cheating worker (`poison-step:{POISONED_STEP}`), a verifier and an oracle, each a separate "
        "`python -m app.cli` process; every provider on its own online IPFS node (`devnet up --hosts`), the "
        f"requester's node shared by the verifier and the oracle; `--keep nothing`, `--gc-interval {GC_INTERVAL:g}`. "
        f"At most {result['in_flight']} jobs unsettled at a time. Wall time {result['wall_s']:.0f} s; settled "
        f"{result['settled']}/{result['jobs']} ({outcomes}); "
        f"market solvent: {result['solvent']}; tracebacks in the daemons' logs: {sum(result['tracebacks'].values())}.",
        "",
        "Per provider, what is left per settled job: the end (every job settled and released, one "
        "garbage collection later) against the baseline before any job was posted (target: 0 with "
        "`--keep nothing`):",
        "",
        table(
            ["provider", "state folder", "IPFS repo", "repo objects", "pins"],
            [
                (
                    n,
                    f"{g['state_bytes'] / 1e3:+.1f} kB/job",
                    f"{g['repo_bytes'] / 1e3:+.1f} kB/job",
                    f"{g['repo_objects']:+.2f}/job",
                    f"{g['pins']:+.2f}/job",
                )
                for n, g in result["growth_per_job"].items()
            ],
        ),
        "",
        "Daemons' resident memory and open file descriptors (target: flat from the warm-up sample on; "
        "the first job costs each daemon its torch and model set-up):",
        "",
        table(
            ["sample", "jobs settled", *(f"{n} RSS / fds" for n in names)],
            [
                (
                    labels[i] if labels else str(i),
                    s["settled"],
                    *(f"{s['daemons'][n]['rss_mb']:.0f} MB / {s['daemons'][n]['fds']}" for n in names),
                )
                for i, s in enumerate(samples)
            ],
        ),
        "",
        f"Reverted transactions (target 0): **{len(result['reverted'])}**"
        + (": " + ", ".join(f"{k} ×{v}" for k, v in sorted(reverted_by.items())) if reverted_by else "")
        + ".",
    ]
    return "\n".join(lines)
