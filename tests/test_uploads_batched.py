"""Checkpoint uploads are batched (few requests) and every checkpoint keeps its own CIDv0, against a real node."""

from __future__ import annotations

import time

import pytest
from aleph_cid import compute_cid

from crucible.engine.examples import example_job
from crucible.engine.job import load_checkpoint_state, train_job
from crucible.engine.step import Engine, initial_state_from
from crucible.protocol import checkpoint as ckpt
from crucible.protocol.checkpoint import CheckpointEntry, Manifest
from crucible.store.artifacts import ArtifactStore, CheckpointUploader
from crucible.store.ipfs import IpfsStore

pytestmark = pytest.mark.integration


def test_checkpoints_share_one_request_and_each_keeps_its_own_cid(ipfs_store: IpfsStore) -> None:
    spec, train, _ = example_job("mlp")
    store = ArtifactStore(ipfs_store)
    spec_cid = store.put_spec(spec)
    engine, state = Engine(spec, train), initial_state_from(spec)
    states = [state]
    for a in range(0, spec.train.total_steps, spec.train.checkpoint_interval):
        states.append(engine.run(states[-1], a, a + spec.train.checkpoint_interval))

    uploader = CheckpointUploader(store, spec_cid, linger=10.0)  # close() ends the wait
    for s in states:
        uploader.submit(s.tensors, s.hash())
    entries = uploader.close()

    assert uploader.requests == 1, "all four checkpoints were waiting: one request"
    assert [e.step for e in entries] == [s.step for s in states]
    for entry, s in zip(entries, states, strict=True):
        data = ipfs_store.cat(entry.cid)
        assert entry.cid == compute_cid(data) == ipfs_store.add_bytes(data), "a checkpoint's CID is its own file's"
        assert ipfs_store.pinned(entry.cid)
        assert load_checkpoint_state(store, spec, entry).hash() == s.hash() == entry.digest


def test_train_job_manifest_lists_fetchable_checkpoints_and_final_model(ipfs_store: IpfsStore) -> None:
    spec, train, _ = example_job("cnn")
    store = ArtifactStore(ipfs_store)

    result = train_job(spec, train, store)

    listed = store.fetch_manifest(result.manifest_cid).checkpoints
    assert [e.cid for e in listed] == [e.cid for e in result.checkpoints]
    assert len({e.cid for e in listed}) == len(listed)
    for entry in listed:
        assert load_checkpoint_state(store, spec, entry).hash() == entry.digest
    params = store.fetch_final_model(result.final_model_cid, expected_params_hash=result.final_state.params_hash())
    assert set(params) == set(result.final_state.params())


class _RequestLog:
    """A real node's store that remembers the blobs of each upload request."""

    def __init__(self, inner: IpfsStore) -> None:
        self.inner = inner
        self.requests: list[list[bytes]] = []

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        return self.add_many([data], pin=pin)[0]

    def add_many(self, blobs, *, pin: bool = True) -> list[str]:  # type: ignore[no-untyped-def]
        self.requests.append([bytes(b) for b in blobs])
        return self.inner.add_many(blobs, pin=pin)

    def cat(self, cid: str, *, max_bytes: int = 1 << 30) -> bytes:
        return self.inner.cat(cid, max_bytes=max_bytes)

    def pin(self, cid: str) -> None:
        self.inner.pin(cid)


def test_manifest_rides_in_the_last_request_with_the_final_model(ipfs_store: IpfsStore) -> None:
    spec, train, _ = example_job("mlp")
    log = _RequestLog(ipfs_store)
    store = ArtifactStore(log)  # type: ignore[arg-type]
    spec_cid = store.put_spec(spec)

    result = train_job(spec, train, store, spec_cid=spec_cid)

    last = log.requests[-1]
    assert last[-1] == result.manifest.to_bytes() and compute_cid(last[-1]) == result.manifest_cid
    assert compute_cid(last[-2]) == result.final_model_cid, "the final model is in the same request"
    assert store.fetch_manifest(result.manifest_cid) == result.manifest
    assert ipfs_store.pinned(result.manifest_cid)
    assert [e.cid for e in result.manifest.checkpoints] == [e.cid for e in result.checkpoints]


def test_manifest_goes_up_alone_when_everything_else_already_went(ipfs_store: IpfsStore) -> None:
    spec, train, _ = example_job("mlp", total_steps=20, checkpoint_interval=20)
    log = _RequestLog(ipfs_store)
    store = ArtifactStore(log)  # type: ignore[arg-type]
    spec_cid = store.put_spec(spec)
    engine, s0 = Engine(spec, train), initial_state_from(spec)
    s20 = engine.run(s0, 0, 20)
    uploader = CheckpointUploader(store, spec_cid, linger=0.0)
    for s in (s0, s20):
        uploader.submit(s.tensors, s.hash())
    uploader.submit_final_model(ckpt.encode_final_model(s20.tensors, spec_cid))
    deadline = time.monotonic() + 60
    while sum(map(len, log.requests)) < 4 and time.monotonic() < deadline:  # spec + all three, before close()
        time.sleep(0.01)
    seen: list[tuple[list[str], str]] = []

    def build(entries: list[CheckpointEntry], model_cid: str) -> Manifest:
        seen.append(([e.cid for e in entries], model_cid))
        return ckpt.build_manifest(spec_cid, 20, 20, entries, s20.params_hash(), model_cid, engine.profile)

    entries = uploader.close(manifest=build)

    assert seen == [([e.cid for e in entries], uploader.final_model_cid)], "built once, from the node's CIDs"
    assert uploader.manifest is not None and log.requests[-1] == [uploader.manifest.to_bytes()]
    assert compute_cid(log.requests[-1][0]) == uploader.manifest_cid
    assert store.fetch_manifest(uploader.manifest_cid).root() == uploader.manifest.root()
