"""The chain as a deployment sees it: block times, confirmations, reorgs, restarts that resume from
a saved cursor, workers racing for one job, and a deployment to another chain with keystore accounts.
Every test starts its own anvil (reorgs and block times are not for the shared session chain)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Cli
from eth_account import Account

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.chain.units import parse_eth
from crucible.devnet.deploy import DEVNET_PARAMS, deploy_market
from crucible.devnet.nodes import RunningNode, rpc_call, start_anvil
from crucible.devnet.tools import tools_dir
from crucible.settings import write_keystore
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from requester.client import Offer, Requester
from verifier.daemon import Verifier, VerifierConfig
from worker.provider import Claim, Worker, WorkerConfig

pytestmark = pytest.mark.integration

# Stake and bond: the least the market accepts (minStakeFor(reward), minBondFor(k, arity)).
TERMS = Offer(reward=parse_eth("0.5"), duration=600, challenge_window=5)


@pytest.fixture
def own_anvil(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningNode]:
    """A fresh anvil for this test; ``@pytest.mark.parametrize("own_anvil", [{...}], indirect=True)``
    passes start_anvil's options (block_time, chain_id)."""
    node = start_anvil(tmp_path / "anvil", **getattr(request, "param", {}))
    try:
        yield node
    finally:
        node.daemon.stop()


def _market(url: str, address: str, name: str, *, deploy_block: int = 0, confirmations: int = 0) -> Market:
    w3 = connect(url)
    return Market(w3, address, Signer(w3, dev_account(name)), deploy_block=deploy_block, confirmations=confirmations)


def _deploy(url: str) -> tuple[str, int]:
    address, receipt = deploy_market(
        Signer(connect(url), dev_account("deployer")), DEVNET_PARAMS, [dev_account("oracle").address], quorum=1
    )
    return address, int(receipt["blockNumber"])


