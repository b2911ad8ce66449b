"""Sending transactions: :class:`Signer` is built to survive the faults a long-running daemon
meets (see ``tests/test_transactions.py``):

* **RPC down or slow**: :func:`crucible.chain.rpc.connect` returns a ``Web3`` whose provider retries connection
  failures, timeouts and HTTP 429/5xx with exponential backoff, logging each retry, and after a
  bounded time raises :class:`~crucible.errors.ChainUnavailable` saying what to check. Nothing hangs forever and
  nothing crash-loops: callers get a :class:`~crucible.errors.ChainError` they already handle.
* **Nonces**: one :class:`~crucible.chain.nonces.NonceManager` per account and RPC endpoint in a process,
  shared by every
  ``Signer`` of that account, so threads never reuse a nonce. It reconciles with the node's
  ``pending`` transaction count whenever nothing of its own is in flight, so a restarted process
  (or another one with the same key) continues after whatever is already in the mempool, and a
  send that collides anyway (``nonce too low``, ``already known``) is retried with a fresh nonce.
* **Stuck transactions**: with no receipt after ``replace_after`` seconds, the same nonce is re-sent
  with both fees raised by at least 12.5% (geth's txpool demands 10%, and 12.5% is the most the base
  fee can rise per block), up to ``max_replacements`` times, within ``receipt_timeout`` in total.
  Whichever of the versions is mined is the receipt returned; the others can no longer be mined.
* **Reverts**: nothing is sent that the node can tell will revert: every transaction is first
  simulated against the ``pending`` state (gas estimation, or a call when the gas is given); a revert
  there raises :class:`~crucible.errors.WouldRevert` and costs nothing. Calls and mined-but-reverted
  transactions (a state change between simulation and inclusion) raise ``ChainError``. All carry the
  contract's custom error decoded by name (``error_name``/``error_args``); revert data that matches
  no error of the ABI is shown in hex with its selector.
* **Fees**: EIP-1559: the tip from the node's ``eth_maxPriorityFeePerGas`` (or ``priority_fee``), the
  cap twice the latest base fee plus the tip, so a transaction stays includable while the base fee
  rises for several blocks; bumped as above when stuck. Chains without a base fee get a legacy price.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxReceipt

from crucible.chain.nonces import nonce_manager
from crucible.chain.reverts import NONCE_CLASH, REVERTS, revert_error, rpc_error, rpc_message
from crucible.errors import ChainError, WouldRevert

log = logging.getLogger("crucible.chain")

#: Replacement fee factor (numerator, denominator): +12.5%, above geth's 10% txpool price bump.
FEE_BUMP = (9, 8)
DEFAULT_PRIORITY_FEE = 10**9  # 1 gwei


@dataclass
class _Attempt:
    tx: dict[str, Any]
    tx_hash: HexBytes


class Signer:
    """One account sending transactions: nonces safe across threads, processes and restarts; stuck
    transactions replaced with higher fees; reverts decoded (see the module docstring)."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        replace_after: float = 60.0,
        receipt_timeout: float = 300.0,
        max_replacements: int = 5,
        poll_interval: float = 0.05,
        priority_fee: int | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.replace_after = replace_after
        self.receipt_timeout = receipt_timeout
        self.max_replacements = max_replacements
        self.poll_interval = poll_interval
        self.priority_fee = priority_fee
        self.nonces = nonce_manager(w3, account.address)
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    # -- public

    def send(
        self, tx: dict[str, Any], *, abi: list[dict[str, Any]] | None = None, what: str = "transaction"
    ) -> TxReceipt:
        """Sign, send and wait for the receipt; a revert raises ChainError carrying the custom error's
        name and args; no receipt within ``receipt_timeout`` (replacements included) raises ChainError."""
        tx = {"from": self.address, "chainId": self.chain_id, **tx}
        # Fees first, the check against the pending state last: a transaction that races others for
        # the same state (workers claiming one job) is checked as close to its broadcast as it can be.
        self._set_fees(tx)
        if "gas" not in tx:
            tx["gas"] = self._estimate(tx, abi, what)
        else:
            self._simulate(tx, abi, what)
        attempt = self._broadcast(tx, what)
        nonce = int(attempt.tx["nonce"])
        try:
            receipt, mined = self._await(attempt, what)
        finally:
            with self.nonces.lock:
                self.nonces.finished(nonce)
        if receipt["status"] != 1:
            raise self._reverted(mined, receipt, abi, what)
        return receipt

    # -- steps

    def _estimate(self, tx: dict[str, Any], abi: list[dict[str, Any]] | None, what: str) -> int:
        try:
            return int(self.w3.eth.estimate_gas(tx, "pending") * 1.2) + 10_000  # type: ignore[arg-type]
        except REVERTS as exc:
            raise _would_revert(revert_error(exc, abi, what, verb="would revert (not sent)")) from None
        except Web3RPCError as exc:
            raise rpc_error(exc, f"gas estimation for {what}", self.address) from None

    def _simulate(self, tx: dict[str, Any], abi: list[dict[str, Any]] | None, what: str) -> None:
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(call, "pending")  # type: ignore[arg-type]
        except REVERTS as exc:
            raise _would_revert(revert_error(exc, abi, what, verb="would revert (not sent)")) from None
        except Web3RPCError as exc:
            raise rpc_error(exc, f"simulation of {what}", self.address) from None

    def _set_fees(self, tx: dict[str, Any]) -> None:
        """EIP-1559 fees from the market (see the module docstring); a legacy price without a base fee."""
        if "gasPrice" in tx:
            return
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            tx["gasPrice"] = int(self.w3.eth.gas_price)
            return
        if "maxPriorityFeePerGas" not in tx:
            tx["maxPriorityFeePerGas"] = self._priority_fee()
        if "maxFeePerGas" not in tx:
            tx["maxFeePerGas"] = 2 * int(base_fee) + int(tx["maxPriorityFeePerGas"])

    def _priority_fee(self) -> int:
        """The tip: ``priority_fee`` if set, else what the node suggests (its view of recent blocks)."""
        if self.priority_fee is not None:
            return self.priority_fee
        try:
            return max(1, int(self.w3.eth.max_priority_fee))
        except (Web3RPCError, ValueError):
            return DEFAULT_PRIORITY_FEE

    def _broadcast(self, tx: dict[str, Any], what: str) -> _Attempt:
        """Pick a nonce and get the node to accept ``tx``; a nonce someone else took is skipped."""
        fixed = "nonce" in tx
        floor = 0
        with self.nonces.lock:
            for _ in range(5):
                if not fixed:
                    tx["nonce"] = self.nonces.reserve(self.w3, floor)
                try:
                    attempt = self._submit(tx)
                except _NonceTaken:
                    if fixed:
                        raise ChainError(f"{what}: nonce {tx['nonce']} of {self.address} is already used") from None
                    floor = int(tx["nonce"]) + 1
                    log.info(
                        "nonce %d of %s is taken (another process with this key?); trying %d",
                        tx["nonce"],
                        self.address,
                        floor,
                    )
                    continue
                except Web3RPCError as exc:
                    raise rpc_error(exc, what, self.address) from None
                self.nonces.accepted(int(tx["nonce"]))
                return attempt
        raise ChainError(
            f"{what}: every nonce tried was already taken; is another process sending with "
            f"the key of {self.address} at the same time?"
        )

    def _submit(self, tx: dict[str, Any]) -> _Attempt:
        signed = self.account.sign_transaction(tx)
        try:
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            message = rpc_message(exc).lower()
            if any(clash in message for clash in NONCE_CLASH):
                if self._known(signed.hash):
                    return _Attempt(dict(tx), HexBytes(signed.hash))  # our own bytes, re-sent after a lost answer
                raise _NonceTaken from None
            raise
        return _Attempt(dict(tx), HexBytes(signed.hash))

    def _known(self, tx_hash: bytes) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def _receipt(self, tx_hash: HexBytes) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _await(self, first: _Attempt, what: str) -> tuple[TxReceipt, _Attempt]:
        """Poll for a receipt of any version of the transaction, replacing it while it is stuck."""
        attempts = [first]
        nonce = int(first.tx["nonce"])
        start = last_sent = time.monotonic()
        poll = self.poll_interval
        while True:
            for attempt in reversed(attempts):
                receipt = self._receipt(attempt.tx_hash)
                if receipt is not None:
                    return receipt, attempt
            now = time.monotonic()
            if now - start >= self.receipt_timeout:
                raise ChainError(
                    f"{what} (nonce {nonce}, tx {attempts[-1].tx_hash.hex()}) was not mined within "
                    f"{self.receipt_timeout:.0f}s, {len(attempts) - 1} fee bump(s) included: check that the chain "
                    f"produces blocks and that {self.address} can pay the fees; it may still be mined later"
                )
            if now - last_sent >= self.replace_after and len(attempts) <= self.max_replacements:
                mined_nonce = int(self.w3.eth.get_transaction_count(self.address, "latest"))
                if mined_nonce > nonce:
                    # The nonce is used: either one of ours was just mined (next poll sees it) or another
                    # transaction from this key took it.
                    time.sleep(min(poll, 0.5))
                    if any(self._receipt(a.tx_hash) is not None for a in attempts):
                        continue
                    raise ChainError(
                        f"{what} was not applied: its nonce {nonce} was used by another transaction from "
                        f"{self.address} (another process with the same key?); check the state and retry"
                    )
                attempts.append(self._replace(attempts[-1], what))
                last_sent = time.monotonic()
            time.sleep(poll)
            poll = min(poll * 1.5, 1.0)

    def _replace(self, previous: _Attempt, what: str) -> _Attempt:
        """The same nonce again with fees raised by at least :data:`FEE_BUMP` (and to today's market)."""
        num, den = FEE_BUMP
        tx = dict(previous.tx)
        if "gasPrice" in tx:
            tx["gasPrice"] = max(-(-int(tx["gasPrice"]) * num // den), int(self.w3.eth.gas_price))
        else:
            prio = -(-int(tx["maxPriorityFeePerGas"]) * num // den)
            base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
            tx["maxPriorityFeePerGas"] = prio
            tx["maxFeePerGas"] = max(-(-int(tx["maxFeePerGas"]) * num // den), 2 * base + prio)
        log.warning(
            "%s (nonce %d, tx %s) has no receipt after %.0fs: re-sending with fees raised to %s",
            what,
            tx["nonce"],
            previous.tx_hash.hex(),
            self.replace_after,
            tx.get("maxFeePerGas", tx.get("gasPrice")),
        )
        with self.nonces.lock:
            try:
                return self._submit(tx)
            except _NonceTaken:
                return previous  # mined or superseded meanwhile: the receipt poll decides
            except Web3RPCError as exc:
                raise rpc_error(exc, f"replacement of {what}", self.address) from None

    def _reverted(
        self, attempt: _Attempt, receipt: TxReceipt, abi: list[dict[str, Any]] | None, what: str
    ) -> ChainError:
        """Why a mined transaction reverted: replay it as a call on the state before its block, then
        (where it passes there: a transaction ahead of it in the block changed the state) on the
        state after its block."""
        block = int(receipt["blockNumber"])
        where = f"in block {block} (tx {receipt['transactionHash'].hex()})"
        call = {k: attempt.tx[k] for k in ("from", "to", "data", "value", "gas") if k in attempt.tx}
        for state in (max(0, block - 1), block):
            try:
                self.w3.eth.call(call, block_identifier=state)  # type: ignore[arg-type]
            except REVERTS as exc:
                err = revert_error(exc, abi, what, verb=f"reverted {where}")
                return ChainError(str(err), error_name=err.error_name, error_args=err.error_args)
            except Web3RPCError:
                break
        return ChainError(f"{what} reverted {where} (out of gas, or the state changed between blocks)")


def _would_revert(err: ChainError) -> WouldRevert:
    return WouldRevert(str(err), error_name=err.error_name, error_args=err.error_args)


class _NonceTaken(Exception):
    """The node refused a transaction because its nonce is used (by another process or an earlier send)."""
