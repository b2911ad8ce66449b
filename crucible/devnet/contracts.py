"""Compile ``contracts/src`` and keep the ABI/bytecode snapshots the Python package ships.

The snapshots in ``crucible/abi/`` let a provider who installs only the Python package talk to
(and deploy) the contracts with no compiler or Node. ``build(check=True)`` recompiles and reports
any drift between the sources and the snapshots; the test suite runs that check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from crucible.chain.abi import Artifact, snapshot_path
from crucible.devnet.tools import REPO_ROOT, solc_wrapper
from crucible.errors import CompileError

SOURCES = REPO_ROOT / "contracts" / "src"
BUILD_DIR = REPO_ROOT / "build" / "contracts"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
# Contracts whose ABI (and bytecode, for those that are deployed) the package ships.
SHIPPED = ("CrucibleMarket",)


def standard_input(sources_dir: Path = SOURCES) -> dict[str, Any]:
    files = sorted(sources_dir.rglob("*.sol"))
    if not files:
        raise CompileError(f"no Solidity sources under {sources_dir}")
    return {
        "language": "Solidity",
        "sources": {str(f.relative_to(sources_dir)): {"content": f.read_text()} for f in files},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }


def compile_sources(sources_dir: Path = SOURCES) -> dict[str, Artifact]:
    """Compile every contract under ``sources_dir`` with the pinned solc (through the wrapper)."""
    try:
        output = solcx.compile_standard(
            standard_input(sources_dir),
            solc_binary=solc_wrapper(),
            allow_paths=[str(sources_dir)],
        )
    except SolcError as exc:
        # py-solc-x raises on any error diagnostic; the JSON it got still says which.
        try:
            output = json.loads(exc.stdout_data or "")  # no stdout fails to parse like bad stdout
        except (TypeError, ValueError):
            raise CompileError(f"solc failed:\n{exc.stderr_data or exc}") from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("solc rejected the sources:\n" + "\n".join(e["formattedMessage"] for e in errors))
    artifacts = {}
    for contracts in output["contracts"].values():
        for name, out in contracts.items():
            artifacts[name] = Artifact(name, out["abi"], "0x" + out["evm"]["bytecode"]["object"])
    return artifacts


def build(*, check: bool = False, sources_dir: Path = SOURCES) -> list[str]:
    """Compile; write build artifacts and (unless ``check``) the snapshots. Returns drifted names."""
    artifacts = compile_sources(sources_dir)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts.values():
        (BUILD_DIR / f"{artifact.name}.json").write_text(artifact.to_json())
    drifted = []
    for name in SHIPPED:
        if name not in artifacts:
            raise CompileError(f"contract {name} not found in {sources_dir}")
        fresh = artifacts[name].to_json()
        path = snapshot_path(name)
        if not path.exists() or path.read_text() != fresh:
            drifted.append(name)
            if not check:
                path.write_text(fresh)
    return drifted
