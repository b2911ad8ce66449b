"""The requester as a library: post a job, watch it, fetch and check the model, cancel or reclaim.

The `crucible requester` CLI is a thin layer over :class:`Requester`.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from crucible.chain.market import Job, JobStatus, JobTerms, Market, SubmittedResult
from crucible.engine.step import evaluate, initial_state_from
from crucible.errors import ConfigError, CrucibleError, InvalidJobSpec
from crucible.protocol import dissection
from crucible.protocol.checkpoint import write_safetensors
from crucible.protocol.data import load_dataset_bytes, validate_dataset
from crucible.protocol.hashing import params_hash, to_hex
from crucible.protocol.progress import ProgressRecord, eta_seconds
from crucible.protocol.spec import JobSpec, WeightsInit, parse_document, validate_spec
from crucible.store.artifacts import ArtifactStore
from crucible.store.pubsub import IpfsPubsubTransport, ProgressFeed

#: Statuses a job never leaves: `watch` stops there.
FINAL_STATUSES = frozenset({JobStatus.FINALIZED, JobStatus.SLASHED, JobStatus.CANCELLED, JobStatus.REFUNDED})


@dataclass(frozen=True)
class Offer:
    """What the requester offers on chain for a job (amounts in wei, times in seconds). A stake or
    bond of None takes the least the market accepts (``minStakeFor(reward)``, ``minBondFor``);
    an arity of None the one whose defence costs least gas (see :meth:`Requester.choose_arity`)."""

    reward: int
    duration: int
    challenge_window: int
    stake: int | None = None
    bond: int | None = None
    arity: int | None = None
    refund_on_expiry: bool = True


@dataclass(frozen=True)
class JobView:
    job_id: int
    status: JobStatus
    job: Job
    seconds_left: int | None  # of the claim deadline or the challenge window, where one runs
    result: SubmittedResult | None
    disputes: list[int]  # every dispute opened on the job
    payout_bound: int | None  # latest finalization time given the chain now (submitted jobs)
    delay_cost_per_hour: int | None  # least wei a griefer pays per hour it delays this job
    #: Seconds since the chain's latest block, by the wall clock (an idle devnet mines no blocks).
    last_block_age: int = 0
    #: Whether that is longer than the warning threshold: deadlines then pass only with the next block.
    chain_stalled: bool = False

    @property
    def provider(self) -> str | None:
        return self.job.provider if int(self.job.provider, 16) else None

    def to_json(self) -> dict[str, Any]:
        j = self.job
        return {
            "job_id": self.job_id,
            "status": self.status.name.lower(),
            "requester": j.requester,
            "provider": self.provider,
            "reward_wei": j.reward,
            "stake_wei": j.stake,
            "bond_wei": j.bond,
            "total_steps": j.total_steps,
            "interval": j.interval,
            "spec_cid": j.spec_cid_str,
            "deadline": j.deadline if self.seconds_left is not None else None,
            "seconds_left": self.seconds_left,
            "last_block_age_s": self.last_block_age,
            "chain_stalled": self.chain_stalled,
            "trace_root": to_hex(j.trace_root) if any(j.trace_root) else None,
            "manifest_cid": self.result.manifest_cid if self.result else None,
            "final_model_cid": self.result.final_model_cid if self.result else None,
            "arity": j.arity,
            "window_end": j.window_end or None,
            "live_disputes": j.live_disputes,
            "disputes": self.disputes,
            "payout_bound": self.payout_bound,
            "delay_cost_per_hour_wei": self.delay_cost_per_hour,
        }


@dataclass(frozen=True)
class StatusSeen:
    """One read of the job from the chain; ``changed``: more than its countdowns moved since the last."""

    view: JobView
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {"type": "status", **self.view.to_json()}


@dataclass(frozen=True)
class ProgressSeen:
    """A checkpoint the job's provider reported and signed; ``received`` is this host's clock."""

    record: ProgressRecord
    eta: float | None
    received: float

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "type": "progress",
            "job_id": r.job_id,
            "step": r.step,
            "total_steps": r.total_steps,
            "loss": r.loss,
            "cid": r.cid,
            "state_hash": r.state_hash,
            "provider": r.signer,
            "time": r.time,
            "received": self.received,
            "eta_s": self.eta,
        }


@dataclass(frozen=True)
class ProgressUnavailable:
    """Progress cannot be followed (no node, or no pubsub on it): only the chain's status is shown."""

    job_id: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "progress_unavailable", "job_id": self.job_id, "reason": self.reason}


