"""Reading the market's event log: the daemons are driven by these, not by polling every job.

:class:`EventLog` is the one cursor every daemon reads through. It

* pages ``eth_getLogs`` in bounded ranges (``page`` blocks) from the deployment block on;
* hands out an event only once its block has ``confirmations`` blocks on top of it;
* notices a reorg (the hash of a block it read no longer matches the chain), rolls its cursor back
  to the last block both agree on and reads again from there; an event whose transaction comes back
  in the new branch is not handed out a second time, and one that is gone never comes back;
* with a ``state_dir``, keeps the cursor (block number and hash) and a journal of the events it
  handed out, so a restarted daemon rebuilds what it knew from its own disk and asks the chain only
  for blocks it has not read (no rescan from the deployment block).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from eth_typing import ABIElement, ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3.contract import Contract

log = logging.getLogger("crucible.chain")

#: Block hashes remembered to find where a reorg forked (deeper reorgs restart from the first block).
REMEMBERED_BLOCKS = 256
#: Head headers kept to check a confirmed page's last block without asking for it again.
REMEMBERED_HEADS = 64
#: Heads in a row, equally spaced, that make a chain's pace steady (see EventLog.block_time).
STEADY_BLOCKS = 3
CURSOR_FILE = "cursor.json"
JOURNAL_FILE = "events.jsonl"


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
    block_hash: str = ""

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the event across a reorg that re-mines its transaction."""
        return (self.tx_hash, self.log_index)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": {k: _encode(v) for k, v in self.args.items()},
            "block": self.block,
            "log_index": self.log_index,
            "tx_hash": self.tx_hash,
            "block_hash": self.block_hash,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Event:
        return cls(
            raw["name"],
            {k: _decode(v) for k, v in raw["args"].items()},
            int(raw["block"]),
            int(raw["log_index"]),
            raw["tx_hash"],
            raw.get("block_hash", ""),
        )


