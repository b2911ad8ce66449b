"""The oracle's watcher: finds disputes awaiting oracles, judges them, posts verdicts, keeps evidence.

Driven by ``DisputeReadyForOracle`` events; on start it also scans every dispute for ones still
awaiting oracles that this oracle has not voted on, so a restart misses nothing. Posting is
idempotent: before each vote it re-reads the dispute's status and ``hasVoted``, and a revert because
the dispute was meanwhile resolved (quorum reached, voided) or this oracle already voted is logged and
recorded, never retried. Only disputes this key may vote on are judged (a member of the job's oracle
epoch and of the epoch effective now, ``canVote``; others are refused, visibly, in the evidence).
When a dispute resolves the way this oracle voted but its vote did not decide it, it claims its
part of the oracle fee (``claimOracleFee``); the deciding vote is paid in its own transaction.
Evidence is kept as one JSON file per dispute under ``state_dir/<chain id>-<market>/disputes/``, so
``/disputes`` survives restarts.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from crucible.chain.abi import market_errors
from crucible.chain.events import Event, EventLog, cursor_dir
from crucible.chain.market import DisputeStatus, Market, Verdict
from crucible.daemon import RoleDaemon
from crucible.errors import ChainError
from crucible.settings import RoleSettings
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from oracle.judge import Evidence, Judge
from oracle.metrics import OracleMetrics
from oracle.settings import Settings as OracleSettings

log = logging.getLogger("crucible.oracle")

#: Which verdicts a dispute outcome pays the oracle fee for.
_PAID_VERDICTS = {
    DisputeStatus.CHALLENGER_WON: ("PROVIDER_WRONG", "PROVIDER_DATA_UNAVAILABLE"),
    DisputeStatus.PROVIDER_WON: ("PROVIDER_CORRECT",),
}


class EvidenceStore:
    """Evidence by dispute id, in memory and as JSON files (written atomically)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._items: dict[int, Evidence] = {}
        for path in sorted(folder.glob("*.json")):
            try:
                ev = Evidence.model_validate_json(path.read_bytes())
            except ValueError as exc:
                log.warning("ignoring unreadable evidence file %s: %s", path, exc)
                continue
            self._items[ev.dispute_id] = ev

    def get(self, dispute_id: int) -> Evidence | None:
        with self._lock:
            return self._items.get(dispute_id)

    def all(self) -> list[Evidence]:
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]

    def put(self, ev: Evidence) -> None:
        data = ev.model_dump_json(indent=2).encode()
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{ev.dispute_id}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, self.folder / f"{ev.dispute_id}.json")
        with self._lock:
            self._items[ev.dispute_id] = ev


