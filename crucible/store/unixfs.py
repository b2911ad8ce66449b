"""The CIDv0 an IPFS node gives a file, computed locally, so a fetched artifact is checked by the client.

An IPFS node checks every block it receives from a peer, but the bytes a role gets come through an
HTTP API from whichever node it is configured with. Recomputing the CID here means an artifact is
accepted only if it is exactly what its CID names, whichever node served it and whatever that node did.

The layout is the default both kubo and js-ipfs use for ``add --cid-version 0``: 256 KiB chunks, each
a dag-pb node holding a UnixFS ``file`` leaf; a balanced tree of at most 174 links per node; a file of
one chunk is that single leaf. :class:`crucible.store.ipfs.IpfsStore` also checks, on every add,
that its node agrees, so a node configured with another chunker is caught at upload, not at fetch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import base58

CHUNK_SIZE = 262144
MAX_LINKS = 174
_UNIXFS_FILE = 2
_SHA256_MULTIHASH = b"\x12\x20"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _uint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


@dataclass(frozen=True)
class _Node:
    multihash: bytes
    file_size: int  # bytes of file content below this node
    tree_size: int  # encoded bytes of this node and everything below (the link's Tsize)


def _block(block: bytes, file_size: int, below: int = 0) -> _Node:
    return _Node(_SHA256_MULTIHASH + hashlib.sha256(block).digest(), file_size, len(block) + below)


def _leaf(chunk: bytes | memoryview) -> _Node:
    """The leaf block ``PBNode{Data: UnixFS{Type: file, Data: chunk, filesize}}``, hashed in
    pieces so the chunk is never copied into it (a checkpoint's bytes are read once, by sha256)."""
    size = len(chunk)
    head = _uint(1, _UNIXFS_FILE) + (_varint(2 << 3 | 2) + _varint(size) if size else b"")
    tail = _uint(3, size)
    prefix = _varint(1 << 3 | 2) + _varint(len(head) + size + len(tail)) + head
    digest = hashlib.sha256(prefix)
    digest.update(chunk)
    digest.update(tail)
    return _Node(_SHA256_MULTIHASH + digest.digest(), size, len(prefix) + size + len(tail))


def _parent(children: list[_Node]) -> _Node:
    size = sum(c.file_size for c in children)
    unixfs = _uint(1, _UNIXFS_FILE) + _uint(3, size) + b"".join(_uint(4, c.file_size) for c in children)
    links = b"".join(_field(2, _field(1, c.multihash) + _field(2, b"") + _uint(3, c.tree_size)) for c in children)
    return _block(links + _field(1, unixfs), size, sum(c.tree_size for c in children))


def file_cid(data: bytes | memoryview, *, chunk_size: int = CHUNK_SIZE) -> str:
    """The CIDv0 (``Qm…``) that ``ipfs add --cid-version 0`` gives ``data`` with the default chunker."""
    view = memoryview(data)
    chunks: list[bytes | memoryview] = [view[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    level = [_leaf(c) for c in chunks]
    if len(level) > 1:
        while True:
            level = [_parent(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
            if len(level) == 1:
                break
    return str(base58.b58encode(level[0].multihash).decode())


# --- reading: the one case a client meets most, a file of a single block ---------------------------


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of a protobuf message holding only varint and length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield key >> 3, value
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            yield key >> 3, buf[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def leaf_content(block: bytes) -> bytes | None:
    """The file content a dag-pb block holds by itself (a UnixFS ``file`` node without links: a
    whole file of at most one chunk), or None for any other node. Raises ValueError on bytes that
    are not a protobuf. Never trusted alone: a caller checks :func:`file_cid` of the content."""
    unixfs: memoryview | None = None
    for number, value in _fields(memoryview(block)):
        if number == 2:
            return None  # a link: the content is spread over other blocks
        if number == 1 and isinstance(value, memoryview):
            unixfs = value
    if unixfs is None:
        return None
    kind, content = None, memoryview(b"")
    for number, value in _fields(unixfs):
        if number == 1:
            kind = value
        elif number == 2 and isinstance(value, memoryview):
            content = value
    return bytes(content) if kind == _UNIXFS_FILE else None
