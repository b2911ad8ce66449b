"""Where the project-local tools live (installed by scripts/bootstrap.sh).

The npm toolchain sits in ``tools/node_modules`` of the checkout; ``CRUCIBLE_TOOLS_DIR`` points
elsewhere when the package is installed outside a checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crucible.errors import ToolMissing
from crucible.settings import CoreSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def tools_dir() -> Path:
    return CoreSettings().tools_dir or REPO_ROOT / "tools"


def tool(name: str) -> Path:
    """Path of an npm-installed executable (anvil, forge, cast, jsipfs), or a clear error."""
    path = tools_dir() / "node_modules" / ".bin" / name
    if path.exists():
        return path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolMissing(f"{name} is not installed (looked in {path.parent} and PATH): run scripts/bootstrap.sh")


def solc_wrapper() -> Path:
    """The `solc` executable that fronts solcjs for py-solc-x, forge and ape."""
    path = REPO_ROOT / "scripts" / "solc"
    if not (tools_dir() / "node_modules" / "solc").exists():
        raise ToolMissing("the Solidity compiler (npm solc) is not installed: run scripts/bootstrap.sh")
    return path
