"""Faults injected for real: roles run as `crucible` processes on a real devnet and are killed with
SIGKILL by PID; the IPFS node and anvil are stopped and started again. After each fault the test
reads the chain: the job ended as it should, nobody honest was slashed, nothing was paid twice, and
the market holds exactly what it owes (balance == totalLiabilities) with the credits withdrawn.

Four acts, one devnet each (~6 s to start):
- an honest worker killed between submit and finalize;
- one dispute with a cheater, a verifier and two oracles (quorum 1) on a market deployed for the
  test: oracle 1 killed when the dispute opens, the cheater killed mid-bisection, the verifier killed
  while it holds the next answer; each restarted; oracle 2 decides; then oracle 2 is killed after
  voting and restarted (no second vote, its evidence kept);
- the IPFS node stopped: posting fails cleanly, a running worker stays up, logs why it cannot look
  at a job, and takes the job once the node is back;
- anvil stopped and started again from its persisted state (`devnet up --persist`).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Cli
from test_processes import events, post, small_spec

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import DisputeStatus, JobStatus, Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.chain.units import parse_eth
from crucible.devnet.deploy import DEVNET_PARAMS, deploy_market
from crucible.devnet.manage import Devnet
from crucible.devnet.nodes import RunningNode, rpc_call, start_ipfs
from crucible.devnet.processes import free_port
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ETH = 10**18
REWARD, STAKE, BOND = parse_eth("0.5"), parse_eth("0.5"), parse_eth("0.01")
ORACLES = ("oracle", "oracle-2", "requester-2")  # dev keys of the three oracles of the dispute test


# ---------------------------------------------------------------------------------------------- helpers


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(what: str, done: Callable[[], bool], logs: list[Path], timeout: float = 120, every: float = 0.1) -> None:
    """Poll ``done``; on timeout fail with the tail of each role's log."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {p.name}\n{tail(p)}" for p in logs)
            raise AssertionError(f"timed out waiting for {what}\n{shown}")
        time.sleep(every)


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL by PID, as an OOM killer or a power cut would: no handler runs, nothing is flushed."""
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def assert_solvent(market: Market) -> int:
    balance = market.w3.eth.get_balance(market.address)
    assert balance == market.call("totalLiabilities"), "market balance must equal what it owes"
    return int(balance)


def withdrawn(market: Market, who: str) -> int:
    return sum(int(e["amount"]) for e in events(market, "CreditWithdrawn") if e["account"] == dev_account(who).address)


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


# ---------------------------------------------------------------------------------------------- 1. worker


def test_worker_killed_between_submit_and_finalize_is_paid_after_restart(devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, _, market = devnet
    cli("worker", "stake", "1")
    job = post(cli, small_spec(tmp_path, seed=21), window=10)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = cli.start(logs[0], "worker", "run", "--state-dir", str(tmp_path / "w"))
    wait_until("the result submitted", lambda: market.job_status(job) == JobStatus.SUBMITTED, logs)

    sigkill(first)
    assert market.job_status(job) in (JobStatus.SUBMITTED, JobStatus.ACCEPTED)
    assert market.credits(dev_account("provider").address) == 0, "not paid before the window ends"
    wait_until(
        "the window to pass while the worker is down",
        lambda: market.job_status(job) == JobStatus.ACCEPTED,
        logs,
        timeout=30,
    )
    cli.start(logs[1], "worker", "run", "--state-dir", str(tmp_path / "w"))
    wait_until(
        "finalized and withdrawn",
        lambda: market.job_status(job) == JobStatus.FINALIZED and withdrawn(market, "provider") > 0,
        logs,
    )

    assert f"job {job} finalized" in logs[1].read_text()
    assert [e["jobId"] for e in events(market, "ResultSubmitted")] == [job], "the restarted worker did not resubmit"
    assert [e["jobId"] for e in events(market, "JobFinalized")] == [job], "finalized exactly once"
    assert withdrawn(market, "provider") == REWARD, "paid the reward once"
    info = market.provider_info(dev_account("provider").address)
    assert (info.free, info.locked, info.finalized, info.slashed) == (ETH, 0, 1, 0), info
    assert assert_solvent(market) == ETH, "only the provider's stake remains"


# ---------------------------------------------------------------------------------------------- 2-4. dispute


@pytest.fixture
def two_oracle_market(devnet, tmp_path: Path) -> Iterator[tuple[Cli, Market]]:  # type: ignore[no-untyped-def]
    """A market with three oracles and quorum 2 (a strict majority) on the devnet's chain, and a Cli
    bound to it. The third oracle signs with the `requester-2` dev key."""
    base, deployment, _ = devnet
    w3 = connect(deployment.rpc_url)
    address, receipt = deploy_market(
        Signer(w3, dev_account("deployer")),
        DEVNET_PARAMS,
        [dev_account(name).address for name in ORACLES],
        quorum=2,
    )
    home = tmp_path / "two-oracles"
    home.mkdir()
    Deployment(
        chain_id=deployment.chain_id,
        rpc_url=deployment.rpc_url,
        ipfs_api=deployment.ipfs_api,
        market=address,
        deploy_block=int(receipt["blockNumber"]),
        accounts=deployment.accounts,
    ).save(home / "deployment.json")
    (home / "data").symlink_to(base.home / "data")
    cli = Cli(home)
    try:
        yield cli, Market(w3, address)
    finally:
        cli.stop_all()


class Oracle:
    """One `crucible oracle serve` process, restartable on the same port and state folder."""

    def __init__(self, cli: Cli, name: str, folder: Path) -> None:
        self.cli, self.name, self.folder, self.port = cli, name, folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.run{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        self.proc = self.cli.start(
            self.log,
            "oracle",
            "serve",
            "--port",
            str(self.port),
            "--dev-account",
            self.name,
            "--state-dir",
            str(self.folder / self.name),
            "--poll-interval",
            "0.2",
        )
        wait_until(f"{self.name} answering", self._healthy, [self.log], timeout=60)

    def _healthy(self) -> bool:
        try:
            return bool(self.get("/health").json()["watching"])
        except httpx.HTTPError:
            assert self.proc is not None and self.proc.poll() is None, tail(self.log)
            return False

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)


def test_cheater_verifier_and_an_oracle_killed_mid_dispute_the_cheater_still_loses(  # type: ignore[no-untyped-def]
    two_oracle_market, tmp_path: Path
) -> None:
    cli, market = two_oracle_market
    cheater, verifier, requester = (dev_account(n).address for n in ("cheater", "verifier", "requester"))
    cli("worker", "stake", "1", "--dev-account", "cheater")
    oracles = [Oracle(cli, name, tmp_path) for name in ORACLES]
    for oracle in oracles:
        oracle.start()
    v_logs = [tmp_path / "verifier-1.log", tmp_path / "verifier-2.log"]
    c_logs = [tmp_path / "cheater-1.log", tmp_path / "cheater-2.log"]
    logs = [*v_logs, *c_logs, oracles[1].log, oracles[2].log]

    def start_verifier(i: int) -> subprocess.Popen[bytes]:
        return cli.start(v_logs[i], "verifier", "run", "--state-dir", str(tmp_path / "verifier"))

    def start_cheater(i: int) -> subprocess.Popen[bytes]:
        # Step 23 is forged: segment 2 = [20, 30] is disputed, four bisection rounds (arity 2) to [23, 24].
        return cli.start(
            c_logs[i],
            "worker",
            "run",
            "--dev-account",
            "cheater",
            "--behaviour",
            "poison-step:23",
            "--state-dir",
            str(tmp_path / "cheater"),
        )

    v_proc, c_proc = start_verifier(0), start_cheater(0)
    job = post(cli, small_spec(tmp_path, seed=22), window=30, arity=2)
    wait_until("the verifier's challenge", lambda: market.job_status(job) == JobStatus.DISPUTED, logs)
    (dispute_id,) = market.disputes_of(job)
    # Fault 1: oracle 1 dies while the dispute is still bisecting.
    sigkill(oracles[0].proc)  # type: ignore[arg-type]

    def cheaters_turn_after_a_round() -> bool:
        d = market.dispute(dispute_id)
        assert d.status == DisputeStatus.DISSECTING, f"the dispute ended before the faults were injected: {d}"
        return not d.awaiting_response and 1 < d.b - d.a < 10  # [20, 30] narrowed once, the cheater to move

    wait_until("one bisection round played", cheaters_turn_after_a_round, logs, timeout=30, every=0.02)
    # Fault 2: the cheater dies mid-bisection, owing its next move. Fault 3: the verifier dies too, so that
    # when the restarted cheater moves, the answer is owed by a verifier that is not running.
    sigkill(c_proc)
    sigkill(v_proc)
    before = market.dispute(dispute_id)
    assert before.status == DisputeStatus.DISSECTING and before.b - before.a > 1, before
    assert events(market, "DisputeDissected") and events(market, "DisputeNarrowed"), "killed mid-dissection"

    start_cheater(1)
    wait_until(
        "the restarted cheater's move (or its move clock running out)",
        lambda: market.dispute(dispute_id).awaiting_response or time.time() > market.dispute(dispute_id).deadline,
        logs,
        timeout=40,
    )
    start_verifier(1)
    wait_until(
        "the dispute decided",
        lambda: not market.dispute(dispute_id).live,
        logs,
        timeout=120,
    )
    wait_until("the verifier's winnings withdrawn", lambda: withdrawn(market, "verifier") > 0, logs, timeout=30)

    d = market.dispute(dispute_id)
    assert d.status == DisputeStatus.CHALLENGER_WON, d
    assert market.job_status(job) == JobStatus.SLASHED
    timed_out = [e for e in events(market, "DisputeTimedOut") if e["disputeId"] == dispute_id]
    # The restarted verifier missed no answer it owed: if anyone lost on the clock, it was the cheater.
    assert all(e["loser"] == cheater for e in timed_out), timed_out
    if not timed_out:  # the cheater came back and defended its lie to the forged step; oracles 2 and 3 replayed it
        assert "dissected [" in c_logs[1].read_text(), tail(c_logs[1])
        assert (d.a, d.b) == (23, 24), d
        votes = [e for e in events(market, "VerdictSubmitted") if e["disputeId"] == dispute_id]
        assert sorted(e["oracle"] for e in votes) == sorted(dev_account(n).address for n in ORACLES[1:]), votes
    assert len([e for e in events(market, "DisputeResolved") if e["disputeId"] == dispute_id]) == 1

    # Money: cheater slashed once, verifier got bond + its share, requester escrow + its share, no one twice;
    # the oracle fee comes out of the stake only when a verdict decided (docs/dispute-game.md §2).
    fee = 0 if timed_out else DEVNET_PARAMS.oracle_fee
    (slash,) = events(market, "ProviderSlashed")
    assert (slash["amount"], slash["oracleFee"], slash["winners"]) == (STAKE, fee, 1), slash
    assert withdrawn(market, "verifier") == BOND + DEVNET_PARAMS.challenger_share_bps * (STAKE - fee) // 10_000
    out = cli("requester", "withdraw")
    no_traceback(out.stdout, out.stderr)
    assert withdrawn(market, "requester") == REWARD + DEVNET_PARAMS.requester_share_bps * (STAKE - fee) // 10_000
    info = market.provider_info(cheater)
    assert (info.free, info.locked, info.slashed, info.finalized) == (ETH - STAKE, 0, 1, 0), info
    assert market.credits(verifier) == market.credits(requester) == market.credits(cheater) == 0
    unpaid_fees = sum(market.credits(dev_account(o).address) for o in ORACLES)
    assert assert_solvent(market) == ETH - STAKE + unpaid_fees, "only the cheater's unlocked stake remains"

    # Fault 4: the oracle that voted is killed and restarted: it keeps its evidence and does not vote again;
    # the oracle killed before the verdict comes back and does not vote late.
    if not timed_out:
        sigkill(oracles[1].proc)  # type: ignore[arg-type]
        oracles[1].start()
        oracles[0].start()
        time.sleep(2)  # several watcher rounds
        listing = oracles[1].get("/disputes").json()
        assert [(e["dispute_id"], e["verdict"], e["outcome"], e["dispute_outcome"]) for e in listing] == [
            (dispute_id, "PROVIDER_WRONG", "posted", "CHALLENGER_WON")
        ], listing
        assert "crucible_oracle_verdicts_posted_total 0.0" in oracles[1].get("/metrics").text
        missing = oracles[0].get(f"/disputes/{dispute_id}")
        assert missing.status_code == 404 and "has not judged it" in missing.json()["detail"]
        assert oracles[0].get("/health").json()["status"] == "ok"
        votes = [e for e in events(market, "VerdictSubmitted") if e["disputeId"] == dispute_id]
        assert len(votes) == 2, "no further vote after the restarts"
    assert assert_solvent(market) == ETH - STAKE + sum(market.credits(dev_account(o).address) for o in ORACLES)


# ---------------------------------------------------------------------------------------------- 5. IPFS


def test_ipfs_down_post_fails_cleanly_worker_waits_and_recovers(own_devnet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from requester.client import Offer, Requester

    cli, deployment, market = own_devnet
    w3 = market.w3
    cli("worker", "stake", "1")
    spec_file = small_spec(tmp_path, seed=23)
    # A job whose spec was uploaded while the node was up (posted on chain later, while it is down).
    req = Requester(
        Market(w3, deployment.market, Signer(w3, dev_account("requester"))),
        ArtifactStore(IpfsStore(deployment.ipfs_api)),
    )
    data = cli.home / "data"
    spec, spec_cid = req.prepare_spec(
        spec_file, dataset=data / "digits-train.safetensors", eval_data=data / "digits-test.safetensors"
    )
    log = tmp_path / "worker.log"
    worker = cli.start(log, "worker", "run", "--state-dir", str(tmp_path / "w"))
    wait_until("the worker watching", lambda: "watching market" in log.read_text(), [log], timeout=60)

    ipfs_daemon = Devnet(cli.home)._recorded()["ipfs"]  # noqa: SLF001
    api_port = int(deployment.ipfs_api.rsplit(":", 1)[1])
    ipfs_daemon.stop()
    restarted: RunningNode | None = None
    try:
        balance = w3.eth.get_balance(dev_account("requester").address)
        out = cli(
            "requester",
            "post",
            str(spec_file),
            "--reward",
            "0.5",
            "--dataset",
            str(data / "digits-train.safetensors"),
            "--eval",
            str(data / "digits-test.safetensors"),
            check=False,
        )
        assert out.returncode == 1, out
        no_traceback(out.stdout, out.stderr)
        assert f"cannot reach the IPFS node at {deployment.ipfs_api}" in out.stderr and "is it running?" in out.stderr
        assert market.job_count() == 0, "nothing posted"
        assert w3.eth.get_balance(dev_account("requester").address) == balance, "no escrow taken, no gas spent"
        assert w3.eth.get_balance(deployment.market) == ETH, "only the provider's stake"

        job = req.post(spec, spec_cid, Offer(reward=REWARD, stake=STAKE, bond=BOND, duration=120, challenge_window=5))
        wait_until(
            "the worker to report the unreachable node",
            lambda: "cannot reach the IPFS node" in log.read_text(),
            [log],
            timeout=30,
        )
        time.sleep(3)
        assert worker.poll() is None, "the worker keeps running while IPFS is down"
        text = log.read_text()
        no_traceback(text)
        assert market.job_status(job) == JobStatus.OPEN, "not claimed while its spec cannot be read"

        restarted = start_ipfs(cli.home, api_port)  # same repo, same port: the node comes back
        wait_until(
            "the job finalized once the node is back",
            lambda: market.job_status(job) == JobStatus.FINALIZED and withdrawn(market, "provider") > 0,
            [log],
            timeout=120,
        )
        assert worker.poll() is None
        no_traceback(log.read_text())
        assert withdrawn(market, "provider") == REWARD
        assert assert_solvent(market) == ETH
    finally:
        cli.stop_all()
        if restarted is not None:
            restarted.daemon.stop()


# ---------------------------------------------------------------------------------------------- 6. anvil


def test_anvil_restarted_from_persisted_state_keeps_jobs_and_stakes(tmp_path: Path) -> None:
    home = tmp_path / "persisted"
    cli = Cli(home)
    cli("devnet", "up", "--home", str(home), "--persist")
    try:
        cli("data", "digits", str(home / "data"))
        deployment = Deployment.load(home / "deployment.json")
        market = Market(connect(deployment.rpc_url), deployment.market)
        cli("worker", "stake", "1", "--dev-account", "provider-2")
        job = post(cli, small_spec(tmp_path, seed=24), duration=300)
        log = tmp_path / "vanish.log"
        vanish = cli.start(
            log,
            "worker",
            "run",
            "--dev-account",
            "provider-2",
            "--behaviour",
            "claim-and-vanish",
            "--state-dir",
            str(tmp_path / "w"),
        )
        wait_until("claimed", lambda: market.job_status(job) == JobStatus.CLAIMED, [log], timeout=60)
        sigkill(vanish)
        provider = dev_account("provider-2").address
        before = (market.job(job), market.provider_info(provider), assert_solvent(market), market.w3.eth.block_number)

        down = cli("devnet", "down", "--home", str(home))
        assert "anvil" in down.stdout
        with pytest.raises(OSError):  # the chain is gone (asked once, without the roles' retries)
            rpc_call(deployment.rpc_url, "eth_blockNumber", timeout=1)
        cli("devnet", "up", "--home", str(home), "--persist")

        again = Deployment.load(home / "deployment.json")
        assert again.market == deployment.market, "the persisted chain still holds the market: no redeploy"
        market = Market(connect(again.rpc_url), again.market)
        assert market.w3.eth.block_number >= before[3]
        assert market.job(job) == before[0], "the claimed job survived"
        assert market.job_status(job) == JobStatus.CLAIMED
        assert market.provider_info(provider) == before[1], "stakes survived"
        assert assert_solvent(market) == before[2]
        assert [e["jobId"] for e in events(market, "JobClaimed")] == [job], "the event log survived too"

        log2 = tmp_path / "worker.log"
        cli.start(log2, "worker", "run", "--dev-account", "provider-2", "--state-dir", str(tmp_path / "w"))
        wait_until(
            "the restarted worker finishing the job",
            lambda: market.job_status(job) == JobStatus.FINALIZED and withdrawn(market, "provider-2") > 0,
            [log2],
            timeout=120,
        )
        assert withdrawn(market, "provider-2") == REWARD
        assert len(events(market, "JobClaimed")) == 1, "no second claim"
        assert assert_solvent(market) == ETH
    finally:
        cli.stop_all()
        Devnet(home).down()
