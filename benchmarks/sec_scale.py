"""Section 5, scale: several workers and jobs on one devnet.

Each worker is the real ``worker.provider.Worker`` running its own loop in a thread (poll interval
0.1 s), with its own key, Web3 connection and IPFS client; the requester posts all jobs at once
(a tiny mlp job each, challenge window 5 s, the devnet minimum). Measured: throughput of finalized
jobs, each job's time in each state, the lag from a ``JobPosted`` receipt to the moment each worker's
event poll returned it, and every JSON-RPC request the workers made (counted at their HTTP provider).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ETHER, Ctx, RpcCounter, TxLog, account, deploy, market_for, median, plotting, save, table

WINDOW = 5
FIRST_WORKER_ACCOUNT = 10


def one_config(ctx: Ctx, workers: int, jobs: int) -> dict[str, Any]:
    from crucible.chain.market import JobTerms, Market
    from crucible.chain.rpc import connect
    from crucible.engine.examples import example_data, example_job
    from crucible.protocol.data import dataset_bytes
    from worker.provider import Worker, WorkerConfig

    url = ctx.anvil().url
    log = TxLog()
    address = deploy(url, [account(4).address])
    requester = market_for(url, address, account(1), log)
    store = ctx.store()
    train, _ = example_data("mlp")
    spec, _, _ = example_job("mlp", "tiny", dataset_cid=store.put(dataset_bytes(train)))
    spec_cid = store.put_spec(spec)
    rpc = RpcCounter()
    start_block = int(requester.w3.eth.block_number)
    daemons, seen = [], []
    for i in range(workers):
        market = market_for(url, address, account(FIRST_WORKER_ACCOUNT + i), log, rpc)
        market.deposit_stake(ETHER)
        w = Worker(
            market,
            ctx.store(),
            WorkerConfig(state_dir=ctx.home / f"scale-{workers}-{jobs}" / f"w{i}", poll_interval=0.1),
            start_block=start_block,
        )
        first_seen: dict[int, float] = {}
        inner = w.events.poll

        def poll(inner=inner, first_seen=first_seen):  # type: ignore[no-untyped-def]
            events = inner()
            now = time.perf_counter()
            for e in events:
                if e.name == "JobPosted":
                    first_seen.setdefault(int(e.args["jobId"]), now)
            return events

        w.events.poll = poll  # type: ignore[method-assign]
        daemons.append(w)
        seen.append(first_seen)
    rpc_after_setup = rpc.total
    rpc.by_method.clear()

    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run, args=(stop,), daemon=True, name=f"bench-worker-{i}")
        for i, w in enumerate(daemons)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    posted: dict[int, float] = {}
    for _ in range(jobs):
        terms = JobTerms(
            spec_cid=spec_cid,
            stake=ETHER // 100,
            bond=max(ETHER // 1000, requester.min_bond_for(spec.train.checkpoint_interval, 2)),
            duration=600,
            challenge_window=WINDOW,
            interval=spec.train.checkpoint_interval,
            total_steps=spec.train.total_steps,
        )
        job_id = requester.post_job(terms, reward=ETHER // 100)
        posted[job_id] = time.perf_counter()
    monitor = Market(connect(url), address)  # not counted: the benchmark's own view
    states: dict[int, dict[str, float]] = {j: {} for j in posted}
    deadline = t0 + 60 + 15 * jobs
    while time.perf_counter() < deadline:
        for j in posted:
            status = monitor.job_status(j)
            states[j].setdefault(status.name, time.perf_counter())
        if all("FINALIZED" in s for s in states.values()):
            break
        time.sleep(0.05)
    end = time.perf_counter()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    finalized = [j for j, s in states.items() if "FINALIZED" in s]
    lags = [fs[j] - posted[j] for fs in seen for j in fs if j in posted]
    per_job = []
    for j in finalized:
        s = states[j]
        claimed = s.get("CLAIMED", s.get("SUBMITTED", s["FINALIZED"]))
        submitted = s.get("SUBMITTED", s.get("ACCEPTED", s["FINALIZED"]))
        per_job.append(
            {
                "wait_for_claim": claimed - posted[j],
                "train_and_submit": submitted - claimed,
                "window_and_finalize": s["FINALIZED"] - submitted,
                "total": s["FINALIZED"] - posted[j],
            }
        )
    span = (max(states[j]["FINALIZED"] for j in finalized) - min(posted.values())) if finalized else float("nan")
    by_worker = [len(w.report.finalized) for w in daemons]
    return {
        "workers": workers,
        "jobs": jobs,
        "finalized": len(finalized),
        "span_s": span,
        "throughput_jobs_per_min": len(finalized) / span * 60 if finalized else 0.0,
        "latency_s": {
            k: median(p[k] for p in per_job)
            for k in ("wait_for_claim", "train_and_submit", "window_and_finalize", "total")
        }
        if per_job
        else {},
        "event_lag_s": {"median": median(lags), "max": max(lags) if lags else float("nan"), "n": len(lags)},
        "rpc_total": rpc.total,
        "rpc_per_job": rpc.total / max(1, len(finalized)),
        "rpc_per_worker_s": rpc.total / workers / (end - t0),
        "rpc_setup": rpc_after_setup,
        "rpc_by_method": dict(rpc.by_method.most_common()),
        "jobs_by_worker": by_worker,
        "tx_per_job": sum(
            1 for r in log.records if r.what in ("claimJob", "submitResult", "finalizeJob", "withdrawCredit")
        )
        / max(1, len(finalized)),
    }


def run(ctx: Ctx) -> dict[str, Any]:
    plan = [(1, 2), (2, 4)] if ctx.quick else [(1, 3), (2, 6), (4, 12)]
    out = []
    for workers, jobs in plan:
        ctx.log(f"  scale: {workers} worker(s), {jobs} jobs")
        out.append(one_config(ctx, workers, jobs))
    return {"configs": out, "window_s": WINDOW}


def _chain_id_note(c: list[dict[str, Any]]) -> str:
    total = sum(r["rpc_total"] for r in c)
    chain_id = sum(r["rpc_by_method"].get("eth_chainId", 0) for r in c)
    if not total or chain_id / total < 0.2:
        return ""
    return (
        f"**{chain_id / total:.0%} of all requests are `eth_chainId`**: web3.py asks for the chain id again "
        "for every contract view call; caching it client-side (the chain id of a connection never changes) "
        "would cut the workers' RPC load by that much. "
    )


def headline(result: dict[str, Any]) -> dict[str, Any]:
    c = result["configs"]
    return {
        "throughput": {r["workers"]: r["throughput_jobs_per_min"] for r in c},
        "rpc_per_job": {r["workers"]: r["rpc_per_job"] for r in c},
        "lag_median_s": {r["workers"]: r["event_lag_s"]["median"] for r in c},
    }


def render(result: dict[str, Any], plots: Path) -> str:
    c = result["configs"]
    lines = [
        "## 5. Scale: workers and jobs on one devnet",
        "",
        "Real `Worker` daemons, one thread each (poll interval 0.1 s), each with its own key, chain connection "
        "and IPFS client; all jobs posted at once (tiny mlp job: 12 steps, k = 4; challenge window "
        f"{result['window_s']} s, the devnet minimum); anvil automine. One run per configuration (throughput "
        "is itself an aggregate over the jobs; latencies are medians over jobs).",
        "",
        table(
            [
                "workers",
                "jobs",
                "finalized",
                "wall time",
                "throughput",
                "post → claim",
                "claim → submit",
                "submit → finalized",
                "event lag (median / max)",
                "RPC calls per job",
                "RPC/s per worker",
                "jobs per worker",
            ],
            [
                (
                    r["workers"],
                    r["jobs"],
                    r["finalized"],
                    f"{r['span_s']:.1f} s",
                    f"**{r['throughput_jobs_per_min']:.1f} jobs/min**",
                    *(
                        f"{r['latency_s'].get(k, float('nan')):.2f} s"
                        for k in ("wait_for_claim", "train_and_submit", "window_and_finalize")
                    ),
                    f"{r['event_lag_s']['median'] * 1000:.0f} / {r['event_lag_s']['max'] * 1000:.0f} ms",
                    f"{r['rpc_per_job']:.0f}",
                    f"{r['rpc_per_worker_s']:.1f}",
                    "/".join(map(str, r["jobs_by_worker"])),
                )
                for r in c
            ],
        ),
        "",
        "The baseline for throughput is one worker: with w workers the jobs are served in parallel, up to the "
        "2 cores of this machine (each worker trains on one pinned thread; the IPFS node and anvil share the "
        "same cores). Every job then waits out its challenge window, which bounds a single job's latency but "
        "not the throughput (a worker claims its next job while the previous one sits in its window).",
        "",
        "RPC calls by method (all workers together, whole run): "
        + "; ".join(
            f"{r['workers']} worker(s): " + ", ".join(f"{m} {n}" for m, n in list(r["rpc_by_method"].items())[:6])
            for r in c
        )
        + ". "
        + _chain_id_note(c)
        + "Most of the rest is the idle loop (`eth_blockNumber` "
        "+ `eth_getLogs` per tick, and the `credits`/`jobStatus` views behind the `eth_call`s); per job, the "
        "protocol itself needs four transactions (claim, submit, finalize, withdraw), each a handful of RPC "
        "calls (nonce, fees, gas estimate, send, receipt polls). RPC calls per job therefore depend on how "
        "long the workers idle, i.e. on the poll interval and the challenge window.",
        "",
        "Event-processing lag is the time from the requester's `postJob` receipt to a worker's event poll "
        "returning it: about half a poll interval plus one `eth_getLogs`, and it grows when the workers "
        "contend for the cores (the GIL and 2 CPUs are shared by all of them in this in-process run).",
    ]
    plt = plotting()
    if plt is not None:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        ws = [r["workers"] for r in c]
        ax1.plot(ws, [r["throughput_jobs_per_min"] for r in c], "o-", label="measured")
        if c:
            ax1.plot(
                ws, [c[0]["throughput_jobs_per_min"] * w for w in ws], ":", color="grey", label="linear from 1 worker"
            )
        ax1.set_xlabel("workers")
        ax1.set_ylabel("finalized jobs per minute")
        ax1.set_title("Throughput")
        ax1.legend(fontsize=7)
        ax2.plot(ws, [r["rpc_per_job"] for r in c], "s-", label="RPC calls per job")
        ax2.set_xlabel("workers")
        ax2.set_ylabel("RPC calls per finalized job")
        ax3 = ax2.twinx()
        ax3.plot(ws, [r["event_lag_s"]["median"] * 1000 for r in c], "^--", color="tab:red", label="event lag")
        ax3.set_ylabel("median event lag (ms)", color="tab:red")
        ax2.set_title("RPC load and event lag")
        lines += ["", f"![scale](plots/{save(fig, plots / 'scale.png')})"]
    return "\n".join(lines)
