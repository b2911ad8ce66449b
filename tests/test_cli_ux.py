"""Issue 15, item by item: the documented commands run as a user runs them (subprocesses on a real
devnet), checking exit codes, output, JSON and the daemons' logs a provider reads."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Cli

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.chain.units import format_eth, parse_eth
from crucible.devnet.processes import free_port
from crucible.protocol.spec import parse_document
from crucible.store.ipfs import IpfsStore

#: ``2026-11-29 22:30:01 worker 0x70F2…79C8 event``: the one daemon log format.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (worker|verifier|oracle) 0x[0-9a-fA-F]{4}…[0-9a-fA-F]{4} \S")


def small_spec(tmp_path: Path, *, steps: int = 40, interval: int = 10, seed: int = 1) -> Path:
    raw = parse_document((REPO / "examples" / "digits-mlp.yaml").read_bytes())
    raw["train"].update(total_steps=steps, checkpoint_interval=interval, seed=seed)
    path = tmp_path / f"spec-{seed}-{steps}.json"
    path.write_text(json.dumps(raw))
    return path


def post(cli: Cli, spec: Path, *extra: str, reward: str = "0.1", stake: str | None = None, window: int = 5) -> int:
    """Post ``spec``; the stake defaults to the reward (the devnet market's least: minStakeBps = 100 %)."""
    out = cli(
        "requester", "post", str(spec), "--reward", reward, "--stake", stake or reward, "--bond", "0.01",
        "--duration", "600", "--window", str(window),
        "--dataset", str(cli.home / "data" / "digits-train.safetensors"),
        "--eval", str(cli.home / "data" / "digits-test.safetensors"), "--json", *extra,
    )  # fmt: skip
    return int(json.loads(out.stdout)["job_id"])


def wait_for(what: str, done: Callable[[], bool], logs: list[Path], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
            raise AssertionError(f"timed out waiting for {what}\n{shown}")
        time.sleep(0.3)


def text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def daemon_lines(log: Path) -> list[str]:
    """The log lines a daemon wrote (not the final report the command prints on stdout)."""
    return [line for line in text(log).splitlines() if line and not line.startswith(("worker stopped", "verifier"))]


def scrape(port: int) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def scraped(port: int) -> str:
    """The exposition, or "" while the daemon is not serving yet."""
    try:
        return scrape(port)[1]
    except OSError:
        return ""


# ------------------------------------------------------------------------------- 1. skip reasons


def test_1_worker_says_once_why_it_leaves_each_job_alone(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "0.05eth")
    under_staked = post(cli, small_spec(tmp_path, seed=1), stake="0.1")
    underpaid = post(cli, small_spec(tmp_path, seed=2), stake="0.01", reward="1000gwei")
    log = tmp_path / "worker.log"
    cli.start(log, "worker", "run", "--price", "1000gwei", "--state-dir", str(tmp_path / "w"))

    wait_for("both reasons", lambda: f"job {underpaid} left alone" in text(log) and "needs 0.1 ETH" in text(log), [log])
    time.sleep(3)  # several more rounds of the daemon: neither reason may be repeated

    lines = daemon_lines(log)
    stake_lines = [ln for ln in lines if f"job {under_staked} not claimed yet" in ln]
    price_lines = [ln for ln in lines if f"job {underpaid} left alone" in ln]
    assert len(stake_lines) == 1 and len(price_lines) == 1, lines
    assert "needs 0.1 ETH of stake, this provider has 0.05 ETH free" in stake_lines[0]
    assert "pays 0.000000025 ETH per step, below this provider's price of 0.000001 ETH" in price_lines[0]
    assert all(LOG_LINE.match(ln) for ln in lines), lines
    assert market.job_status(under_staked) == market.job_status(underpaid) == JobStatus.OPEN


# ------------------------------------------------------------------------------- 2. a slashed provider


@pytest.mark.slow
def test_2_slashed_provider_is_told_each_move_and_the_amounts(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "1", "--dev-account", "cheater")
    oracle_port, worker_metrics, verifier_metrics = free_port(), free_port(), free_port()
    logs = [tmp_path / "cheater.log", tmp_path / "verifier.log", tmp_path / "oracle.log"]
    cli.start(logs[2], "oracle", "serve", "--port", str(oracle_port), "--state-dir", str(tmp_path / "oracle"))
    cli.start(logs[1], "verifier", "run", "--state-dir", str(tmp_path / "v"), "--metrics-port", str(verifier_metrics))
    cli.start(
        logs[0], "worker", "run", "--dev-account", "cheater", "--behaviour", "poison-step:23",
        "--state-dir", str(tmp_path / "c"), "--metrics-port", str(worker_metrics),
    )  # fmt: skip
    job = post(cli, small_spec(tmp_path, seed=22), window=30)

    wait_for("the slash", lambda: market.job_status(job) == JobStatus.SLASHED, logs)
    wait_for("the cheater's log of it", lambda: "SLASHED on job" in text(logs[0]), logs, timeout=30)

    lines = daemon_lines(logs[0])
    challenged = next(ln for ln in lines if "CHALLENGED" in ln)
    assert f"job {job}" in challenged and "stake at risk 0.1 ETH" in challenged and "bond 0.01 ETH" in challenged
    assert any("WARNING" in ln and "the challenger" in ln and "remain" in ln for ln in lines), lines
    assert any("narrowed to step 23" in ln for ln in lines), lines
    assert any("ERROR" in ln and "LOST" in ln for ln in lines), lines
    slashed = next(ln for ln in lines if "SLASHED" in ln)
    assert "ERROR SLASHED on job" in slashed and "lost 0.1 ETH of stake" in slashed, slashed
    for log in logs:
        assert all(LOG_LINE.match(ln) for ln in daemon_lines(log) if ln[:2] == "20"), text(log)
    assert "verifier verifier" not in text(logs[1])
    assert market.provider_info(dev_account("cheater").address).slashed == 1


# ------------------------------------------------------------------------------- 3. Ctrl-C


@pytest.mark.slow
def test_3_ctrl_c_during_training_exits_130_and_the_next_start_resumes(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "1")
    state = tmp_path / "worker"
    job = post(cli, small_spec(tmp_path, steps=3000, interval=100, seed=11))
    first_log = tmp_path / "first.log"
    first = cli.start(first_log, "worker", "run", "--state-dir", str(state))
    checkpoints = state / "jobs" / str(job)
    wait_for("training under way", lambda: len(list(checkpoints.glob("ckpt-*.safetensors"))) >= 3, [first_log])

    first.send_signal(signal.SIGINT)  # what Ctrl-C sends

    assert first.wait(timeout=60) == 130, text(first_log)
    log = text(first_log)
    assert "terminate called" not in log and "Traceback" not in log, log
    assert "stopping training; the next start resumes" in log
    assert "HTTP Request:" not in log, "an HTTP library's request log (progress publishes) is noise here"
    stopped_at = max(int(p.stem.split("-")[1]) for p in checkpoints.glob("ckpt-*.safetensors"))
    assert market.job_status(job) == JobStatus.CLAIMED

    second_log = tmp_path / "second.log"
    second = cli.start(second_log, "worker", "run", "--state-dir", str(state))
    wait_for("the resume", lambda: "resuming from local checkpoint at step" in text(second_log), [second_log])
    resumed_at = int(text(second_log).split("resuming from local checkpoint at step")[1].split()[0])
    assert resumed_at == stopped_at, "training goes on from the last checkpoint the stopped worker wrote"
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0, text(second_log)


# ------------------------------------------------------------------------------- 4. a dead RPC


def test_4_one_shot_commands_give_up_on_a_dead_rpc_within_5_s(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "deployment.json"
    Deployment(
        chain_id=31337, rpc_url=f"http://127.0.0.1:{port}", ipfs_api="http://127.0.0.1:9",
        market="0x" + "ab" * 20, deploy_block=0,
    ).save(path)  # fmt: skip
    env = {**Cli(tmp_path).env, "CRUCIBLE_DEPLOYMENT": str(path)}

    for args in (["requester", "status", "1"], ["worker", "status"], ["requester", "jobs", "--all", "--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=60
        )
        shown = out.stdout if "--json" in args else out.stderr
        assert out.returncode == 1, out
        assert f"cannot reach the chain RPC at http://127.0.0.1:{port}" in shown, out
        waited = float(re.search(r"got no answer in ([0-9.]+)s", shown).group(1))  # type: ignore[union-attr]
        assert waited <= 5.5, f"a one-shot command waited {waited}s"
        assert "retry" not in out.stderr, "no retry warnings, only the one clear message"
        assert "Traceback" not in out.stderr


def test_4_oracle_health_answers_503_within_5_s_when_the_chain_is_down(own_devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from crucible.devnet.manage import Devnet

    cli, _, _ = own_devnet
    port = free_port()
    log = tmp_path / "oracle.log"
    cli.start(log, "oracle", "serve", "--port", str(port), "--state-dir", str(tmp_path / "oracle"))
    wait_for(
        "the oracle up", lambda: "Uvicorn running" in text(log) or "Application startup complete" in text(log), [log]
    )
    anvil, _ = Devnet(cli.home).status().daemons["anvil"]
    anvil.stop()  # the chain dies under a running oracle

    started = time.monotonic()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60)
        raise AssertionError("a dead chain must make /health answer 503")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
        body = json.loads(exc.read())
    took = time.monotonic() - started
    (problem,) = [p for p in body["problems"] if p.startswith("chain unreachable")]
    waited = float(re.search(r"got no answer in ([0-9.]+)s", problem).group(1))  # type: ignore[union-attr]
    assert waited <= 5.5 and took < 30, (waited, took, problem)
    assert body["status"] == "degraded" and body["chain_reachable"] is False


# ------------------------------------------------------------------------------- 5. countdowns


def test_5_countdowns_run_on_the_wall_clock_and_an_idle_chain_is_named(own_devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, deployment, market = own_devnet  # its own: a chain whose clock no other test moved ahead of the wall
    job = post(cli, small_spec(tmp_path))
    provider = Market(
        connect(deployment.rpc_url), deployment.market, Signer(connect(deployment.rpc_url), dev_account("provider"))
    )
    provider.deposit_stake(parse_eth("1"))
    provider.claim_job(job)  # the last block the chain mines in this test
    cli.env["CRUCIBLE_BLOCK_STALL_WARNING"] = "1"

    first = json.loads(cli("requester", "status", str(job), "--json").stdout)
    time.sleep(2.5)
    second = json.loads(cli("requester", "status", str(job), "--json").stdout)

    assert first["status"] == second["status"] == "claimed"
    assert first["deadline"] == second["deadline"] == market.job(job).deadline
    assert second["seconds_left"] <= first["seconds_left"] - 2, (first, second)
    assert second["chain_stalled"] is True and second["last_block_age_s"] >= 2
    human = cli("requester", "status", str(job))
    assert "the chain has produced no block for" in human.stderr


# ------------------------------------------------------------------------------- 6. fetch, export


@pytest.mark.slow
def test_6_fetch_writes_the_bytes_the_cid_names_and_export_the_parameters(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, deployment, market = devnet
    cli("worker", "stake", "1")
    job = post(cli, small_spec(tmp_path), window=600)
    log = tmp_path / "worker.log"
    cli.start(log, "worker", "run", "--state-dir", str(tmp_path / "w"))
    wait_for("the result", lambda: market.job_status(job) == JobStatus.SUBMITTED, [log])

    fetched = json.loads(cli("requester", "fetch", str(job), str(tmp_path / "model.safetensors"), "--json").stdout)
    exported = json.loads(cli("requester", "export", str(job), str(tmp_path / "params.safetensors"), "--json").stdout)

    committed = json.loads(cli("requester", "status", str(job), "--json").stdout)["final_model_cid"]
    store = IpfsStore(deployment.ipfs_api)
    assert fetched["cid"] == committed
    assert store.cid_of((tmp_path / "model.safetensors").read_bytes()) == committed, "the file is the committed bytes"
    assert (tmp_path / "params.safetensors").read_bytes() != (tmp_path / "model.safetensors").read_bytes()
    assert exported["params_hash"] == fetched["params_hash"]
    assert fetched["metric"] == "accuracy" and 0 <= fetched["value"] <= 1


# ------------------------------------------------------------------------------- 7. errors


@pytest.mark.slow
def test_7_errors_say_what_was_wrong(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    zero = cli("requester", "post", str(small_spec(tmp_path)), "--reward", "0",
               "--dataset", str(cli.home / "data" / "digits-train.safetensors"), check=False)  # fmt: skip
    assert zero.returncode == 1 and "--reward must be more than 0" in zero.stderr
    assert "uploading" not in zero.stderr and market.job_count() == 0, "refused before any upload"

    job = post(cli, small_spec(tmp_path))
    cli("requester", "cancel", str(job))
    again = cli("requester", "cancel", str(job), "--json", check=False)
    assert again.returncode == 1
    error = json.loads(again.stdout)["error"]
    assert error["name"] == "JobNotInStatus" and re.search(r"status=(OPEN|CANCELLED)\b", error["message"]), error
    assert error["args"][1] in ("OPEN", "CANCELLED"), error
    reclaim = cli("requester", "reclaim", str(job), check=False)
    assert reclaim.returncode == 1 and "is cancelled: nothing to reclaim" in reclaim.stderr

    bogus = cli("data", "digits", str(tmp_path / "d"), "--layout", "bogus", check=False)
    assert bogus.returncode == 2 and "bogus" in bogus.stderr and "Traceback" not in bogus.stderr
    made = json.loads(cli("data", "text", str(tmp_path / "text"), "--json").stdout)
    assert Path(made["train"]["path"]).exists() and made["vocab_size"] == "93"  # examples/text-gpt.yaml's vocab

    cli.env["CRUCIBLE_PRIVATE_KEY"] = "not-a-key"  # reading needs no key: a broken one is never loaded
    listed = json.loads(cli("requester", "jobs", "--all", "--json").stdout)
    assert [j["job_id"] for j in listed] == [job]


# ------------------------------------------------------------------------------- 8. output


@pytest.mark.slow
def test_8_json_on_writes_amount_units_and_version(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, deployment, market = devnet
    version = cli("--version")
    assert re.fullmatch(r"crucible \d+\.\d+\.\d+\n", version.stdout)

    staked = json.loads(cli("worker", "stake", "0.5eth", "--json").stdout)
    assert staked["free_stake_wei"] == 5 * 10**17 and staked["deposited_wei"] == 5 * 10**17
    (tx,) = staked["transactions"]
    receipt = connect(deployment.rpc_url).eth.get_transaction_receipt(tx["tx_hash"])
    assert receipt["gasUsed"] == tx["gas_used"] > 0
    unstaked = json.loads(cli("worker", "unstake", "100gwei", "--json").stdout)
    assert unstaked["free_stake_wei"] == 5 * 10**17 - 10**11
    human = cli("worker", "status")
    assert f"{format_eth(5 * 10**17 - 10**11)} ETH" in human.stdout

    job = post(cli, small_spec(tmp_path))
    cancelled = json.loads(cli("requester", "cancel", str(job), "--json").stdout)
    assert cancelled["status"] == "cancelled" and cancelled["withdrawn_wei"] == parse_eth("0.1")
    assert len(cancelled["transactions"]) == 2, "cancelJob and withdrawCredit"
    withdrawn = json.loads(cli("requester", "withdraw", "--json").stdout)
    assert withdrawn == {"withdrawn_wei": 0, "transactions": []}
    watched = cli("requester", "watch", str(job), "--json").stdout.splitlines()
    assert json.loads(watched[-1])["status"] == "cancelled"
    bad = cli("worker", "stake", "1 banana", "--json", check=False)
    assert bad.returncode == 1 and "not an amount" in json.loads(bad.stdout)["error"]["message"]
    assert market.w3.eth.get_balance(market.address) == parse_eth("0.5") - 10**11, "only the stake remains"


# ------------------------------------------------------------------------------- 9. metrics


@pytest.mark.slow
def test_9_metrics_one_format_exact_earnings_configurable_host(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "1")
    w_port, v_port = free_port(), free_port()
    logs = [tmp_path / "worker.log", tmp_path / "verifier.log"]
    cli.env["CRUCIBLE_METRICS_HOST"] = "127.0.0.1"
    # --keep everything: the verifier's audit may outlast the 5 s window on a loaded machine, and a
    # provider that drops its trace once the job is final would then leave nothing to check.
    cli.start(logs[0], "worker", "run", "--state-dir", str(tmp_path / "w"), "--metrics-port", str(w_port),
              "--keep", "everything")  # fmt: skip
    cli.start(logs[1], "verifier", "run", "--state-dir", str(tmp_path / "v"), "--metrics-port", str(v_port),
              "--metrics-host", "127.0.0.1")  # fmt: skip
    job = post(cli, small_spec(tmp_path), reward="0.123456789012345678", window=5)
    wait_for(
        "paid",
        lambda: market.job_status(job) == JobStatus.FINALIZED and market.credits(dev_account("provider").address) == 0,
        logs,
    )
    wait_for("the withdrawal in the metrics", lambda: "earnings_wei_total 1" in scraped(w_port), logs, timeout=30)

    wait_for("the verifier's audit in its metrics", lambda: 'outcome="checked"' in scraped(v_port), logs, timeout=120)

    w_type, worker = scrape(w_port)
    v_type, verifier = scrape(v_port)
    assert w_type == v_type and w_type.startswith("text/plain; version=")
    assert "crucible_worker_earnings_wei_total 123456789012345678\n" in worker, "exact wei, not 1.2345678901234568e+17"
    assert 'crucible_verifier_audits_total{outcome="checked"} 1.0' in verifier
    assert "crucible_verifier_earnings_wei_total 0\n" in verifier
    assert "crucible_worker_steps_total 40.0" in worker


def test_9_steps_per_second_counts_only_the_steps_since_a_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from crucible import logs

    clock = iter([100.0, 110.0, 110.0])
    monkeypatch.setattr(logs.time, "monotonic", lambda: next(clock))
    progress = logs.Progress(logging.getLogger("t"), job_id=1, total=3000, first_step=2000)
    assert progress.rate(2100) == pytest.approx(10.0), "100 steps in 10 s, not 2100 in 10 s"
    assert "ETA 0:01:30" in progress.line(2100, 0.5)


# ------------------------------------------------------------------------------- 10. README


def test_10_readme_documents_every_command_and_setting() -> None:
    from app.docs import commands, variables

    out = subprocess.run([sys.executable, "-m", "app.docs", "--check"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout
    readme = (REPO / "README.md").read_text()
    for usage, _ in commands():
        assert f"`{usage}`" in readme, usage
    for named in ("crucible worker unstake", "crucible worker status", "crucible keys address", "crucible data text"):
        assert named in readme, named
    assert "crucible --version" in readme
    for env, _, doc in variables():
        assert f"`{env}`" in readme and doc, env
