"""What every command-line entry point shares: the error policy for errors a user can cause."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from crucible.errors import CrucibleError

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True, soft_wrap=True)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A command that prints a :class:`CrucibleError` as one red line and exits 1, no traceback: the
    message already says what was wrong and what to do."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CrucibleError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None

    return wrapper
