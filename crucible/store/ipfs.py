"""Content-addressed storage on IPFS through a kubo-compatible RPC API.

One small interface (add, fetch with a size limit, pin) that every role uses. It talks to
whatever node ``api`` names: the devnet's js-ipfs node or a user's own kubo daemon. CIDs are
CIDv0 (dag-pb, sha256), so the 32-byte digest stored on chain maps back to exactly one CID.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import tempfile
import threading
import urllib.parse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import base58
import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_exc

from crucible.errors import ArtifactRejected, ArtifactUnavailable, StoreError, StoreTimeout
from crucible.store.unixfs import file_cid, leaf_content

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


def raw_block_cid(cid: str) -> str:
    """The name ``refs/local`` gives the block of CIDv0 ``cid``: CIDv1, raw codec, base32 (``bafkrei…``).

    Both js-ipfs and kubo (0.12+) key their blockstores by multihash and list blocks that way.
    """
    v1 = b"\x01\x55" + _CIDV0_PREFIX + cid_to_digest(cid)
    return "b" + base64.b32encode(v1).decode().lower().rstrip("=")


def multiaddr_for(url_or_addr: str) -> str:
    """Accept ``http://127.0.0.1:5001`` or a multiaddr; return the multiaddr ipfshttpclient wants."""
    if url_or_addr.startswith("/"):
        return url_or_addr
    if url_or_addr.startswith("http://"):
        host, _, port = url_or_addr.removeprefix("http://").rstrip("/").partition(":")
        return f"/ip4/{host}/tcp/{port or 80}/http"
    raise StoreError(f"IPFS API address {url_or_addr!r} must be http://HOST:PORT or a multiaddr")


def _host_port(multiaddr: str) -> tuple[str, int]:
    """(host, port) of a ``/ip4|ip6|dns*/HOST/tcp/PORT[/http]`` multiaddr."""
    parts = multiaddr.strip("/").split("/")
    if len(parts) < 4 or parts[2] != "tcp" or not parts[3].isdigit() or (len(parts) > 4 and parts[4] != "http"):
        raise StoreError(f"IPFS API address {multiaddr!r} must be http://HOST:PORT or /ip4/HOST/tcp/PORT/http")
    return parts[1], int(parts[3])


