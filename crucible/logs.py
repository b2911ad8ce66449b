"""The one log format of every daemon (worker, verifier, oracle), and the training progress line.

A line is ``<date time> <role> <short address> <event>``, amounts in ETH (:func:`crucible.chain.units.eth`);
warnings and errors carry their level in capitals so a provider can grep for them. Training progress
is one line rewritten in place (step, loss, speed, ETA) when stderr is a terminal, and a plain log
line per checkpoint when it is piped to a file or a collector.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import TextIO

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def short_address(address: str) -> str:
    """``0x1234…abcd``: enough to tell accounts apart in a log."""
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


class RoleFormatter(logging.Formatter):
    """``2026-11-29 22:30:01 worker 0x70F2…79C8 claimed job 3`` (``WARNING``/``ERROR`` spelled out)."""

    def __init__(self, role: str, address: str | None = None) -> None:
        super().__init__(datefmt=TIME_FORMAT)
        self.prefix = role + (f" {short_address(address)}" if address else "")

    def format(self, record: logging.LogRecord) -> str:
        level = f"{record.levelname} " if record.levelno >= logging.WARNING else ""
        line = f"{self.formatTime(record, self.datefmt)} {self.prefix} {level}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that first clears a progress line left on a terminal."""

    progress_shown = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.progress_shown:
            self.stream.write("\r\x1b[K")
            _Handler.progress_shown = False
        super().emit(record)


_handler: _Handler | None = None


def setup_logging(role: str, address: str | None = None, *, level: str | int = "INFO") -> None:
    """Route every log record of this process (crucible's, uvicorn's, web3's warnings) through the one
    format, on stderr. Call again once the address is known."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _Handler(sys.stderr)
    _handler.setFormatter(RoleFormatter(role, address))
    root.addHandler(_handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("crucible.chain").setLevel(logging.NOTSET)  # daemons show RPC retries
    # httpx logs every request at INFO (the pubsub publishes, and a refused one reads like an error
    # where it only means nobody subscribes); crucible says itself what failed.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def quiet_one_shot_logging() -> None:
    """One-shot commands show only their result or their one error: RPC retry warnings are noise there."""
    logging.getLogger("crucible.chain").setLevel(logging.ERROR)


class Progress:
    """Training progress of one job: step, loss, speed since this run started, ETA."""

    def __init__(self, log: logging.Logger, job_id: int, total: int, first_step: int, stream: TextIO | None = None):
        self.log = log
        self.job_id = job_id
        self.total = total
        self.first_step = first_step
        self.started = time.monotonic()
        self.stream = stream or sys.stderr

    def rate(self, step: int) -> float:
        """Steps per second over the steps this run made (not counting those before a resume)."""
        return (step - self.first_step) / max(1e-9, time.monotonic() - self.started)

    def line(self, step: int, loss: float | None) -> str:
        rate = self.rate(step)
        eta = timedelta(seconds=round((self.total - step) / rate)) if rate > 0 else "?"
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        return f"job {self.job_id}: step {step}/{self.total}{loss_text} {rate:.1f} steps/s ETA {eta}"

    def update(self, step: int, loss: float | None) -> None:
        """On a terminal: rewrite the one progress line; piped: one log line."""
        text = self.line(step, loss)
        if _handler is not None and self.stream.isatty() and _handler.stream is self.stream:
            formatter = _handler.formatter or logging.Formatter()
            record = self.log.makeRecord(self.log.name, logging.INFO, "", 0, text, (), None)
            self.stream.write("\r\x1b[K" + formatter.format(record))
            self.stream.flush()
            _Handler.progress_shown = step < self.total
            if step >= self.total:
                self.stream.write("\n")
        else:
            self.log.info("%s", text)
