"""Chain bindings: the deployment file every role reads, keys, and transactions that surface
the contracts' custom errors by name.

Transactions go through :class:`Signer`, which is built to survive the faults a long-running daemon
meets (see ``tests/test_transactions.py``):

* **RPC down or slow**: :func:`connect` returns a ``Web3`` whose provider retries connection
  failures, timeouts and HTTP 429/5xx with exponential backoff, logging each retry, and after a
  bounded time raises :class:`ChainUnavailable` saying what to check. Nothing hangs forever and
  nothing crash-loops: callers get a :class:`~crucible.errors.ChainError` they already handle.
* **Nonces**: one :class:`NonceManager` per account and RPC endpoint in a process, shared by every
  ``Signer`` of that account, so threads never reuse a nonce. It reconciles with the node's
  ``pending`` transaction count whenever nothing of its own is in flight, so a restarted process
  (or another one with the same key) continues after whatever is already in the mempool, and a
  send that collides anyway (``nonce too low``, ``already known``) is retried with a fresh nonce.
* **Stuck transactions**: with no receipt after ``replace_after`` seconds, the same nonce is re-sent
  with both fees raised by at least 12.5% (geth's txpool demands 10%, and 12.5% is the most the base
  fee can rise per block), up to ``max_replacements`` times, within ``receipt_timeout`` in total.
  Whichever of the versions is mined is the receipt returned; the others can no longer be mined.
* **Reverts**: gas estimation, calls and mined-but-reverted transactions all raise ``ChainError``
  with the contract's custom error decoded by name (``error_name``/``error_args``); revert data that
  matches no error of the ABI is shown in hex with its selector.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import requests
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import URI, ChecksumAddress
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import is_checksum_address, to_checksum_address
from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict, Field, field_validator
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.types import RPCEndpoint, TxReceipt

from crucible.devnet.contracts import Artifact, load_artifact
from crucible.devnet.nodes import DEV_CHAIN_ID, DEV_MNEMONIC
from crucible.errors import ChainError, ConfigError

Account.enable_unaudited_hdwallet_features()
log = logging.getLogger("crucible.chain.signer")

# Named devnet accounts: index into anvil's public test mnemonic.
DEV_ACCOUNTS: dict[str, int] = {
    "deployer": 0,
    "requester": 1,
    "provider": 2,
    "verifier": 3,
    "oracle": 4,
    "provider-2": 5,
    "provider-3": 6,
    "oracle-2": 7,
    "cheater": 8,
    "requester-2": 9,
    "verifier-2": 10,
}

DEFAULT_RPC_TIMEOUT = 30.0
#: Replacement fee factor (numerator, denominator): +12.5%, above geth's 10% txpool price bump.
FEE_BUMP = (9, 8)
DEFAULT_PRIORITY_FEE = 10**9  # 1 gwei


class ChainUnavailable(ChainError):
    """The RPC endpoint did not answer within the retry budget (down, unreachable or too slow)."""


def dev_account(role: str) -> LocalAccount:
    """The devnet key of a named role. Only for chain id 31337: these keys are public."""
    if role not in DEV_ACCOUNTS:
        raise ConfigError(f"unknown devnet account {role!r}; known: {', '.join(DEV_ACCOUNTS)}")
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{DEV_ACCOUNTS[role]}")
    return account


def load_key(private_key: str) -> LocalAccount:
    """A signer from a hex private key (``0x`` optional, surrounding whitespace ignored), with an error
    that never echoes the key or any part of it."""
    text = private_key.strip() if isinstance(private_key, str) else private_key
    try:
        if not isinstance(text, str) or len(text.removeprefix("0x")) != 64:
            raise ValueError
        int(text.removeprefix("0x"), 16)
        account: LocalAccount = Account.from_key(text)
        return account
    except (ValueError, TypeError):
        length = len(text.removeprefix("0x")) if isinstance(text, str) else 0
        raise ConfigError(
            f"the private key is malformed ({length} characters after any 0x prefix): expected 32 bytes "
            "written as 64 hex digits, optionally 0x-prefixed; or use an encrypted keystore "
            "(CRUCIBLE_KEYSTORE, see `crucible keys new`)"
        ) from None


def checksum(address: str, what: str = "address") -> ChecksumAddress:
    """``address`` in EIP-55 form; refuses non-addresses and mixed-case addresses with a bad checksum."""
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ConfigError(f"{what} {address!r} is not an Ethereum address (0x followed by 40 hex digits)")
    if address != address.lower() and not is_checksum_address(address):
        raise ConfigError(f"{what} {address!r} has a wrong EIP-55 checksum; copy it again")
    return to_checksum_address(address)


class Deployment(BaseModel):
    """Where everything is: written by `crucible devnet up` (or an ape deploy), read by every role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    chain_id: int = Field(gt=0)
    rpc_url: str
    ipfs_api: str
    market: str
    deploy_block: int = Field(ge=0)
    accounts: dict[str, str] = Field(default_factory=dict)

    @field_validator("market")
    @classmethod
    def _market_address(cls, v: str) -> str:
        return checksum(v, "market address")

    @classmethod
    def load(cls, path: Path, *, expected_chain_id: int | None = None) -> Deployment:
        """Read and validate a deployment file; with ``expected_chain_id``, refuse one for another chain."""
        try:
            raw = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"no deployment file at {path}: run `crucible devnet up` or pass --deployment") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read deployment file {path}: {exc}") from None
        try:
            deployment = cls.model_validate_json(raw)
        except ValueError as exc:
            raise ConfigError(f"deployment file {path} is invalid: {exc}") from None
        if expected_chain_id is not None and deployment.chain_id != expected_chain_id:
            raise ConfigError(
                f"deployment file {path} is for chain id {deployment.chain_id}, not {expected_chain_id}: "
                "use the deployment file written for this chain"
            )
        return deployment

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)


