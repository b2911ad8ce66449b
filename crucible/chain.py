"""Chain bindings: the deployment file every role reads, keys, and transactions that surface
the contracts' custom errors by name.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, is_checksum_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from crucible.contracts import Artifact, load_artifact
from crucible.errors import ChainError, ConfigError
from crucible.nodes import DEV_CHAIN_ID, DEV_MNEMONIC

Account.enable_unaudited_hdwallet_features()

# Named devnet accounts: index into anvil's public test mnemonic.
DEV_ACCOUNTS: dict[str, int] = {
    "deployer": 0, "requester": 1, "provider": 2, "verifier": 3, "oracle": 4,
    "provider-2": 5, "provider-3": 6, "oracle-2": 7, "cheater": 8, "requester-2": 9,
}


def dev_account(role: str) -> LocalAccount:
    """The devnet key of a named role. Only for chain id 31337: these keys are public."""
    if role not in DEV_ACCOUNTS:
        raise ConfigError(f"unknown devnet account {role!r}; known: {', '.join(DEV_ACCOUNTS)}")
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{DEV_ACCOUNTS[role]}")


def load_key(private_key: str) -> LocalAccount:
    """A signer from a hex private key, with an error that never echoes the key."""
    try:
        return Account.from_key(private_key)
    except (ValueError, TypeError) as exc:
        raise ConfigError("the private key is malformed: expected 32 bytes as 64 hex digits (0x-prefixed)") from None


def checksum(address: str, what: str = "address") -> str:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ConfigError(f"{what} {address!r} is not an Ethereum address (0x followed by 40 hex digits)")
    if address != address.lower() and not is_checksum_address(address):
        raise ConfigError(f"{what} {address!r} has a wrong EIP-55 checksum; copy it again")
    return str(to_checksum_address(address))


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
    def load(cls, path: Path) -> Deployment:
        try:
            raw = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"no deployment file at {path}: run `crucible devnet up` or pass --deployment") from None
        try:
            return cls.model_validate_json(raw)
        except ValueError as exc:
            raise ConfigError(f"deployment file {path} is invalid: {exc}") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)


def connect(rpc_url: str, *, expected_chain_id: int | None = None, timeout: float = 30.0) -> Web3:
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # requests' errors vary; all mean "nobody answers there"
        raise ChainError(f"cannot reach the chain RPC at {rpc_url}: {exc.__class__.__name__}") from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ConfigError(
            f"the RPC at {rpc_url} serves chain id {chain_id}, but the deployment file is for chain id "
            f"{expected_chain_id}: use the deployment file of this chain"
        )
    return w3


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
    raw = bytes.fromhex(data[2:]) if isinstance(data, str) else data
    entry = _error_selectors(abi).get(raw[:4])
    if entry is None:
        return None
    name, types = entry
    return name, tuple(abi_decode(types, raw[4:]))


class Signer:
    """One account sending transactions, with its own nonce counter (safe across threads)."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self._lock = threading.Lock()
        self._nonce: int | None = None

    def _next_nonce(self) -> int:
        chain_nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        self._nonce = chain_nonce if self._nonce is None else max(self._nonce, chain_nonce)
        return self._nonce

    def send(self, tx: dict[str, Any], *, abi: list[dict[str, Any]] | None = None, what: str = "transaction") -> TxReceipt:
        """Sign, send and wait; a revert raises ChainError carrying the custom error's name and args."""
        with self._lock:
            tx = {"from": self.address, "chainId": self.w3.eth.chain_id, **tx}
            try:
                if "gas" not in tx:
                    tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.2) + 10_000  # type: ignore[arg-type]
            except ContractCustomError as exc:
                raise _custom_error(exc, abi, what) from None
            except ContractLogicError as exc:
                raise ChainError(f"{what} would revert: {exc}") from None
            tx.setdefault("maxPriorityFeePerGas", self.w3.to_wei(1, "gwei"))
            tx.setdefault("maxFeePerGas", 2 * self.w3.eth.get_block("latest")["baseFeePerGas"] + tx["maxPriorityFeePerGas"])
            tx["nonce"] = self._next_nonce()
            signed = self.account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            self._nonce = tx["nonce"] + 1
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise ChainError(f"{what} reverted in block {receipt['blockNumber']} (tx {tx_hash.hex()})")
        return receipt


def _custom_error(exc: ContractCustomError, abi: list[dict[str, Any]] | None, what: str) -> ChainError:
    data = exc.data if isinstance(exc.data, str) else str(exc.message)
    decoded = decode_custom_error(abi or [], data) if data.startswith("0x") else None
    if decoded is None:
        return ChainError(f"{what} reverted with unknown error data {data}")
    name, args = decoded
    rendered = ", ".join(repr(a.hex() if isinstance(a, bytes) else a) for a in args)
    return ChainError(f"{what} reverted: {name}({rendered})", error_name=name, error_args=args)


class ContractClient:
    """A deployed contract plus a signer: ``call`` reads, ``transact`` writes and decodes errors."""

    def __init__(self, w3: Web3, address: str, artifact: Artifact, signer: Signer | None = None) -> None:
        self.w3 = w3
        self.artifact = artifact
        self.contract: Contract = w3.eth.contract(address=checksum(address), abi=artifact.abi)
        self.signer = signer

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call()
        except ContractCustomError as exc:
            raise _custom_error(exc, self.artifact.abi, fn) from None

    def transact(self, fn: str, *args: Any, value: int = 0, gas: int | None = None) -> TxReceipt:
        if self.signer is None:
            raise ConfigError(f"{fn} needs a key: this client is read-only")
        tx: dict[str, Any] = {"to": self.address, "value": value,
                              "data": self.contract.encode_abi(fn, args=list(args))}
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