@pytest.fixture(scope="module")
def job_spec(ipfs_store: IpfsStore, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    from crucible.protocol.data import build_digits, dataset_bytes

    out = tmp_path_factory.mktemp("digits")
    train, test = build_digits()
    (out / "train.safetensors").write_bytes(dataset_bytes(train))
    (out / "test.safetensors").write_bytes(dataset_bytes(test))
    requester = Requester(None, ArtifactStore(ipfs_store))  # type: ignore[arg-type]  # prepare_spec uses the store only
    return requester.prepare_spec(
        REPO / "examples" / "digits-mlp.yaml", dataset=out / "train.safetensors", eval_data=out / "test.safetensors"
    )


def until(condition: Callable[[], bool], step: Callable[[], None], what: str, seconds: float = 300) -> None:
    """Run ``step`` until ``condition`` holds; a wall-clock bound, since training speed varies with load."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        step()
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def _events(market: Market, name: str, job_id: int) -> list[Any]:
    event = getattr(market.contract.events, name)()
    return [e for e in event.get_logs(from_block=0) if int(e["args"]["jobId"]) == job_id]


class RequestLog:
    """Every JSON-RPC request a Web3 sent to its node, with its params (recorded where the provider
    posts it: what the node sees)."""

    def __init__(self, market: Market) -> None:
        self.requests: list[tuple[str, Any]] = []
        provider = market.w3.provider
        inner = provider._make_request  # type: ignore[attr-defined]

        def recorded(method: Any, request_data: bytes) -> Any:
            self.requests.append((str(method), json.loads(request_data)["params"]))
            return inner(method, request_data)

        provider._make_request = recorded  # type: ignore[attr-defined]

    def of(self, method: str) -> list[Any]:
        return [p for m, p in self.requests if m == method]


# ---------------------------------------------------------------------------------------------- races


@pytest.mark.parametrize("own_anvil", [{"block_time": 2}], indirect=True)
def test_two_workers_racing_for_one_job_send_one_claim(
    own_anvil: RunningNode, ipfs_store: IpfsStore, job_spec: tuple[Any, str], tmp_path: Path, caplog: Any
) -> None:
    """Both workers see the job in the same block and decide to claim it; the faster one's claim waits
    in the pool for the next block when the other sends. The loser's simulation against the pending
    state (which holds the winner's claim) reverts, so it sends nothing, and says why once at WARNING."""
    url = own_anvil.url
    address, deploy_block = _deploy(url)
    store = ArtifactStore(ipfs_store)
    requester = Requester(_market(url, address, "requester"), store)
    workers = []
    for i, name in enumerate(("provider", "provider-2")):
        market = _market(url, address, name, deploy_block=deploy_block)
        market.deposit_stake(parse_eth("1"))
        workers.append(Worker(market, store, WorkerConfig(state_dir=tmp_path / f"w{i}"), start_block=deploy_block))
    winner, loser = workers
    nonces_before = [w.market.w3.eth.get_transaction_count(w.address) for w in workers]
    spec, spec_cid = job_spec
    job_id = requester.post(spec, spec_cid, TERMS)
    for w in workers:  # both learn of the job before either acts
        until(lambda w=w: job_id in w.open, lambda w=w: [w.on_event(e) for e in w.events.poll()], "job seen")  # type: ignore[misc]

    first = threading.Thread(target=winner.act)
    first.start()
    until(
        lambda: winner.market.w3.eth.get_transaction_count(winner.address, "pending") > nonces_before[0],
        lambda: None,
        "the winner's claim in the pool",
    )
    acted_at = loser.market.w3.eth.block_number
    loser.execute(Claim(job_id))  # what it decided a moment ago, while the job was still open
    first.join(timeout=120)

    claims = _events(requester.market, "JobClaimed", job_id)
    assert len(claims) == 1 and claims[0]["args"]["provider"] == winner.address, "exactly one claim was mined"
    assert claims[0]["blockNumber"] > acted_at, "the loser acted while the claim was still pending"
    sent = [w.market.w3.eth.get_transaction_count(w.address) - n for w, n in zip(workers, nonces_before, strict=True)]
    assert sent[workers.index(winner)] == 1 and sent[workers.index(loser)] == 0, "the loser sent no transaction"
    assert winner.report.claimed == [job_id] and loser.report.claimed == []
    lost = [r for r in caplog.records if "lost the race" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelname == "WARNING" and "JobNotInStatus" in lost[0].getMessage()
    loser.act()  # the next round leaves the job alone without sending or warning again
    assert loser.market.w3.eth.get_transaction_count(loser.address) == nonces_before[workers.index(loser)]
    assert len([r for r in caplog.records if "lost the race" in r.getMessage()]) == 1


# ---------------------------------------------------------------------------------------------- reorgs


def test_claim_reorged_out_is_redone_once_and_paid_once(
    own_anvil: RunningNode, ipfs_store: IpfsStore, job_spec: tuple[Any, str], tmp_path: Path
) -> None:
    """The worker claimed, trained and submitted; a reorg takes the claim and the submission back.
    It notices (the block hash under its cursor changed), sees the job open again, claims it once
    more, submits once more, and is paid once: the contract holds exactly what it owes."""
    url = own_anvil.url
    address, deploy_block = _deploy(url)
    store = ArtifactStore(ipfs_store)
    requester = Requester(_market(url, address, "requester"), store)
    provider = _market(url, address, "provider", deploy_block=deploy_block)
    provider.deposit_stake(parse_eth("1"))
    worker = Worker(provider, store, WorkerConfig(state_dir=tmp_path / "worker"), start_block=deploy_block)
    spec, spec_cid = job_spec
    job_id = requester.post(spec, spec_cid, TERMS)
    until(lambda: requester.market.job_status(job_id) == JobStatus.SUBMITTED, worker.run_once, "first submission")
    claim_block = int(_events(provider, "JobClaimed", job_id)[0]["blockNumber"])
    head = provider.w3.eth.block_number
    rpc_call(url, "anvil_reorg", [head - claim_block + 1, []])  # claim and submission are gone
    rpc_call(url, "evm_mine")  # the chain moves on
    assert requester.market.job_status(job_id) == JobStatus.OPEN and not _events(provider, "JobClaimed", job_id)

    until(lambda: requester.market.job_status(job_id) == JobStatus.SUBMITTED, worker.run_once, "redone submission")
    assert worker.events is not None and worker.events.reorgs >= 1
    rpc_call(url, "evm_increaseTime", [TERMS.challenge_window + 1])
    rpc_call(url, "evm_mine")
    until(
        lambda: requester.market.job_status(job_id) == JobStatus.FINALIZED and worker.report.withdrawn > 0,
        worker.run_once,
        "finalized and withdrawn",
    )
    assert len(_events(provider, "JobClaimed", job_id)) == 1, "one claim on the chain that counts"
    assert len(_events(provider, "ResultSubmitted", job_id)) == 1
    assert worker.report.withdrawn == TERMS.reward, "paid once"
    info = provider.provider_info(provider.signer.address)  # type: ignore[union-attr]
    assert (info.free, info.locked, info.finalized) == (parse_eth("1"), 0, 1)
    assert provider.w3.eth.get_balance(address) == parse_eth("1"), "the market holds exactly the free stake it owes"


# ---------------------------------------------------------------------------------------------- requests


def test_idle_daemons_ask_only_for_the_head_each_round(own_anvil: RunningNode, tmp_path: Path) -> None:
    """What a hosted RPC provider bills an idle worker and verifier, counted by the benchmarks'
    proxy: after the first round (which reads ``credits`` once), a round on an idle chain is one
    request, the head's header; a new block without market logs adds nothing (its bloom filter
    says so); a market event for someone else adds one log query and still no ``credits`` read."""
    from benchmarks.common import CountingProxy

    url = own_anvil.url
    address, deploy_block = _deploy(url)
    proxy = CountingProxy(url)
    store = ArtifactStore(IpfsStore("http://127.0.0.1:9"))  # never asked: no job is looked at
    worker_market = _market(proxy.url, address, "provider", deploy_block=deploy_block)
    verifier_market = _market(proxy.url, address, "verifier", deploy_block=deploy_block)
    worker = Worker(worker_market, store, WorkerConfig(state_dir=tmp_path / "w"), start_block=deploy_block)
    verifier = Verifier(verifier_market, store, VerifierConfig(state_dir=tmp_path / "v"), start_block=deploy_block)
    daemons = (worker, verifier)

    def rounds(n: int) -> dict[str, int]:
        proxy.take()
        for _ in range(n):
            for daemon in daemons:
                daemon.run_once()
                assert daemon.last_error is None, daemon.last_error
        return dict(proxy.take())

    first = rounds(1)
    credits = "eth_call " + worker_market.contract.encode_abi("credits", args=[address])[:10]
    assert first.get(credits) == 2, f"credits read once by each at start: {first}"
    assert rounds(10) == {"eth_getBlockByNumber": 20}, "one request per daemon and idle round"

    rpc_call(url, "evm_mine")  # a block with no market log
    assert rounds(2) == {"eth_getBlockByNumber": 4}, "no log query for a block the bloom filter rules out"

    other = _market(url, address, "requester")
    other.deposit_stake(parse_eth("0.1"))  # a market event for another account
    counted = rounds(2)
    assert counted == {"eth_getBlockByNumber": 4, "eth_getLogs": 2}, f"one log query each, no credits: {counted}"
    assert worker.report.withdrawn == verifier.report.withdrawn == 0


def test_a_daemon_remembers_only_its_latest_transactions(
    own_anvil: RunningNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon runs for months: its client keeps only the latest receipts and the daemon only the
    latest hashes of its own transactions, each noted once, however many it sends."""
    import crucible.chain.contract
    import crucible.daemon

    monkeypatch.setattr(crucible.chain.contract, "RECENT_RECEIPTS", 3)
    monkeypatch.setattr(crucible.daemon, "RECENT_RECEIPTS", 3)
    address, deploy_block = _deploy(own_anvil.url)
    market = _market(own_anvil.url, address, "provider", deploy_block=deploy_block)
    store = ArtifactStore(IpfsStore("http://127.0.0.1:9"))  # never asked: no job is looked at
    worker = Worker(market, store, WorkerConfig(state_dir=tmp_path / "w"), start_block=deploy_block)

    sent = [market.deposit_stake(parse_eth("0.01")) for _ in range(5)]
    worker.run_once()
    assert worker.last_error is None, worker.last_error
    hashes = [bytes(r["transactionHash"]).hex() for r in sent]  # as events name them
    assert len(market.receipts) == 3 and market.sent == 5
    assert list(worker.own_txs) == hashes[2:]

    sent.append(market.deposit_stake(parse_eth("0.01")))
    worker.run_once()
    worker.run_once()  # nothing new: nothing noted twice
    hashes.append(bytes(sent[-1]["transactionHash"]).hex())
    assert list(worker.own_txs) == hashes[3:]


@pytest.mark.parametrize("own_anvil", [{"block_time": 1}], indirect=True)
def test_rounds_follow_a_steady_chain_and_stay_short_on_automine(own_anvil: RunningNode, tmp_path: Path) -> None:
    """On a chain mining every second the worker's rounds wait for the next block (one head read
    per block, not two); on an automining chain they stay at the poll interval, since a block comes
    whenever a transaction does."""
    url = own_anvil.url
    address, deploy_block = _deploy(url)
    store = ArtifactStore(IpfsStore("http://127.0.0.1:9"))
    worker = Worker(
        _market(url, address, "provider", deploy_block=deploy_block),
        store,
        WorkerConfig(state_dir=tmp_path / "w"),
        start_block=deploy_block,
    )
    assert worker.events is not None
    until(lambda: worker.events is not None and worker.events.block_time() == 1, worker.run_once, "a steady pace", 60)
    assert worker.poll_interval <= worker.round_wait() <= 1.0

    rpc_call(url, "evm_setIntervalMining", [0])
    rpc_call(url, "evm_setAutomine", [True])
    rpc_call(url, "evm_increaseTime", [5])  # a while later,
    _market(url, address, "requester").deposit_stake(parse_eth("0.1"))  # a block comes with a transaction
    worker.run_once()
    assert worker.events.block_time() is None and worker.round_wait() == worker.poll_interval


# ---------------------------------------------------------------------------------------------- restarts


def test_restarted_worker_resumes_from_its_cursor(
    own_anvil: RunningNode, ipfs_store: IpfsStore, job_spec: tuple[Any, str], tmp_path: Path
) -> None:
    """A worker that read the log, stopped and started again asks the chain only for blocks after its
    saved cursor (no rescan from the deployment block), yet knows the job it holds."""
    url = own_anvil.url
    address, deploy_block = _deploy(url)
    store = ArtifactStore(ipfs_store)
    requester = Requester(_market(url, address, "requester"), store)
    provider = _market(url, address, "provider", deploy_block=deploy_block)
    provider.deposit_stake(parse_eth("1"))
    spec, spec_cid = job_spec
    job_id = requester.post(spec, spec_cid, TERMS)
    config = WorkerConfig(state_dir=tmp_path / "worker")
    first = Worker(provider, store, config, start_block=deploy_block)
    until(lambda: requester.market.job_status(job_id) == JobStatus.SUBMITTED, first.run_once, "submission")
    assert first.events is not None
    cursor = first.events.next_block
    rpc_call(url, "anvil_mine", [hex(2500)], timeout=60)  # a long time passes: 2500 empty blocks

    again = _market(url, address, "provider", deploy_block=deploy_block)
    requests = RequestLog(again)
    second = Worker(again, store, config, start_block=deploy_block)
    second.run_once()
    ranges = [(int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16)) for p in requests.of("eth_getLogs")]
    assert ranges, "it read the new blocks"
    assert min(start for start, _ in ranges) == cursor, f"no log query before the saved cursor {cursor}: {ranges}"
    assert all(end - start < 2000 for start, end in ranges), "bounded ranges"
    assert job_id in second.held, "the held job came back from its own journal"
    rpc_call(url, "evm_increaseTime", [TERMS.challenge_window + 1])
    until(lambda: requester.market.job_status(job_id) == JobStatus.FINALIZED, second.run_once, "finalized")


# ---------------------------------------------------------------------------------------------- any chain

OTHER_CHAIN = 4242


@pytest.mark.slow
@pytest.mark.parametrize("own_anvil", [{"chain_id": OTHER_CHAIN}], indirect=True)
def test_deploy_to_another_chain_and_run_a_job_with_keystores(
    own_anvil: RunningNode, ipfs_node: RunningNode, tmp_path: Path
) -> None:
    """`crucible deploy --rpc-url` and `ape run deploy --network URL` to a chain that is not the devnet,
    then a whole job there through the CLI with keystore accounts (dev accounts do not exist on chain
    4242)."""
    url = own_anvil.url
    password = "correct horse"
    keys = {}
    for name in ("deployer", "requester", "provider"):
        account = Account.create()
        keys[name] = write_keystore(tmp_path / f"{name}.json", account, password)
        rpc_call(url, "anvil_setBalance", [account.address, hex(parse_eth("100"))])
    deployment_file = tmp_path / "other-chain.json"
    cli = Cli(tmp_path)
    cli.env.pop("CRUCIBLE_DEPLOYMENT", None)
    cli.env["CRUCIBLE_KEYSTORE_PASSWORD"] = password
    refused = cli("deploy", "--rpc-url", url, "--out", str(deployment_file), check=False)
    assert refused.returncode == 1 and "--keystore" in refused.stderr, "no dev deployer off the devnet"
    cli(
        "deploy", "--rpc-url", url, "--keystore", str(keys["deployer"]), "--out", str(deployment_file),
        "--profile", "devnet", "--ipfs-api", ipfs_node.url,
    )  # fmt: skip
    by_crucible = Deployment.load(deployment_file)
    assert by_crucible.chain_id == OTHER_CHAIN and by_crucible.rpc_url == url and by_crucible.confirmations == 0
    # The same through ape (README, "Other ways in"): the job below runs on the market ape deployed.
    deployer_key = Account.decrypt(json.loads(keys["deployer"].read_text()), password)
    deployment_file = tmp_path / "by-ape.json"
    ape_env = {
        **cli.env,
        "CRUCIBLE_DEPLOYER_KEY": "0x" + deployer_key.hex(),
        "SOLCX_BINARY_PATH": str(tools_dir() / "solcx"),
    }
    by_ape = subprocess.run(
        [str(Path(sys.executable).parent / "ape"), "run", "deploy", "--network", url, "--ipfs-api", ipfs_node.url,
         "--profile", "devnet", "--out", str(deployment_file)],
        cwd=REPO, env=ape_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert by_ape.returncode == 0, by_ape.stdout + by_ape.stderr
    deployment = Deployment.load(deployment_file)
    assert (deployment.chain_id, deployment.rpc_url, deployment.ipfs_api) == (OTHER_CHAIN, url, ipfs_node.url)
    assert deployment.market != by_crucible.market and deployment.market in by_ape.stdout
    assert Market(connect(url), by_crucible.market).params() == Market(connect(url), deployment.market).params()

    data = tmp_path / "data"
    cli("data", "digits", str(data))
    on_chain = ["--deployment", str(deployment_file)]
    as_provider = {**cli.env, "CRUCIBLE_KEYSTORE": str(keys["provider"])}
    as_requester = {**cli.env, "CRUCIBLE_KEYSTORE": str(keys["requester"])}
    cli.env = as_provider
    cli("worker", "stake", "1", *on_chain)
    worker = cli.start(tmp_path / "worker.log", "worker", "run", "--max-jobs", "1", "--exit-when-done", *on_chain)
    cli.env = as_requester
    posted = cli(
        "requester", "post", str(REPO / "examples" / "digits-mlp.yaml"), "--reward", "0.5", "--stake", "0.5",
        "--bond", "0.01", "--duration", "600", "--window", "5", "--dataset", str(data / "digits-train.safetensors"),
        "--eval", str(data / "digits-test.safetensors"), "--json", *on_chain,
    )  # fmt: skip
    job_id = int(json.loads(posted.stdout)["job_id"])
    market = Market(connect(url), deployment.market)
    provider_address = Account.from_key(Account.decrypt(json.loads(keys["provider"].read_text()), password)).address

    def tick() -> None:
        rpc_call(url, "evm_mine")  # the clock moves on so the challenge window ends
        time.sleep(0.2)

    until(lambda: market.job_status(job_id) == JobStatus.FINALIZED, tick, "finalized on chain 4242")
    worker.wait(timeout=60)
    assert market.job(job_id).provider == provider_address
    assert (
        market.job(job_id).requester
        == Account.from_key(Account.decrypt(json.loads(keys["requester"].read_text()), password)).address
    )
    assert market.w3.eth.get_balance(deployment.market) == parse_eth("1"), "only the provider's free stake is left"
