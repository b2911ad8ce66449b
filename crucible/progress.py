"""Training progress across machines: the provider signs one record per checkpoint (step, loss, CID)
and publishes it on a topic; readers keep only records signed by the job's provider.

Progress is otherwise public only when the manifest appears at the end. A record is plain JSON
signed with EIP-191 (``personal_sign``) by the provider's key, so any reader can check it against
the provider the chain names for the job, whatever channel carried it. The channel is a
:class:`Transport`; :class:`IpfsPubsubTransport` uses the kubo-compatible ``/api/v0/pubsub`` RPC.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import httpx
import torch
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from crucible.artifacts import ArtifactStore
from crucible.checkpoint import encode_checkpoint
from crucible.engine.step import Engine, TrainState
from crucible.errors import CrucibleError, StoreError
from crucible.ipfs import IpfsStore
from crucible.market import Market

log = logging.getLogger("crucible.progress")

RECORD_VERSION = 1
MAX_RECORD_BYTES = 4096
#: Seconds a publisher stops reporting after a failure (saves the per-checkpoint work meanwhile).
PAUSE_AFTER_FAILURE = 30.0


class InvalidRecord(CrucibleError, ValueError):
    """A progress record that is malformed, for another market, or not signed by the job's provider."""


def topic_for(chain_id: int, market: str) -> str:
    """One topic per market: readers filter by job, and a new job needs no new subscription."""
    return f"crucible-progress/{chain_id}/{market.lower()}"


