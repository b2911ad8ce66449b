"""Checkpoints, final models and manifests through a real IPFS node; every bad artifact is refused."""

from __future__ import annotations

import pickle
import threading
import time

import pytest
import torch

from crucible.engine.examples import example_job
from crucible.engine.job import load_checkpoint_state, trace_commitment, train_job
from crucible.engine.step import initial_state_from, replay_segment
from crucible.errors import ArtifactRejected, InvalidState, StoreError
from crucible.protocol import hashing, merkle
from crucible.protocol.checkpoint import (
    decode_checkpoint,
    decode_final_model,
    encode_checkpoint,
    read_safetensors,
)
from crucible.store.artifacts import ArtifactStore, CheckpointUploader
from crucible.store.ipfs import IpfsStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(ipfs_store):
    return ArtifactStore(ipfs_store)


@pytest.fixture(scope="module")
def trained(store):
    spec, train, _ = example_job("mlp")
    spec_cid = store.put_spec(spec)
    seen: list[tuple[int, bytes]] = []
    result = train_job(spec, train, store, spec_cid=spec_cid, on_checkpoint=lambda s, h, _: seen.append((s, h)))
    return spec, train, spec_cid, result, seen


def test_train_job_commits_to_what_a_replay_computes(trained):
    spec, train, spec_cid, result, seen = trained
    hashes, root = trace_commitment(spec, train, initial_state_from(spec))
    assert result.trace_root == root
    assert [c.digest for c in result.checkpoints] == hashes
    assert [s for s, _ in seen] == [0, 4, 8, 12] and [h for _, h in seen] == hashes
    assert result.final_state_hash == hashes[-1]
    assert result.manifest.spec_cid == spec_cid
    assert result.manifest.environment.profile == "cpu-portable"


def test_manifest_and_checkpoints_round_trip_through_ipfs(trained, store, ipfs_store):
    spec, train, _, result, _ = trained
    manifest = store.fetch_manifest(result.manifest_cid)
    assert manifest == result.manifest
    assert manifest.root() == merkle.root(manifest.leaves())
    for i, entry in enumerate(manifest.checkpoints):
        assert ipfs_store.pinned(entry.cid)
        state = load_checkpoint_state(store, spec, entry)
        assert state.step == entry.step and state.hash() == entry.digest
        proof = merkle.proof(manifest.leaves(), i)
        assert merkle.verify(manifest.root(), entry.leaf(), i, proof)
    # a verifier replays segment 1 from the provider's own checkpoint and matches the next commitment
    c1 = load_checkpoint_state(store, spec, manifest.checkpoints[1])
    assert replay_segment(spec, train, c1, 4, 8).hash() == manifest.checkpoints[2].digest
    params = store.fetch_final_model(
        result.final_model_cid, expected_params_hash=bytes.fromhex(manifest.final_params_hash[2:])
    )
    assert hashing.state_hash(params) == result.final_state.params_hash()


def test_final_model_that_is_not_the_last_checkpoint_is_refused(trained, store):
    _, _, _, result, _ = trained
    wrong = bytes.fromhex(result.manifest.checkpoints[1].state_hash[2:])
    with pytest.raises(ArtifactRejected, match="final model hashes to 0x.* but the last checkpoint's parameters"):
        store.fetch_final_model(result.final_model_cid, expected_params_hash=wrong)


def test_checkpoint_with_other_committed_hash_is_refused(trained, store):
    _, _, _, result, _ = trained
    entry, other = result.checkpoints[1], result.checkpoints[2]
    with pytest.raises(ArtifactRejected, match="does not match the committed"):
        store.fetch_checkpoint(entry.cid, expected_hash=other.digest)


def test_corrupted_checkpoint_is_detected(trained, store):
    _, _, _, result, _ = trained
    data = bytearray(store.blobs.cat(result.checkpoints[1].cid))
    data[-3] ^= 0x01  # one bit of one float in the last tensor
    cid = store.put(bytes(data))
    with pytest.raises(ArtifactRejected, match="corrupted or forged"):
        store.fetch_checkpoint(cid, expected_hash=result.checkpoints[1].digest)


def test_truncated_checkpoint_is_refused(trained, store):
    _, _, _, result, _ = trained
    data = store.blobs.cat(result.checkpoints[1].cid)
    cid = store.put(data[: len(data) - 100])
    with pytest.raises(ArtifactRejected, match="not a valid safetensors file|refused"):
        store.fetch_checkpoint(cid, expected_hash=result.checkpoints[1].digest)


def test_oversized_checkpoint_is_refused(trained, store):
    _, _, _, result, _ = trained
    with pytest.raises(ArtifactRejected, match="larger than the limit of 1000 bytes"):
        store.fetch_checkpoint(result.checkpoints[1].cid, expected_hash=result.checkpoints[1].digest, max_bytes=1000)


def test_pickle_disguised_as_checkpoint_is_refused(store):
    payload = pickle.dumps({"step": 4, "note": "harmless"})  # never unpickled
    cid = store.put(payload)
    with pytest.raises(ArtifactRejected, match="is a Python pickle, not safetensors; refused without unpickling"):
        store.fetch_checkpoint(cid, expected_hash=b"\0" * 32)
    with pytest.raises(ArtifactRejected, match="pickle"):
        store.fetch_weights(cid)


def test_torch_save_file_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ArtifactRejected, match="archive"):
        read_safetensors(path.read_bytes(), "checkpoint")


def test_trailing_bytes_and_foreign_safetensors_are_refused(trained, store):
    spec, _, _, result, _ = trained
    data = store.blobs.cat(result.checkpoints[0].cid)
    with pytest.raises(ArtifactRejected, match="trailing bytes|not a valid safetensors"):
        decode_checkpoint(data + b"\0" * 16)
    from crucible.protocol.checkpoint import write_safetensors

    with pytest.raises(ArtifactRejected, match="not a Crucible checkpoint"):
        decode_checkpoint(write_safetensors({"step": torch.tensor(0)}))
    # a self-consistent checkpoint of a different architecture passes the hash check but not the layout check
    other_spec, _, _ = example_job("cnn")
    foreign = initial_state_from(other_spec)
    cid = store.put(encode_checkpoint(foreign.tensors, "Qm" + "a" * 44))
    from crucible.protocol.checkpoint import CheckpointEntry

    with pytest.raises(InvalidState, match="does not fit this job"):
        load_checkpoint_state(store, spec, CheckpointEntry(step=0, state_hash=hashing.to_hex(foreign.hash()), cid=cid))


def test_tampered_manifest_is_refused(trained, store):
    _, _, _, result, _ = trained
    doc = result.manifest.model_dump(mode="json")
    doc["checkpoints"][2]["state_hash"] = "0x" + "11" * 32
    cid = store.put(_json(doc))
    with pytest.raises(ArtifactRejected, match="trace_root is not the Merkle root"):
        store.fetch_manifest(cid)
    doc = result.manifest.model_dump(mode="json")
    doc["checkpoints"] = doc["checkpoints"][:-1]
    with pytest.raises(ArtifactRejected, match="checkpoints must be at steps 0, 4, ..., 12"):
        store.fetch_manifest(store.put(_json(doc)))
    with pytest.raises(ArtifactRejected, match="manifest does not validate"):
        store.fetch_manifest(store.put(b"not json"))


def _json(doc: dict) -> bytes:
    import json

    return json.dumps(doc).encode()


def test_resume_from_checkpoint_gives_the_same_trace(trained, store):
    spec, train, spec_cid, result, _ = trained
    entries = result.checkpoints[:2]
    state = load_checkpoint_state(store, spec, entries[-1])
    resumed = train_job(spec, train, store, spec_cid=spec_cid, resume_from=(state, entries))
    assert resumed.trace_root == result.trace_root
    assert resumed.manifest.model_dump() == result.manifest.model_dump(), (resumed.manifest, result.manifest)
    assert resumed.manifest_cid == result.manifest_cid
    with pytest.raises(InvalidState, match="does not hash to the committed checkpoint"):
        forged = entries[1].model_copy(update={"state_hash": result.checkpoints[2].state_hash})
        train_job(spec, train, store, spec_cid=spec_cid, resume_from=(state, [entries[0], forged]))


class _FlakyBlobs:
    """Wraps a store: slow uploads (to show training does not wait) and a failure on the n-th put."""

    def __init__(self, inner: IpfsStore, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.inner, self.fail_at, self.delay, self.puts = inner, fail_at, delay, 0
        self.threads: set[str] = set()

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        self.puts += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail_at is not None and self.puts == self.fail_at:
            raise StoreError("simulated: the IPFS node went away")
        return self.inner.add_bytes(data, pin=pin)

    def add_many(self, blobs, *, pin: bool = True) -> list[str]:
        return [self.add_bytes(blob, pin=pin) for blob in blobs]

    def cat(self, cid: str, *, max_bytes: int = 1 << 30) -> bytes:
        return self.inner.cat(cid, max_bytes=max_bytes)

    def pin(self, cid: str) -> None:
        self.inner.pin(cid)

    def pinned(self, cid: str) -> bool:
        return self.inner.pinned(cid)

    def unpin(self, cid: str) -> None:
        self.inner.unpin(cid)

    def gc(self) -> None:
        self.inner.gc()


def test_upload_failure_surfaces_and_no_manifest_is_made(ipfs_store):
    spec, train, _ = example_job("mlp")
    blobs = _FlakyBlobs(ipfs_store, fail_at=3)
    with pytest.raises(StoreError, match="checkpoint upload failed: simulated: the IPFS node went away"):
        train_job(spec, train, ArtifactStore(blobs), spec_cid="Qm" + "a" * 44)
    assert blobs.puts == 3, "nothing (no final model, no manifest) may be uploaded after a failure"


def test_uploads_run_in_background_and_training_does_not_wait(ipfs_store):
    spec, train, _ = example_job("mlp")
    blobs = _FlakyBlobs(ipfs_store, delay=0.2)
    state = initial_state_from(spec)
    uploader = CheckpointUploader(ArtifactStore(blobs), "Qm" + "a" * 44, queue_size=4)
    start = time.monotonic()
    for _ in range(3):
        uploader.submit(state.tensors, state.hash())
    queued = time.monotonic() - start
    entries = uploader.close()
    assert queued < 0.15, f"submit blocked for {queued:.2f}s with room in the queue"
    assert len(entries) == 3 and blobs.threads == {"crucible-ckpt-upload"}


def test_final_model_decodes_only_params():
    spec, _, _ = example_job("gpt")
    state = initial_state_from(spec)
    from crucible.protocol.checkpoint import encode_final_model

    params = decode_final_model(
        encode_final_model(state.tensors, "Qm" + "a" * 44), expected_params_hash=state.params_hash()
    )
    assert set(params) == set(state.params())