def _encode(value: Any) -> Any:
    """An event argument as JSON: bytes and structs (mappings) tagged, so :func:`_decode` restores them."""
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, Mapping):
        return {"map": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"bytes"}:
        return bytes.fromhex(value["bytes"])
    if isinstance(value, dict) and set(value) == {"map"}:
        return {k: _decode(v) for k, v in value["map"].items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def cursor_dir(state_dir: Path, chain_id: int, market: str) -> Path:
    """Where a daemon keeps the cursor of one market: one folder per chain and contract, so a new
    devnet (same address, new chain) or another deployment never reuses an old position."""
    return state_dir / f"{chain_id}-{market.lower()}"


class EventLog:
    """Pages through the contract's logs in order, remembering how far it read (see the module
    docstring). ``poll`` returns the events not handed out yet, oldest first; ``reorgs`` counts the
    reorgs it rolled back over."""

    def __init__(
        self,
        contract: Contract,
        start_block: int,
        *,
        state_dir: Path | None = None,
        confirmations: int = 0,
        page: int = 2_000,
    ) -> None:
        if confirmations < 0 or page < 1:
            raise ValueError("confirmations must be >= 0 and page >= 1")
        self.contract = contract
        self.start_block = start_block
        self.state_dir = state_dir
        self.confirmations = confirmations
        self.page = page
        self.next_block = start_block
        self.reorgs = 0
        #: New heads that were not the child of the head seen before (blocks missed between two
        #: rounds, or a reorg of blocks not confirmed yet): what was read of the state may be stale.
        self.head_jumps = 0
        #: block number -> hash of blocks read (the last one of each page, and every block with an event).
        self._hashes: dict[int, str] = {}
        self._journal: list[Event] = []
        self._replay: list[Event] = []
        self._gone: set[tuple[str, int]] = set()  # events rolled back, kept out if re-mined
        self._written = 0  # journal lines on disk
        self._anchor: tuple[int, str | None] | None = None  # the first block read and its hash: which chain
        self._head: Any = None  # the newest head's header, and the monotonic time it was first seen
        self._head_seen = 0.0
        self._heads: dict[int, Any] = {}  # recent heads' headers by number (see _header)
        self._gaps: list[int] = []  # seconds per block between the last heads seen
        self._address_bytes = bytes.fromhex(contract.address[2:])
        self._by_topic = {
            event_abi_to_log_topic(item): getattr(contract.events, item["name"])
            for item in contract.abi
            if _is_event(item)
        }
        if state_dir is not None:
            self._load()

    @property
    def resumed(self) -> bool:
        """Whether this log continues from a cursor a previous run saved."""
        return self.next_block > self.start_block

    # ------------------------------------------------------------------ reading

    def poll(self) -> list[Event]:
        """Every event not handed out yet, oldest first: first (once) those a previous run handed out,
        from the journal; then the chain's, up to ``confirmations`` blocks below the head.

        One request when the head did not move (its header); when it did, a log query only for a
        page that may hold the market's logs (a one-block page whose header's bloom filter leaves
        the market out has none), and a header for the page's last block only when it is not one
        of the heads already seen linked to the current one."""
        out, self._replay = self._replay, []
        w3 = self.contract.w3
        head = self._see_head(w3.eth.get_block("latest")) - self.confirmations
        while self.next_block <= head:
            to_block = min(head, self.next_block + self.page - 1)
            top = self._header(to_block)
            if self._forked(top):
                self._find_fork()
                continue
            # The page's last block is read before its logs: if a reorg lands in between, the hash
            # kept for it is the old branch's and the next round's check rolls the page back.
            logs: list[Any] = []
            if to_block > self.next_block or _may_log(top, self._address_bytes):
                logs = w3.eth.get_logs(
                    {"address": self.contract.address, "fromBlock": self.next_block, "toBlock": to_block}
                )
            for event in (e for e in map(self._decode, logs) if e is not None):
                self._journal.append(event)
                if event.key in self._gone:  # its transaction came back in the new branch: already acted on
                    self._gone.discard(event.key)
                else:
                    out.append(event)
            self._remember(to_block, HexBytes(top["hash"]).hex())
            self.next_block = to_block + 1
        self._save()
        return out

    def chain_time(self) -> float:
        """The chain's time now, estimated without a request: the newest head's timestamp plus the
        time since this log first saw that head (behind the chain by at most one round, never ahead
        by more than the time anvil's clock runs slow; a warped clock shows with its next block)."""
        if self._head is None:
            return float(self.contract.w3.eth.get_block("latest")["timestamp"])
        return int(self._head["timestamp"]) + (time.monotonic() - self._head_seen)

    def block_time(self) -> int | None:
        """Seconds between blocks when the chain mines at a steady pace (the same seconds per block
        between the last :data:`STEADY_BLOCKS` + 1 heads seen); None otherwise (automine mines
        when a transaction comes)."""
        gaps = self._gaps[-STEADY_BLOCKS:]
        if len(gaps) < STEADY_BLOCKS or len(set(gaps)) != 1 or gaps[0] < 1:
            return None
        return gaps[0]

    def head_age(self) -> float:
        """Seconds since this log first saw the newest head."""
        return time.monotonic() - self._head_seen

    def _see_head(self, latest: Any) -> int:
        """Keep the head's header (and the recent ones it links to); returns its number."""
        number = int(latest["number"])
        if self._head is None or HexBytes(latest["hash"]) != HexBytes(self._head["hash"]):
            if self._head is not None:
                if HexBytes(latest["parentHash"]) != HexBytes(self._head["hash"]):
                    self.head_jumps += 1
                blocks = number - int(self._head["number"])
                seconds = int(latest["timestamp"]) - int(self._head["timestamp"])
                if blocks > 0 and seconds % blocks == 0:  # blocks missed between two rounds keep the pace
                    self._gaps = [*self._gaps[-STEADY_BLOCKS:], seconds // blocks]
                else:  # a reorg, or an uneven gap
                    self._gaps.clear()
            self._head, self._head_seen = latest, time.monotonic()
        self._heads[number] = latest
        for old in [n for n in self._heads if n > number or n < number - REMEMBERED_HEADS]:
            del self._heads[old]
        return number

    def _header(self, number: int) -> Any:
        """Block ``number``'s header: from the heads seen when each one's child, up to the current
        head, was seen with it as parent (so it is on the current chain); else from the chain."""
        if number in self._heads:
            child = self._heads[number]
            for n in range(number + 1, max(self._heads) + 1):
                parent, child = child, self._heads.get(n)
                if child is None or HexBytes(child["parentHash"]) != HexBytes(parent["hash"]):
                    break
            else:
                return self._heads[number]
        return self.contract.w3.eth.get_block(number)

    def _decode(self, raw: Any) -> Event | None:
        event_type = self._by_topic.get(bytes(raw["topics"][0]))
        if event_type is None:
            return None
        decoded = event_type().process_log(raw)
        return Event(
            decoded["event"],
            dict(decoded["args"]),
            int(raw["blockNumber"]),
            int(raw["logIndex"]),
            HexBytes(raw["transactionHash"]).hex(),
            HexBytes(raw["blockHash"]).hex(),
        )

    def _forked(self, top: Any) -> bool:
        """Whether the last block read is no longer on the chain (one request at most: none when
        ``top`` is its child, the usual case of one new block per round)."""
        last = self.next_block - 1
        if last not in self._hashes:
            return False
        if int(top["number"]) == last + 1:
            return HexBytes(top["parentHash"]).hex() != self._hashes[last]
        return self._block_hash(last) != self._hashes[last]

    def _block_hash(self, number: int) -> str | None:
        try:
            block = self.contract.w3.eth.get_block(number)
        except Exception:  # noqa: BLE001 - a block past the head after a reorg shortened the chain
            return None
        return HexBytes(block["hash"]).hex()

    def _remember(self, number: int, block_hash: str) -> None:
        self._hashes[number] = block_hash
        for old in sorted(self._hashes)[:-REMEMBERED_BLOCKS]:
            del self._hashes[old]

    def _find_fork(self) -> None:
        """Roll back to just after the newest block read whose hash the chain still has."""
        fork = self.start_block
        for number in sorted((b for b in self._hashes if b < self.next_block - 1), reverse=True):
            if self._block_hash(number) == self._hashes[number]:
                fork = number + 1
                break
        self._roll_back(fork)

    def _roll_back(self, fork: int) -> None:
        kept = [e for e in self._journal if e.block < fork]
        gone = self._journal[len(kept) :]
        self.reorgs += 1
        log.warning(
            "chain reorg: blocks from %d on were replaced; %d event(s) read from them are re-checked "
            "(actions on events that are gone are not repeated)",
            fork,
            len(gone),
        )
        self._gone.update(e.key for e in gone)
        self._journal = kept
        self._replay = [e for e in self._replay if e.block < fork]
        for number in [b for b in self._hashes if b >= fork]:
            del self._hashes[number]
        self.next_block = fork
        self._save()

    # ------------------------------------------------------------------ persistence

    def _paths(self) -> tuple[Path, Path]:
        assert self.state_dir is not None
        return self.state_dir / CURSOR_FILE, self.state_dir / JOURNAL_FILE

    def _load(self) -> None:
        """Resume from the saved cursor, unless it belongs to another chain instance (a devnet started
        afresh puts the market at the same address: its first block's hash tells them apart)."""
        cursor_path, journal_path = self._paths()
        if not cursor_path.exists():
            return
        try:
            cursor = json.loads(cursor_path.read_text())
            journal = [Event.from_json(json.loads(line)) for line in _lines(journal_path)]
            next_block = int(cursor["next_block"])
            hashes = {int(k): str(v) for k, v in cursor["hashes"].items()}
            anchor, anchor_hash = int(cursor["anchor"][0]), str(cursor["anchor"][1])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("event cursor %s is unreadable (%s): reading from block %d", cursor_path, exc, self.start_block)
            return
        if anchor_hash != self._block_hash(anchor):
            log.info("event cursor %s is for another chain: reading from block %d", cursor_path, self.start_block)
            return
        if next_block <= self.start_block:
            return
        self.next_block = next_block
        self._hashes = hashes
        self._journal = [e for e in journal if e.block < next_block]
        self._replay = list(self._journal)
        self._written = len(journal)
        self._anchor = (anchor, anchor_hash)
        log.info("resuming at block %d with %d event(s) from %s", next_block, len(self._journal), journal_path)

    def _save(self) -> None:
        if self.state_dir is None:
            return
        cursor_path, journal_path = self._paths()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._written > len(self._journal):
            _atomic_write(journal_path, "".join(json.dumps(e.to_json()) + "\n" for e in self._journal))
        elif self._written < len(self._journal):
            with journal_path.open("a") as f:
                f.writelines(json.dumps(e.to_json()) + "\n" for e in self._journal[self._written :])
                f.flush()
                os.fsync(f.fileno())
        self._written = len(self._journal)
        if self._anchor is None:
            self._anchor = (self.start_block, self._block_hash(self.start_block))
        cursor = {"next_block": self.next_block, "anchor": self._anchor, "hashes": self._hashes}
        _atomic_write(cursor_path, json.dumps(cursor))


def _may_log(header: Any, address: bytes) -> bool:
    """Whether the block's logs bloom filter (Yellow Paper, 4.3.1) may hold ``address``: no false
    negatives, so False means the block has no log of that contract. A header without one: True."""
    bloom = header.get("logsBloom")
    if not bloom:
        return True
    bloom, digest = bytes(HexBytes(bloom)), keccak(address)
    for i in (0, 2, 4):
        bit = ((digest[i] << 8) | digest[i + 1]) & 2047
        if not bloom[len(bloom) - 1 - bit // 8] & (1 << (bit % 8)):
            return False
    return True


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.strip()]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
