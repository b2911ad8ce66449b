"""The explorer's read model folded from v2 events: two disputes on one job, each narrowing round by
round, one slash shared by both, the second paid by ``settleDispute``. The events are built here
(the chain is the faked boundary); tests/test_explorer.py folds real ones from a real devnet."""

from __future__ import annotations

from typing import Any

from crucible.chain.deployment import Deployment
from crucible.chain.events import Event
from explorer.indexer import Indexer

PROVIDER = "0x00000000000000000000000000000000000000A1"
CHALLENGERS = ("0x00000000000000000000000000000000000000C1", "0x00000000000000000000000000000000000000C2")
REQUESTER = "0x00000000000000000000000000000000000000B1"
ORACLE = "0x00000000000000000000000000000000000000D1"
H = bytes(range(32))
ETH = 10**18


def _indexer() -> Indexer:
    deployment = Deployment(
        chain_id=31337,
        rpc_url="http://127.0.0.1:9",
        ipfs_api="http://127.0.0.1:9",
        market="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        deploy_block=0,
    )
    indexer = Indexer(deployment)
    indexer.model["anchor"] = [1, "0x00"]  # the fold asks the chain for nothing else than block times
    indexer._block_times = {n: 1_000 + 10 * n for n in range(100)}
    return indexer


def _fold(indexer: Indexer, events: list[tuple[str, dict[str, Any]]]) -> None:
    for block, (name, args) in enumerate(events, start=1):
        indexer._fold(Event(name, args, block, 0, f"0x{block:064x}"))


def _job_events() -> list[tuple[str, dict[str, Any]]]:
    terms = {
        "specCid": H,
        "stake": ETH,
        "bond": ETH // 100,
        "duration": 600,
        "challengeWindow": 60,
        "interval": 100,
        "totalSteps": 800,
        "arity": 4,
        "refundOnExpiry": False,
    }
    return [
        ("JobPosted", {"jobId": 1, "requester": REQUESTER, "reward": ETH // 2, "terms": terms, "paramsVersion": 1}),
        ("JobClaimed", {"jobId": 1, "provider": PROVIDER, "stake": ETH, "deadline": 1_700, "progressDeadline": 1_400}),
        ("ProgressReported", {"jobId": 1, "provider": PROVIDER, "step": 300, "progressDeadline": 1_500}),
        (
            "ResultSubmitted",
            {"jobId": 1, "provider": PROVIDER, "traceRoot": H, "finalStateHash": H}
            | {"manifestCid": H, "finalModelCid": H, "windowEnd": 2_000},
        ),
    ]


def _dispute_events(dispute: int, challenger: str) -> list[tuple[str, dict[str, Any]]]:
    ids = {"disputeId": dispute, "jobId": 1}
    return [
        (
            "DisputeOpened",
            ids
            | {"challenger": challenger, "kind": 1, "a": 400, "b": 500, "hashA": H, "hashB": H}
            | {"epoch": 1, "deadline": 1_300, "bond": ETH // 100},
        ),
        ("DisputeDissected", ids | {"a": 400, "b": 500, "hashes": [H] * 3, "stateCids": [H] * 3, "deadline": 1_310}),
        ("DisputeNarrowed", ids | {"index": 1, "a": 425, "b": 450, "hashA": H, "hashB": H, "deadline": 1_320}),
    ]


def test_two_disputes_narrow_and_share_one_slash() -> None:
    indexer = _indexer()
    _fold(indexer, _job_events() + _dispute_events(1, CHALLENGERS[0]) + _dispute_events(2, CHALLENGERS[1]))
    ready = {"kind": 1, "a": 437, "hashA": H, "hashB": H, "stateCidA": H, "epoch": 1, "deadline": 1_400}
    _fold(
        indexer,
        [
            ("DisputeReadyForOracle", {"disputeId": 1, "jobId": 1} | ready),
            ("VerdictSubmitted", {"disputeId": 1, "jobId": 1, "oracle": ORACLE, "verdict": 2, "deadline": 1_400}),
            ("OracleFeePaid", {"disputeId": 1, "jobId": 1, "oracle": ORACLE, "amount": ETH // 1000}),
            (
                "ProviderSlashed",
                {"jobId": 1, "disputeId": 1, "provider": PROVIDER, "amount": ETH, "oracleFee": ETH // 1000}
                | {"pool": 6 * ETH // 10, "winners": 2, "toRequester": 2 * ETH // 10, "burned": 199 * ETH // 1000},
            ),
            ("DisputeResolved", {"disputeId": 1, "jobId": 1, "outcome": 3, "windowEnd": 2_000}),
        ],
    )
    m = indexer.model
    job, first, second = m["jobs"]["1"], m["disputes"]["1"], m["disputes"]["2"]

    assert job["disputes"] == [1, 2] and job["arity"] == 4
    assert job["reported"] == [{"step": 300, "at": 1_030}] and job["progress_deadline"] == 1_500
    assert [(r["a"], r["b"]) for r in first["rounds"]] == [(400, 500), (425, 450)]
    assert first["rounds"][0]["points"] == [400, 425, 450, 475, 500], "the provider's points of round one"
    assert (second["turn"], second["deadline"]) == ("provider", 1_320), "the turn and deadline of the last move"
    assert job["slash"]["winners"] == 2 and job["slash"]["pool"] == str(6 * ETH // 10)
    assert first["challenger_reward"] == second["challenger_reward"] == str(3 * ETH // 10)
    assert first["outcome"] == "CHALLENGER_WON" and second["outcome"] is None
    assert second["settled_by_slash"] is False, "the second waits for settleDispute"
    assert m["oracles"][ORACLE] == {"votes": 1, "fees": str(ETH // 1000)}

    _fold(indexer, [("DisputeResolved", {"disputeId": 2, "jobId": 1, "outcome": 3, "windowEnd": 2_000})])

    assert second["outcome"] == "CHALLENGER_WON" and second["settled_by_slash"] is True
    assert [m["challengers"][c]["won"] for c in CHALLENGERS] == [1, 1]
    assert [m["challengers"][c]["rewards"] for c in CHALLENGERS] == [str(3 * ETH // 10)] * 2


def test_a_dispute_the_provider_wins_reopens_the_window() -> None:
    indexer = _indexer()
    _fold(indexer, _job_events() + _dispute_events(1, CHALLENGERS[0]))
    _fold(
        indexer,
        [
            (
                "BondForfeited",
                {"disputeId": 1, "jobId": 1, "challenger": CHALLENGERS[0], "amount": ETH // 100}
                | {"oracleFee": 0, "toProvider": ETH // 200, "burned": ETH // 200},
            ),
            ("DisputeResolved", {"disputeId": 1, "jobId": 1, "outcome": 4, "windowEnd": 2_100}),
            ("JobResumed", {"jobId": 1, "windowEnd": 2_100}),
        ],
    )
    m = indexer.model

    assert m["disputes"]["1"]["outcome"] == "PROVIDER_WON" and m["jobs"]["1"]["window_end"] == 2_100
    assert m["challengers"][CHALLENGERS[0]]["lost"] == 1
    assert m["challengers"][CHALLENGERS[0]]["bonds_forfeited"] == str(ETH // 100)
    assert m["providers"][PROVIDER]["earnings"] == str(ETH // 200)
