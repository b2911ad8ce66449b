"""The artifact store: Crucible's artifacts on IPFS, uploaded in the background and verified on the way in.

:class:`ArtifactStore` wraps an :class:`~crucible.store.ipfs.IpfsStore` with typed put/fetch for specs,
datasets, weights, checkpoints, final models and manifests. Every fetch has a size limit and is
validated (format, then committed hash) before anything is returned: a wrong, truncated, oversized
or pickled artifact raises :class:`~crucible.errors.ArtifactRejected` and nothing of it is used.

:class:`CheckpointUploader` overlaps uploads with training: the training thread hands states to a
bounded queue and only waits when the queue is full; one background thread serialises and uploads
(pinned). Failures are collected and raised by :meth:`CheckpointUploader.close`, so a caller never
builds a manifest over checkpoints that did not all reach the node.
"""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Literal, Protocol

import torch

from crucible.errors import ArtifactRejected, StoreError
from crucible.protocol import checkpoint as ckpt
from crucible.protocol import hashing
from crucible.protocol.checkpoint import CheckpointEntry, Manifest
from crucible.protocol.data import load_dataset_bytes
from crucible.protocol.spec import MAX_SPEC_BYTES, JobSpec, load_spec

MAX_WEIGHTS_BYTES = 2 << 30


class BlobStore(Protocol):
    """What :class:`ArtifactStore` needs from an IPFS client (``crucible.store.ipfs.IpfsStore`` fits)."""

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str: ...
    def cat(self, cid: str, *, max_bytes: int = ...) -> bytes: ...
    def pin(self, cid: str) -> None: ...


class ArtifactStore:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def put(self, data: bytes) -> str:
        """Upload and pin ``data``; returns its CIDv0."""
        return self.blobs.add_bytes(data, pin=True)

    def pin(self, cid: str) -> None:
        self.blobs.pin(cid)

    def _fetch(self, cid: str, what: str, max_bytes: int) -> bytes:
        try:
            return self.blobs.cat(cid, max_bytes=max_bytes)
        except ArtifactRejected as exc:
            raise ArtifactRejected(f"{what} {cid}: {exc}") from None

    # -- specs, data, weights --

    def put_spec(self, spec: JobSpec) -> str:
        return self.put(spec.canonical_json())

    def fetch_spec(self, cid: str) -> JobSpec:
        return load_spec(self._fetch(cid, "job spec", MAX_SPEC_BYTES))

    def fetch_dataset(self, cid: str, *, max_bytes: int = 1 << 30) -> dict[str, torch.Tensor]:
        return load_dataset_bytes(self._fetch(cid, "dataset", max_bytes))

    def fetch_weights(self, cid: str, *, max_bytes: int = MAX_WEIGHTS_BYTES) -> dict[str, torch.Tensor]:
        tensors, _ = ckpt.read_safetensors(self._fetch(cid, "initial weights", max_bytes), f"initial weights {cid}")
        return tensors

    # -- trace artifacts --

    def fetch_checkpoint(
        self,
        cid: str,
        *,
        expected_hash: bytes,
        expected_step: int | None = None,
        max_bytes: int = ckpt.MAX_CHECKPOINT_BYTES,
    ) -> dict[str, torch.Tensor]:
        """A checkpoint's tensors, only if they hash to ``expected_hash`` (the committed stateHash)."""
        data = self._fetch(cid, "checkpoint", max_bytes)
        tensors, _ = ckpt.decode_checkpoint(
            data,
            expected_hash=expected_hash,
            expected_step=expected_step,
            max_bytes=max_bytes,
            what=f"checkpoint {cid}",
        )
        return tensors

    def fetch_manifest(self, cid: str) -> Manifest:
        return Manifest.from_bytes(self._fetch(cid, "manifest", ckpt.MAX_MANIFEST_BYTES))

    def fetch_final_model(
        self, cid: str, *, expected_params_hash: bytes, max_bytes: int = ckpt.MAX_CHECKPOINT_BYTES
    ) -> dict[str, torch.Tensor]:
        return self.fetch_final_model_file(cid, expected_params_hash=expected_params_hash, max_bytes=max_bytes)[1]

    def fetch_final_model_file(
        self, cid: str, *, expected_params_hash: bytes, max_bytes: int = ckpt.MAX_CHECKPOINT_BYTES
    ) -> tuple[bytes, dict[str, torch.Tensor]]:
        """The final model's bytes exactly as committed (they hash to ``cid``) and its checked parameters."""
        data = self._fetch(cid, "final model", max_bytes)
        return data, ckpt.decode_final_model(data, expected_params_hash=expected_params_hash, max_bytes=max_bytes)


class _Stop(enum.Enum):
    """The uploader queue's end marker (an enum member, so ``is _STOP`` narrows the item's type)."""

    STOP = enum.auto()


_STOP = _Stop.STOP
_Upload = tuple[dict[str, torch.Tensor], bytes]


class CheckpointUploader:
    """Background, bounded-queue uploader of checkpoints; use as a context manager.

    ``submit`` returns at once unless ``queue_size`` checkpoints are already waiting. ``close``
    waits for the queue to drain and returns the entries in submission order, or raises
    :class:`StoreError` with the first failure (after which nothing more is uploaded).
    """

    def __init__(self, store: ArtifactStore, spec_cid: str, *, queue_size: int = 4) -> None:
        self._store = store
        self._spec_cid = spec_cid
        self._queue: queue.Queue[_Upload | Literal[_Stop.STOP]] = queue.Queue(maxsize=max(1, queue_size))
        self._entries: list[CheckpointEntry] = []
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="crucible-ckpt-upload", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain without uploading once something failed
            tensors, digest = item
            try:
                data = ckpt.encode_checkpoint(tensors, self._spec_cid, digest)
                cid = self._store.put(data)
                step = int(tensors["step"].item())
                self._entries.append(CheckpointEntry(step=step, state_hash=hashing.to_hex(digest), cid=cid))
            except BaseException as exc:  # surfaced by close()
                self._error = exc

    def submit(self, tensors: Mapping[str, torch.Tensor], state_hash: bytes) -> None:
        """Queue one checkpoint (the tensors must not be modified afterwards: TrainState's are not)."""
        if self._closed:
            raise StoreError("checkpoint uploader is closed")
        if self._error is not None:
            self._raise()
        self._queue.put((dict(tensors), state_hash))

    def _raise(self) -> None:
        err = self._error
        if isinstance(err, StoreError):
            raise StoreError(f"checkpoint upload failed: {err}") from err
        raise StoreError(f"checkpoint upload failed: {type(err).__name__}: {err}") from err

    def close(self) -> list[CheckpointEntry]:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        if self._error is not None:
            self._raise()
        return list(self._entries)

    def abort(self) -> None:
        if self._error is None:
            self._error = StoreError("aborted")
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> CheckpointUploader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
