"""Content-addressed storage on IPFS through a kubo-compatible RPC API.

One small interface (add, fetch with a size limit, pin) that every role uses. It talks to
whatever node ``api`` names: the devnet's js-ipfs node or a user's own kubo daemon. CIDs are
CIDv0 (dag-pb, sha256), so the 32-byte digest stored on chain maps back to exactly one CID.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import base58
import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_exc

from crucible.errors import ArtifactRejected, ArtifactUnavailable, StoreError, StoreTimeout

# ipfshttpclient 0.7 passes urllib3 a parameter newer urllib3 deprecates; harmless, and not the user's concern.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_CIDV0_PREFIX = b"\x12\x20"  # multihash: sha2-256, 32 bytes


def cid_to_digest(cid: str) -> bytes:
    """The sha256 digest inside a CIDv0 (what the contracts store as bytes32)."""
    try:
        raw: bytes = base58.b58decode(cid)
    except ValueError as exc:
        raise ArtifactRejected(f"{cid!r} is not a base58 CIDv0") from exc
    if len(raw) != 34 or raw[:2] != _CIDV0_PREFIX:
        raise ArtifactRejected(f"{cid!r} is not a CIDv0 (Qm…, sha2-256); add artifacts with cid_version=0")
    return raw[2:]


def digest_to_cid(digest: bytes) -> str:
    """Inverse of :func:`cid_to_digest`."""
    if len(digest) != 32:
        raise ValueError(f"a CID digest is 32 bytes, got {len(digest)}")
    return str(base58.b58encode(_CIDV0_PREFIX + digest).decode())


def multiaddr_for(url_or_addr: str) -> str:
    """Accept ``http://127.0.0.1:5001`` or a multiaddr; return the multiaddr ipfshttpclient wants."""
    if url_or_addr.startswith("/"):
        return url_or_addr
    if url_or_addr.startswith("http://"):
        host, _, port = url_or_addr.removeprefix("http://").rstrip("/").partition(":")
        return f"/ip4/{host}/tcp/{port or 80}/http"
    raise StoreError(f"IPFS API address {url_or_addr!r} must be http://HOST:PORT or a multiaddr")


class IpfsStore:
    """Add, fetch and pin artifacts on one IPFS node.

    ``ipfshttpclient.connect()`` refuses daemons newer than 0.8 by version string, so the client
    is built directly; the first request then tells whether a node answers.
    """

    def __init__(self, api: str, *, timeout: float = 60.0, fetch_timeout: float = 15.0) -> None:
        self.api = api
        self.fetch_timeout = fetch_timeout
        self._client = ipfshttpclient.Client(multiaddr_for(api), timeout=timeout)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ipfs_exc.ConnectionError as exc:
            raise StoreError(
                f"cannot reach the IPFS node at {self.api} to {what}: is it running? "
                f"(`crucible devnet status`, or start your own kubo daemon and set CRUCIBLE_IPFS_API)"
            ) from exc
        except ipfs_exc.TimeoutError as exc:
            raise StoreTimeout(f"the IPFS node at {self.api} timed out trying to {what}") from exc
        except ipfs_exc.Error as exc:
            raise StoreError(f"IPFS node at {self.api} failed to {what}: {exc}") from exc

    def version(self) -> str:
        return str(self._call("report its version", self._client.version)["Version"])

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        """Store ``data``; returns its CIDv0. Pinned by default so the node keeps it."""
        result = self._call("add bytes", self._client.add_bytes, data, opts={"pin": pin, "cid-version": 0})
        return str(result)

    def cid_of(self, data: bytes) -> str:
        """The CID ``data`` would get, computed by the node without storing anything."""
        return str(self._call("hash bytes", self._client.add_bytes, data, opts={"only-hash": True, "cid-version": 0}))

    def add_file(self, path: Path, *, pin: bool = True) -> str:
        result = self._call(f"add {path}", self._client.add, str(path), pin=pin, cid_version=0)
        return str(result["Hash"])

    def pin(self, cid: str) -> None:
        self._call(f"pin {cid}", self._client.pin.add, cid)

    def remove(self, cid: str) -> None:
        """Unpin ``cid`` and garbage-collect, so this node stops serving it (and anything else unpinned)."""
        with contextlib.suppress(ipfs_exc.ErrorResponse):  # not pinned: gc drops it all the same
            self._client.pin.rm(cid)
        self._call("garbage-collect", self._client.repo.gc, quiet=True)

    def pinned(self, cid: str) -> bool:
        try:
            pins = self._client.pin.ls(cid, type="recursive")
        except ipfs_exc.ErrorResponse:
            return False
        except ipfs_exc.Error as exc:
            raise StoreError(f"IPFS node at {self.api} failed to list pins: {exc}") from exc
        return cid in pins.get("Keys", {})

    def cat(self, cid: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        """Fetch ``cid`` whole; refuses (without keeping any of it) if it exceeds ``max_bytes``."""
        cid_to_digest(cid)  # reject malformed CIDs before asking the node
        try:
            data: bytes = self._call(
                f"fetch {cid}", self._client.cat, cid, length=max_bytes + 1, timeout=self.fetch_timeout
            )
        except StoreTimeout:
            raise ArtifactUnavailable(
                f"{cid} could not be fetched from {self.api} within {self.fetch_timeout:.0f}s: nobody serves it "
                "(a provider must keep its trace available until the challenge window closes)"
            ) from None
        if len(data) > max_bytes:
            raise ArtifactRejected(f"artifact {cid} is larger than the limit of {max_bytes} bytes; refused")
        return data

    def fetch_to(self, cid: str, dest: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
        """Fetch into ``dest`` atomically: the file appears whole or not at all."""
        data = self.cat(cid, max_bytes=max_bytes)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest
