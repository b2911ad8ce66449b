"""What the worker, verifier and oracle daemons share: a signing key, the market's event log, one
loop with one exception policy, and collecting what the market owes them.

A daemon's round (:meth:`RoleDaemon.tick`) reads new events, then :meth:`RoleDaemon.act` decides
and sends. Each role keeps deciding apart from sending: its decision functions return action
objects and one executor sends them, so tests drive the decisions with chain states, not private
methods.
"""

from __future__ import annotations

import itertools
import logging
import random
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hexbytes import HexBytes

from crucible.chain.contract import RECENT_RECEIPTS
from crucible.chain.events import Event, EventLog, cursor_dir
from crucible.chain.market import Market
from crucible.chain.units import eth
from crucible.errors import ChainError, ConfigError, CrucibleError


@dataclass(frozen=True)
class ClaimTimeout:
    """End a live dispute whose move (or oracle) deadline has passed, if it still has."""

    dispute_id: int


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM set :attr:`event`; :attr:`exit_code` is then the shell's
    convention for Ctrl-C (130), and 0 for a supervisor's SIGTERM (a requested, clean stop)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: int | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
        self.event.set()

    @property
    def exit_code(self) -> int:
        return 128 + signal.SIGINT if self.received == signal.SIGINT else 0


class RoleDaemon:
    """The base of every long-running role on one market with one key."""

    role: ClassVar[str]
    #: Whether each round withdraws the market's credit (oracles are never credited by the market).
    collects_credit: ClassVar[bool] = True

    def __init__(
        self,
        market: Market,
        *,
        start_block: int,
        poll_interval: float,
        state_dir: Path | None = None,
        confirmations: int | None = None,
    ) -> None:
        """``state_dir`` keeps the event cursor and journal (a restart resumes there, no rescan);
        ``confirmations`` (default: the market's, from the deployment or ``CRUCIBLE_CONFIRMATIONS``)
        is how many blocks must sit on an event's block before the daemon acts on it."""
        if market.signer is None:
            raise ConfigError(f"a {self.role} needs a signing key: set CRUCIBLE_KEYSTORE or CRUCIBLE_PRIVATE_KEY")
        self.market = market
        self.address = market.signer.address
        self.start_block = start_block
        self.poll_interval = poll_interval
        self.state_dir = state_dir
        self.confirmations = market.confirmations if confirmations is None else confirmations
        self.log = logging.getLogger(f"crucible.{self.role}")
        #: The event cursor; a role that must look around first (the oracle) sets it to None and
        #: opens it in :meth:`watch` on the first round.
        self.events: EventLog | None = self.event_log(start_block)
        self.last_error: str | None = None
        self.last_tick: float | None = None
        self._lost: dict[tuple[str, int], float] = {}  # (action, id) -> monotonic time to try again
        #: Whether the market may owe this key something: true at start, then only after a
        #: ``Credited`` event for it (in the log, or in a receipt of its own), so an idle round
        #: does not read ``credits``.
        self.credit_due = True
        #: Hashes of the latest transactions this daemon sent (what it already knows changed); bounded,
        #: as a daemon runs for months and their events arrive long before this many more are sent.
        self.own_txs: deque[str] = deque(maxlen=RECENT_RECEIPTS)
        self._sent_seen = market.sent

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` (see :meth:`round_wait`); a failed round never kills the daemon."""
        self.log.info("watching market %s", self.market.address)
        try:
            while not stop.is_set():
                self.run_once()
                stop.wait(self.round_wait())
        finally:
            self.shutdown()

    def round_wait(self) -> float:
        """Seconds to the next round: ``poll_interval``, or on a chain that mines at a steady pace,
        until its next block is due (a round between two blocks would only see the same head; a
        transaction sent just after a block waits least for the next)."""
        events = self.events
        block_time = events.block_time() if events is not None else None
        if events is None or block_time is None:
            return self.poll_interval
        return max(self.poll_interval, block_time - events.head_age())

    def shutdown(self) -> None:
        """Stop and wait for the role's background work (training), so the process exits cleanly."""

    def run_once(self) -> None:
        """One round under the exception policy: a :class:`CrucibleError` (chain or IPFS hiccup, a
        transaction someone else's beat) is logged and retried next round; anything else is logged
        with its traceback and retried too, so one bad round cannot stop a daemon holding stake."""
        try:
            self.tick()
            self.last_error = None
        except CrucibleError as exc:
            self.last_error = str(exc)
            self.log.warning("%s", exc)
        except Exception as exc:  # noqa: BLE001 - the daemon must outlive one bad round
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.log.exception("%s round failed", self.role)
        self.last_tick = time.time()

    def tick(self) -> None:
        """One round: every new event to :meth:`on_event`, then :meth:`act`, then the withdrawal."""
        if self.events is None:
            self.events = self.watch()
        for event in self.events.poll():
            if event.name == "Credited" and event.args["account"] == self.address:
                self.credit_due = True
            self.on_event(event)
        self.act()
        self._note_own_receipts()
        if self.collects_credit and self.credit_due:
            self.withdraw()

    # ------------------------------------------------------------------ what roles fill in

    def watch(self) -> EventLog:
        """The event log to follow when none is open yet."""
        return self.event_log(self.start_block)

    def event_log(self, start_block: int) -> EventLog:
        """The market's events from ``start_block``, or from where this daemon's saved cursor stands."""
        folder = None
        if self.state_dir is not None:
            folder = cursor_dir(self.state_dir, self.market.chain_id, self.market.address)
        return EventLog(self.market.contract, start_block, state_dir=folder, confirmations=self.confirmations)

    def on_event(self, event: Event) -> None:
        """Take note of one event (no transactions here)."""

    def act(self) -> None:
        """Decide and send this round's actions."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lost races

    def lost_race(self, what: str, item: int, exc: ChainError) -> None:
        """Another party changed the state first (the simulation before sending said so, so nothing
        was sent): say so once at WARNING with the contract's reason, and leave ``item`` alone for a
        jittered while so two daemons do not collide again on the next round."""
        key = (what, item)
        first = key not in self._lost
        self._lost[key] = time.monotonic() + random.uniform(1.0, 3.0) * max(self.poll_interval, 0.5)
        if first:
            self.log.warning("%s %d: lost the race, nothing sent (%s)", what, item, exc.error_name or exc)

    def backing_off(self, what: str, item: int) -> bool:
        """Whether ``item`` was lost to someone else a moment ago (see :meth:`lost_race`)."""
        until = self._lost.get((what, item))
        return until is not None and time.monotonic() < until

    # ------------------------------------------------------------------ shared actions

    def claim_timeout(self, action: ClaimTimeout) -> bool:
        dispute = self.market.dispute(action.dispute_id)
        if self.market.timeout_if_due(action.dispute_id, dispute):
            self.log.info("dispute %d: claimed the timeout", action.dispute_id)
            return True
        return False

    def _note_own_receipts(self) -> None:
        """Note the transactions this daemon sent, and set :attr:`credit_due` if one credited it
        (finalize, settle, timeout): its withdrawal need not wait for the event's confirmations."""
        receipts = self.market.receipts
        new = min(self.market.sent - self._sent_seen, len(receipts))
        for receipt in itertools.islice(receipts, len(receipts) - new, None):  # no copy in an idle round
            self.own_txs.append(HexBytes(receipt["transactionHash"]).hex())
            if any(e["account"] == self.address for e in self.market.events("Credited", receipt)):
                self.credit_due = True
        self._sent_seen = self.market.sent

    def withdraw(self) -> int:
        """Withdraw whatever the market owes this key; returns the wei withdrawn. :attr:`credit_due`
        is cleared only once the read (and the withdrawal) went through, so a failed round retries."""
        credit = self.market.collect_credit()
        self.credit_due = False
        if credit:
            self.log.info("withdrew %s", eth(credit))
            self.on_withdrawn(credit)
        return credit

    def on_withdrawn(self, wei: int) -> None:
        """Book ``wei`` just withdrawn (reports, metrics)."""