class IpfsStore:
    """Add, fetch and pin artifacts on one IPFS node.

    ``ipfshttpclient.connect()`` refuses daemons newer than 0.8 by version string, so the client
    is built directly; the first request then tells whether a node answers.
    """

    def __init__(self, api: str, *, timeout: float = 60.0, fetch_timeout: float = 15.0) -> None:
        self.api = api
        self.timeout = timeout
        self.fetch_timeout = fetch_timeout
        self._client = ipfshttpclient.Client(multiaddr_for(api), timeout=timeout)
        self._host, self._port = _host_port(multiaddr_for(api))
        self._local = threading.local()

    # -- the hot paths (add, cat) on a kept-alive connection per thread --
    # ipfshttpclient builds every request through requests and a generator-based multipart encoder:
    # about as much time as the node's own work for a checkpoint-sized artifact. Adding and
    # fetching talk to the RPC API directly, with one persistent HTTP connection per thread.

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return conn

    def _post(
        self,
        what: str,
        path: str,
        params: dict[str, str],
        body: Sequence[bytes | memoryview] = (),
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """POST to the RPC API; retried once on a kept-alive connection the node had closed."""
        url = f"/api/v0/{path}?{urllib.parse.urlencode(params)}"
        length = sum(len(b) for b in body)
        for attempt in (0, 1):
            conn = self._conn()
            conn.timeout = timeout or self.timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request("POST", url, body=iter(body), headers={**(headers or {}), "Content-Length": str(length)})
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                if attempt == 0:
                    continue
                raise StoreError(f"IPFS node at {self.api} dropped the connection trying to {what}: {exc}") from exc
            except TimeoutError as exc:
                conn.close()
                raise StoreTimeout(f"the IPFS node at {self.api} timed out trying to {what}") from exc
            except OSError as exc:
                conn.close()
                raise StoreError(
                    f"cannot reach the IPFS node at {self.api} to {what}: is it running? "
                    f"(`crucible devnet status`, or start your own kubo daemon and set CRUCIBLE_IPFS_API)"
                ) from exc
            if response.status != 200:
                try:
                    message = json.loads(data).get("Message", "")
                except ValueError:
                    message = data[:200].decode("utf-8", "replace")
                raise StoreError(f"IPFS node at {self.api} failed to {what}: {message or response.reason}")
            return data
        raise AssertionError("unreachable")  # pragma: no cover

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
        return self.add_many([data], pin=pin)[0]

    def add_many(self, blobs: Sequence[bytes | memoryview], *, pin: bool = True) -> list[str]:
        """Store several artifacts in one request; returns the CIDv0 of each, in order.

        Each is added as its own file (not wrapped in a directory), so its CID is exactly what
        :meth:`add_bytes` of the same bytes gives."""
        if not blobs:
            return []
        boundary = "crucible-" + os.urandom(12).hex()
        body: list[bytes | memoryview] = []
        for i, blob in enumerate(blobs):
            body.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{i}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            body += [blob, b"\r\n"]
        body.append(f"--{boundary}--\r\n".encode())
        params = {"pin": str(pin).lower(), "cid-version": "0", "progress": "false"}
        what = "add bytes" if len(blobs) == 1 else f"add {len(blobs)} artifacts"
        raw = self._post(what, "add", params, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        added = [json.loads(line) for line in raw.splitlines() if line.strip()]
        cids = [str(a.get("Hash", "")) for a in added]
        if len(cids) != len(blobs) or not all(c.startswith("Qm") for c in cids):
            raise StoreError(
                f"IPFS node at {self.api} answered {len(cids)} CIDv0s for {len(blobs)} artifacts: {raw[:300]!r}"
            )
        return [self._agreed(cid, bytes(blob)) for cid, blob in zip(cids, blobs, strict=True)]

    def _agreed(self, cid: str, data: bytes) -> str:
        """``cid`` if it is the CID this client computes for ``data``: else fetches would refuse it later."""
        if file_cid(data) != cid:
            raise StoreError(
                f"the IPFS node at {self.api} named {len(data)} bytes {cid}, not {file_cid(data)}: it does not "
                "use the default importer for CIDv0 (256 KiB chunks, balanced DAG); reset its Import settings"
            )
        return cid

    def cid_of(self, data: bytes) -> str:
        """The CID ``data`` would get, computed by the node without storing anything."""
        return str(self._call("hash bytes", self._client.add_bytes, data, opts={"only-hash": True, "cid-version": 0}))

    def add_file(self, path: Path, *, pin: bool = True) -> str:
        result = self._call(f"add {path}", self._client.add, str(path), pin=pin, cid_version=0)
        return self._agreed(str(result["Hash"]), path.read_bytes())

    def pin(self, cid: str) -> None:
        self._call(f"pin {cid}", self._client.pin.add, cid)

    def unpin(self, cid: str) -> None:
        """Drop the pin on ``cid`` (already unpinned is fine); its blocks go at the node's next gc."""
        try:
            self._client.pin.rm(cid)
        except ipfs_exc.ErrorResponse as exc:
            if "not pinned" not in str(exc).lower():
                raise StoreError(f"IPFS node at {self.api} failed to unpin {cid}: {exc}") from exc
        except ipfs_exc.Error as exc:
            raise StoreError(f"IPFS node at {self.api} failed to unpin {cid}: {exc}") from exc

    def gc(self) -> None:
        """Garbage-collect: the node deletes every block no pin holds."""
        self._call("garbage-collect", self._client.repo.gc, quiet=True)

    def remove(self, cid: str) -> None:
        """Unpin ``cid`` and garbage-collect, so this node stops serving it (and anything else unpinned)."""
        self.unpin(cid)
        self.gc()

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
        data = self._single_block_file(cid, max_bytes)
        if data is not None:
            return data
        try:
            data = self._post(
                f"fetch {cid}", "cat", {"arg": cid, "length": str(max_bytes + 1)}, timeout=self.fetch_timeout
            )
        except StoreTimeout:
            raise self._unavailable(cid) from None
        if len(data) > max_bytes:
            raise ArtifactRejected(f"artifact {cid} is larger than the limit of {max_bytes} bytes; refused")
        if file_cid(data) != cid:  # whichever node served it: the bytes must be what the CID names
            raise ArtifactRejected(
                f"the IPFS node at {self.api} returned bytes for {cid} that hash to {file_cid(data)}"
            )
        return data

    def _single_block_file(self, cid: str, max_bytes: int) -> bytes | None:
        """A file of one chunk (a checkpoint of a small model, a spec, a manifest) read from its only
        block: js-ipfs answers ``block/get`` in well under the time of ``cat``, which is most of what
        fetching a small artifact costs. Accepted only if the content's CID is ``cid``, as :meth:`cat`
        accepts; anything else (a larger file, an error, odd bytes) returns None and :meth:`cat` reads
        the file as before, so it gives the same answers and errors."""
        try:
            block = self._post(f"fetch {cid}", "block/get", {"arg": cid}, timeout=self.fetch_timeout)
        except StoreTimeout:
            raise self._unavailable(cid) from None
        except StoreError:
            return None
        try:
            data = leaf_content(block)
        except ValueError:
            return None
        if data is None or len(data) > max_bytes or file_cid(data) != cid:
            return None
        return data

    def _unavailable(self, cid: str) -> ArtifactUnavailable:
        return ArtifactUnavailable(
            f"{cid} could not be fetched from {self.api} within {self.fetch_timeout:.0f}s: nobody serves it "
            "(a provider must keep its trace available until the challenge window closes)"
        )

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

    # -- node-to-node: plain HTTP, because ipfshttpclient 0.7 lacks refs/local and mangles swarm/connect --

    def _rpc(self, what: str, path: str, **params: str) -> bytes:
        """A body-less RPC call (through :meth:`_post`, the one HTTP path of this client)."""
        return self._post(what, path, params, timeout=self.fetch_timeout)

    def peer_address(self) -> str:
        """This node's loopback swarm address with its peer ID (what another node dials)."""
        info = json.loads(self._rpc("report its identity", "id"))
        for addr in info.get("Addresses") or []:
            if addr.startswith("/ip4/127.0.0.1/tcp/"):
                return str(addr)
        raise StoreError(f"the IPFS node at {self.api} listens on no loopback swarm address (is it offline?)")

    def connect_peer(self, address: str) -> None:
        """Dial another node by its swarm multiaddr (``/ip4/127.0.0.1/tcp/PORT/p2p/ID``)."""
        self._rpc(f"connect to {address}", "swarm/connect", arg=address)

    def peers(self) -> list[str]:
        """Peer IDs this node is connected to."""
        found = json.loads(self._rpc("list its peers", "swarm/peers")).get("Peers") or []
        return [str(p["Peer"]) for p in found]

    def has_local(self, cid: str) -> bool:
        """Whether this node already holds the root block of ``cid`` (without fetching it from anyone)."""
        wanted = raw_block_cid(cid)
        lines = self._rpc("list its local blocks", "refs/local").decode().splitlines()
        return any(wanted in line for line in lines)

    def bitswap_stats(self) -> dict[str, int]:
        """Blocks and bytes this node sent to and received from its peers since it started.

        js-ipfs updates these counters about once a second, so they lag a transfer just finished.
        """
        stat = json.loads(self._rpc("report bitswap statistics", "bitswap/stat"))
        keys = ("BlocksReceived", "BlocksSent", "DataReceived", "DataSent", "DupBlksReceived", "DupDataReceived")
        return {k: int(stat.get(k, 0)) for k in keys}
