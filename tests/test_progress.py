"""Signed training progress: records verify only against the job's provider, and travel over a real
js-ipfs node's pubsub (and a node with pubsub off is refused with a clear error, left running)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from crucible.chain.keys import dev_account
from crucible.devnet.nodes import RunningNode
from crucible.errors import StoreError
from crucible.protocol.progress import InvalidRecord, ProgressRecord, sign_record
from crucible.store.pubsub import IpfsPubsubTransport, ProgressFeed

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PROVIDER = dev_account("provider")


def record(step: int = 20, account=PROVIDER, **changes: object) -> ProgressRecord:  # type: ignore[no-untyped-def]
    fields: dict[str, object] = dict(
        chain_id=31337,
        market=MARKET,
        job_id=1,
        step=step,
        total_steps=100,
        loss=0.5,
        cid="QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
        state_hash="0x" + "ab" * 32,
        time=1.0,
    )
    fields.update(changes)
    return sign_record(account, **fields)


def test_a_signed_record_verifies_against_the_jobs_provider() -> None:
    parsed = ProgressRecord.from_bytes(record().to_bytes())

    parsed.verify_for(31337, MARKET.lower(), 1, PROVIDER.address)
    assert (parsed.step, parsed.loss, parsed.signer) == (20, 0.5, PROVIDER.address)


def test_a_record_signed_by_someone_else_is_rejected() -> None:
    other = record(account=dev_account("cheater"))
    parsed = ProgressRecord.from_bytes(other.to_bytes())  # a valid signature, but not the provider's

    with pytest.raises(InvalidRecord, match="provider is"):
        parsed.verify_for(31337, MARKET, 1, PROVIDER.address)


def test_a_tampered_record_is_rejected() -> None:
    raw = json.loads(record().to_bytes())
    raw["loss"] = 0.01  # a nicer loss than the provider signed

    with pytest.raises(InvalidRecord, match="not by the claimed signer"):
        ProgressRecord.from_bytes(json.dumps(raw).encode())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"v": 2}', "not a version 1"),
        (json.dumps({"v": 1, "step": 1}).encode(), "record fields"),
        (b"x" * 5000, "exceeds"),
    ],
    ids=["not-json", "other-version", "missing-fields", "oversize"],
)
def test_malformed_records_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(InvalidRecord, match=message):
        ProgressRecord.from_bytes(data)


def test_a_record_for_another_job_or_market_is_rejected() -> None:
    parsed = ProgressRecord.from_bytes(record().to_bytes())

    with pytest.raises(InvalidRecord, match="record is for job 1"):
        parsed.verify_for(31337, MARKET, 2, PROVIDER.address)
    with pytest.raises(InvalidRecord, match="record is for job 1"):
        parsed.verify_for(1, MARKET, 1, PROVIDER.address)


@pytest.mark.integration
def test_records_travel_over_ipfs_pubsub_and_only_the_providers_are_kept(ipfs_node: RunningNode) -> None:
    transport = IpfsPubsubTransport(ipfs_node.url)
    feed = ProgressFeed(transport, chain_id=31337, market=MARKET, provider_of=lambda job: PROVIDER.address)
    stop = threading.Event()
    reader = threading.Thread(target=feed.run, args=(stop,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not feed.records(1) and time.monotonic() < deadline:
            # publish until the subscription is up (pubsub keeps nothing for late subscribers)
            transport.publish(feed.topic, record(step=0).to_bytes())
            time.sleep(0.2)
        transport.publish(feed.topic, record(step=40, account=dev_account("cheater")).to_bytes())
        transport.publish(feed.topic, b"garbage")
        transport.publish(feed.topic, record(step=20).to_bytes())
        while len(feed.records(1)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(timeout=5)

    assert [r.step for r in feed.records(1)] == [0, 20], "the cheater's record and the garbage were dropped"
    assert feed.rejected >= 2


@pytest.mark.integration
def test_a_node_with_pubsub_off_is_refused_and_keeps_running(ipfs_without_pubsub: RunningNode) -> None:
    transport = IpfsPubsubTransport(ipfs_without_pubsub.url)

    with pytest.raises(StoreError, match="does not serve pubsub: .*pubsub not enabled"):
        transport.subscribe("t", lambda data: None, threading.Event())
    with pytest.raises(StoreError, match="publish refused"):
        transport.publish("t", b"x")
    assert ipfs_without_pubsub.daemon.alive(), "js-ipfs exits if a pubsub stream is opened and closed with pubsub off"
