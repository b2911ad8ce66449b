"""Section 5, scale: 1 worker against 8, each a separate provider daemon process, on one devnet.

Each worker is ``python -m app.cli worker run`` as a user starts it (its own key, passed as
``CRUCIBLE_PRIVATE_KEY``; its own state folder and its own online js-ipfs node, like the soak
section's providers), talking to the chain through its own counting JSON-RPC proxy on loopback, so
the counts are what a hosted RPC provider would bill. Every configuration gets a fresh market on
the same anvil (automine) and nodes. The requester posts all jobs at once (the tiny mlp job, a new
seed each, challenge window 5 s: the devnet minimum); a monitor in this process (not counted) reads
the market's events every 0.1 s. Measured: finalized jobs per minute (first post to last finalize),
RPC calls per finalized job (total and by method), post → claim, claim → submit and submit →
finalized medians, reverted transactions (lost claim races), and that the money is right.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ETHER,
    CountingProxy,
    Ctx,
    account,
    by_method,
    deploy,
    median,
    named_views,
    plotting,
    reverted,
    save,
    start_cli,
    stop_processes,
    table,
)

WINDOW = 5
REWARD = ETHER // 100
STAKE = ETHER
#: Mnemonic index of the first worker's key: after the named devnet accounts (0-10); anvil has 20.
FIRST_WORKER_ACCOUNT = 11
PHASES = ("post_to_claim", "claim_to_submit", "submit_to_finalized")


class Monitor:
    """Reads the market's events from ``first_block`` every ``every`` seconds in a thread, noting
    when (``time.perf_counter``) each event was first seen; this process's own, uncounted view."""

    def __init__(self, market: Any, first_block: int, every: float = 0.1) -> None:
        from crucible.chain.events import EventLog

        self.log = EventLog(market.contract, first_block)
        self.events: list[tuple[float, Any]] = []
        self.every = every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="scale-monitor")
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(self.every)

    def poll(self) -> None:
        found = self.log.poll()
        now = time.perf_counter()
        self.events += [(now, e) for e in found]

    def seen(self, name: str) -> dict[int, float]:
        """Job id -> when its first ``name`` event was seen."""
        out: dict[int, float] = {}
        for t, e in list(self.events):
            if e.name == name:
                out.setdefault(int(e.args["jobId"]), t)
        return out

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.poll()  # whatever came in since the last tick


def _fresh_deployment(home: Path, base: Any, tag: str) -> tuple[Any, Path]:
    """A new market on the devnet's anvil, in a deployment file of its own (the daemons read it)."""
    from crucible.chain.keys import dev_account
    from crucible.chain.rpc import connect

    address = deploy(base.rpc_url, [dev_account("oracle").address])
    deployment = base.model_copy(
        update={"market": address, "deploy_block": int(connect(base.rpc_url).eth.block_number)}
    )
    path = home / f"deployment-{tag}.json"
    deployment.save(path)
    return deployment, path


def _start_workers(home: Path, deployment: Any, path: Path, keys: list[Any]) -> tuple[list[Any], list[Any]]:
    """Stake for each key, then start its ``worker run`` process behind its own counting proxy."""
    from crucible.chain.market import Market
    from crucible.chain.rpc import connect
    from crucible.chain.signer import Signer

    w3 = connect(deployment.rpc_url)
    for key in keys:
        Market(w3, deployment.market, Signer(w3, key)).deposit_stake(STAKE)
    proxies, procs = [], []
    for i, key in enumerate(keys):
        proxy = CountingProxy(deployment.rpc_url)
        proxies.append(proxy)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRUCIBLE_")}
        env.update(
            CRUCIBLE_DEPLOYMENT=str(path),
            CRUCIBLE_RPC_URL=proxy.url,
            CRUCIBLE_IPFS_API=deployment.ipfs_nodes[f"worker-{i}"],
            CRUCIBLE_PRIVATE_KEY=key.key.hex(),  # a public devnet key (anvil's test mnemonic)
            CRUCIBLE_STATE_DIR=str(home / "state"),
            PYTHONUNBUFFERED="1",
        )
        procs.append(start_cli(["worker", "run", "--state-dir", str(home / f"worker-{i}")], env, home / f"w{i}.log"))
    return proxies, procs


