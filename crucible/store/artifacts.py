"""The artifact store: Crucible's artifacts on IPFS, uploaded in the background and verified on the way in.

:class:`ArtifactStore` wraps an :class:`~crucible.store.ipfs.IpfsStore` with typed put/fetch for specs,
datasets, weights, checkpoints, final models and manifests. Every fetch has a size limit and is
validated (format, then committed hash) before anything is returned: a wrong, truncated, oversized
or pickled artifact raises :class:`~crucible.errors.ArtifactRejected` and nothing of it is used.

:class:`CheckpointUploader` overlaps uploads with training: the training thread hands states to a
bounded queue and only waits when the queue is full; one background thread serialises them and
uploads (pinned) whatever has queued up since its last upload in *one* request, each checkpoint
still its own file with its own CIDv0. An upload costs the node a fixed few milliseconds whatever
its size, so batching makes the commitment cost per checkpoint nearly that of hashing alone. The
job's manifest rides in the last request (its CIDs computed here, then checked against the node's),
so the training thread waits for one request at the end of a job, not two.
Failures are collected and raised by :meth:`CheckpointUploader.close`, so a caller never builds a
manifest over checkpoints that did not all reach the node.
"""

from __future__ import annotations

import enum
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Literal, Protocol

import torch

from crucible.errors import ArtifactRejected, StoreError
from crucible.protocol import checkpoint as ckpt
from crucible.protocol import hashing
from crucible.protocol.checkpoint import CheckpointEntry, Manifest
from crucible.protocol.data import load_dataset_bytes
from crucible.protocol.spec import MAX_SPEC_BYTES, JobSpec, load_spec
from crucible.store.unixfs import file_cid

MAX_WEIGHTS_BYTES = 2 << 30


class BlobStore(Protocol):
    """What :class:`ArtifactStore` needs from an IPFS client (``crucible.store.ipfs.IpfsStore`` fits)."""

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str: ...
    def add_many(self, blobs: Sequence[bytes], *, pin: bool = True) -> list[str]: ...
    def cat(self, cid: str, *, max_bytes: int = ...) -> bytes: ...
    def pin(self, cid: str) -> None: ...
    def unpin(self, cid: str) -> None: ...
    def pinned(self, cid: str) -> bool: ...
    def gc(self) -> None: ...


