"""Checkpoint uploads are batched (few requests) and every checkpoint keeps its own CIDv0, against a real node."""

from __future__ import annotations

import pytest
from aleph_cid import compute_cid

from crucible.engine.examples import example_job
from crucible.engine.job import load_checkpoint_state, train_job
from crucible.engine.step import Engine, initial_state_from
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
