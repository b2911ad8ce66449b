"""The explorer in a real headless Chromium, on a real devnet with the roles as real processes: a job
trained and paid, then a cheater caught by two verifiers at once (two disputes on one job, each
dissected round by round, one slash shared by both), watched page by page as a person would, with
no reload. Training progress comes over the devnet node's own pubsub. Screenshots go to tests/output/explorer/.

Needs Debian's chromium and chromium-driver (scripts/bootstrap.sh installs them as root).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, Cli

from crucible.chain.keys import dev_account
from crucible.chain.market import DisputeStatus, JobStatus
from crucible.devnet.processes import free_port
from crucible.protocol.spec import parse_document

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUT = REPO / "tests" / "output" / "explorer"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
LOOPBACK = ("http://127.0.0.1:", "data:", "blob:", "about:")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed: run scripts/bootstrap.sh as root")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1800",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, done: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def text(driver: Any, css: str, settle: float = 0.5) -> str:
    """The element's text; "" if it is missing or empty for ``settle`` seconds (a live page replaces
    its content when new data comes, and a read that lands in between sees nothing)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    until = time.monotonic() + settle
    while True:
        try:
            found = str(driver.find_element("css selector", css).text)
        except (NoSuchElementException, StaleElementReferenceException):
            found = ""
        if found or time.monotonic() > until:
            return found
        time.sleep(0.05)


def js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def page_marker(driver: Any) -> None:
    """Tag the document: if the page reloads, the tag is gone (asserts 'no reload')."""
    js(driver, "window.__noReload = true")


