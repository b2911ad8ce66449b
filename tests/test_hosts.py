"""Every role on its own host (issue 13, the IPFS half): online js-ipfs nodes on loopback that
exchange artifacts by bitswap, a provider's pins held per job until settlement, fetches checked
against their CIDs whichever node served them, and a whole job with one node per role."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import Cli
from test_processes import events, post, small_spec, wait_for

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market
from crucible.chain.rpc import connect
from crucible.devnet.manage import Devnet, host_roles
from crucible.devnet.nodes import RunningNode, connect_ipfs_nodes, start_ipfs
from crucible.errors import ArtifactRejected, ArtifactUnavailable
from crucible.protocol.checkpoint import Manifest
from crucible.settings import RoleSettings
from crucible.store.ipfs import IpfsStore, raw_block_cid
from crucible.store.pins import JobPins
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


@pytest.mark.integration
@pytest.mark.slow  # starts a node of its own, to stop it
def test_providers_node_stopped_after_submission_fetch_fails_as_unavailable(
    verifier_node: IpfsStore, tmp_path: Path
) -> None:
    gone = start_ipfs(tmp_path, name="ipfs-provider-2", online=True)
    try:
        connect_ipfs_nodes([gone.url, verifier_node.api])
        cid = IpfsStore(gone.url).add_bytes(os.urandom(50_000))
    finally:
        gone.daemon.stop()
    impatient = IpfsStore(verifier_node.api, fetch_timeout=3)
    started = time.monotonic()
    with pytest.raises(ArtifactUnavailable, match=f"{cid} could not be fetched .* within 3s: nobody serves it"):
        impatient.cat(cid)
    assert time.monotonic() - started < 30, "bounded by the fetch timeout, not hanging"


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


@pytest.mark.integration
@pytest.mark.slow
def test_honest_job_with_every_role_on_its_own_node(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    cli = Cli(home)
    started = time.monotonic()
    up = cli("devnet", "up", "--hosts", "--home", str(home), "--json")
    print(f"\n[measure] devnet up --hosts (anvil + 4 IPFS nodes, parallel): {time.monotonic() - started:.1f}s")
    deployment = Deployment.model_validate_json(up.stdout)
    daemons = [daemon for daemon, _ in Devnet(home).status().daemons.values()]
    assert sorted(d.name for d in daemons) == ["anvil", *sorted(f"ipfs-{r}" for r in host_roles())]
    status = json.loads(cli("devnet", "status", "--home", str(home), "--json").stdout)
    assert status["healthy"] and status["ipfs_peers"] == dict.fromkeys(host_roles(), 3), "every node peers the other 3"
    try:
        nodes = {role: IpfsStore(url, fetch_timeout=20) for role, url in deployment.ipfs_nodes.items()}
        assert set(nodes) == {"requester", "provider", "verifier", "oracle"}
        assert len(set(deployment.ipfs_nodes.values())) == 4, "one node per role"
        before = {role: node.bitswap_stats() for role, node in nodes.items()}
        market = Market(connect(deployment.rpc_url), deployment.market)
        cli("data", "digits", str(home / "data"))
        cli("worker", "stake", "1")
        cli.start(tmp_path / "worker.log", "worker", "run", "--state-dir", str(tmp_path / "worker"))
        cli.start(tmp_path / "verifier.log", "verifier", "run", "--state-dir", str(tmp_path / "verifier"))
        job = post(cli, small_spec(tmp_path, seed=5), window=20)
        spec_cid = market.job(job).spec_cid_str
        assert nodes["requester"].pinned(spec_cid), "the requester's node pins its spec"

        wait_for("result submitted", lambda: market.job_status(job) == JobStatus.SUBMITTED)
        manifest_cid = _manifest_cid(market, job)
        trace = Manifest.from_bytes(nodes["provider"].cat(manifest_cid)).checkpoints
        checkpoint, earlier = trace[-1].cid, trace[-2].cid
        held = set(json.loads((tmp_path / "worker" / "pins.json").read_text())[str(job)])
        assert {manifest_cid, checkpoint} <= held, "the provider pins what it committed until settled"
        inputs = set(json.loads((tmp_path / "worker" / "kept.json").read_text())[str(job)])
        assert spec_cid in inputs, "and its inputs, which it never unpins (they may be shared)"
        assert nodes["provider"].pinned(checkpoint)
        wait_for("job finalized", lambda: market.job_status(job) == JobStatus.FINALIZED)
        assert len(events(market, "JobFinalized")) == 1
        info = market.provider_info(dev_account("provider").address)
        assert (info.finalized, info.locked, info.slashed) == (1, 0, 0), "paid, stake free, nothing lost"
        wait_for("reward withdrawn", lambda: market.credits(dev_account("provider").address) == 0)
        assert connect(deployment.rpc_url).eth.get_balance(deployment.market) == 10**18, "only the stake remains"

        assert nodes["verifier"].has_local(checkpoint), "the verifier fetched the checkpoint from the provider"
        assert not nodes["requester"].has_local(checkpoint), "and the requester's node never held it"
        assert nodes["provider"].has_local(spec_cid), "the provider fetched the spec from the requester's node"
        wait_for("provider released its pins", lambda: not json.loads((tmp_path / "worker" / "pins.json").read_text()))
        assert not nodes["provider"].pinned(earlier), "the trace is unpinned once the job was settled"
        assert nodes["provider"].pinned(checkpoint), "but the last checkpoint stays for the requester (--keep final)"
        time.sleep(2)  # js-ipfs updates its bitswap counters about once a second
        moved = {
            role: node.bitswap_stats()["DataReceived"] - before[role]["DataReceived"] for role, node in nodes.items()
        }
        print(f"[measure] bytes received by bitswap per node for one job: {moved}")
        assert moved["provider"] > 0 and moved["verifier"] > 0
        # The oracle's node never needed the checkpoint (no dispute): time one reaching another node.
        assert not nodes["oracle"].has_local(checkpoint)
        started = time.monotonic()
        size = len(nodes["oracle"].cat(checkpoint))
        print(f"\n[measure] a {size}-byte checkpoint reached the oracle's node in {time.monotonic() - started:.2f}s")
        assert nodes["oracle"].has_local(checkpoint)
    finally:
        cli.stop_all()
        down = cli("devnet", "down", "--home", str(home))
    assert not any(d.alive() for d in daemons), f"down stopped exactly what up started: {down.stdout}"


def _manifest_cid(market: Market, job: int) -> str:
    result = market.result(job)
    assert result is not None
    return result.manifest_cid