# --------------------------------------------------------------------------------------- RPC access


class RetryingHTTPProvider(HTTPProvider):
    """An HTTP provider that retries transport failures with exponential backoff, within a budget.

    Retried: connection refused/reset, timeouts, HTTP 429 and 5xx. Every method is retried, including
    ``eth_sendRawTransaction``: re-sending the same signed bytes is idempotent (the node answers
    "already known", which :class:`Signer` recognises as its own transaction). JSON-RPC errors are not
    transport failures and pass straight through. After ``retry_for`` seconds the request raises
    :class:`ChainUnavailable`; one attempt never outlives the remaining budget.
    """

    def __init__(
        self,
        endpoint_uri: str,
        *,
        timeout: float = DEFAULT_RPC_TIMEOUT,
        retry_for: float | None = None,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
    ) -> None:
        super().__init__(endpoint_uri, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        self.timeout = timeout
        self.retry_for = timeout if retry_for is None else retry_for
        self.backoff = backoff
        self.max_backoff = max_backoff

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        start = time.monotonic()
        deadline = start + self.retry_for
        attempt = 0
        while True:
            attempt += 1
            kwargs = self.get_request_kwargs()
            kwargs["timeout"] = max(0.2, min(self.timeout, deadline - time.monotonic()))
            # HTTPProvider declares endpoint_uri Optional, but __init__ always sets it (we pass one).
            uri = cast(URI, self.endpoint_uri)
            try:
                return self._request_session_manager.make_post_request(uri, request_data, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
                reason = _transport_reason(exc)
                if isinstance(exc, requests.HTTPError) and not _retryable_status(exc):
                    raise ChainUnavailable(
                        f"the chain RPC at {self.endpoint_uri} refused {method} ({reason}): check the rpc_url "
                        "(and any API key in it) in the deployment file"
                    ) from None
                remaining = deadline - time.monotonic()
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1), remaining)
                if remaining <= 0.05:
                    elapsed = time.monotonic() - start
                    raise ChainUnavailable(
                        f"cannot reach the chain RPC at {self.endpoint_uri}: {method} got no answer in "
                        f"{elapsed:.1f}s ({attempt} attempt{'s' if attempt > 1 else ''}, last: {reason}); check "
                        "that the node is running and reachable (`crucible devnet status`, or the rpc_url in "
                        "the deployment file) and try again"
                    ) from None
                log.warning(
                    "chain RPC at %s: %s failed (%s); retry %d in %.2fs, giving up after %.1fs",
                    self.endpoint_uri,
                    method,
                    reason,
                    attempt,
                    delay,
                    self.retry_for,
                )
                time.sleep(delay)


def _transport_reason(exc: Exception) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return "connection refused or reset" if isinstance(exc, requests.ConnectionError) else type(exc).__name__


def _retryable_status(exc: requests.HTTPError) -> bool:
    status = exc.response.status_code if exc.response is not None else 0
    return status == 429 or status >= 500


def rpc_timeout() -> float:
    """Default RPC budget in seconds: ``CRUCIBLE_RPC_TIMEOUT`` if set, else :data:`DEFAULT_RPC_TIMEOUT`."""
    raw = os.environ.get("CRUCIBLE_RPC_TIMEOUT")
    if raw is None:
        return DEFAULT_RPC_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(f"CRUCIBLE_RPC_TIMEOUT={raw!r} is not a number of seconds between 0 and 3600")
    return value