def still_same_page(driver: Any) -> bool:
    return bool(js(driver, "return window.__noReload === true"))


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser requested since the last call (Chrome's DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def post_job(cli: Cli, tmp: Path, *, steps: int, interval: int, seed: int, window: int) -> int:
    raw = parse_document((REPO / "examples" / "digits-mlp.yaml").read_bytes())
    raw["train"].update(total_steps=steps, checkpoint_interval=interval, seed=seed)
    spec = tmp / f"spec-{seed}.json"
    spec.write_text(json.dumps(raw))
    out = cli(
        *("requester", "post", str(spec), "--reward", "0.5", "--arity", "4"),
        *("--duration", "600", "--window", str(window), "--json"),
        *("--dataset", str(cli.home / "data" / "digits-train.safetensors")),
        *("--eval", str(cli.home / "data" / "digits-test.safetensors")),
    )
    return int(json.loads(out.stdout)["job_id"])


def test_a_person_watches_a_job_and_a_dispute_live(  # type: ignore[no-untyped-def]
    own_devnet, browser: Any, tmp_path: Path
) -> None:
    cli, deployment, market = own_devnet  # its own: the test pauses the chain
    OUT.mkdir(parents=True, exist_ok=True)
    oracle_port, port = free_port(), free_port()
    cli.start(tmp_path / "oracle.log", "oracle", "serve", "--port", str(oracle_port), "--state-dir", str(tmp_path))
    explorer = cli.start(
        tmp_path / "explorer.log",
        *("explorer", "--port", str(port), "--oracle-url", f"http://127.0.0.1:{oracle_port}"),
        *("--cache-dir", str(tmp_path / "cache"), "--log-level", "info"),
    )
    base = f"http://127.0.0.1:{port}"
    wait_for("the explorer to answer", lambda: _answers(f"{base}/api/market"), timeout=60)
    wait_for("the oracle to answer", lambda: _answers(f"http://127.0.0.1:{oracle_port}/health"), timeout=60)
    honest, cheater = dev_account("provider").address, dev_account("cheater").address
    b = browser

    # --- the market page, open from before anything happens
    b.get(base + "/")
    page_marker(b)
    wait_for("the market page to render", lambda: text(b, "#totals"))
    cli("worker", "stake", "1")
    wait_for("the stake to show without a reload", lambda: "1.0000 ETH" in text(b, "#total-stakes"))
    assert still_same_page(b)

    # --- an honest job, watched while it trains
    job = post_job(cli, tmp_path, steps=2000, interval=100, seed=1, window=15)
    wait_for("the job in the market's table", lambda: f"#{job}" in text(b, "#jobs"))
    b.get(f"{base}/jobs/{job}")
    page_marker(b)
    wait_for("the job page", lambda: "OPEN" in text(b, "#job-status"), timeout=30)
    worker = cli.start(tmp_path / "worker.log", "worker", "run", "--state-dir", str(tmp_path / "w"))
    wait_for("CLAIMED without a reload", lambda: "CLAIMED" in text(b, "#job-status"), timeout=120)
    first = wait_for("the claim countdown", lambda: text(b, "#claim-countdown"))
    wait_for("the countdown to move", lambda: text(b, "#claim-countdown") not in ("", first), timeout=5)
    wait_for("two progress points while training", lambda: _points(b) >= 2, timeout=120)
    seen_while_training = _points(b)
    assert market.job_status(job) == JobStatus.CLAIMED
    shown = wait_for("the status (not mid re-render)", lambda: text(b, "#job-status"), timeout=10)
    assert "CLAIMED" in shown
    wait_for("more points appear", lambda: _points(b) > seen_while_training, timeout=60)
    assert "loss" in text(b, "#progress-text")
    b.save_screenshot(str(OUT / "job-training.png"))
    wait_for("SUBMITTED", lambda: "SUBMITTED" in text(b, "#job-status"), timeout=300)
    wait_for("the trace from the manifest", lambda: "Qm" in text(b, "#trace"))
    assert text(b, "#final-model").startswith("Qm")
    assert _points(b) == 21, "a point per checkpoint, 0..2000 every 100"
    delays = [float(v) for v in js(b, "return Object.values(window.progressDelays)")]
    (OUT / "progress-delay.json").write_text(json.dumps({"seconds": delays}, indent=2))
    print(
        f"checkpoint -> point on the page: median {statistics.median(delays):.3f} s, "
        f"max {max(delays):.3f} s over {len(delays)} checkpoints"
    )
    # anvil mines only on transactions; a block now and then lets the chain's clock pass the window
    wait_for("FINALIZED after the window", lambda: mine(cli) and "FINALIZED" in text(b, "#job-status"), timeout=120)
    assert still_same_page(b)
    assert requested_urls(b) and all(u.startswith(LOOPBACK) for u in requested_urls(b) + _resources(b))

    # --- a cheater caught: the disputes watched on its job page (the honest worker gone, so it gets the job)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    cli("worker", "stake", "1", "--dev-account", "cheater")
    verifiers = ("verifier", "verifier-2")
    for name in verifiers:
        cli.start(
            tmp_path / f"{name}.log", "verifier", "run", "--dev-account", name, "--state-dir", str(tmp_path / name)
        )
    disputed = post_job(cli, tmp_path, steps=800, interval=100, seed=2, window=60)
    b.get(f"{base}/jobs/{disputed}")
    page_marker(b)
    wait_for("the second job's page", lambda: text(b, "#job-status"), timeout=30)
    cli.start(
        tmp_path / "cheater.log",
        *("worker", "run", "--dev-account", "cheater", "--behaviour", "poison-step:437"),
        *("--state-dir", str(tmp_path / "c")),
    )
    intervals: list[tuple[int, int]] = []

    def dissection_done() -> bool:
        shown = text(b, "#dispute-1 .interval")
        if shown and (not intervals or intervals[-1] != _interval(shown)):
            intervals.append(_interval(shown))
            if len(intervals) == 3:
                b.save_screenshot(str(OUT / "job-dispute.png"))
        return "CHALLENGER_WON" in text(b, "#dispute-1 h3")

    wait_for("the dispute to open and be decided", dissection_done, timeout=300)
    assert still_same_page(b)
    assert intervals[0] == (400, 500), "the challenge names the poisoned segment"
    assert all(n[1] - n[0] < o[1] - o[0] for o, n in zip(intervals, intervals[1:], strict=False)), (
        "the interval only narrows"
    )
    bars = js(b, "return [...document.querySelectorAll('#dissection-1 rect.iv')].map(r => [r.dataset.a, r.dataset.b])")
    widths = [int(hi) - int(lo) for lo, hi in bars]
    assert widths == [100, 25, 6, 1], "arity 4: [400,500] -> [425,450] -> [437,443] -> [437,438]"
    ticks = js(b, "return [...document.querySelectorAll('#dissection-1 line.mid')].map(l => Number(l.dataset.m))")
    assert ticks[:3] == [425, 450, 475], "the provider's three interior points of the first round"
    assert "437" in text(b, "#dispute-1"), "the oracle replays step 437"
    wait_for("the oracle's evidence", lambda: text(b, "#dispute-1 .replayed").startswith("0x"), timeout=60)
    wait_for("the verdict", lambda: "PROVIDER_WRONG" in text(b, "#dispute-1 .verdict"), timeout=60)
    wait_for("SLASHED", lambda: "SLASHED" in text(b, "#job-status"), timeout=60)
    opened = market.disputes_of(disputed)
    assert 1 <= len(opened) <= len(verifiers)
    # every dispute live at the slash shares the pool; the others are paid by settleDispute
    wait_for(
        "every dispute settled",
        lambda: all(market.dispute(d).status == DisputeStatus.CHALLENGER_WON for d in opened),
        timeout=120,
    )
    for d in opened:
        wait_for(f"dispute {d} won on the page", lambda d=d: "CHALLENGER_WON" in text(b, f"#dispute-{d} h3"))
    assert f"shared by {len(opened)}" in text(b, "#job-slash")
    b.save_screenshot(str(OUT / "job-disputed.png"))

    # --- provider, challenger and market pages agree with the chain
    b.get(f"{base}/providers/{cheater}")
    wait_for("the cheater's page", lambda: text(b, "#slashed") == "1")
    assert f"#{disputed}" in text(b, "#slashes")
    b.get(f"{base}/providers/{honest}")
    wait_for("the honest provider's page", lambda: text(b, "#finalized") == "1")
    assert text(b, "#earnings") == "0.5000 ETH" and text(b, "#slashed") == "0"
    b.save_screenshot(str(OUT / "provider.png"))
    bond = market.job(disputed).bond
    for name in verifiers:
        mine_disputes = [d for d in opened if market.dispute(d).challenger == dev_account(name).address]
        if not mine_disputes:  # a verifier that did not challenge (the browser would log the 404)
            assert httpx.get(f"{base}/challengers/{dev_account(name).address}").status_code == 404
            continue
        b.get(f"{base}/challengers/{dev_account(name).address}")
        wait_for(f"{name}'s page", lambda: text(b, "#won") == "1")
        assert text(b, "#lost") == "0" and text(b, "#bonds-posted") == _eth(bond)
    b.get(base + "/")
    wait_for("the totals", lambda: text(b, "#solvency"))
    owed = market.call("totalLiabilities")
    assert market.w3.eth.get_balance(market.address) == owed
    assert text(b, "#total-balance") == text(b, "#total-liabilities") == _eth(owed)
    assert "balance equals what it owes" in text(b, "#solvency")
    assert "SLASHED" in text(b, "#jobs-by-status") and "FINALIZED" in text(b, "#jobs-by-status")
    b.save_screenshot(str(OUT / "market.png"))

    assert not console_errors(b)

    # --- unknown things are a 404 page (the browser logs each 404 it was answered, and nothing else)
    missing = ("/jobs/999", "/providers/0x0000000000000000000000000000000000000001", "/disputes/77", "/nope")
    for path in missing:
        assert httpx.get(base + path).status_code == 404
        b.get(base + path)
        assert "Not found" in text(b, "h1")
    logged = [e["message"] for e in console_errors(b)]
    assert len(logged) == len(missing) and all("status of 404" in m for m in logged), logged

    # --- the chain paused: cached pages still served, and the page says so
    anvil = _anvil_pid(cli.home)
    b.get(f"{base}/jobs/{job}")
    page_marker(b)
    os.kill(anvil, signal.SIGSTOP)
    try:
        wait_for("the stale banner", lambda: "Chain unreachable" in text(b, "#banner"), timeout=60)
        assert "FINALIZED" in text(b, "#job-status"), "the cached job is still shown"
        b.save_screenshot(str(OUT / "job-chain-down.png"))
    finally:
        os.kill(anvil, signal.SIGCONT)
    wait_for("the banner to go", lambda: not b.find_element("css selector", "#banner").is_displayed(), timeout=60)
    assert still_same_page(b)

    # --- the oracle's API docs render offline
    for path, title in (("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")):
        b.get(f"http://127.0.0.1:{oracle_port}{path}")
        wait_for(f"{path} to render", lambda t=title: "Crucible oracle" in text(b, t), timeout=30)
    b.save_screenshot(str(OUT / "oracle-redoc.png"))

    urls = requested_urls(b) + _resources(b)
    assert all(u.startswith(LOOPBACK) for u in urls), [u for u in urls if not u.startswith(LOOPBACK)]
    assert not console_errors(b)

    assert explorer.poll() is None, "the explorer is still up"


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Errors the pages logged since the last call (the browser log is read once)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def mine(cli: Cli) -> bool:
    from crucible.chain.deployment import Deployment
    from crucible.devnet.nodes import rpc_call

    rpc_call(Deployment.load(cli.home / "deployment.json").rpc_url, "evm_mine")
    time.sleep(0.5)
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _points(driver: Any) -> int:
    return len(driver.find_elements("css selector", "#loss-chart circle.pt"))


def _resources(driver: Any) -> list[str]:
    return [str(u) for u in js(driver, "return performance.getEntriesByType('resource').map(e => e.name)")]


def _interval(shown: str) -> tuple[int, int]:
    a, b = shown.strip("[]").split(",")
    return int(a), int(b)


def _eth(wei: int) -> str:
    return f"{wei // 10**18}.{str(wei % 10**18).zfill(18)[:4]} ETH"


def _anvil_pid(home: Path) -> int:
    from crucible.devnet.manage import Devnet

    daemons = Devnet(home).status().daemons
    return int(daemons["anvil"][0].pid)
