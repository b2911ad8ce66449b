"""Prometheus metrics of one oracle (exposition shared with every role: crucible.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from crucible.metrics import RoleMetrics


class OracleMetrics(RoleMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.judged = Counter(
            "crucible_oracle_disputes_judged", "Disputes judged, by verdict", ["verdict"], registry=self.registry
        )
        self.refused = Counter(
            "crucible_oracle_disputes_refused", "Disputes this oracle refused to judge", registry=self.registry
        )
        self.posted = Counter("crucible_oracle_verdicts_posted", "Verdicts posted on chain", registry=self.registry)
        self.post_failures = Counter(
            "crucible_oracle_verdict_post_failures",
            "Verdicts not posted (dispute already resolved, too late, not registered)",
            registry=self.registry,
        )
        self.replay_seconds = Histogram(
            "crucible_oracle_replay_seconds",
            "Time to replay the disputed step (or build S_0)",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
            registry=self.registry,
        )