class ArtifactStore:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def put(self, data: bytes) -> str:
        """Upload and pin ``data``; returns its CIDv0."""
        return self.blobs.add_bytes(data, pin=True)

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Upload and pin several artifacts in one request; their CIDv0s, in order."""
        return self.blobs.add_many(blobs, pin=True)

    def pin(self, cid: str) -> None:
        self.blobs.pin(cid)

    def unpin(self, cid: str) -> None:
        self.blobs.unpin(cid)

    def gc(self) -> None:
        """Garbage-collect the node: every block no pin holds is deleted."""
        self.blobs.gc()

    def pinned(self, cid: str) -> bool:
        """Whether this node holds a pin on ``cid`` (so it keeps serving it)."""
        return self.blobs.pinned(cid)

    def fetch_raw(self, cid: str, what: str, *, max_bytes: int = MAX_WEIGHTS_BYTES) -> bytes:
        """The bytes stored at ``cid``, unparsed (to keep a copy of them)."""
        return self._fetch(cid, what, max_bytes)

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
#: Builds the job's manifest from every checkpoint entry and the final model's CID (see ``close``).
ManifestBuilder = Callable[[list[CheckpointEntry], str], Manifest]
#: One upload request holds at most this many checkpoints / bytes (whatever has queued up).
MAX_BATCH = 32
MAX_BATCH_BYTES = 64 << 20
#: How long the uploader waits for more checkpoints before uploading what it holds. A request costs
#: the node a fixed few milliseconds, so waiting turns many small requests into a few; nothing
#: downstream needs a CID before the manifest is built at the end of the job.
LINGER_SECONDS = 0.25


def _nbytes(item: object) -> int:
    if isinstance(item, bytes):
        return len(item)
    if isinstance(item, tuple):
        return sum(t.numel() * t.element_size() for t in item[0].values())
    return 0


class CheckpointUploader:
    """Background, bounded-queue, batching uploader of checkpoints; use as a context manager.

    ``submit`` returns at once unless ``queue_size`` checkpoints are already waiting. The worker
    thread uploads what arrives within ``linger`` seconds of the first waiting checkpoint (up to
    :data:`MAX_BATCH` checkpoints, :data:`MAX_BATCH_BYTES` bytes) in one request.
    ``submit_final_model`` queues the final model behind the last checkpoint (same request).
    ``close`` waits for the queue to drain and returns the entries in submission order, or raises
    :class:`StoreError` with the first failure (after which nothing more is uploaded); given a
    manifest builder, it uploads the manifest in the same last request (:attr:`manifest_cid`).
    """

    def __init__(
        self, store: ArtifactStore, spec_cid: str, *, queue_size: int = 16, linger: float = LINGER_SECONDS
    ) -> None:
        self._store = store
        self._linger = linger
        self._spec_cid = spec_cid
        self._queue: queue.Queue[_Upload | bytes | Literal[_Stop.STOP]] = queue.Queue(maxsize=max(1, queue_size))
        self._entries: list[CheckpointEntry] = []
        self.final_model_cid: str | None = None
        self.manifest: Manifest | None = None
        self.manifest_cid: str | None = None
        self._finish: ManifestBuilder | None = None
        self.requests = 0  # upload requests made (for the benchmark: checkpoints per request)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="crucible-ckpt-upload", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            size = _nbytes(batch[0])
            deadline = time.monotonic() + self._linger
            while batch[-1] is not _STOP and len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES:
                try:  # gather what comes within the linger time; close() ends it at once
                    batch.append(self._queue.get(timeout=max(deadline - time.monotonic(), 1e-6)))
                except queue.Empty:
                    break
                size += _nbytes(batch[-1])
            stop = batch[-1] is _STOP
            items = [item for item in batch if item is not _STOP]
            finish = self._finish if stop else None  # set by close() before it queued the stop
            if (items or finish is not None) and self._error is None:  # after a failure: drain only
                try:
                    self._upload(items, finish)
                except BaseException as exc:  # surfaced by close()
                    self._error = exc

    def _upload(self, items: list[_Upload | bytes], finish: ManifestBuilder | None = None) -> None:
        blobs = [
            item if isinstance(item, bytes) else ckpt.encode_checkpoint(item[0], self._spec_cid, item[1])
            for item in items
        ]
        manifest = None
        if finish is not None:  # the manifest needs this request's CIDs before the node gives them
            entries, model_cid = self._recorded(items, [file_cid(b) for b in blobs])
            if model_cid is None:
                raise StoreError("no final model was submitted before the manifest")
            manifest = finish(entries, model_cid)
            blobs.append(manifest.to_bytes())
        cids = self._store.put_many(blobs)
        self.requests += 1
        if manifest is not None:
            manifest_cid, cids = cids[-1], cids[:-1]
            if self._recorded(items, cids) != (entries, model_cid):
                raise StoreError(f"the IPFS node named this job's files {cids}, not the CIDs its manifest lists")
            self.manifest, self.manifest_cid = manifest, manifest_cid
        self._entries, self.final_model_cid = self._recorded(items, cids)

    def _recorded(self, items: list[_Upload | bytes], cids: Sequence[str]) -> tuple[list[CheckpointEntry], str | None]:
        """The entries and final model CID once ``items`` are stored under ``cids`` (nothing changed)."""
        entries, model_cid = list(self._entries), self.final_model_cid
        for item, cid in zip(items, cids, strict=True):
            if isinstance(item, bytes):
                model_cid = cid
                continue
            tensors, digest = item
            step = int(tensors["step"].item())
            entries.append(CheckpointEntry(step=step, state_hash=hashing.to_hex(digest), cid=cid))
        return entries, model_cid

    def submit(self, tensors: Mapping[str, torch.Tensor], state_hash: bytes) -> None:
        """Queue one checkpoint (the tensors must not be modified afterwards: TrainState's are not)."""
        if self._closed:
            raise StoreError("checkpoint uploader is closed")
        if self._error is not None:
            self._raise()
        self._queue.put((dict(tensors), state_hash))

    def submit_final_model(self, data: bytes) -> None:
        """Queue the encoded final model; its CID is :attr:`final_model_cid` after :meth:`close`."""
        if self._closed:
            raise StoreError("checkpoint uploader is closed")
        if self._error is not None:
            self._raise()
        self._queue.put(data)

    def _raise(self) -> None:
        err = self._error
        if isinstance(err, StoreError):
            raise StoreError(f"checkpoint upload failed: {err}") from err
        raise StoreError(f"checkpoint upload failed: {type(err).__name__}: {err}") from err

    def close(self, manifest: ManifestBuilder | None = None) -> list[CheckpointEntry]:
        """Wait for every upload; ``manifest(entries, final_model_cid)``, if given, builds the job's
        manifest on the uploader thread, which uploads it in the last request (:attr:`manifest_cid`)."""
        if not self._closed:
            self._closed = True
            self._finish = manifest
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
