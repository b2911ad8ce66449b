"""What every benchmark section shares: the devnet it runs on, accounts, instrumented signers and
stores, RPC counting, statistics, machine description and (optional) plotting.

Nothing here imports torch at module level: the training-overhead section starts child processes
whose baseline must pick torch's native kernels before ``crucible`` is imported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import crucible  # noqa: E402,F401  (sets the determinism environment before anything imports torch)

ETHER = 10**18


# ----------------------------------------------------------------------------------------- statistics


def median(xs: Iterable[float]) -> float:
    values = list(xs)
    return float(statistics.median(values)) if values else float("nan")


def spread(xs: Sequence[float]) -> tuple[float, float]:
    """(min, max) of the repetitions, reported next to each median."""
    return (float(min(xs)), float(max(xs))) if xs else (float("nan"), float("nan"))


# ----------------------------------------------------------------------------------------- the devnet


@dataclass
class Ctx:
    """One benchmark run: where it writes, how big it is, and the anvil/IPFS nodes it started lazily.

    Nodes passed in (a test's fixtures) are used and never stopped; nodes this run starts are
    stopped by PID in :meth:`close`.
    """

    home: Path
    quick: bool = False
    anvil_node: Any = None
    ipfs_node: Any = None
    log: Callable[[str], None] = field(default=lambda msg: print(msg, flush=True))
    _owned: list[Any] = field(default_factory=list)

    def anvil(self) -> Any:
        if self.anvil_node is None:
            from crucible.devnet.nodes import start_anvil

            self.anvil_node = start_anvil(self.home / "anvil", accounts=20)
            self._owned.append(self.anvil_node)
        return self.anvil_node

    def ipfs(self) -> Any:
        if self.ipfs_node is None:
            from crucible.devnet.nodes import start_ipfs

            self.ipfs_node = start_ipfs(self.home / "ipfs-home")
            self._owned.append(self.ipfs_node)
        return self.ipfs_node

    def store(self, **kw: Any) -> Any:
        from crucible.store.ipfs import IpfsStore

        return TimedStore(IpfsStore(self.ipfs().url, **kw))

    def close(self) -> None:
        while self._owned:
            self._owned.pop().daemon.stop()  # by PID: only what this run started


def account(index: int) -> Any:
    """Devnet account ``index`` of anvil's public test mnemonic (anvil is started with 20)."""
    from eth_account import Account

    from crucible.chain.keys import DEV_MNEMONIC

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def advance_time(url: str, seconds: int) -> None:
    from crucible.devnet.nodes import rpc_call

    rpc_call(url, "evm_increaseTime", [seconds])
    rpc_call(url, "evm_mine")


# ------------------------------------------------------------------------------------ instrumentation


@dataclass
class TxRecord:
    what: str
    gas: int
    seconds: float
    done_at: float  # time.perf_counter() when the receipt came back
    sender: str


class TxLog:
    """Every transaction sent through a :class:`RecordingSigner`, in order (thread-safe)."""

    def __init__(self) -> None:
        self.records: list[TxRecord] = []
        self._lock = threading.Lock()

    def add(self, rec: TxRecord) -> None:
        with self._lock:
            self.records.append(rec)

    def mark(self) -> int:
        with self._lock:
            return len(self.records)

    def since(self, mark: int) -> list[TxRecord]:
        with self._lock:
            return list(self.records[mark:])


def recording_signer(w3: Any, acct: Any, txlog: TxLog) -> Any:
    """A :class:`crucible.chain.signer.Signer` that records each mined transaction's gas and latency."""
    from crucible.chain.signer import Signer

    class RecordingSigner(Signer):
        def send(self, tx: dict[str, Any], *, abi: Any = None, what: str = "transaction") -> Any:
            start = time.perf_counter()
            receipt = super().send(tx, abi=abi, what=what)
            end = time.perf_counter()
            txlog.add(TxRecord(what.split(".")[-1], int(receipt["gasUsed"]), end - start, end, self.address))
            return receipt

    return RecordingSigner(w3, acct)


class RpcCounter:
    """Counts JSON-RPC requests by method, across every Web3 it is attached to (thread-safe)."""

    def __init__(self) -> None:
        self.by_method: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, w3: Any) -> Any:
        provider = w3.provider
        inner = provider._make_request  # HTTPProvider.make_request calls self._make_request per request

        def counted(method: str, request_data: bytes) -> bytes:
            with self._lock:
                self.by_method[str(method)] += 1
            return inner(method, request_data)  # type: ignore[no-any-return]

        provider._make_request = counted
        return w3

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_method.values())


def market_for(url: str, market_address: str, acct: Any, txlog: TxLog, rpc: RpcCounter | None = None) -> Any:
    """A :class:`crucible.chain.market.Market` for ``acct`` whose transactions are recorded (and RPCs counted)."""
    from crucible.chain.market import Market
    from crucible.chain.rpc import connect

    w3 = connect(url)
    if rpc is not None:
        rpc.attach(w3)
    return Market(w3, market_address, recording_signer(w3, acct, txlog))


def deploy(url: str, oracles: Sequence[str], quorum: int = 1) -> str:
    """A fresh CrucibleMarket with the devnet parameters (seconds-long windows and move clocks)."""
    from crucible.chain.keys import dev_account
    from crucible.chain.rpc import connect
    from crucible.chain.signer import Signer
    from crucible.devnet.deploy import DEVNET_PARAMS, deploy_market

    w3 = connect(url)
    address, _ = deploy_market(Signer(w3, dev_account("deployer")), DEVNET_PARAMS, list(oracles), quorum)
    return address


