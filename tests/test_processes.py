"""The roles as real separate processes on a real devnet, driven through the `crucible` CLI:
several workers at once, a worker killed mid-training, cancel and expiry, an unservable job."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Cli

from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market
from crucible.chain.rpc import connect
from crucible.devnet.nodes import rpc_call
from crucible.devnet.processes import free_port
from crucible.protocol.spec import parse_document

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def small_spec(tmp_path: Path, *, steps: int = 40, interval: int = 10, seed: int = 1, **extra: object) -> Path:
    raw = parse_document((REPO / "examples" / "digits-mlp.yaml").read_bytes())
    raw["train"].update(total_steps=steps, checkpoint_interval=interval, seed=seed)
    raw.update(extra)
    path = tmp_path / f"spec-{seed}-{steps}.json"
    path.write_text(json.dumps(raw))
    return path


def post(cli: Cli, spec: Path, *, window: int = 5, duration: int = 120, arity: int | None = None) -> int:
    """Post ``spec`` with the CLI: reward 0.5 ETH, stake 0.5 ETH (the least for that reward), bond 0.01 ETH."""
    out = cli(
        "requester",
        "post",
        str(spec),
        "--reward",
        "0.5",
        "--stake",
        "0.5",
        "--bond",
        "0.01",
        *(["--arity", str(arity)] if arity is not None else []),
        "--duration",
        str(duration),
        "--window",
        str(window),
        "--dataset",
        str(cli.home / "data" / "digits-train.safetensors"),
        "--eval",
        str(cli.home / "data" / "digits-test.safetensors"),
        "--json",
    )
    return int(json.loads(out.stdout)["job_id"])


def wait_for(what: str, done: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def events(market: Market, name: str) -> list[dict[str, object]]:
    return [dict(e["args"]) for e in getattr(market.contract.events, name)().get_logs(from_block=0)]


def test_three_workers_five_jobs_each_finalized_exactly_once(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, deployment, market = devnet
    workers = ["provider", "provider-2", "provider-3"]
    metrics_ports = {name: free_port() for name in workers}
    for name in workers:
        cli("worker", "stake", "1", "--dev-account", name)
        cli.start(
            tmp_path / f"{name}.log",
            *("worker", "run", "--dev-account", name, "--state-dir", str(tmp_path / name)),
            *("--metrics-port", str(metrics_ports[name])),
        )

    jobs = [post(cli, small_spec(tmp_path, seed=s)) for s in range(5)]
    wait_for("all jobs finalized", lambda: all(market.job_status(j) == JobStatus.FINALIZED for j in jobs))

    finalized = events(market, "JobFinalized")
    assert sorted(e["jobId"] for e in finalized) == jobs, "each job finalized exactly once"
    claimed = events(market, "JobClaimed")
    assert sorted(e["jobId"] for e in claimed) == jobs, "no job claimed twice"
    infos = {n: market.provider_info(dev_account(n).address) for n in workers}
    assert sum(i.finalized for i in infos.values()) == 5
    assert all(i.locked == 0 and i.slashed == 0 for i in infos.values())
    wait_for("rewards withdrawn", lambda: all(market.credits(dev_account(n).address) == 0 for n in workers))
    assert connect(deployment.rpc_url).eth.get_balance(deployment.market) == 3 * 10**18, "only the stakes remain"
    for name, port in metrics_ports.items():  # each worker's Prometheus metrics agree with the chain
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        metrics = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("crucible_worker_"))
        assert float(metrics["crucible_worker_jobs_finalized_total"]) == infos[name].finalized
        assert int(metrics["crucible_worker_earnings_wei_total"]) == infos[name].finalized * 5 * 10**17
        assert float(metrics["crucible_worker_steps_total"]) == infos[name].finalized * 40


def test_worker_killed_mid_training_resumes_from_its_checkpoint(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "1")
    state = tmp_path / "worker"
    job = post(cli, small_spec(tmp_path, steps=3000, interval=100, seed=11))
    first = cli.start(tmp_path / "first.log", "worker", "run", "--state-dir", str(state))
    checkpoints = state / "jobs" / str(job)
    wait_for("a few checkpoints", lambda: len(list(checkpoints.glob("ckpt-*.safetensors"))) >= 4)

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert market.job_status(job) == JobStatus.CLAIMED
    cli.start(tmp_path / "second.log", "worker", "run", "--state-dir", str(state))
    wait_for("job finalized", lambda: market.job_status(job) == JobStatus.FINALIZED, timeout=300)

    log = (tmp_path / "second.log").read_text()
    assert "resuming from local checkpoint at step" in log
    resumed_at = int(log.split("resuming from local checkpoint at step")[1].split()[0])
    assert resumed_at >= 300, "training went on from where the killed worker was, not from step 0"
    assert len(events(market, "JobClaimed")) == 1, "no second claim"


def test_cancel_returns_the_escrow(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, deployment, market = devnet
    w3 = connect(deployment.rpc_url)
    requester = dev_account("requester").address
    before = w3.eth.get_balance(requester)
    job = post(cli, small_spec(tmp_path))

    out = cli("requester", "cancel", str(job))

    assert "withdrew 0.5 ETH" in out.stdout
    assert market.job_status(job) == JobStatus.CANCELLED
    assert before - w3.eth.get_balance(requester) < 10**16, "only gas was spent"
    assert w3.eth.get_balance(deployment.market) == 0


def test_expired_claim_refunds_the_requester_with_part_of_the_stake(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, deployment, market = devnet
    cli("worker", "stake", "1", "--dev-account", "cheater")
    job = post(cli, small_spec(tmp_path))
    cli.start(
        tmp_path / "vanish.log",
        "worker",
        "run",
        "--dev-account",
        "cheater",
        "--behaviour",
        "claim-and-vanish",
        "--state-dir",
        str(tmp_path / "vanish"),
    )
    wait_for("claimed", lambda: market.job_status(job) == JobStatus.CLAIMED)
    cli.stop_all()

    rpc_call(deployment.rpc_url, "evm_increaseTime", [121])
    rpc_call(deployment.rpc_url, "evm_mine")
    assert json.loads(cli("requester", "status", str(job), "--json").stdout)["status"] == "expired"
    out = cli("requester", "reclaim", str(job))

    assert market.job_status(job) == JobStatus.REFUNDED
    assert "withdrew 0.6 ETH" in out.stdout, "escrow plus 20% of the 0.5 ETH stake"
    assert market.provider_info(dev_account("cheater").address).expired == 1


def test_job_no_worker_can_serve_is_left_alone_with_a_reason(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "1")
    job = post(cli, small_spec(tmp_path, profile="cuda"))
    log = tmp_path / "worker.log"
    cli.start(log, "worker", "run", "--state-dir", str(tmp_path / "w"))

    wait_for("the worker to look at the job", lambda: log.exists() and f"job {job} left alone" in log.read_text())

    assert "cannot honour profile 'cuda'" in log.read_text()
    assert market.job_status(job) == JobStatus.OPEN
