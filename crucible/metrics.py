"""One Prometheus exposition for every daemon (worker, verifier, oracle).

Each role's metrics live in their own registry (several daemons can share a process in tests) and are
rendered by :meth:`RoleMetrics.exposition`, whether served by :meth:`RoleMetrics.serve` or by the
oracle's HTTP API: the Prometheus text format, whatever the scraper asks for. Amounts of wei are
:class:`ExactCounter`s written as integers: a float counter loses wei above 2^53 (0.009 ETH).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

DEFAULT_HOST = "127.0.0.1"


class ExactCounter:
    """A monotonically increasing integer (wei), rendered exactly."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self._value = 0
        self._lock = threading.Lock()

    def inc(self, amount: int) -> None:
        if amount < 0:
            raise ValueError("a counter only increases")
        with self._lock:
            self._value += int(amount)

    @property
    def value(self) -> int:
        return self._value

    def render(self) -> str:
        return (
            f"# HELP {self.name}_total {self.documentation}\n# TYPE {self.name}_total counter\n"
            f"{self.name}_total {self._value}\n"
        )


class RoleMetrics:
    """A role's registry plus its exact wei counters; subclasses declare the metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._exact: list[ExactCounter] = []
        self.server: ThreadingHTTPServer | None = None

    def exact_counter(self, name: str, documentation: str) -> ExactCounter:
        counter = ExactCounter(name, documentation)
        self._exact.append(counter)
        return counter

    def exposition(self) -> bytes:
        """The text exposition (``CONTENT_TYPE_LATEST``) of every metric of this role."""
        return generate_latest(self.registry) + "".join(c.render() for c in self._exact).encode()

    def serve(self, port: int, host: str = DEFAULT_HOST) -> ThreadingHTTPServer:
        """Serve ``GET /metrics`` on ``host:port`` from a background thread (``port`` 0: a free one)."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path.split("?")[0] not in ("/", "/metrics"):
                    self.send_error(404)
                    return
                body = metrics.exposition()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes are not news
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True).start()
        return self.server