def connect(
    rpc_url: str, *, expected_chain_id: int | None = None, timeout: float | None = None, retry_for: float | None = None
) -> Web3:
    """A Web3 on ``rpc_url`` whose every request is retried for up to ``retry_for`` seconds (default:
    ``timeout``, default :func:`rpc_timeout`) before :class:`ChainUnavailable`; checks the chain id
    when one is expected."""
    timeout = rpc_timeout() if timeout is None else timeout
    w3 = Web3(RetryingHTTPProvider(rpc_url, timeout=timeout, retry_for=retry_for))
    try:
        chain_id = w3.eth.chain_id
    except ChainUnavailable:
        raise
    except Exception as exc:  # a non-JSON answer, an HTML error page...: not a chain RPC
        raise ChainUnavailable(
            f"cannot reach the chain RPC at {rpc_url}: it answered but not as an Ethereum JSON-RPC node "
            f"({exc.__class__.__name__}); check the rpc_url in the deployment file"
        ) from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ConfigError(
            f"the RPC at {rpc_url} serves chain id {chain_id}, but the deployment file is for chain id "
            f"{expected_chain_id}: use the deployment file of this chain"
        )
    return w3


# ------------------------------------------------------------------------------------ revert errors


def _error_selectors(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [_abi_type(i) for i in item["inputs"]]
            table[function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")] = (item["name"], types)
    return table


def _abi_type(param: Mapping[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[5:]
    return t


def decode_custom_error(abi: list[dict[str, Any]], data: str | bytes) -> tuple[str, tuple[Any, ...]] | None:
    """(name, args) of the custom error ``data`` encodes, or None if no error of ``abi`` matches."""
    try:
        raw = bytes.fromhex(data[2:] if data[:2] in ("0x", "0X") else data) if isinstance(data, str) else bytes(data)
    except ValueError:
        return None
    entry = _error_selectors(abi).get(raw[:4])
    if entry is None:
        return None
    name, types = entry
    try:
        return name, tuple(abi_decode(types, raw[4:]))
    except Exception:  # noqa: BLE001 - selector clash or truncated data: not this error after all
        return None


def _render_args(args: tuple[Any, ...]) -> str:
    return ", ".join(repr("0x" + a.hex() if isinstance(a, bytes) else a) for a in args)


def revert_error(exc: Exception, abi: list[dict[str, Any]] | None, what: str, *, verb: str = "reverted") -> ChainError:
    """A ``ChainError`` for a revert web3 reported, the custom error decoded by name where ``abi`` has it."""
    if isinstance(exc, ContractCustomError):
        data = exc.data if isinstance(exc.data, str) else str(exc.message)
        decoded = decode_custom_error(abi or [], data)
        if decoded is None:
            hexdata = data if data.startswith("0x") else f"0x{data}"
            return ChainError(
                f"{what} {verb} with an error this client does not know: selector {hexdata[:10]}, data {hexdata} "
                "(is the ABI snapshot current? `crucible contracts build --check`)"
            )
        name, args = decoded
        return ChainError(f"{what} {verb}: {name}({_render_args(args)})", error_name=name, error_args=args)
    if isinstance(exc, ContractPanicError):
        return ChainError(f"{what} {verb} with a Solidity panic: {exc.message} (data {exc.data})", error_name="Panic")
    if isinstance(exc, ContractLogicError):
        message = str(exc.message or "execution reverted")
        data = f" (data {exc.data})" if isinstance(exc.data, str) and exc.data not in ("", "0x") else ""
        return ChainError(f"{what} {verb}: {message}{data}")
    return ChainError(f"{what} failed: {exc}")


def _rpc_message(exc: Web3RPCError) -> str:
    response = exc.rpc_response or {}
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(exc.message if hasattr(exc, "message") else exc)


def _rpc_error(exc: Web3RPCError, what: str, address: str) -> ChainError:
    message = _rpc_message(exc)
    hint = ""
    if "insufficient funds" in message.lower():
        hint = f": account {address} cannot pay the value plus gas; fund it or lower the amount"
    elif "gas" in message.lower() and "limit" in message.lower():
        hint = ": the transaction needs more gas than allowed; check the gas limit"
    return ChainError(f"{what} was refused by the node: {message}{hint}")


_REVERTS = (ContractCustomError, ContractPanicError, ContractLogicError)
_NONCE_CLASH = (
    "nonce too low",
    "already known",
    "already imported",
    "replacement transaction underpriced",
    "nonce has already been used",
    "known transaction",
)


# ------------------------------------------------------------------------------------------- nonces


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


# ------------------------------------------------------------------------------------- transactions


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
        if "gas" not in tx:
            tx["gas"] = self._estimate(tx, abi, what)
        self._set_fees(tx)
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
        except _REVERTS as exc:
            raise revert_error(exc, abi, what) from None
        except Web3RPCError as exc:
            raise _rpc_error(exc, f"gas estimation for {what}", self.address) from None

    def _set_fees(self, tx: dict[str, Any]) -> None:
        if "gasPrice" in tx:
            return
        if "maxPriorityFeePerGas" not in tx:
            tx["maxPriorityFeePerGas"] = self.priority_fee if self.priority_fee is not None else DEFAULT_PRIORITY_FEE
        if "maxFeePerGas" not in tx:
            base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
            tx["maxFeePerGas"] = 2 * base + int(tx["maxPriorityFeePerGas"])

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
                    raise _rpc_error(exc, what, self.address) from None
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
            message = _rpc_message(exc).lower()
            if any(clash in message for clash in _NONCE_CLASH):
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
                raise _rpc_error(exc, f"replacement of {what}", self.address) from None

    def _reverted(
        self, attempt: _Attempt, receipt: TxReceipt, abi: list[dict[str, Any]] | None, what: str
    ) -> ChainError:
        """Why a mined transaction reverted: replay it as a call on the state before its block."""
        where = f"in block {receipt['blockNumber']} (tx {receipt['transactionHash'].hex()})"
        call = {k: attempt.tx[k] for k in ("from", "to", "data", "value", "gas") if k in attempt.tx}
        try:
            self.w3.eth.call(call, block_identifier=max(0, int(receipt["blockNumber"]) - 1))  # type: ignore[arg-type]
        except _REVERTS as exc:
            err = revert_error(exc, abi, what, verb=f"reverted {where}")
            return ChainError(str(err), error_name=err.error_name, error_args=err.error_args)
        except Web3RPCError:
            pass
        return ChainError(f"{what} reverted {where} (out of gas, or the state changed between blocks)")


class _NonceTaken(Exception):
    """The node refused a transaction because its nonce is used (by another process or an earlier send)."""


class ContractClient:
    """A deployed contract plus a signer: ``call`` reads, ``transact`` writes and decodes errors."""

    def __init__(self, w3: Web3, address: str, artifact: Artifact, signer: Signer | None = None) -> None:
        self.w3 = w3
        self.artifact = artifact
        self.contract: Contract = w3.eth.contract(address=checksum(address), abi=artifact.abi)
        self.signer = signer

    @property
    def address(self) -> ChecksumAddress:
        return self.contract.address

    def call(self, fn: str, *args: Any) -> Any:
        """A view call against the pending block, so time-derived views use the current time even
        when no block was mined lately. Reverts raise ChainError with the custom error decoded."""
        name = f"{self.artifact.name}.{fn}"
        try:
            return getattr(self.contract.functions, fn)(*args).call(block_identifier="pending")
        except _REVERTS as exc:
            raise revert_error(exc, self.artifact.abi, name, verb="reverted") from None
        except BadFunctionCallOutput:
            code = self.w3.eth.get_code(self.contract.address)
            if not code:
                raise ChainError(
                    f"there is no contract at {self.address} on chain {self.w3.eth.chain_id}: the deployment file "
                    "is for another chain or an older devnet; use the current one (`crucible devnet up` writes it)"
                ) from None
            raise ChainError(f"{name} returned data this client cannot decode: is the ABI snapshot current?") from None
        except Web3RPCError as exc:
            raise _rpc_error(exc, name, "the caller") from None

    def transact(self, fn: str, *args: Any, value: int = 0, gas: int | None = None) -> TxReceipt:
        if self.signer is None:
            raise ConfigError(f"{fn} needs a key: this client is read-only")
        tx: dict[str, Any] = {"to": self.address, "value": value, "data": self.contract.encode_abi(fn, args=list(args))}
        if gas is not None:
            tx["gas"] = gas
        return self.signer.send(tx, abi=self.artifact.abi, what=f"{self.artifact.name}.{fn}")

    def events(self, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
        event = getattr(self.contract.events, name)()
        return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def deploy(signer: Signer, artifact: Artifact, *ctor_args: Any) -> tuple[str, TxReceipt]:
    """Deploy ``artifact`` with constructor ``ctor_args``; returns (address, receipt)."""
    factory = signer.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*ctor_args).data_in_transaction
    receipt = signer.send({"data": data}, abi=artifact.abi, what=f"deploy {artifact.name}")
    return str(receipt["contractAddress"]), receipt


def market_artifact() -> Artifact:
    return load_artifact("CrucibleMarket")


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def is_devnet(chain_id: int) -> bool:
    return chain_id == DEV_CHAIN_ID
