"""The import rule the folders show: applications (``app``) above the roles, roles above the core,
the explorer (``explorer``) an application that reads the core only (no role, no ``app``),
and inside the core the protocol below the adapters; nothing imports upward or sideways between roles.
Also: no function outside tests/ and benchmarks/ is longer than 60 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("worker", "verifier", "oracle", "requester")
#: Read-only applications beside the roles: they import only the core.
READERS = ("explorer",)
PACKAGES = ("app", "crucible", *ROLES, *READERS)

#: Inside the core: what each part may import (besides itself and ``crucible.errors``).
CORE_ALLOWED: dict[str, set[str]] = {
    "crucible": {"protocol"},  # the package __init__ sets the determinism environment
    "errors": set(),
    "protocol": set(),
    "store": {"protocol"},
    "engine": {"protocol", "store"},
    "chain": {"protocol", "store", "settings"},
    "settings": {"chain"},
    "devnet": {"chain", "store", "protocol", "settings"},
    "console": set(),
    "context": {"chain", "store", "settings"},
    "daemon": {"chain"},
    "logs": set(),
    "metrics": set(),
    "testing": {"engine", "protocol", "store"},
}
MAX_FUNCTION_LINES = 60


def python_files(*top: str, root: Path = ROOT) -> Iterator[Path]:
    for name in top:
        yield from sorted((root / name).rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in ``path``, lazy ones inside functions included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "crucible":  # ``from crucible import x``: the submodules are what is imported
                yield from ((node.lineno, f"crucible.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, node.module


def part_of(module: str) -> str:
    """The core part a ``crucible.*`` module belongs to (``crucible.chain.rpc`` -> ``chain``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "crucible"


def violations(root: Path = ROOT) -> Iterator[str]:
    for path in python_files(*PACKAGES, root=root):
        rel = path.relative_to(root)
        here = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        top = rel.parts[0]
        for line, module in imports(path):
            target = module.split(".")[0]
            if target not in PACKAGES or target == "app" and top == "app":
                continue
            where = f"{rel}:{line} imports {module}"
            if top == "crucible":
                if target != "crucible":
                    yield f"{where}: the core imports no role or application"
                    continue
                mine, theirs = part_of(here), part_of(module)
                if theirs not in (mine, "errors") and theirs not in CORE_ALLOWED[mine]:
                    yield f"{where}: crucible.{mine} may import only {sorted(CORE_ALLOWED[mine])}"
            elif top in ROLES or top in READERS:
                if target in ("app", *ROLES, *READERS) and target != top:
                    yield f"{where}: a role or the explorer imports only the core and itself"
                elif module.startswith("crucible.testing"):
                    yield f"{where}: production code never imports the test doubles"


def test_no_module_imports_upward_or_across_roles() -> None:
    assert list(violations()) == []


def test_the_layer_check_sees_each_kind_of_violation(tmp_path: Path) -> None:
    files = {
        "crucible/chain/bad.py": "from worker.provider import Worker\n",  # core -> role
        "crucible/protocol/bad.py": "def f():\n    from crucible.chain import rpc\n",  # protocol -> adapter, lazily
        "worker/bad.py": "import verifier.daemon\n",  # role -> role
        "verifier/bad.py": "from crucible.testing import adversaries\n",  # production -> test doubles
        "oracle/fine.py": "from crucible.chain.market import Market\nfrom oracle import judge\n",
        "app/fine.py": "import worker.cli, verifier.cli, explorer.cli\n",
        "explorer/bad.py": "from oracle.judge import replay\n",  # the explorer reads the core only
        "worker/bad2.py": "import explorer.app\n",  # a role never imports the explorer
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    found = list(violations(tmp_path))

    assert [line.split(" imports ")[0] for line in found] == [
        "crucible/chain/bad.py:1",
        "crucible/protocol/bad.py:2",
        "worker/bad.py:1",
        "worker/bad2.py:1",
        "verifier/bad.py:1",
        "explorer/bad.py:1",
    ]


def test_no_function_is_longer_than_60_lines() -> None:
    long = []
    for path in python_files(*PACKAGES, "scripts"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} has {length} lines")
    assert long == []
