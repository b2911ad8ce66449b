"""What every command-line entry point shares: the consoles, ``--json`` output, and the error policy
for errors a user can cause (one red line, or one JSON object under ``--json``; exit 1 either way)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from crucible.errors import ChainError, CrucibleError

P = ParamSpec("P")
R = TypeVar("R")

#: Human output. ``soft_wrap``: paths, CIDs and URLs are never broken across lines, piped or not.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

#: The ``--json`` option every command takes, under the keyword ``json_out``.
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (errors too).")]

#: The option of every command that reads training progress (`requester watch`, `explorer`).
PubsubApi = Annotated[
    str | None,
    typer.Option(
        help="IPFS node whose pubsub carries training progress (default: CRUCIBLE_PUBSUB_API or the "
        "deployment's IPFS API)."
    ),
]


def print_json(data: Any) -> None:
    """One JSON document on stdout; amounts are integers of wei (exact), never floats."""
    print(json.dumps(data, indent=2, default=str))


def transactions_json(receipts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a write command reports per transaction sent: hash, block and gas."""
    return [
        {
            "tx_hash": "0x" + bytes(r["transactionHash"]).hex(),
            "block": int(r["blockNumber"]),
            "gas_used": int(r["gasUsed"]),
        }
        for r in receipts
    ]


def _json_arg(value: Any) -> Any:
    """A decoded error argument as JSON: enum members by name, bytes as hex, integers exact."""
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def error_json(exc: CrucibleError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ChainError) and exc.error_name:
        error["name"] = exc.error_name
        error["args"] = [_json_arg(a) for a in exc.error_args]
    return {"error": error}


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A command that prints a :class:`CrucibleError` as one red line (or, when called with
    ``json_out=True``, as ``{"error": {...}}`` on stdout) and exits 1, no traceback: the message
    already says what was wrong and what to do."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CrucibleError as exc:
            if kwargs.get("json_out"):
                print_json(error_json(exc))
            else:
                err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper
