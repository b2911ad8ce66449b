"""The IPFS store against a real js-ipfs node."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aleph_cid import compute_cid

from crucible.devnet.processes import free_port
from crucible.errors import ArtifactRejected, StoreError
from crucible.store.ipfs import IpfsStore, cid_to_digest, digest_to_cid
from crucible.store.unixfs import CHUNK_SIZE, leaf_content

pytestmark = pytest.mark.integration


def test_add_cat_pin_round_trip_of_5_mib(ipfs_store: IpfsStore, tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024)

    cid = ipfs_store.add_bytes(data)

    assert cid == compute_cid(data), "CID differs from an independent implementation of kubo's defaults"
    assert ipfs_store.pinned(cid)
    assert ipfs_store.cat(cid) == data
    out = ipfs_store.fetch_to(cid, tmp_path / "out.bin")
    assert out.read_bytes() == data


def test_add_file_matches_add_bytes(ipfs_store: IpfsStore, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(300_000))

    assert ipfs_store.add_file(path) == ipfs_store.add_bytes(path.read_bytes()) == compute_cid(path.read_bytes())


def test_single_block_files_are_read_from_their_block_and_larger_ones_whole(ipfs_store: IpfsStore) -> None:
    """A file of one chunk is its root block's content; a larger file's root only links to its chunks."""
    for size in (0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7):
        data = os.urandom(size)
        cid = ipfs_store.add_bytes(data)
        root = ipfs_store._post("read a block", "block/get", {"arg": cid})
        assert leaf_content(root) == (data if size <= CHUNK_SIZE else None), size
        assert ipfs_store.cat(cid) == data, size


def test_a_block_that_is_not_the_file_is_never_taken_for_it(
    ipfs_store: IpfsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the node answers for the block, only content whose CID is the one asked for is returned."""
    data = b"the real artifact"
    cid = ipfs_store.add_bytes(data)
    other = ipfs_store._post("read a block", "block/get", {"arg": ipfs_store.add_bytes(b"another artifact")})
    real_post = ipfs_store._post
    for answer in (other, b"\x0a\x05\x08\x02\x12\x7f", b"\xff" * 12, b""):

        def lying_blocks(what: str, path: str, *args: Any, answer: bytes = answer, **kwargs: Any) -> bytes:
            return answer if path == "block/get" else real_post(what, path, *args, **kwargs)

        monkeypatch.setattr(ipfs_store, "_post", lying_blocks)
        assert ipfs_store.cat(cid) == data  # read whole, checked, as before
    monkeypatch.setattr(ipfs_store, "_post", lambda *a, **k: other)
    with pytest.raises(ArtifactRejected, match=f"returned bytes for {cid} that hash to"):
        ipfs_store.cat(cid)


def test_cid_digest_round_trip(ipfs_store: IpfsStore) -> None:
    cid = ipfs_store.add_bytes(b"crucible")

    assert digest_to_cid(cid_to_digest(cid)) == cid


def test_oversized_artifact_is_refused_and_nothing_written(ipfs_store: IpfsStore, tmp_path: Path) -> None:
    cid = ipfs_store.add_bytes(os.urandom(10_000))

    with pytest.raises(ArtifactRejected, match="larger than the limit of 4096 bytes"):
        ipfs_store.fetch_to(cid, tmp_path / "big.bin", max_bytes=4096)
    assert list(tmp_path.iterdir()) == []


def test_malformed_cid_is_refused(ipfs_store: IpfsStore) -> None:
    with pytest.raises(ArtifactRejected, match="not a"):
        ipfs_store.cat("not-a-cid")


def test_unreachable_node_gives_a_clear_error() -> None:
    store = IpfsStore(f"http://127.0.0.1:{free_port()}", timeout=2)

    with pytest.raises(StoreError, match="cannot reach the IPFS node at .* is it running"):
        store.add_bytes(b"x")


def test_bad_api_address_is_rejected() -> None:
    with pytest.raises(StoreError, match="must be http://HOST:PORT or a multiaddr"):
        IpfsStore("ftp://example")
