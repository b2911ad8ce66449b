"""Start and stop the local daemons (anvil, the IPFS node) by PID, and nothing else.

A daemon is started in its own session so it outlives the command that started it; it is
recorded with its PID *and* its kernel start time, so a later ``stop`` never signals a process
that merely reused the PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from crucible.errors import DevnetError

LOOPBACK = "127.0.0.1"


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, and never one handed out before in
    this process (nodes started in parallel choose several ports each before binding any)."""
    with _handed_out_lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((LOOPBACK, 0))
                port = int(s.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def ensure_port_free(port: int, what: str) -> None:
    """Refuse a port something listens on. SO_REUSEADDR as the daemons' own listeners set it, so the
    TIME_WAIT sockets a just-stopped node leaves behind do not count as "in use"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError as exc:
            raise DevnetError(
                f"port {port} on {LOOPBACK} (wanted for {what}) is already in use; "
                f"stop what listens there or pick another port"
            ) from exc


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _start_time(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch), or None if it is gone: with the pid, it
    names one process, never a later one that reused the pid."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@dataclass(frozen=True)
class Daemon:
    """A process this project started: enough to find it again and stop exactly it."""

    name: str
    pid: int
    start_time: float
    log: str

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start_time and not _is_zombie(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; a no-op if it is already gone."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if not self.alive():
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                _reap(self.pid)
                if not self.alive():
                    return
                time.sleep(0.05)
        raise DevnetError(f"{self.name} (pid {self.pid}) did not stop")

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Daemon:
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_time=float(str(data["start_time"])),
            log=str(data["log"]),
        )


def _is_zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    ready: Callable[[], bool],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Daemon:
    """Start ``argv`` detached, wait until ``ready()``; on failure stop it and show its log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    start = _start_time(proc.pid)
    daemon = Daemon(name=name, pid=proc.pid, start_time=start or 0.0, log=str(log_path))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DevnetError(f"{name} exited with code {proc.returncode} while starting:\n{_tail(log_path)}")
        if ready():
            return daemon
        time.sleep(0.1)
    daemon.stop()
    raise DevnetError(f"{name} was not ready after {timeout:.0f}s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