def _wait_polling(proxies: list[Any], procs: list[Any], home: Path, timeout: float = 300) -> None:
    """Until every daemon polls the chain (starting one takes seconds of CPU: torch)."""
    deadline = time.monotonic() + timeout
    while not all(p.by_method.get("eth_getBlockByNumber") for p in proxies):
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                tail = (home / f"w{i}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker {i} exited with {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not start polling the chain")
        time.sleep(0.5)
    time.sleep(2)


def _post_all(deployment: Any, jobs: int) -> tuple[Any, dict[int, float]]:
    """Post ``jobs`` tiny mlp jobs (specs uploaded first); returns the requester and each job's post time."""
    from crucible.chain.keys import dev_account
    from crucible.chain.market import Market
    from crucible.chain.rpc import connect
    from crucible.chain.signer import Signer
    from crucible.engine.examples import example_data, example_job
    from crucible.protocol.data import dataset_bytes
    from crucible.store.artifacts import ArtifactStore
    from crucible.store.ipfs import IpfsStore
    from requester.client import Offer, Requester

    w3 = connect(deployment.rpc_url)
    requester = Requester(
        Market(w3, deployment.market, Signer(w3, dev_account("requester"))),
        ArtifactStore(IpfsStore(deployment.ipfs_nodes["requester"])),
    )
    dataset_cid = requester.store.put(dataset_bytes(example_data("mlp")[0]))
    specs = []
    for n in range(jobs):
        spec, _, _ = example_job("mlp", "tiny", dataset_cid=dataset_cid, seed=1000 + n)
        specs.append((spec, requester.store.put_spec(spec)))
    offer = Offer(reward=REWARD, duration=600, challenge_window=WINDOW)
    posted: dict[int, float] = {}
    for spec, cid in specs:
        posted[requester.post(spec, cid, offer)] = time.perf_counter()
    return requester, posted


def _money(market: Any, monitor: Monitor, keys: list[Any], posted: dict[int, float]) -> dict[str, Any]:
    """Per worker: rewards of its finalized jobs = what it was credited = withdrawn + still owed, its
    stake all free again; each finalized job paid the posted reward; the market holds what it owes."""
    rewards: Counter[str] = Counter()
    credited: Counter[str] = Counter()
    withdrawn: Counter[str] = Counter()
    for _, e in monitor.events:
        if e.name == "JobFinalized" and int(e.args["jobId"]) in posted:
            rewards[e.args["provider"]] += int(e.args["reward"])
        elif e.name == "Credited":
            credited[e.args["account"]] += int(e.args["amount"])
        elif e.name == "CreditWithdrawn":
            withdrawn[e.args["account"]] += int(e.args["amount"])
    workers = []
    for key in keys:
        a = key.address
        info = market.provider_info(a)
        owed = market.credits(a)
        workers.append(
            {
                "rewards_wei": rewards[a],
                "credited_wei": credited[a],
                "withdrawn_wei": withdrawn[a],
                "owed_wei": owed,
                "stake_free_wei": info.free,
                "stake_locked_wei": info.locked,
                "ok": rewards[a] == credited[a] == withdrawn[a] + owed and (info.free, info.locked) == (STAKE, 0),
            }
        )
    finals = [e for _, e in monitor.events if e.name == "JobFinalized"]
    balance, owes = market.balance(), market.total_liabilities()
    rewards_ok = all(int(e.args["reward"]) == REWARD for e in finals)
    return {
        "workers": workers,
        "market_balance_wei": balance,
        "market_owes_wei": owes,
        "ok": all(w["ok"] for w in workers) and balance == owes and rewards_ok,
    }


