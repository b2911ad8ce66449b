"""Every role on its own host (issue 13, the IPFS half): online js-ipfs nodes on loopback that
exchange artifacts by bitswap, a provider's pins held per job until settlement, fetches checked
against their CIDs whichever node served them, and whole jobs (honest, forged, unserved) with one node
per role on a chain with 1 s blocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import Cli
from test_processes import events, post, small_spec, wait_for
from web3 import Web3

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market, Verdict
from crucible.chain.rpc import connect
from crucible.chain.units import parse_eth
from crucible.devnet.manage import Devnet, host_roles
from crucible.devnet.nodes import RunningNode
from crucible.devnet.processes import free_port
from crucible.errors import ArtifactRejected, ArtifactUnavailable
from crucible.protocol.checkpoint import Manifest
from crucible.settings import RoleSettings
from crucible.store.ipfs import IpfsStore, raw_block_cid
from crucible.store.pins import JobPins
from crucible.store.pubsub import IpfsPubsubTransport, ProgressFeed, pubsub_api
from crucible.store.unixfs import file_cid


@pytest.fixture(scope="session")
def provider_node(ipfs_hosts: tuple[RunningNode, RunningNode]) -> IpfsStore:
    return IpfsStore(ipfs_hosts[0].url, fetch_timeout=20)


@pytest.fixture(scope="session")
def verifier_node(ipfs_hosts: tuple[RunningNode, RunningNode]) -> IpfsStore:
    return IpfsStore(ipfs_hosts[1].url, fetch_timeout=20)


def test_nodes_listen_and_peer_on_loopback_only(provider_node: IpfsStore, verifier_node: IpfsStore) -> None:
    address = provider_node.peer_address()
    assert address.startswith("/ip4/127.0.0.1/tcp/")
    info = json.loads(provider_node._rpc("report its identity", "id"))
    assert all(a.startswith("/ip4/127.0.0.1/") for a in info["Addresses"]), info["Addresses"]
    assert address.rsplit("/", 1)[1] in verifier_node.peers()


def test_artifact_added_on_the_providers_node_reaches_the_verifiers_node_by_bitswap(
    provider_node: IpfsStore, verifier_node: IpfsStore
) -> None:
    data = os.urandom(700_000)  # three 256 KiB chunks: a root and three leaves move
    cid = provider_node.add_bytes(data)
    assert not verifier_node.has_local(cid), "the verifier's node must not hold it before"
    sent, received = provider_node.bitswap_stats(), verifier_node.bitswap_stats()

    started = time.monotonic()
    assert verifier_node.cat(cid) == data
    elapsed = time.monotonic() - started

    assert verifier_node.has_local(cid), "fetched over bitswap into the verifier's node"

    def moved() -> tuple[int, int]:
        return (
            verifier_node.bitswap_stats()["DataReceived"] - received["DataReceived"],
            provider_node.bitswap_stats()["DataSent"] - sent["DataSent"],
        )

    # js-ipfs updates its bitswap counters about once a second.
    wait_for("bitswap counters", lambda: min(moved()) >= len(data), timeout=15)
    moved_in = moved()[0]
    print(f"\n[measure] 700 kB provider->verifier: {elapsed:.2f}s, {moved_in} bytes received by bitswap")


def test_client_computes_the_same_cid_as_the_node(provider_node: IpfsStore) -> None:
    """The CID check of every fetch rests on this: the client's UnixFS layout equals the node's."""
    for size in (0, 1, 1000, 262144, 262145, 3 * 262144 + 7):
        data = os.urandom(size)
        assert file_cid(data) == provider_node.cid_of(data), size
    # More than 174 chunks: a tree two levels deep (small chunks keep it quick).
    data = os.urandom(16 * (174 * 174 + 3))
    node_cid = provider_node._client.add_bytes(data, opts={"only-hash": True, "cid-version": 0, "chunker": "size-16"})
    assert file_cid(data, chunk_size=16) == node_cid


def test_bytes_that_do_not_match_the_cid_are_refused(provider_node: IpfsStore, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = provider_node.add_bytes(b"the real artifact")
    monkeypatch.setattr(provider_node, "_post", lambda *a, **k: b"a node that lies")
    with pytest.raises(ArtifactRejected, match=f"returned bytes for {cid} that hash to"):
        provider_node.cat(cid)


def test_refs_local_names_blocks_as_raw_cidv1() -> None:
    cid = file_cid(b"x")
    assert raw_block_cid(cid).startswith("bafkrei")


def test_each_role_uses_its_own_node_unless_told_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = {
        "requester": "http://127.0.0.1:5101",
        "provider": "http://127.0.0.1:5102",
        "provider-2": "http://127.0.0.1:5103",
    }
    path = tmp_path / "deployment.json"
    Deployment(
        chain_id=31337,
        rpc_url="http://127.0.0.1:8545",
        ipfs_api=nodes["requester"],
        ipfs_nodes=nodes,
        market="0x" + "ab" * 20,
        deploy_block=0,
    ).save(path)
    monkeypatch.delenv("CRUCIBLE_IPFS_API", raising=False)
    settings = RoleSettings(deployment=path)
    assert settings.load_deployment("provider").ipfs_api == nodes["provider"]
    assert (
        RoleSettings(deployment=path, dev_account="provider-2").load_deployment("provider").ipfs_api
        == nodes["provider-2"]
    )
    assert settings.load_deployment("verifier").ipfs_api == nodes["requester"], "not listed: the default node"
    own_kubo = RoleSettings(deployment=path, ipfs_api="http://127.0.0.1:5001")
    assert own_kubo.load_deployment("provider").ipfs_api == "http://127.0.0.1:5001", "CRUCIBLE_IPFS_API wins"


def test_job_pins_keep_artifacts_until_released_then_gc_drops_them(provider_node: IpfsStore, tmp_path: Path) -> None:
    only_job_1, shared = (provider_node.add_bytes(os.urandom(1000), pin=False) for _ in range(2))
    pins = JobPins(provider_node, tmp_path / "pins.json")
    pins.hold(1, [only_job_1, shared])
    pins.hold(2, [shared])
    provider_node.gc()
    assert provider_node.has_local(only_job_1) and provider_node.has_local(shared)

    assert pins.release(1) == [only_job_1]
    provider_node.gc()
    assert not provider_node.has_local(only_job_1), "released and collected"
    assert provider_node.has_local(shared), "still held by job 2"
    assert JobPins(provider_node, tmp_path / "pins.json").held(2) == {shared}, "the record survives a restart"

    assert pins.release(2) == [shared]
    provider_node.gc()
    assert not provider_node.has_local(shared)
    assert pins.release(2) == [], "releasing twice is harmless"
    provider_node.unpin(shared)  # unpinning what is not pinned is harmless too


REWARD, STAKE, BOND = parse_eth("0.5"), parse_eth("0.5"), parse_eth("0.01")  # what `post` offers


@pytest.mark.integration
@pytest.mark.slow
def test_every_role_on_its_own_node_honest_paid_forged_and_unserved_slashed(tmp_path: Path) -> None:
    """Requester, two providers, a verifier and an oracle, each its own process with its own state folder,
    key and IPFS node, on a chain that mines a block a second. Job 1 (honest) is paid; job 2, forged by
    provider-2, is slashed; job 3's provider stops its node after submitting: the verifier challenges,
    the oracle rules the data unavailable and the provider is slashed. One devnet start for all three."""
    home = tmp_path / "devnet"
    cli = Cli(home)
    cli.env["CRUCIBLE_ORACLE_IPFS_FETCH_TIMEOUT"] = "10"  # the oracle gives up on an unserved artifact sooner
    roles = host_roles(providers=2)
    started = time.monotonic()
    up = cli("devnet", "up", "--hosts", "--providers", "2", "--block-time", "1", "--home", str(home), "--json")
    print(f"\n[measure] devnet up --hosts --providers 2 (anvil + 5 IPFS nodes): {time.monotonic() - started:.1f}s")
    deployment = Deployment.model_validate_json(up.stdout)
    daemons = [daemon for daemon, _ in Devnet(home).status().daemons.values()]
    assert sorted(d.name for d in daemons) == ["anvil", *sorted(f"ipfs-{r}" for r in roles)]
    status = json.loads(cli("devnet", "status", "--home", str(home), "--json").stdout)
    assert status["healthy"] and status["ipfs_peers"] == dict.fromkeys(roles, 4), "every node peers the other 4"
    assert deployment.confirmations == 2, "a chain on a clock: daemons wait 2 blocks on top of an event"
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, *args: str) -> None:
        processes[name] = cli.start(tmp_path / f"{name}.log", *args)

    def stop(name: str) -> None:
        proc = processes.pop(name)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    try:
        nodes = {role: IpfsStore(url, fetch_timeout=20) for role, url in deployment.ipfs_nodes.items()}
        assert set(nodes) == set(roles) and len(set(deployment.ipfs_nodes.values())) == 5, "one node per role"
        before = {role: node.bitswap_stats() for role, node in nodes.items()}
        w3 = connect(deployment.rpc_url)
        market = Market(w3, deployment.market)
        provider, cheater = dev_account("provider").address, dev_account("provider-2").address
        cli("data", "digits", str(home / "data"))
        for account in ("provider", "provider-2"):
            cli("worker", "stake", "1", "--dev-account", account)
        # The requester follows the training progress on its own node: the provider publishes on its.
        progress = ProgressFeed(
            IpfsPubsubTransport(pubsub_api(nodes["requester"].api)),
            chain_id=market.chain_id,
            market=market.address,
            provider_of=lambda job: market.job(job).provider if int(market.job(job).provider, 16) else None,
        )
        following = threading.Event()
        threading.Thread(target=progress.run, args=(following,), daemon=True).start()
        oracle_port = free_port()
        start("oracle", "oracle", "serve", "--port", str(oracle_port), "--state-dir", str(tmp_path / "oracle"))
        worker = ("worker", "run", "--dev-account", "provider", "--max-jobs", "1")
        worker = (*worker, "--state-dir", str(tmp_path / "worker"))
        start("worker", *worker)
        job1 = post(cli, small_spec(tmp_path, seed=5), window=90)  # time to audit on a loaded machine
        wait_for("the provider's claim of job 1", lambda: market.job_status(job1) != JobStatus.OPEN)
        # Step 23 forged: segment [20, 30] is disputed, narrowed to [23, 24], replayed by the oracle.
        start(
            "cheater", "worker", "run", "--dev-account", "provider-2", "--max-jobs", "1",
            "--behaviour", "poison-step:23", "--state-dir", str(tmp_path / "cheater"),
        )  # fmt: skip
        job2 = post(cli, small_spec(tmp_path, seed=22), window=40)
        spec_cid = market.job(job1).spec_cid_str
        assert nodes["requester"].pinned(spec_cid), "the requester's node pins its spec"

        # Read on the chain's latest block (the status view reads pending state, ahead of the block).
        wait_for("job 2's result mined", lambda: market.result(job2) is not None)
        wait_for("job 1's result mined", lambda: market.result(job1) is not None)
        assert market.job_status(job1) == JobStatus.SUBMITTED, "still in its challenge window"
        assert market.job(job1).provider == provider and market.job(job2).provider == cheater
        traces = {
            job1: Manifest.from_bytes(nodes["provider"].cat(_manifest_cid(market, job1))).checkpoints,
            job2: Manifest.from_bytes(nodes["provider-2"].cat(_manifest_cid(market, job2))).checkpoints,
        }
        checkpoint, earlier = traces[job1][-1].cid, traces[job1][-2].cid
        forged_from = next(c.cid for c in traces[job2] if c.step == 20)  # S_a of the disputed segment
        checked = [*(c.cid for c in traces[job1]), forged_from]
        # The verifier starts only now, so nothing but its own audit can bring these into its node.
        assert not any(nodes["verifier"].has_local(cid) for cid in checked), "the verifier's node held none before"
        start("verifier", "verifier", "run", "--state-dir", str(tmp_path / "verifier"))

        held = set(json.loads((tmp_path / "worker" / "pins.json").read_text())[str(job1)])
        assert {_manifest_cid(market, job1), checkpoint} <= held, "the provider pins what it committed until settled"
        inputs = set(json.loads((tmp_path / "worker" / "kept.json").read_text())[str(job1)])
        assert spec_cid in inputs, "and its inputs, which it never unpins (they may be shared)"
        assert nodes["provider"].pinned(checkpoint)
        wait_for("job 2 slashed", lambda: market.job_status(job2) == JobStatus.SLASHED, timeout=240)
        wait_for("job 1 finalized", lambda: market.job_status(job1) == JobStatus.FINALIZED, timeout=120)
        audit = tmp_path / "verifier" / "audits" / f"{job1}.json"
        wait_for("the verifier's audit of job 1 written", audit.exists, timeout=60)
        audited = json.loads(audit.read_text())["sampled"]
        assert audited == list(range(len(traces[job1]) - 1)), "every segment replayed"
        assert all(nodes["verifier"].has_local(cid) for cid in checked), "fetched from the providers' nodes"
        assert not nodes["requester"].has_local(checkpoint), "and the requester's node never held it"
        assert nodes["provider"].has_local(spec_cid), "the provider fetched the spec from the requester's node"
        shown = progress.records(job1)
        following.set()
        assert [r.step for r in shown] == [c.step for c in traces[job1]][-len(shown) :] and shown, shown
        assert {r.signer for r in shown} == {provider}, "signed by the job's provider, received on another node"
        assert shown[-1].cid == checkpoint, "the last point names the committed checkpoint"
        wait_for("provider released its pins", lambda: not json.loads((tmp_path / "worker" / "pins.json").read_text()))
        wait_for("the provider's reward withdrawn", lambda: market.credits(provider) == 0)
        assert not nodes["provider"].pinned(earlier), "the trace is unpinned once the job was settled"
        assert nodes["provider"].pinned(checkpoint), "but the last checkpoint stays for the requester (--keep final)"
        time.sleep(2)  # js-ipfs updates its bitswap counters about once a second
        moved = {r: n.bitswap_stats()["DataReceived"] - before[r]["DataReceived"] for r, n in nodes.items()}
        print(f"[measure] bytes received by bitswap per node for an honest and a forged job: {moved}")
        assert moved["provider"] > 0 and moved["provider-2"] > 0 and moved["verifier"] > 0

        # Job 3: the provider's node stops right after it submitted. The verifier is stopped meanwhile
        # so that it cannot fetch anything before the node goes; a new worker process claims the job.
        stop("verifier")
        stop("worker")
        start("worker-again", *worker)
        job3 = post(cli, small_spec(tmp_path, seed=7), window=90)
        wait_for("job 3's result mined", lambda: market.result(job3) is not None)
        assert market.job(job3).provider == provider
        manifest3 = _manifest_cid(market, job3)
        Devnet(home).status().daemons["ipfs-provider"][0].stop()
        impatient = IpfsStore(nodes["verifier"].api, fetch_timeout=3)
        fetching = time.monotonic()
        with pytest.raises(
            ArtifactUnavailable, match=f"{manifest3} could not be fetched .* within 3s: nobody serves it"
        ):
            impatient.cat(manifest3)
        assert time.monotonic() - fetching < 30, "bounded by the fetch timeout, not hanging"
        start("verifier-again", "verifier", "run", "--state-dir", str(tmp_path / "verifier"))
        wait_for("job 3 slashed", lambda: market.job_status(job3) == JobStatus.SLASHED, timeout=240)
        mined(w3)
        (dispute3,) = market.disputes_of(job3)
        verdicts = [e["verdict"] for e in events(market, "VerdictSubmitted") if e["disputeId"] == dispute3]
        assert verdicts == [Verdict.PROVIDER_DATA_UNAVAILABLE], "the oracle could not fetch it either"

        # Money: who was paid, who lost what, and the market holds exactly what it owes.
        wait_for("the verifier's winnings withdrawn", lambda: market.credits(dev_account("verifier").address) == 0)
        mined(w3)
        cli("requester", "withdraw")
        slashes = {int(e["jobId"]): e for e in events(market, "ProviderSlashed")}
        assert set(slashes) == {job2, job3}
        assert (slashes[job2]["provider"], slashes[job3]["provider"]) == (cheater, provider)
        assert all((e["amount"], e["winners"]) == (STAKE, 1) for e in slashes.values()), slashes
        assert withdrawn(market, "provider") == REWARD, "paid for job 1 only"
        assert withdrawn(market, "verifier") == sum(BOND + int(e["pool"]) for e in slashes.values())
        assert withdrawn(market, "requester") == 2 * REWARD + sum(int(e["toRequester"]) for e in slashes.values())
        for account, finalized in ((provider, 1), (cheater, 0)):
            info = market.provider_info(account)
            assert (info.finalized, info.slashed, info.locked, info.free) == (finalized, 1, 0, STAKE), info
        oracle = dev_account("oracle").address
        fees = sum(int(e["oracleFee"]) for e in slashes.values())
        wait_for("the oracle's fees paid", lambda: withdrawn(market, "oracle") + market.credits(oracle) == fees)
        mined(w3)
        owed = 2 * STAKE + market.credits(oracle)  # the two providers' free stakes, the oracle's unpaid fees
        assert market.balance() == market.total_liabilities() == owed, "the market holds exactly what it owes"
    finally:
        cli.stop_all()
        down = cli("devnet", "down", "--home", str(home))
    assert not any(d.alive() for d in daemons), f"down stopped exactly what up started: {down.stdout}"


def mined(w3: Web3) -> None:
    """Wait for the next block: views read the pending state, events only what is mined."""
    head = w3.eth.block_number
    wait_for("the next block", lambda: w3.eth.block_number > head, timeout=30)


def withdrawn(market: Market, who: str) -> int:
    """Everything ``who`` withdrew from the market."""
    address = dev_account(who).address
    return sum(int(e["amount"]) for e in events(market, "CreditWithdrawn") if e["account"] == address)


def _manifest_cid(market: Market, job: int) -> str:
    result = market.result(job)
    assert result is not None
    return result.manifest_cid
