"""The deployment file every role reads: chain, RPC, IPFS API and market address."""

from __future__ import annotations

from pathlib import Path

from eth_typing import ChecksumAddress
from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator
from web3 import Web3

from crucible.errors import ConfigError


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
    #: Per-role IPFS API URLs (``devnet up --hosts``: one node per role); a role not listed uses ``ipfs_api``.
    ipfs_nodes: dict[str, str] = Field(default_factory=dict)
    market: str
    deploy_block: int = Field(ge=0)
    #: Blocks on top of an event's block before the daemons act on it (0 on an automining devnet).
    confirmations: int = Field(default=0, ge=0, le=1000)
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
            raise ConfigError(
                f"no deployment file at {path}: run `crucible devnet up` or `crucible deploy`, or pass "
                "--deployment / --network (or set CRUCIBLE_DEPLOYMENT)"
            ) from None
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
