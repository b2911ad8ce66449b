"""Carrying progress records between hosts over IPFS pubsub (kubo-compatible ``/api/v0/pubsub``
RPC), and the reader's side that keeps only records signed by each job's provider."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

import httpx

from crucible.errors import CrucibleError, StoreError
from crucible.protocol.progress import InvalidRecord, ProgressRecord, topic_for

log = logging.getLogger("crucible.progress")


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


class ProgressFeed:
    """The reader's side (the explorer's and ``requester watch``'s): subscribes in a thread, keeps
    verified records per job, and reconnects.

    ``provider_of(job_id)`` names the provider the chain records for the job (None: unknown yet;
    such records are held back and checked again when asked for). ``job_id`` follows one job only.
    Kept are records signed by the job's provider whose step is past the last one kept (a replayed
    older or equal step says nothing new); every record dropped is logged at debug level, with why."""

    def __init__(
        self,
        transport: Transport,
        *,
        chain_id: int,
        market: str,
        provider_of: Callable[[int], str | None],
        on_record: Callable[[ProgressRecord], None] | None = None,
        job_id: int | None = None,
    ) -> None:
        self.transport = transport
        self.chain_id = chain_id
        self.market = market
        self.provider_of = provider_of
        self.on_record = on_record
        self.job_id = job_id
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
            self._drop(exc)
            return
        if self.job_id is not None and record.job_id != self.job_id:
            self._drop(f"record is for job {record.job_id}, not the followed job {self.job_id}")
            return
        self._accept(record)

    def _drop(self, why: object) -> None:
        self.rejected += 1
        log.debug("dropped a progress record: %s", why)

    def _accept(self, record: ProgressRecord) -> None:
        provider = self.provider_of(record.job_id)
        if provider is None:
            with self._lock:
                self._unchecked = [*self._unchecked[-999:], record]
            return
        try:
            record.verify_for(self.chain_id, self.market, record.job_id, provider)
        except InvalidRecord as exc:
            self._drop(exc)
            return
        with self._lock:
            kept = self._records.setdefault(record.job_id, {})
            if kept and next(iter(kept.values())).signer.lower() != record.signer.lower():
                kept.clear()  # the job has a new provider (released and claimed again): start over
            newest = max(kept, default=-1)
            if record.step <= newest:
                replay = f"job {record.job_id} step {record.step} is not past step {newest} already kept (a replay)"
            else:
                replay = None
                kept[record.step] = record
        if replay is not None:
            self._drop(replay)
            return
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
