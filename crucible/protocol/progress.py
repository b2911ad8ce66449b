"""Training progress records: one per checkpoint (step, loss, CID), signed by the job's provider.

Progress is otherwise public only when the manifest appears at the end. A record is plain JSON
signed with EIP-191 (``personal_sign``) by the provider's key, so any reader can check it against
the provider the chain names for the job, whatever channel carried it (see
:mod:`crucible.store.pubsub` for the channel, :mod:`crucible.engine.progress` for the publisher).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from crucible.errors import CrucibleError

RECORD_VERSION = 1
MAX_RECORD_BYTES = 4096


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


def eta_seconds(records: Sequence[ProgressRecord]) -> float | None:
    """Seconds left to train at the pace between the first and last record (by the provider's clock);
    None with fewer than two records, once trained, or when the pace is unknown."""
    if len(records) < 2 or records[-1].step >= records[-1].total_steps:
        return None
    first, last = records[0], records[-1]
    rate = (last.step - first.step) / max(1e-6, last.time - first.time)
    return (last.total_steps - last.step) / rate if rate > 0 else None
