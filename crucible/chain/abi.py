"""The contract ABIs the package ships (``crucible/abi/``, kept current by ``crucible contracts
build``), and the custom error names they declare, so code matches reverts by names the ABI has."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from crucible.errors import CompileError

SNAPSHOTS = Path(__file__).resolve().parents[1] / "abi"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str

    def to_json(self) -> str:
        return json.dumps({"contractName": self.name, "abi": self.abi, "bytecode": self.bytecode}, indent=1) + "\n"


def snapshot_path(name: str) -> Path:
    return SNAPSHOTS / f"{name}.json"


def load_artifact(name: str) -> Artifact:
    """A shipped contract's ABI and bytecode, from the package's snapshot."""
    path = snapshot_path(name)
    if not path.exists():
        raise CompileError(f"no ABI snapshot for {name} at {path}: run `crucible contracts build`")
    data = json.loads(path.read_text())
    return Artifact(data["contractName"], data["abi"], data["bytecode"])


def market_artifact() -> Artifact:
    return load_artifact("CrucibleMarket")


class ContractErrors:
    """The custom errors an ABI declares, by name: ``errors.AlreadyVoted == "AlreadyVoted"``. Asking
    for a name the ABI lacks raises at once, so a renamed error cannot silently stop matching."""

    def __init__(self, contract: str, abi: list[dict[str, Any]]) -> None:
        self._contract = contract
        self._names = frozenset(str(item["name"]) for item in abi if item.get("type") == "error")

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"{self._contract} declares no error {name!r}")
        return name


@cache
def market_errors() -> ContractErrors:
    return ContractErrors("CrucibleMarket", market_artifact().abi)