def _latencies(monitor: Monitor, posted: dict[int, float]) -> dict[str, float]:
    claimed, submitted, finalized = (monitor.seen(n) for n in ("JobClaimed", "ResultSubmitted", "JobFinalized"))
    done = [j for j in posted if j in finalized and j in submitted and j in claimed]
    return {
        "post_to_claim": median(claimed[j] - posted[j] for j in done),
        "claim_to_submit": median(submitted[j] - claimed[j] for j in done),
        "submit_to_finalized": median(finalized[j] - submitted[j] for j in done),
        "total": median(finalized[j] - posted[j] for j in done),
    }


def one_config(ctx: Ctx, base: Any, workers: int, jobs: int) -> dict[str, Any]:
    from crucible.chain.market import Market
    from crucible.chain.rpc import connect

    tag = f"{workers}w-{jobs}j"
    home = ctx.home / f"scale-{tag}"
    home.mkdir(parents=True, exist_ok=True)
    deployment, path = _fresh_deployment(home, base, tag)
    monitor_market = Market(connect(deployment.rpc_url), deployment.market)  # not counted
    keys = [account(FIRST_WORKER_ACCOUNT + i) for i in range(workers)]
    proxies: list[Any] = []
    procs: list[Any] = []
    monitor = None
    try:
        proxies, procs = _start_workers(home, deployment, path, keys)
        _wait_polling(proxies, procs, home)
        first_block = int(monitor_market.w3.eth.block_number)
        monitor = Monitor(monitor_market, first_block)
        for proxy in proxies:
            proxy.take()
        t0 = time.perf_counter()
        _, posted = _post_all(deployment, jobs)
        deadline = t0 + 120 + 12 * jobs
        while len(set(posted) & set(monitor.seen("JobFinalized"))) < jobs and time.perf_counter() < deadline:
            time.sleep(0.2)
        finalized_at = monitor.seen("JobFinalized")
        withdraw_by = time.perf_counter() + 30
        while any(monitor_market.credits(k.address) for k in keys) and time.perf_counter() < withdraw_by:
            time.sleep(0.2)  # the workers withdraw their rewards: part of each job's RPC bill
        end = time.perf_counter()
        load = os.getloadavg()[0]  # other processes on the machine share its cores
        rpc = [proxy.take() for proxy in proxies]
        monitor.close()
        names = {k.address: f"worker-{i}" for i, k in enumerate(keys)}
        failed = reverted(monitor_market, first_block, names)
        money = _money(monitor_market, monitor, keys, posted)
        latency = _latencies(monitor, posted)
        by_worker = Counter(names[e.args["provider"]] for _, e in monitor.events if e.name == "JobFinalized")
    finally:
        if monitor is not None:
            monitor.stop.set()
        stop_processes(procs)
        for proxy in proxies:
            proxy.close()
    tracebacks = sum((home / f"w{i}.log").read_text(errors="replace").count("Traceback") for i in range(workers))
    done = [j for j in posted if j in finalized_at]
    span = max(finalized_at[j] for j in done) - min(posted.values()) if done else float("nan")
    total: Counter[str] = sum(rpc, Counter())
    methods = by_method(total)
    n = max(1, len(done))
    return {
        "workers": workers,
        "jobs": jobs,
        "finalized": len(done),
        "span_s": span,
        "throughput_jobs_per_min": len(done) / span * 60 if done else 0.0,
        "latency_s": latency,
        "rpc_total": sum(total.values()),
        "rpc_per_job": sum(total.values()) / n,
        "rpc_per_job_by_method": {m: c / n for m, c in methods.items()},
        "rpc_by_method_and_view": named_views(total, monitor_market),
        "rpc_per_worker_s": sum(total.values()) / workers / (end - t0),
        "rpc_by_worker": [sum(c.values()) for c in rpc],
        "jobs_by_worker": [by_worker.get(f"worker-{i}", 0) for i in range(workers)],
        "reverted": failed,
        # A transaction whose gas estimate reverts is never sent: the claims that lost a race early.
        "refused_at_estimate": max(0, methods.get("eth_estimateGas", 0) - methods.get("eth_sendRawTransaction", 0)),
        "load_avg_1min": load,
        "money": money,
        "tracebacks": tracebacks,
    }


