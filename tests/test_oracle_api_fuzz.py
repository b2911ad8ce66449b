"""Schemathesis against the oracle's own OpenAPI document: every operation, generated inputs
(valid and invalid), no 5xx and every answer as the document describes it.

The app is built in-process over an ``OracleService`` on a fresh market (real anvil and IPFS, as in
tests/test_oracle.py) holding evidence for a few disputes, so ``/disputes/{id}`` answers 200 for
some ids and 404 for the rest; the watcher is not started (``watch=False``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from crucible.chain.keys import dev_account
from crucible.chain.market import Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.devnet.nodes import RunningNode
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from oracle.api.app import create_app
from oracle.judge import Evidence, Judge
from oracle.service import OracleService

pytestmark = pytest.mark.integration

EXAMPLES = 40  # per operation: four operations, well under a minute in all


def _evidence(dispute_id: int, market: str, oracle: str, **extra: object) -> Evidence:
    base: dict[str, object] = {
        "dispute_id": dispute_id,
        "job_id": dispute_id + 10,
        "market": market,
        "kind": "SEGMENT",
        "a": 2,
        "b": 3,
        "agreed_hash": "0x" + "11" * 32,
        "claimed_hash": "0x" + "22" * 32,
        "reason": "fuzz fixture",
        "oracle": oracle,
        "judged_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    base.update(extra)
    return Evidence.model_validate(base)


@pytest.fixture
def oracle_schema(chain: RunningNode, market_address: str, ipfs_store: IpfsStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    w3 = connect(chain.url)
    market = Market(w3, market_address, Signer(w3, dev_account("oracle")))
    store = ArtifactStore(IpfsStore(ipfs_store.api, fetch_timeout=2))
    service = OracleService(
        market,
        Judge(market, store, market.signer.address),  # type: ignore[union-attr]
        tmp_path / "oracle",
        poll_interval=0.1,
    )
    me = service.address
    service.evidence.put(
        _evidence(
            1,
            market_address,
            me,
            verdict="PROVIDER_WRONG",
            outcome="posted",
            replayed_hash="0x" + "33" * 32,
            replay_seconds=0.01,
            tx_hash="0x" + "ab" * 32,
            dispute_outcome="CHALLENGER_WON",
        )
    )
    service.evidence.put(
        _evidence(
            2,
            market_address,
            me,
            outcome="refused",
            reason="refused: cannot run profile 'cuda'",
            retryable=True,
            details={"profile": "cuda"},
        )
    )
    service.evidence.put(
        _evidence(
            3,
            market_address,
            me,
            kind="MANIFEST",
            a=0,
            b=0,
            agreed_hash=None,
            verdict="PROVIDER_DATA_UNAVAILABLE",
            outcome="not_posted",
            post_error="AlreadyVoted",
        )
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(service, watch=False))


schema = schemathesis.pytest.from_fixture("oracle_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_oracle_api_never_answers_5xx_and_matches_its_schema(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call()
    assert response.status_code < 500 or (case.path == "/health" and response.status_code == 503), (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if case.path == "/health" and case.method == "GET":
        # 503 is /health's documented answer when a dependency is down; here everything is up.
        assert response.status_code == 200, response.text
    case.validate_response(response)
