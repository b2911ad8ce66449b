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
from crucible.protocol.progress import InvalidRecord, ProgressRecord, eta_seconds, sign_record
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


class NoChannel:
    """A feed fed by hand: these tests check what the reader keeps, not the channel."""

    def publish(self, topic: str, data: bytes) -> None:
        raise AssertionError("the reader never publishes")

    def subscribe(self, topic: str, on_message: object, stop: threading.Event) -> None:
        raise AssertionError("fed by hand")


def test_a_reader_following_one_job_keeps_only_its_providers_newer_records(caplog: pytest.LogCaptureFixture) -> None:
    shown: list[ProgressRecord] = []
    feed = ProgressFeed(
        NoChannel(),
        chain_id=31337,
        market=MARKET,
        provider_of=lambda job: PROVIDER.address,
        on_record=shown.append,
        job_id=1,
    )
    tampered = json.loads(record(step=30).to_bytes())
    tampered["loss"] = 0.01
    dropped = {
        "bad signature": json.dumps(tampered).encode(),
        "wrong provider": record(step=40, account=dev_account("cheater")).to_bytes(),
        "another job": record(step=50, job_id=2).to_bytes(),
        "another market": record(step=50, market="0x" + "11" * 20).to_bytes(),
        "older step (replayed)": record(step=10).to_bytes(),
        "same step (replayed)": record(step=20).to_bytes(),
        "malformed": b"{not json",
    }

    with caplog.at_level("DEBUG", logger="crucible.progress"):
        feed.receive(record(step=20).to_bytes())
        for data in dropped.values():
            feed.receive(data)
        feed.receive(record(step=60).to_bytes())

    assert [r.step for r in shown] == [20, 60] == [r.step for r in feed.records(1)]
    assert feed.rejected == len(dropped)
    why = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert len(why) == len(dropped) and all(w.startswith("dropped a progress record: ") for w in why)
    for reason, line in zip(dropped, why, strict=True):
        expected = {
            "bad signature": "not by the claimed signer",
            "wrong provider": "provider is",
            "another job": "not the followed job 1",
            "another market": "record is for job 1 on 31337/0x1111",
            "older step (replayed)": "step 10 is not past step 20",
            "same step (replayed)": "step 20 is not past step 20",
            "malformed": "not JSON",
        }[reason]
        assert expected in line, (reason, line)


def test_records_before_the_job_has_a_provider_are_checked_once_it_has_one() -> None:
    provider: list[str | None] = [None]
    feed = ProgressFeed(NoChannel(), chain_id=31337, market=MARKET, provider_of=lambda job: provider[0], job_id=1)
    feed.receive(record(step=0).to_bytes())
    feed.receive(record(step=10, account=dev_account("cheater")).to_bytes())
    assert feed.records(1) == [], "held back: nobody can say whose they should be yet"

    provider[0] = PROVIDER.address

    assert [r.step for r in feed.records(1)] == [0] and feed.rejected == 1


def test_a_new_provider_starts_the_jobs_progress_over() -> None:
    provider = [dev_account("cheater").address]
    feed = ProgressFeed(NoChannel(), chain_id=31337, market=MARKET, provider_of=lambda job: provider[0])
    feed.receive(record(step=50, account=dev_account("cheater")).to_bytes())
    provider[0] = PROVIDER.address  # released and claimed again by another provider

    feed.receive(record(step=10).to_bytes())

    assert [(r.step, r.signer) for r in feed.records(1)] == [(10, PROVIDER.address)]


def test_eta_from_the_pace_between_first_and_last_record() -> None:
    early, late = record(step=20, time=100.0), record(step=60, time=120.0)

    assert eta_seconds([early, late]) == pytest.approx(20.0), "40 steps to go at 2 steps/s"
    assert eta_seconds([late]) is None, "one point gives no pace"
    assert eta_seconds([early, record(step=100, time=130.0)]) is None, "trained"


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
