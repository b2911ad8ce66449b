"""Reading the market's event log: the daemons are driven by these, not by polling every job."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from eth_typing import ABIElement, ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from web3.contract import Contract

from crucible.errors import CrucibleError


def _is_event(item: ABIElement) -> TypeGuard[ABIEvent]:
    """Narrows an ABI entry to an event by its ``type`` tag (some entry kinds may omit the key)."""
    return item.get("type") == "event"


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: str


def poll_forever(tick: Callable[[], None], stop: threading.Event, interval: float, log: logging.Logger) -> None:
    """Call ``tick`` every ``interval`` seconds until ``stop``; a failed transaction or fetch is logged
    and retried on the next round, never allowed to kill the daemon."""
    while not stop.is_set():
        try:
            tick()
        except CrucibleError as exc:
            log.warning("%s", exc)
        stop.wait(interval)


class EventLog:
    """Pages through the contract's logs in order, remembering how far it read.

    With ``cursor_path`` the position survives restarts (a restarted daemon neither misses nor
    re-reads events); ``confirmations`` keeps it that many blocks behind the head.
    """

    def __init__(
        self,
        contract: Contract,
        start_block: int,
        *,
        cursor_path: Path | None = None,
        confirmations: int = 0,
        page: int = 2_000,
    ) -> None:
        self.contract = contract
        self.cursor_path = cursor_path
        self.confirmations = confirmations
        self.page = page
        self.next_block = start_block
        if cursor_path is not None and cursor_path.exists():
            self.next_block = max(start_block, int(json.loads(cursor_path.read_text())["next_block"]))
        self._by_topic = {
            event_abi_to_log_topic(item): getattr(contract.events, item["name"])
            for item in contract.abi
            if _is_event(item)
        }

    def poll(self) -> list[Event]:
        """Every event since the last poll, oldest first."""
        head = int(self.contract.w3.eth.block_number) - self.confirmations
        out: list[Event] = []
        while self.next_block <= head:
            to_block = min(head, self.next_block + self.page - 1)
            logs = self.contract.w3.eth.get_logs(
                {"address": self.contract.address, "fromBlock": self.next_block, "toBlock": to_block}
            )
            for log in logs:
                event_type = self._by_topic.get(bytes(log["topics"][0]))
                if event_type is None:
                    continue
                decoded = event_type().process_log(log)
                out.append(
                    Event(
                        decoded["event"],
                        dict(decoded["args"]),
                        int(log["blockNumber"]),
                        int(log["logIndex"]),
                        log["transactionHash"].hex(),
                    )
                )
            self.next_block = to_block + 1
        self._save()
        return out

    def _save(self) -> None:
        if self.cursor_path is None:
            return
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cursor_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"next_block": self.next_block}))
        tmp.replace(self.cursor_path)