class OracleService(RoleDaemon):
    """One oracle key on one market. ``tick()`` does one round; ``run()`` loops until stopped."""

    role = "oracle"
    collects_credit = True  # oracle fees are credited by the market

    def __init__(
        self,
        market: Market,
        judge: Judge,
        state_dir: Path,
        *,
        poll_interval: float = 1.0,
        retry_interval: float = 15.0,
        metrics: OracleMetrics | None = None,
    ) -> None:
        super().__init__(market, start_block=market.deploy_block, poll_interval=poll_interval, state_dir=state_dir)
        self.events = None  # opened on the first round, after scanning the disputes already open
        self.judge = judge
        self.retry_interval = retry_interval
        self.metrics = metrics or OracleMetrics()
        self.evidence = EvidenceStore(cursor_dir(Path(state_dir), market.chain_id, market.address) / "disputes")
        self._pending: dict[int, float] = {}  # dispute id -> earliest time to (re)try
        self.fees_earned = 0  # wei of oracle fees credited to this key, seen since start
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ the loop

    def watch(self) -> EventLog:
        """Resume from the saved cursor; without one, scan existing disputes, then follow the event
        log from the block the scan started at."""
        saved = self.event_log(self.start_block)
        if saved.resumed:
            return saved
        head = int(self.market.w3.eth.block_number)
        count = int(self.market.call("disputeCount"))
        for dispute_id in range(1, count + 1):
            status = self.market.dispute(dispute_id).status
            if status == DisputeStatus.AWAITING_ORACLE:
                self._pending.setdefault(dispute_id, 0.0)
            elif status in _PAID_VERDICTS and self.market.has_voted(dispute_id, self.address):
                self._claim_fee(dispute_id, status)  # resolved while this oracle was down
        log.info(
            "oracle %s on market %s: %d dispute(s) awaiting oracles at start",
            self.address,
            self.market.address,
            len(self._pending),
        )
        return self.event_log(head)

    def on_event(self, event: Event) -> None:
        if event.name == "DisputeReadyForOracle":
            self._pending.setdefault(int(event.args["disputeId"]), 0.0)
        elif event.name == "DisputeResolved":
            dispute_id, outcome = int(event.args["disputeId"]), DisputeStatus(event.args["outcome"])
            self._record_outcome(dispute_id, outcome.name)
            if outcome in _PAID_VERDICTS and self.market.has_voted(dispute_id, self.address):
                self._claim_fee(dispute_id, outcome)
        elif event.name == "OracleFeePaid" and event.args["oracle"] == self.address:
            self._fee_paid(int(event.args["disputeId"]), int(event.args["amount"]))

    def act(self) -> None:
        now = time.monotonic()
        for dispute_id, not_before in sorted(self._pending.items()):
            if not_before <= now:
                self.handle(dispute_id)

    def run(self, stop: threading.Event | None = None) -> None:
        super().run(stop or self._stop)

    def start(self) -> None:
        """Run the loop in a background thread (the FastAPI lifespan calls this)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="crucible-oracle", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def watching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ one dispute

    def handle(self, dispute_id: int) -> Evidence | None:
        """Judge ``dispute_id`` and post the verdict if it still awaits this oracle's vote."""
        d = self.market.dispute(dispute_id)
        if d.status != DisputeStatus.AWAITING_ORACLE:
            self._pending.pop(dispute_id, None)
            if d.status in (DisputeStatus.CHALLENGER_WON, DisputeStatus.PROVIDER_WON, DisputeStatus.VOIDED):
                self._record_outcome(dispute_id, d.status.name)
            return self.evidence.get(dispute_id)
        if self.market.has_voted(dispute_id, self.address):
            log.info("dispute %d: this oracle already voted; waiting for the others", dispute_id)
            self._pending.pop(dispute_id, None)
            return self.evidence.get(dispute_id)

        previous = self.evidence.get(dispute_id)
        if previous is not None and previous.verdict is not None and previous.outcome != "refused":
            ev = previous  # judged before a restart but not posted: the verdict is deterministic, reuse it
        else:
            ev = self.judge.judge(dispute_id)
            if ev.outcome == "refused":
                self._refused(dispute_id, ev, previous)
                return ev
            self.metrics.judged.labels(verdict=ev.verdict).inc()
            if ev.replay_seconds is not None:
                self.metrics.replay_seconds.observe(ev.replay_seconds)
            log.info("dispute %d (job %d, %s): %s: %s", dispute_id, ev.job_id, ev.kind, ev.verdict, ev.reason)
            self.evidence.put(ev)
        posted = self._post(ev)  # a transport error propagates and leaves the dispute pending
        self._pending.pop(dispute_id, None)
        return posted

    def _refused(self, dispute_id: int, ev: Evidence, previous: Evidence | None) -> None:
        if previous is None or previous.outcome != "refused" or previous.reason != ev.reason:
            self.metrics.refused.inc()
            log.warning("dispute %d (job %d): %s; no verdict posted", dispute_id, ev.job_id, ev.reason)
        self.evidence.put(ev)
        if ev.retryable:
            self._pending[dispute_id] = time.monotonic() + self.retry_interval
        else:
            self._pending.pop(dispute_id, None)

    def _post(self, ev: Evidence) -> Evidence:
        verdict = Verdict[ev.verdict]  # type: ignore[misc]
        try:
            receipt = self.market.submit_verdict(ev.dispute_id, verdict)
        except ChainError as exc:
            errors = market_errors()
            # Reverts that mean "nothing left to do here": the vote is not needed or not possible any more.
            settled = (
                errors.AlreadyVoted,
                errors.DisputeNotInStatus,
                errors.VerdictTooLate,
                errors.NotOracle,
                errors.DisputeSettlesBySlash,  # another dispute slashed the job: no vote needed
            )
            if exc.error_name not in settled:
                raise  # transport trouble: the dispute stays pending (handle() is retried next round)
            log.warning("dispute %d: verdict %s not posted: %s", ev.dispute_id, verdict.name, exc)
            self.metrics.post_failures.inc()
            ev = ev.model_copy(update={"outcome": "not_posted", "post_error": str(exc)})
            self.evidence.put(ev)
            return ev
        tx = receipt["transactionHash"]
        ev = ev.model_copy(
            update={"outcome": "posted", "tx_hash": tx.to_0x_hex() if hasattr(tx, "to_0x_hex") else str(tx)}
        )
        self.metrics.posted.inc()
        log.info("dispute %d: verdict %s posted in tx %s", ev.dispute_id, verdict.name, ev.tx_hash)
        status = self.market.dispute(ev.dispute_id).status
        if status != DisputeStatus.AWAITING_ORACLE:
            ev = ev.model_copy(update={"dispute_outcome": status.name})
        self.evidence.put(ev)
        for paid in self.market.events("OracleFeePaid", receipt):  # the deciding vote is paid at once
            if paid["oracle"] == self.address:
                self._fee_paid(ev.dispute_id, int(paid["amount"]))
        return self.evidence.get(ev.dispute_id) or ev

    def _claim_fee(self, dispute_id: int, outcome: DisputeStatus) -> None:
        """Claim this oracle's part of the fee for a matching vote that did not decide the dispute."""
        ev = self.evidence.get(dispute_id)
        if ev is None or ev.verdict not in _PAID_VERDICTS[outcome] or ev.fee_wei is not None:
            return  # not our verdict (no fee is due) or already paid
        try:
            receipt = self.market.claim_oracle_fee(dispute_id)
        except ChainError as exc:
            if exc.error_name != market_errors().NoOracleFee:
                raise
            log.info("dispute %d: no oracle fee due to this oracle: %s", dispute_id, exc)
            self.evidence.put(ev.model_copy(update={"fee_wei": 0}))
            return
        log.info("dispute %d: claimed this oracle's part of the fee for its %s vote", dispute_id, ev.verdict)
        for paid in self.market.events("OracleFeePaid", receipt):
            if paid["oracle"] == self.address:
                self._fee_paid(dispute_id, int(paid["amount"]))

    def _fee_paid(self, dispute_id: int, amount: int) -> None:
        """Count a fee credited to this oracle once (seen in a receipt, then again in the log)."""
        ev = self.evidence.get(dispute_id)
        if ev is not None and ev.fee_wei:
            return
        self.fees_earned += amount
        log.info("dispute %d: oracle fee of %d wei credited to this oracle", dispute_id, amount)
        if ev is not None:
            self.evidence.put(ev.model_copy(update={"fee_wei": amount}))

    def _record_outcome(self, dispute_id: int, outcome: str) -> None:
        ev = self.evidence.get(dispute_id)
        if ev is not None and ev.dispute_outcome != outcome:
            self.evidence.put(ev.model_copy(update={"dispute_outcome": outcome}))


def build_service(settings: OracleSettings | None = None, role: RoleSettings | None = None) -> OracleService:
    """An oracle from the environment: deployment and key from ``CRUCIBLE_*``, the rest ``CRUCIBLE_ORACLE_*``."""
    settings = settings or OracleSettings()
    role = role or RoleSettings()
    deployment = role.load_deployment("oracle")
    market = Market.from_deployment(deployment, role.signer_account(deployment, "oracle"))
    store = ArtifactStore(IpfsStore(deployment.ipfs_api, fetch_timeout=settings.ipfs_fetch_timeout))
    judge = Judge(market, store, market.signer.address)  # type: ignore[union-attr]
    state_dir = settings.state_dir or role.role_state_dir("oracle")
    return OracleService(
        market, judge, state_dir, poll_interval=settings.poll_interval, retry_interval=settings.retry_interval
    )
