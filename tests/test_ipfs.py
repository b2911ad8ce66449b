"""The IPFS store against a real js-ipfs node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aleph_cid import compute_cid

from crucible.devnet.processes import free_port
from crucible.errors import ArtifactRejected, StoreError
from crucible.store.ipfs import IpfsStore, cid_to_digest, digest_to_cid

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