WatchEvent = StatusSeen | ProgressSeen | ProgressUnavailable


@dataclass(frozen=True)
class FetchedModel:
    path: Path
    params_hash: bytes
    metric: str | None
    value: float | None


class Requester:
    def __init__(self, market: Market, store: ArtifactStore, *, stall_warning: float = 60.0) -> None:
        self.market = market
        self.store = store
        self.stall_warning = stall_warning
        #: Told ``(what, path, size)`` before each file is uploaded (the CLI shows upload progress).
        self.on_upload: Callable[[str, Path, int], None] | None = None

    # ------------------------------------------------------------------ posting

    def prepare_spec(
        self,
        spec_file: Path,
        *,
        dataset: Path | None = None,
        eval_data: Path | None = None,
        weights: Path | None = None,
    ) -> tuple[JobSpec, str]:
        """Upload the local files a spec names and return the completed spec and its CID.

        ``dataset``/``eval_data``/``weights`` are safetensors files; each is validated, uploaded, and
        its CID written into the spec (``dataset.cid``, ``eval.cid``, ``model.init``).
        """
        try:
            raw = parse_document(spec_file.read_bytes())
        except FileNotFoundError:
            raise InvalidJobSpec(f"no spec file at {spec_file}") from None
        if not isinstance(raw, dict):
            raise InvalidJobSpec(f"{spec_file}: a job spec is a mapping at the top level")
        if dataset is not None:
            raw.setdefault("dataset", {})["cid"] = self._upload_tensors(dataset, "dataset")
        if eval_data is not None:
            raw.setdefault("eval", {})["cid"] = self._upload_tensors(eval_data, "eval data")
        if weights is not None:
            raw["model"]["init"] = {"kind": "weights", "cid": self._upload_tensors(weights, "initial weights")}
        spec = validate_spec(raw)
        self.check_inputs(spec)
        return spec, self.store.put_spec(spec)

    def check_inputs(self, spec: JobSpec) -> None:
        """Fetch what the spec names and check it fits the spec, so no job is posted (and escrow
        locked) that no provider could run: data of the wrong dtype or shape, a CID nobody serves,
        initial weights that do not fit the architecture."""
        validate_dataset(spec, self.store.fetch_dataset(spec.dataset.cid))
        if spec.eval is not None:
            validate_dataset(spec, self.store.fetch_dataset(spec.eval.cid))
        if isinstance(spec.model.init, WeightsInit):
            initial_state_from(spec, self.store.fetch_weights(spec.model.init.cid))

    def _upload_tensors(self, path: Path, what: str) -> str:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{what} file {path} does not exist") from None
        load_dataset_bytes(data)  # refuses anything that is not safetensors (a pickle, say) before upload
        if self.on_upload is not None:
            self.on_upload(what, path, len(data))
        return self.store.put(data)

    def terms(self, spec: JobSpec, spec_cid: str, offer: Offer) -> JobTerms:
        """The on-chain terms for ``offer``, defaults filled from the market's current parameters."""
        k = spec.train.checkpoint_interval
        arity = offer.arity if offer.arity is not None else self.choose_arity(k)
        stake = offer.stake if offer.stake is not None else self.market.min_stake_for(offer.reward)
        return JobTerms(
            spec_cid=spec_cid,
            stake=stake,
            bond=offer.bond if offer.bond is not None else self.market.min_bond_for(offer.reward, stake, k, arity),
            duration=offer.duration,
            challenge_window=offer.challenge_window,
            interval=k,
            total_steps=spec.train.total_steps,
            arity=arity,
            refund_on_expiry=offer.refund_on_expiry,
        )

    def choose_arity(self, interval: int) -> int:
        """The arity whose segment dispute costs the honest provider least gas (the contract's
        ``defenceGas``, measured by forge), fewer rounds breaking ties: the bond it implies is the
        smallest, and the dispute is short. For k = 128 that is 4 (4 rounds of 3 points). Ranked
        from the contract's two per-round constants (two reads, not one ``defenceGas`` per arity):
        the base every arity shares leaves the order as it is."""
        move, point = self.market.defence_gas_per_round()

        def cost(arity: int) -> tuple[int, int]:
            rounds = dissection.rounds(interval, arity)
            return rounds * (move + (arity - 1) * point), rounds

        return min(range(dissection.MIN_ARITY, dissection.MAX_ARITY + 1), key=cost)

    def post(self, spec: JobSpec, spec_cid: str, offer: Offer) -> int:
        """Escrow ``offer.reward`` and post the job; returns its id."""
        return self.market.post_job(self.terms(spec, spec_cid, offer), reward=offer.reward)

    # ------------------------------------------------------------------ watching

    def view(self, job_id: int) -> JobView:
        job = self.market.job(job_id)
        if job.status == JobStatus.NONE:
            raise ConfigError(f"there is no job {job_id} on market {self.market.address}")
        status = self.market.job_status(job_id)
        # Countdowns run on the wall clock: on an idle chain the latest block's time stands still.
        # A chain whose clock ran ahead (anvil's evm_increaseTime) counts from its own time.
        block_time, wall = int(self.market.w3.eth.get_block("latest")["timestamp"]), time.time()
        now = max(wall, block_time)
        left = None
        if status == JobStatus.CLAIMED:
            left = max(0, math.ceil(job.deadline - now))
        elif status in (JobStatus.SUBMITTED, JobStatus.DISPUTED):
            left = max(0, math.ceil(job.window_end - now))
        submitted = any(job.trace_root)
        result = self.market.result(job_id) if submitted else None
        age = max(0, int(wall - block_time))
        return JobView(
            job_id,
            status,
            job,
            left,
            result,
            self.market.disputes_of(job_id),
            self.market.payout_bound(job_id) if submitted else None,
            self.market.delay_cost_per_hour(job_id),
            age,
            age > self.stall_warning,
        )

    def watch(
        self,
        job_id: int,
        progress: IpfsPubsubTransport | None = None,
        *,
        until_final: bool = True,
        poll: float = 1.0,
    ) -> Iterator[WatchEvent]:
        """The job's status read every ``poll`` seconds and, as they arrive over ``progress`` (IPFS
        pubsub), its provider's signed checkpoints (see :class:`_JobWatch`); the final status last."""
        view = self.view(job_id)  # an unknown job fails here, before anything subscribes
        yield StatusSeen(view, True)
        if until_final and view.status in FINAL_STATUSES:
            return
        yield from _JobWatch(self, view, until_final=until_final, poll=poll).events(progress)

    def jobs(self, *, mine_only: bool = True) -> list[JobView]:
        views = [self.view(i) for i in range(1, self.market.job_count() + 1)]
        me = self.market.signer.address if self.market.signer else None
        return [v for v in views if not mine_only or me is None or v.job.requester == me]

    def wait_for(self, job_id: int, statuses: set[JobStatus], *, timeout: float = 300, poll: float = 0.5) -> JobView:
        deadline = time.monotonic() + timeout
        while True:
            view = self.view(job_id)
            if view.status in statuses:
                return view
            if time.monotonic() > deadline:
                raise CrucibleError(f"job {job_id} still {view.status.name.lower()} after {timeout:.0f}s")
            time.sleep(poll)

    # ------------------------------------------------------------------ results

    def fetch(self, job_id: int, out: Path) -> FetchedModel:
        """Download the final model, check it against the committed trace, evaluate it, and write
        exactly the bytes ``final_model_cid`` names (so the file hashes to the committed CID).

        The model's parameters must hash to those of the last checkpoint, whose state hash is the
        final state hash on chain; anything else is refused before it is written.
        """
        data, params, expected, spec = self._checked_model(job_id)
        _write_atomically(out, data)
        return self._fetched(out, expected, spec, params)

    def export(self, job_id: int, out: Path) -> FetchedModel:
        """Like :meth:`fetch`, but write the parameters alone as plain safetensors (no optimizer
        state or protocol metadata beyond the job id), for loading into other tools."""
        _, params, expected, spec = self._checked_model(job_id)
        meta = {"format": "crucible-model", "job_id": str(job_id), "params_hash": to_hex(expected)}
        _write_atomically(out, write_safetensors(params, meta))
        return self._fetched(out, expected, spec, params)

    def _fetched(self, out: Path, expected: bytes, spec: JobSpec, params: dict[str, torch.Tensor]) -> FetchedModel:
        metric, value = None, None
        if spec.eval is not None:
            metric, value = spec.eval.metric, self.evaluate(spec, params)
        return FetchedModel(out, expected, metric, value)

    def _checked_model(self, job_id: int) -> tuple[bytes, dict[str, torch.Tensor], bytes, JobSpec]:
        """The committed final model's bytes and parameters, its params hash and the job's spec."""
        view = self.view(job_id)
        if view.status not in (JobStatus.SUBMITTED, JobStatus.ACCEPTED, JobStatus.FINALIZED, JobStatus.DISPUTED):
            raise ConfigError(f"job {job_id} is {view.status.name.lower()}: it has no result to fetch")
        job, result = view.job, view.result
        assert result is not None
        manifest = self.store.fetch_manifest(result.manifest_cid)
        if manifest.root() != job.trace_root or manifest.checkpoints[-1].digest != job.final_state_hash:
            raise CrucibleError(
                f"job {job_id}: the manifest does not match the commitment on chain; "
                "do not use this model and challenge the result"
            )
        last = manifest.checkpoints[-1]
        final_state = self.store.fetch_checkpoint(last.cid, expected_hash=last.digest, expected_step=last.step)
        expected = params_hash(final_state)
        data, params = self.store.fetch_final_model_file(result.final_model_cid, expected_params_hash=expected)
        return data, params, expected, self.store.fetch_spec(job.spec_cid_str)

    def evaluate(self, spec: JobSpec, params: dict[str, torch.Tensor]) -> float:
        """The spec's eval metric of ``params`` on its held-out data."""
        assert spec.eval is not None
        return evaluate(spec, params, self.store.fetch_dataset(spec.eval.cid))

    # ------------------------------------------------------------------ money back

    def cancel(self, job_id: int) -> int:
        """Cancel an open job and withdraw the refunded escrow; returns wei withdrawn."""
        self.market.cancel_job(job_id)
        return self.withdraw()

    def release(self, job_id: int) -> int:
        """Take back a claim whose provider reported no progress for ``progressTimeout`` (the
        squatter pays ``expirySlashBps`` of its stake); withdraws what was credited."""
        self.market.release_job(job_id)
        return self.withdraw()

    def reclaim(self, job_id: int) -> int:
        """After an expired claim: expire it (if nobody has) and withdraw what was credited. Any other
        job is refused with what it is, so nobody reads "withdrew 0 ETH" as success."""
        view = self.view(job_id)
        if view.status == JobStatus.CLAIMED:
            raise ConfigError(
                f"job {job_id} is claimed and its provider's deadline has not passed "
                f"({view.seconds_left} s left): nothing to reclaim yet"
            )
        if view.status == JobStatus.EXPIRED:
            self.market.expire_job(job_id)
        elif view.status not in (JobStatus.REFUNDED, JobStatus.OPEN):
            raise ConfigError(
                f"job {job_id} is {view.status.name.lower()}: nothing to reclaim (reclaim is for a job "
                "whose provider missed its deadline; `requester withdraw` collects any other credit)"
            )
        elif not self.market.credits(self.market.signer.address if self.market.signer else ""):
            raise ConfigError(f"job {job_id} is {view.status.name.lower()} and this account is owed nothing")
        return self.withdraw()

    def withdraw(self) -> int:
        return self.market.collect_credit()


