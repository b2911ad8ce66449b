"""Reading the market's event log: the daemons are driven by these, not by polling every job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from eth_typing import ABIElement, ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from web3.contract import Contract


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


class EventLog:
    """Pages through the contract's logs in order, remembering how far it read (in memory: the
    daemons rebuild what they need from the chain on start, so they read from their start block)."""

    def __init__(self, contract: Contract, start_block: int, *, page: int = 2_000) -> None:
        self.contract = contract
        self.page = page
        self.next_block = start_block
        self._by_topic = {
            event_abi_to_log_topic(item): getattr(contract.events, item["name"])
            for item in contract.abi
            if _is_event(item)
        }

    def poll(self) -> list[Event]:
        """Every event since the last poll, oldest first."""
        head = int(self.contract.w3.eth.block_number)
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
        return out