def timed_store_class() -> type:
    from crucible.store.artifacts import ArtifactStore

    class _TimedStore(ArtifactStore):
        """An ArtifactStore that records how long each upload and fetch took, and how many bytes."""

        def __init__(self, blobs: Any) -> None:
            super().__init__(blobs)
            self.puts: list[tuple[float, int, float]] = []  # (seconds, bytes, done_at)
            self.fetches: list[tuple[float, int, float]] = []
            self._lock = threading.Lock()

        def put(self, data: bytes) -> str:
            start = time.perf_counter()
            cid = super().put(data)
            end = time.perf_counter()
            with self._lock:
                self.puts.append((end - start, len(data), end))
            return cid

        def _fetch(self, cid: str, what: str, max_bytes: int) -> bytes:
            start = time.perf_counter()
            data = super()._fetch(cid, what, max_bytes)
            end = time.perf_counter()
            with self._lock:
                self.fetches.append((end - start, len(data), end))
            return data

    return _TimedStore


def TimedStore(blobs: Any) -> Any:  # noqa: N802 - reads as a class at call sites
    return timed_store_class()(blobs)


def timed(fn: Callable[..., Any], sink: list[float]) -> Callable[..., Any]:
    """``fn`` wrapped so each call's duration is appended to ``sink``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - start)

    return wrapper


# --------------------------------------------------------------------------------------- RPC counting


def rpc_name(call: dict[str, Any]) -> str:
    """The method, and for ``eth_call`` the 4-byte selector of the view called (named later)."""
    method = str(call.get("method"))
    if method == "eth_call" and call.get("params"):
        tx = call["params"][0]
        return f"eth_call {str(tx.get('data') or tx.get('input') or '')[:10]}"
    return method


def named_views(counts: Counter[str], market: Any) -> dict[str, int]:
    """``eth_call 0x…`` keys renamed ``eth_call name`` after the market's ABI."""
    named: Counter[str] = Counter()
    for key, n in counts.items():
        if key.startswith("eth_call 0x"):
            with suppress(ValueError):  # not a market view: keep the selector
                key = f"eth_call {market.contract.get_function_by_selector(key.split()[1]).fn_name}"
        named[key] += n
    return dict(named.most_common())


def by_method(counts: Counter[str]) -> dict[str, int]:
    """Counts of :class:`CountingProxy` keys summed by JSON-RPC method (every ``eth_call`` together)."""
    methods: Counter[str] = Counter()
    for key, n in counts.items():
        methods[key.split()[0]] += n
    return dict(methods.most_common())


class CountingProxy:
    """A JSON-RPC proxy on loopback that forwards to ``upstream`` and counts requests by method
    (batches split), so a daemon in another process is counted as a hosted RPC provider bills it.
    Stop it with :meth:`close`."""

    def __init__(self, upstream: str) -> None:
        from crucible.devnet.processes import LOOPBACK, free_port

        self.by_method: Counter[str] = Counter()
        lock = threading.Lock()
        counts = self.by_method

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    calls = json.loads(body)
                except ValueError:
                    calls = []
                with lock:
                    for call in calls if isinstance(calls, list) else [calls]:
                        counts[rpc_name(call)] += 1
                request = urllib.request.Request(upstream, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as reply:
                    answer = reply.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, free_port()), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> Counter[str]:
        """The counts so far, and start again from zero."""
        taken = Counter(self.by_method)
        self.by_method.clear()
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------------- daemon processes


def start_cli(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m app.cli ARGS`` as a user runs it, its output appended to ``log``; stop it with
    :func:`stop_processes` (by PID)."""
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_processes(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """SIGTERM every process still running (the daemons stop between two steps), then wait; kill
    what does not exit within ``timeout``. Only these PIDs: what the caller started."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reverted(market: Any, first_block: int, names: dict[str, str]) -> list[dict[str, Any]]:
    """Every transaction mined with status 0 since ``first_block``: who sent it and what it called."""
    w3 = market.w3
    out = []
    for n in range(first_block, int(w3.eth.block_number) + 1):
        for r in w3.manager.request_blocking("eth_getBlockReceipts", [hex(n)]) or []:
            if int(r["status"], 16) if isinstance(r["status"], str) else int(r["status"]):
                continue
            tx = w3.eth.get_transaction(r["transactionHash"])
            try:
                fn, _ = market.contract.decode_function_input(tx["input"])
                what = fn.fn_name
            except ValueError:
                what = "?"
            out.append({"block": n, "from": names.get(tx["from"], tx["from"]), "function": what})
    return out


# ---------------------------------------------------------------------------------------- the machine


def _cmd(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=ROOT)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(ipfs_version: str | None = None) -> dict[str, Any]:
    import torch
    import web3

    from crucible.devnet.tools import tool

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    commit = _cmd(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(_cmd(["git", "status", "--porcelain"]))
    try:
        anvil = _cmd([str(tool("anvil")), "--version"])
    except Exception:  # noqa: BLE001 - the report still records everything else
        anvil = "unknown"
    return {
        "cpu": cpu or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory": mem or "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": bool(torch.cuda.is_available()),
        "web3": web3.__version__,
        "anvil": anvil,
        "ipfs": ipfs_version or "not started",
        "commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ------------------------------------------------------------------------------------------- plotting


def plotting() -> Any:
    """matplotlib.pyplot with the Agg backend, or None where the `bench` extra is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def fmt_int(n: float) -> str:
    return f"{int(round(n)):,}"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
