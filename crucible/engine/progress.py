"""The provider's side of training progress: one signed record per checkpoint, published off the
training thread (see :mod:`crucible.protocol.progress` for the record)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from eth_account.signers.local import LocalAccount

from crucible.engine.step import Engine, TrainState
from crucible.errors import CrucibleError
from crucible.protocol.checkpoint import encode_checkpoint
from crucible.protocol.progress import sign_record, topic_for
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from crucible.store.pubsub import IpfsPubsubTransport, Transport, pubsub_api

log = logging.getLogger("crucible.progress")

#: Seconds a publisher stops reporting after a failure (saves the per-checkpoint work meanwhile).
PAUSE_AFTER_FAILURE = 30.0


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


def publisher_for(
    account: LocalAccount | None, store: ArtifactStore, *, chain_id: int, market: str
) -> ProgressPublisher | NoProgress:
    """The worker's publisher over IPFS pubsub on its IPFS node (or ``CRUCIBLE_PUBSUB_API``'s)."""
    blobs = store.blobs
    if account is None or not isinstance(blobs, IpfsStore):
        return NoProgress()
    return ProgressPublisher(
        account, IpfsPubsubTransport(pubsub_api(blobs.api)), blobs.cid_of, chain_id=chain_id, market=market
    )


def checkpoint_loss(engine: Engine, state: TrainState) -> float:
    """The training loss of ``state`` on the batch of its own step (the next one it trains on; the
    last batch for the final state): one forward pass, outside the trace."""
    step = min(state.step, engine.spec.train.total_steps - 1)
    params = {k.removeprefix("param/"): v for k, v in state.tensors.items() if k.startswith("param/")}
    x, y = engine.batch(step)
    with torch.no_grad():
        return float(engine.loss(params, x, y))
