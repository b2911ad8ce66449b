"""Prometheus metrics of one worker (exposition shared with every role: crucible.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from crucible.metrics import RoleMetrics


class WorkerMetrics(RoleMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.jobs_claimed = Counter("crucible_worker_jobs_claimed", "Jobs claimed", registry=self.registry)
        self.jobs_finalized = Counter(
            "crucible_worker_jobs_finalized", "Jobs finalized and paid", registry=self.registry
        )
        self.jobs_slashed = Counter(
            "crucible_worker_jobs_slashed", "Jobs on which this provider was slashed", registry=self.registry
        )
        self.steps = Counter("crucible_worker_steps", "Training steps completed", registry=self.registry)
        self.steps_per_second = Gauge(
            "crucible_worker_steps_per_second",
            "Training speed of the current job since this process started it (resumed steps not counted)",
            registry=self.registry,
        )
        self.earnings_wei = self.exact_counter("crucible_worker_earnings_wei", "Credits withdrawn, in wei (exact)")