def run(ctx: Ctx) -> dict[str, Any]:
    from crucible.devnet.manage import Devnet

    plan = [(1, 4), (2, 4)] if ctx.quick else [(1, 10), (4, 50), (8, 50)]
    most = max(w for w, _ in plan)
    devnet = Devnet(ctx.home / "scale-devnet")
    ctx.log(f"  scale: devnet with {most + 1} js-ipfs nodes")
    base = devnet.up(hosts=("requester", *(f"worker-{i}" for i in range(most))))
    try:
        out = []
        for workers, jobs in plan:
            ctx.log(f"  scale: {workers} worker process(es), {jobs} jobs")
            out.append(one_config(ctx, base, workers, jobs))
    finally:
        devnet.down()
    return {"configs": out, "window_s": WINDOW, "cores": os.cpu_count() or 1}


def headline(result: dict[str, Any]) -> dict[str, Any]:
    c = result["configs"]
    return {
        "throughput": {r["workers"]: r["throughput_jobs_per_min"] for r in c},
        "rpc_per_job": {r["workers"]: r["rpc_per_job"] for r in c},
        "chain_id_per_job": {r["workers"]: r["rpc_per_job_by_method"].get("eth_chainId", 0.0) for r in c},
        "money_ok": all(r["money"]["ok"] and r["finalized"] == r["jobs"] for r in c),
    }


