"""Prometheus metrics of one worker, served on a loopback port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs_claimed = Counter("crucible_worker_jobs_claimed", "Jobs claimed", registry=self.registry)
        self.jobs_finalized = Counter(
            "crucible_worker_jobs_finalized", "Jobs finalized and paid", registry=self.registry
        )
        self.steps = Counter("crucible_worker_steps", "Training steps completed", registry=self.registry)
        self.steps_per_second = Gauge(
            "crucible_worker_steps_per_second", "Training speed of the current job", registry=self.registry
        )
        self.earnings_wei = Counter("crucible_worker_earnings_wei", "Credits withdrawn (wei)", registry=self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
