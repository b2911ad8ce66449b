"""Prometheus metrics of one verifier (exposition shared with every role: crucible.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

from crucible.metrics import RoleMetrics


class VerifierMetrics(RoleMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.audits = Counter(
            "crucible_verifier_audits", "Results audited, by outcome", ["outcome"], registry=self.registry
        )
        self.challenges = Counter("crucible_verifier_challenges", "Challenges opened", registry=self.registry)
        self.disputes = Counter(
            "crucible_verifier_disputes_ended",
            "Disputes this verifier played, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.earnings_wei = self.exact_counter("crucible_verifier_earnings_wei", "Credits withdrawn, in wei (exact)")