def _methods(r: dict[str, Any], top: int = 7) -> str:
    items = sorted(r["rpc_per_job_by_method"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{m} {v:.1f}" for m, v in items[:top])


def _claim_races(r: dict[str, Any]) -> str:
    lost = sum(1 for x in r["reverted"] if x["function"] == "claimJob")
    return f"{lost} / {r.get('refused_at_estimate', 0)}"


def render(result: dict[str, Any], plots: Path) -> str:
    c = result["configs"]
    cores = result.get("cores", 2)
    base, most = (c[0], c[-1]) if c else (None, None)
    lines = [
        "## 5. Scale: worker processes and jobs on one devnet",
        "",
        "Each worker is a separate `python -m app.cli worker run` process, as a provider runs it (poll interval "
        "0.5 s, its own key, state folder and online js-ipfs node), talking to anvil (automine) through its own "
        "counting JSON-RPC proxy on loopback: the counts are what a hosted RPC provider would bill, from the "
        "first post until every reward is withdrawn. Each configuration gets a fresh market; the requester posts "
        f"all jobs at once (tiny mlp job: 12 steps, k = 4, a new seed each; challenge window {result['window_s']} s, "
        "the devnet minimum). The 1-worker baseline runs fewer jobs; every figure is per finalized job or per "
        "minute, so they compare. Throughput is finalized jobs over the wall time from the first post to the "
        "last finalize; latencies are medians over jobs, seen by a monitor reading the market's events every "
        "0.1 s. One run per configuration.",
        "",
        table(
            [
                "workers",
                "jobs",
                "finalized",
                "wall time",
                "throughput",
                "vs 1 worker",
                "post → claim",
                "claim → submit",
                "submit → finalized",
                "RPC calls per job",
                "RPC/s per worker",
                "jobs per worker",
                "lost claim races (reverted / refused at estimate)",
                "money right",
                "load average",
            ],
            [
                (
                    r["workers"],
                    r["jobs"],
                    r["finalized"],
                    f"{r['span_s']:.0f} s",
                    f"**{r['throughput_jobs_per_min']:.1f} jobs/min**",
                    f"×{r['throughput_jobs_per_min'] / base['throughput_jobs_per_min']:.1f}"
                    if base and base["throughput_jobs_per_min"]
                    else "–",
                    *(f"{r['latency_s'].get(k, float('nan')):.1f} s" for k in PHASES),
                    f"**{r['rpc_per_job']:.0f}**",
                    f"{r['rpc_per_worker_s']:.1f}",
                    "/".join(map(str, r["jobs_by_worker"])),
                    _claim_races(r),
                    "yes" if r["money"]["ok"] and r["finalized"] == r["jobs"] else "**no**",
                    f"{r.get('load_avg_1min', float('nan')):.1f}",
                )
                for r in c
            ],
        ),
        "",
        "RPC calls per finalized job by method: "
        + "; ".join(f"{r['workers']} worker(s): {_methods(r)}" for r in c)
        + ". `eth_chainId` is answered from the connection's cache after its first answer "
        "(`crucible.chain.rpc.RetryingHTTPProvider`): "
        + ", ".join(f"{r['rpc_per_job_by_method'].get('eth_chainId', 0.0):.2f}" for r in c)
        + " per job (before the cache, the in-process version of this section counted 54% of all requests "
        "as `eth_chainId`).",
        "",
        "Every worker sees every `JobPosted` and tries to claim it; one claim wins. A loser whose gas estimate "
        "already reverts sends nothing (refused at estimate, counted as `eth_estimateGas` without a send); one "
        "whose estimate ran before the winner's claim was mined sends a `claimJob` that reverts on chain (gas "
        "spent, nothing else lost; the `eth_call claimJob` is the signer reading the revert reason). These races "
        "and the idle rounds of workers without a job are what RPC calls per job add with more workers"
        + (
            f": {base['rpc_per_job']:.0f} with 1 worker, {most['rpc_per_job']:.0f} with {most['workers']}"
            if base and most and most is not base
            else ""
        )
        + "; the protocol's own share (claim, submit, finalize, withdraw: four transactions of about five "
        "requests each, and the reads that decide them) does not grow.",
        "",
        "Money: every worker's rewards for its finalized jobs equal what the market credited it, which equal "
        "what it withdrew plus what it is still owed; its stake is all free again; every finalized job paid "
        "the posted reward; the market's balance equals what it owes "
        + ", ".join(
            f"({r['workers']} w: {r['money']['market_balance_wei'] / ETHER:.4f} = "
            f"{r['money']['market_owes_wei'] / ETHER:.4f} ETH)"
            for r in c
        )
        + ". Tracebacks in the workers' logs: "
        + ", ".join(f"{r['workers']} w: {r['tracebacks']}" for r in c)
        + ".",
        "",
        f"Throughput is bounded by this machine's {cores} cores, shared by every worker process (each trains "
        "on one thread), anvil, the js-ipfs nodes and whatever else runs (the 1-minute load average at the end "
        "of each configuration is in the table): once the cores are busy, more workers do not finish jobs "
        "sooner, and the jobs wait in the queue instead (post → claim) while each worker's training slows "
        "(claim → submit). Each job also waits out its challenge window, which bounds one job's latency but "
        "not the throughput (a worker claims its next job while the previous one sits in its window).",
    ]
    plt = plotting()
    if plt is not None and c:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        ws = [r["workers"] for r in c]
        ax1.plot(ws, [r["throughput_jobs_per_min"] for r in c], "o-", label="measured")
        ceiling = [c[0]["throughput_jobs_per_min"] * min(w, cores) for w in ws]
        ax1.plot(ws, ceiling, ":", color="grey", label=f"1 worker × min(workers, {cores} cores)")
        ax1.set_ylim(bottom=0)
        ax1.set_xlabel("worker processes")
        ax1.set_ylabel("finalized jobs per minute")
        ax1.set_title("Throughput")
        ax1.legend(fontsize=7)
        last = c[-1]["rpc_per_job_by_method"]
        methods = sorted({m for r in c for m in r["rpc_per_job_by_method"]}, key=lambda m: -last.get(m, 0))
        bottom = [0.0] * len(c)
        for m in methods[:6]:
            values = [r["rpc_per_job_by_method"].get(m, 0.0) for r in c]
            ax2.bar([str(w) for w in ws], values, bottom=bottom, label=m)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        rest = [r["rpc_per_job"] - b for r, b in zip(c, bottom, strict=True)]
        ax2.bar([str(w) for w in ws], rest, bottom=bottom, label="other", color="lightgrey")
        ax2.set_xlabel("worker processes")
        ax2.set_ylabel("RPC calls per finalized job")
        ax2.set_title("RPC load by method")
        ax2.legend(fontsize=7)
        lines += ["", f"![scale](plots/{save(fig, plots / 'scale.png')})"]
    return "\n".join(lines)