def _status_key(view: JobView) -> dict[str, Any]:
    """What a status change is: anything but the countdowns, which move every second."""
    return {k: v for k, v in view.to_json().items() if k not in ("seconds_left", "last_block_age_s")}


def _write_atomically(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)


class _JobWatch:
    """One `watch` after its first read: the provider's records checked by :class:`ProgressFeed`
    against the provider the chain names (records held back until the job has one), and the chain
    read on a thread of its own so a slow read never holds a checkpoint back; events come out in the
    order they happened."""

    def __init__(self, requester: Requester, view: JobView, *, until_final: bool, poll: float) -> None:
        self.requester, self.job_id, self.until_final, self.poll = requester, view.job_id, until_final, poll
        self.first = view
        self.provider = view.provider
        self.happened: queue.Queue[WatchEvent | ProgressRecord | Exception] = queue.Queue()
        self.stop = threading.Event()
        self.feed: ProgressFeed | None = None
        self.reported: str | None = None

    def _final(self, view: JobView) -> bool:
        return self.until_final and view.status in FINAL_STATUSES

    def _subscribe(self, progress: IpfsPubsubTransport) -> ProgressUnavailable | None:
        market = self.requester.market
        self.feed = ProgressFeed(
            progress,
            chain_id=market.chain_id,
            market=market.address,
            provider_of=lambda _: self.provider,
            on_record=self.happened.put,
            job_id=self.job_id,
        )
        unavailable = None
        try:
            progress.check()
        except CrucibleError as exc:
            self.reported = str(exc)
            unavailable = ProgressUnavailable(self.job_id, self.reported)
        threading.Thread(target=self.feed.run, args=(self.stop,), name="crucible-watch-progress", daemon=True).start()
        return unavailable

    def _read_chain(self) -> None:
        last = _status_key(self.first)
        try:
            while not self.stop.wait(self.poll):
                view = self.requester.view(self.job_id)
                self.provider = view.provider
                if self.feed is not None:
                    self.feed.records(self.job_id)  # records held back for want of a provider are checked now
                    if self.feed.error is not None and self.feed.error != self.reported:
                        self.reported = self.feed.error
                        self.happened.put(ProgressUnavailable(self.job_id, self.reported))
                key = _status_key(view)
                self.happened.put(StatusSeen(view, key != last))
                last = key
                if self._final(view):
                    return
        except Exception as exc:  # the reader's generator raises it where the caller is
            self.happened.put(exc)

    def events(self, progress: IpfsPubsubTransport | None) -> Iterator[WatchEvent]:
        if progress is not None and (unavailable := self._subscribe(progress)) is not None:
            yield unavailable
        threading.Thread(target=self._read_chain, name="crucible-watch-chain", daemon=True).start()
        seen: list[ProgressRecord] = []
        try:
            while True:
                try:
                    event = self.happened.get(timeout=1.0)  # a timeout keeps Ctrl-C responsive
                except queue.Empty:
                    continue
                if isinstance(event, Exception):
                    raise event
                if isinstance(event, ProgressRecord):
                    seen.append(event)
                    event = ProgressSeen(event, eta_seconds(seen), time.time())
                yield event
                if isinstance(event, StatusSeen) and self._final(event.view):
                    return
        finally:
            self.stop.set()
