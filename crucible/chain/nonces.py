"""Nonces shared by every signer of one account in a process, reconciled with the node."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from web3 import Web3


@dataclass
class NonceManager:
    """Nonces of one account on one endpoint, shared by every :class:`Signer` of it in this process.

    ``lock`` is held from choosing a nonce until the node has accepted the transaction, so two threads
    never broadcast the same nonce. The chain is the source of truth whenever nothing of ours is in
    flight; while something is, the next nonce is the larger of our own counter and the node's
    ``pending`` count (another process with the same key may have sent meanwhile).
    """

    address: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    next_nonce: int | None = None
    in_flight: set[int] = field(default_factory=set)

    def reserve(self, w3: Web3, floor: int = 0) -> int:
        """The nonce to use next (at least ``floor``: nonces found taken during this send)."""
        pending = int(w3.eth.get_transaction_count(self.address, "pending"))  # type: ignore[arg-type]
        if not self.in_flight or self.next_nonce is None:
            self.next_nonce = max(pending, floor)
        else:
            self.next_nonce = max(self.next_nonce, pending, floor)
        return self.next_nonce

    def accepted(self, nonce: int) -> None:
        self.in_flight.add(nonce)
        self.next_nonce = max(self.next_nonce or 0, nonce + 1)

    def finished(self, nonce: int) -> None:
        self.in_flight.discard(nonce)


_MANAGERS: dict[tuple[str, str], NonceManager] = {}
_MANAGERS_LOCK = threading.Lock()


def nonce_manager(w3: Web3, address: str) -> NonceManager:
    """The process-wide nonce manager of ``address`` on ``w3``'s endpoint."""
    endpoint = str(getattr(w3.provider, "endpoint_uri", id(w3.provider)))
    with _MANAGERS_LOCK:
        return _MANAGERS.setdefault((endpoint, address), NonceManager(address))