@dataclass(frozen=True)
class ProgressRecord:
    """One checkpoint as the provider reports it while training; ``time`` is the provider's clock."""

    chain_id: int
    market: str
    job_id: int
    step: int
    total_steps: int
    loss: float
    cid: str
    state_hash: str
    time: float
    signer: str
    signature: str = ""

    def payload(self) -> str:
        """The exact text that is signed: every field but the signature, as sorted compact JSON."""
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps({"v": RECORD_VERSION, **fields}, sort_keys=True, separators=(",", ":"))

    def to_bytes(self) -> bytes:
        return json.dumps({"v": RECORD_VERSION, **asdict(self)}, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProgressRecord:
        """Parse and check the signature (not yet who signed: see :meth:`verify_for`)."""
        if len(data) > MAX_RECORD_BYTES:
            raise InvalidRecord(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRecord(f"record is not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.pop("v", None) != RECORD_VERSION:
            raise InvalidRecord(f"record is not a version {RECORD_VERSION} progress record")
        number: tuple[type, ...] = (int, float)
        types: dict[str, type | tuple[type, ...]] = {"chain_id": int, "job_id": int, "step": int, "total_steps": int}
        types |= {"time": number, "loss": number, "market": str, "cid": str, "state_hash": str}
        types |= {"signer": str, "signature": str}
        if set(raw) != set(types):
            raise InvalidRecord(f"record fields {sorted(raw)} differ from {sorted(types)}")
        for name, kind in types.items():
            if not isinstance(raw[name], kind) or isinstance(raw[name], bool):
                raise InvalidRecord(f"record field {name!r} has the wrong type")
        record = cls(**{**raw, "loss": float(raw["loss"]), "time": float(raw["time"])})
        if not 0 <= record.step <= record.total_steps or not math.isfinite(record.time):
            raise InvalidRecord(f"step {record.step} is outside 0..{record.total_steps}")
        try:
            recovered = Account.recover_message(encode_defunct(text=record.payload()), signature=record.signature)
        except Exception as exc:  # eth_account raises several types for a malformed signature
            raise InvalidRecord(f"bad signature: {exc}") from None
        if recovered.lower() != record.signer.lower():
            raise InvalidRecord(f"signature is by {recovered}, not by the claimed signer {record.signer}")
        return record

    def verify_for(self, chain_id: int, market: str, job_id: int, provider: str) -> None:
        """Raise unless this record is about ``job_id`` on this market and signed by its provider."""
        if (self.chain_id, self.market.lower(), self.job_id) != (chain_id, market.lower(), job_id):
            raise InvalidRecord(f"record is for job {self.job_id} on {self.chain_id}/{self.market}")
        if self.signer.lower() != provider.lower():
            raise InvalidRecord(f"job {job_id}'s provider is {provider}; record signed by {self.signer}")


def sign_record(account: LocalAccount, **fields: Any) -> ProgressRecord:
    unsigned = ProgressRecord(**fields, signer=account.address)
    signed = account.sign_message(encode_defunct(text=unsigned.payload()))
    return ProgressRecord(**{**asdict(unsigned), "signature": "0x" + bytes(signed.signature).hex()})


class Transport(Protocol):
    """A publish/subscribe channel between hosts. ``subscribe`` blocks, calling ``on_message`` per
    message, until ``stop`` is set; it raises :class:`StoreError` when the channel is unreachable."""

    def publish(self, topic: str, data: bytes) -> None: ...

    def subscribe(self, topic: str, on_message: Callable[[bytes], None], stop: threading.Event) -> None: ...


def _multibase(data: bytes) -> str:
    """kubo's RPC wants topics multibase-encoded: 'u' + unpadded base64url."""
    return "u" + base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unmultibase(text: str) -> bytes:
    if text.startswith("u"):
        body = text[1:]
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if text.startswith("m"):
        body = text[1:]
        return base64.b64decode(body + "=" * (-len(body) % 4))
    raise ValueError(f"unsupported multibase prefix {text[:1]!r}")


class IpfsPubsubTransport:
    """IPFS pubsub through a kubo-compatible RPC API (kubo or js-ipfs with pubsub enabled)."""

    def __init__(self, api: str, *, timeout: float = 10.0) -> None:
        self.api = api.rstrip("/")
        self.timeout = timeout

    def publish(self, topic: str, data: bytes) -> None:
        try:
            reply = httpx.post(
                f"{self.api}/api/v0/pubsub/pub",
                params={"arg": _multibase(topic.encode())},
                files={"file": ("record", data)},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"IPFS pubsub at {self.api} did not answer: {exc}") from None
        if reply.status_code != 200 and "InsufficientPeers" in reply.text:
            return  # nobody subscribes right now (js-ipfs says so with an error): nothing is lost
        if reply.status_code != 200:
            raise StoreError(f"IPFS pubsub publish refused ({reply.status_code}): {reply.text[:200]}")

    def check(self) -> None:
        """Raise :class:`StoreError` unless the node answers pubsub. Checked before subscribing: a
        js-ipfs node with pubsub disabled accepts ``sub`` and then exits when the stream closes."""
        try:
            reply = httpx.post(f"{self.api}/api/v0/pubsub/ls", timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise StoreError(f"IPFS pubsub at {self.api} did not answer: {exc}") from None
        if reply.status_code != 200:
            try:
                reason = str(reply.json().get("Message", reply.text))
            except ValueError:
                reason = reply.text[:200]
            raise StoreError(f"the IPFS node at {self.api} does not serve pubsub: {reason}")

    def subscribe(self, topic: str, on_message: Callable[[bytes], None], stop: threading.Event) -> None:
        url = f"{self.api}/api/v0/pubsub/sub"
        self.check()
        # No read timeout: a quiet topic is normal. A read interrupted by a timeout would end the line
        # iterator, and messages published while re-subscribing are lost (pubsub keeps nothing), so
        # ``stop`` is honoured by closing the stream from a watcher thread instead.
        client = httpx.Client(timeout=httpx.Timeout(self.timeout, read=None))
        ended = threading.Event()

        def close_on_stop() -> None:
            while not (stop.wait(0.5) or ended.is_set()):
                pass
            client.close()

        threading.Thread(target=close_on_stop, name="crucible-pubsub-stop", daemon=True).start()
        try:
            with client.stream("POST", url, params={"arg": _multibase(topic.encode())}) as reply:
                if reply.status_code != 200:
                    raise StoreError(f"IPFS pubsub subscribe refused ({reply.status_code})")
                for line in reply.iter_lines():
                    if stop.is_set():
                        return
                    try:
                        message = json.loads(line) if line.strip() else {}
                        if "data" not in message:  # js-ipfs opens the stream with an empty object
                            continue
                        on_message(_unmultibase(message["data"]))
                    except (ValueError, KeyError, TypeError) as exc:
                        log.warning("ignoring an unreadable pubsub message: %s", exc)
        except Exception as exc:
            if stop.is_set():
                return  # the watcher closed the stream
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, httpx.HTTPError):
                raise StoreError(f"IPFS pubsub at {self.api} did not answer: {exc}") from None
            raise
        finally:
            ended.set()
            client.close()
        if not stop.is_set():
            raise StoreError(f"IPFS pubsub subscription at {self.api} ended")


@dataclass(frozen=True)
class _Checkpoint:
    job_id: int
    step: int
    total_steps: int
    loss: float
    state_hash: bytes
    checkpoint_bytes: bytes
    at: float


class ProgressPublisher:
    """The worker's side: one signed record per checkpoint. Naming, signing and publishing run on a
    thread of their own so training never waits on the channel; a failure is logged and the record
    dropped (progress is a courtesy: the trace committed on chain is what counts)."""

    def __init__(
        self,
        account: LocalAccount,
        transport: Transport,
        cid_of: Callable[[bytes], str],
        *,
        chain_id: int,
        market: str,
    ) -> None:
        self.account = account
        self.transport = transport
        self.cid_of = cid_of
        self.chain_id = chain_id
        self.market = market
        self.topic = topic_for(chain_id, market)
        self.published = 0
        self._paused_until = 0.0  # after a failed publish: the channel is down or pubsub disabled
        self._queue: queue.Queue[_Checkpoint] = queue.Queue(maxsize=64)
        self._thread = threading.Thread(target=self._work, name="crucible-progress", daemon=True)
        self._thread.start()

    def checkpoint(self, job_id: int, engine: Engine, state: TrainState, state_hash: bytes, spec_cid: str) -> None:
        """Called on the training thread right after checkpoint ``state`` of ``job_id`` was hashed."""
        reached = time.time()
        if time.monotonic() < self._paused_until:
            return
        item = _Checkpoint(
            job_id,
            state.step,
            engine.spec.train.total_steps,
            checkpoint_loss(engine, state),
            state_hash,
            encode_checkpoint(state.to("cpu").tensors, spec_cid, state_hash),
            reached,
        )
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.warning("progress of job %d at step %d dropped: the channel is behind", job_id, state.step)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if time.monotonic() < self._paused_until:
                continue
            try:
                record = sign_record(
                    self.account,
                    chain_id=self.chain_id,
                    market=self.market,
                    job_id=item.job_id,
                    step=item.step,
                    total_steps=item.total_steps,
                    loss=item.loss,
                    cid=self.cid_of(item.checkpoint_bytes),
                    state_hash="0x" + item.state_hash.hex(),
                    time=item.at,
                )
                self.transport.publish(self.topic, record.to_bytes())
                self.published += 1
            except CrucibleError as exc:
                self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
                log.warning(
                    "progress of job %d at step %d not published: %s; trying again in %.0fs",
                    item.job_id,
                    item.step,
                    exc,
                    PAUSE_AFTER_FAILURE,
                )


class NoProgress:
    """Where no channel can be built (no key, or not an IPFS store): checkpoints are not reported."""

    def checkpoint(self, job_id: int, engine: Engine, state: TrainState, state_hash: bytes, spec_cid: str) -> None:
        return None


class ProgressFeed:
    """The reader's side: subscribes in a thread, keeps verified records per job, and reconnects.

    ``provider_of(job_id)`` names the provider the chain records for the job (None: unknown yet;
    such records are held back and checked again when asked for)."""

    def __init__(
        self,
        transport: Transport,
        *,
        chain_id: int,
        market: str,
        provider_of: Callable[[int], str | None],
        on_record: Callable[[ProgressRecord], None] | None = None,
    ) -> None:
        self.transport = transport
        self.chain_id = chain_id
        self.market = market
        self.provider_of = provider_of
        self.on_record = on_record
        self.topic = topic_for(chain_id, market)
        self.rejected = 0
        self.error: str | None = None
        self._records: dict[int, dict[int, ProgressRecord]] = {}
        self._unchecked: list[ProgressRecord] = []
        self._lock = threading.Lock()

    def receive(self, data: bytes) -> None:
        self.error = None  # a message came: the channel works
        try:
            record = ProgressRecord.from_bytes(data)
        except InvalidRecord as exc:
            self.rejected += 1
            log.info("dropped a progress record: %s", exc)
            return
        self._accept(record)

    def _accept(self, record: ProgressRecord) -> None:
        provider = self.provider_of(record.job_id)
        if provider is None:
            with self._lock:
                self._unchecked = [*self._unchecked[-999:], record]
            return
        try:
            record.verify_for(self.chain_id, self.market, record.job_id, provider)
        except InvalidRecord as exc:
            self.rejected += 1
            log.info("dropped a progress record: %s", exc)
            return
        with self._lock:
            self._records.setdefault(record.job_id, {})[record.step] = record
        if self.on_record is not None:
            self.on_record(record)

    def records(self, job_id: int) -> list[ProgressRecord]:
        with self._lock:
            pending, self._unchecked = self._unchecked, []
        for record in pending:
            self._accept(record)
        with self._lock:
            return [r for _, r in sorted(self._records.get(job_id, {}).items())]

    def run(self, stop: threading.Event, retry: float = 1.0, max_retry: float = 30.0) -> None:
        """Subscribe until ``stop``, reconnecting after a failure with a growing pause (a node with
        pubsub off is asked again now and then, not every second; each new error is logged once)."""
        pause = retry
        while not stop.is_set():
            try:
                self.transport.subscribe(self.topic, self.receive, stop)
            except CrucibleError as exc:
                if str(exc) != self.error:
                    log.warning("progress feed: %s", exc)
                self.error = str(exc)
                stop.wait(pause)
                pause = min(max_retry, pause * 2)
            else:
                self.error, pause = None, retry


def pubsub_api(ipfs_api: str) -> str:
    """The IPFS node that carries progress: ``CRUCIBLE_PUBSUB_API`` if set, else the artifact node."""
    return os.environ.get("CRUCIBLE_PUBSUB_API") or ipfs_api


def publisher_for(market: Market, store: ArtifactStore) -> ProgressPublisher | NoProgress:
    """The worker's publisher over IPFS pubsub on its IPFS node (or ``CRUCIBLE_PUBSUB_API``'s)."""
    blobs = store.blobs
    if market.signer is None or not isinstance(blobs, IpfsStore):
        return NoProgress()
    return ProgressPublisher(
        market.signer.account,
        IpfsPubsubTransport(pubsub_api(blobs.api)),
        blobs.cid_of,
        chain_id=int(market.w3.eth.chain_id),
        market=market.address,
    )


def checkpoint_loss(engine: Engine, state: TrainState) -> float:
    """The training loss of ``state`` on the batch of its own step (the next one it trains on; the
    last batch for the final state): one forward pass, outside the trace."""
    step = min(state.step, engine.spec.train.total_steps - 1)
    params = {k.removeprefix("param/"): v for k, v in state.tensors.items() if k.startswith("param/")}
    x, y = engine.batch(step)
    with torch.no_grad():
        return float(engine.loss(params, x, y))
