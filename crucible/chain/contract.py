"""A deployed contract plus a signer: reads, writes with decoded errors, receipts' events."""

from __future__ import annotations

from collections import deque
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, Web3RPCError
from web3.logs import DISCARD
from web3.types import TxReceipt

from crucible.chain.abi import Artifact
from crucible.chain.deployment import checksum
from crucible.chain.reverts import REVERTS, revert_error, rpc_error
from crucible.chain.signer import Signer
from crucible.errors import ChainError, ConfigError

#: How many of its latest receipts a client keeps: a command reports the few it sent; a daemon that
#: runs for months reads each new one within a round, long before this many more are sent.
RECENT_RECEIPTS = 1024


class ContractClient:
    """A deployed contract plus a signer: ``call`` reads, ``transact`` writes and decodes errors."""

    def __init__(self, w3: Web3, address: str, artifact: Artifact, signer: Signer | None = None) -> None:
        self.w3 = w3
        self.artifact = artifact
        self.contract: Contract = w3.eth.contract(address=checksum(address), abi=artifact.abi)
        self.signer = signer
        #: Receipts of the latest transactions this client sent, oldest first (the CLI's ``--json``
        #: reports them; a daemon notes its own), at most :data:`RECENT_RECEIPTS`.
        self.receipts: deque[TxReceipt] = deque(maxlen=RECENT_RECEIPTS)
        #: How many transactions this client has sent in all (``receipts`` keeps only the latest).
        self.sent = 0

    @property
    def address(self) -> ChecksumAddress:
        return self.contract.address

    def call(self, fn: str, *args: Any) -> Any:
        """A view call against the pending block, so time-derived views use the current time even
        when no block was mined lately. Reverts raise ChainError with the custom error decoded."""
        name = f"{self.artifact.name}.{fn}"
        try:
            return getattr(self.contract.functions, fn)(*args).call(block_identifier="pending")
        except REVERTS as exc:
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
            raise rpc_error(exc, name, "the caller") from None

    def transact(self, fn: str, *args: Any, value: int = 0, gas: int | None = None) -> TxReceipt:
        if self.signer is None:
            raise ConfigError(f"{fn} needs a key: this client is read-only")
        tx: dict[str, Any] = {"to": self.address, "value": value, "data": self.contract.encode_abi(fn, args=list(args))}
        if gas is not None:
            tx["gas"] = gas
        receipt = self.signer.send(tx, abi=self.artifact.abi, what=f"{self.artifact.name}.{fn}")
        self.receipts.append(receipt)
        self.sent += 1
        return receipt

    def events(self, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
        event = getattr(self.contract.events, name)()
        return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def deploy(signer: Signer, artifact: Artifact, *ctor_args: Any) -> tuple[str, TxReceipt]:
    """Deploy ``artifact`` with constructor ``ctor_args``; returns (address, receipt)."""
    factory = signer.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*ctor_args).data_in_transaction
    receipt = signer.send({"data": data}, abi=artifact.abi, what=f"deploy {artifact.name}")
    return str(receipt["contractAddress"]), receipt
