"""The oracle against real anvil, IPFS and training: every dispute kind and verdict, refusal of a
profile it cannot run, restarts, the HTTP API, and two oracles reaching a quorum of 2.

Disputes are driven to AwaitingOracle by hand (challenge + dissection moves, arity 2) on an 8-step
job with checkpoint interval 4, so each test replays exactly one real training step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from factories import market_for, tiny_spec
from fastapi.testclient import TestClient

from crucible.chain.keys import dev_account
from crucible.chain.market import DisputeKind, DisputeStatus, JobStatus, JobTerms, Market
from crucible.chain.signer import Signer
from crucible.chain.units import parse_eth
from crucible.devnet.deploy import DEVNET_PARAMS, deploy_market
from crucible.devnet.nodes import RunningNode
from crucible.engine.job import TrainResult, train_job
from crucible.engine.step import Engine, TrainState, initial_state_from
from crucible.errors import InvalidState
from crucible.protocol import merkle
from crucible.protocol.checkpoint import encode_checkpoint, encode_final_model
from crucible.protocol.data import build_digits, dataset_bytes
from crucible.protocol.hashing import state_hash, to_hex
from crucible.protocol.spec import JobSpec, validate_spec
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from oracle.api.app import create_app
from oracle.judge import Judge, Replayer
from oracle.service import OracleService

pytestmark = pytest.mark.integration

T, K = 8, 4
BOND = parse_eth("0.01")


def spec_dict(dataset_cid: str, profile: str = "cpu-portable") -> dict[str, object]:
    return tiny_spec(dataset_cid, steps=T, interval=K, profile=profile)


@dataclass(frozen=True)
class Trace:
    """An honest training run, uploaded: the provider's commitments and every state S_0..S_T."""

    spec: JobSpec
    spec_cid: str
    cuda_spec_cid: str
    avx2_spec_cid: str
    result: TrainResult
    states: list[TrainState]
    state_cids: list[str]

    @property
    def hashes(self) -> list[bytes]:
        return [s.hash() for s in self.states]

    def checkpoint_hashes(self) -> list[bytes]:
        return [self.hashes[i] for i in range(0, T + 1, K)]


@pytest.fixture(scope="session")
def trace(ipfs_store: IpfsStore) -> Trace:
    store = ArtifactStore(ipfs_store)
    train, _ = build_digits()
    dataset_cid = store.put(dataset_bytes(train))
    spec = validate_spec(spec_dict(dataset_cid))
    spec_cid = store.put_spec(spec)
    cuda_spec_cid = store.put_spec(validate_spec(spec_dict(dataset_cid, profile="cuda")))
    avx2_spec_cid = store.put_spec(validate_spec(spec_dict(dataset_cid, profile="cpu-avx2")))
    result = train_job(spec, train, store, spec_cid=spec_cid)
    engine = Engine(spec, train)
    states = [initial_state_from(spec)]
    for t in range(T):
        states.append(engine.run(states[-1], t, t + 1))
    assert states[-1].hash() == result.final_state_hash
    cids = [store.put(encode_checkpoint(s.tensors, spec_cid)) for s in states]
    return Trace(spec, spec_cid, cuda_spec_cid, avx2_spec_cid, result, states, cids)


def test_replayer_remembers_a_jobs_layout_but_still_refuses_states_of_another(
    trace: Trace, ipfs_store: IpfsStore
) -> None:
    """The second dispute of a job skips the layout check against a freshly built model; a state of
    any other layout (reshaped, retyped, extra or missing tensor) is still refused, hash-valid or not."""
    store = ArtifactStore(ipfs_store)
    replayer = Replayer(store)
    engine = Engine(trace.spec, build_digits()[0])
    for a in (3, 5):
        state = replayer.agreed_state(trace.spec_cid, trace.spec, trace.state_cids[a], trace.hashes[a], a)
        digest, seconds = replayer.replay(engine, state)
        assert digest == trace.hashes[a + 1] and seconds > 0
    good = dict(trace.states[5].tensors)
    name = next(n for n, t in good.items() if n.startswith("param/") and t.dim() >= 2)
    forgeries = {
        "reshaped": {**good, name: good[name].reshape(-1)},
        "retyped": {**good, name: good[name].double()},
        "extra tensor": {**good, "param/extra": torch.zeros(3)},
        "missing tensor": {n: t for n, t in good.items() if n != name},
    }
    for what, tensors in forgeries.items():
        digest = state_hash(tensors)
        cid = store.put(encode_checkpoint(tensors, trace.spec_cid, digest))
        with pytest.raises(InvalidState, match=name if what != "extra tensor" else "param/extra"):
            replayer.agreed_state(trace.spec_cid, trace.spec, cid, digest, 5)


def role(chain: RunningNode, market_address: str, name: str) -> Market:
    return market_for(chain.url, market_address, name)


def make_oracle(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, state_dir: Path, name: str = "oracle"
) -> OracleService:
    market = role(chain, market_address, name)
    store = ArtifactStore(IpfsStore(ipfs_store.api, fetch_timeout=2))  # a missing CID costs 2 s, not 30
    return OracleService(
        market,
        Judge(market, store, market.signer.address),  # type: ignore[union-attr]
        state_dir,
        poll_interval=0.1,
    )


def submit_job(
    chain: RunningNode,
    market_address: str,
    trace: Trace,
    *,
    checkpoint_hashes: Sequence[bytes] | None = None,
    final_model_cid: str | None = None,
    spec_cid: str | None = None,
    manifest_cid: str | None = None,
) -> int:
    """Post, claim and submit a job; by default the honest result, else with forged commitments."""
    requester = role(chain, market_address, "requester")
    terms = JobTerms(
        spec_cid=spec_cid or trace.spec_cid,
        stake=parse_eth("0.1"),
        bond=BOND,
        duration=600,
        challenge_window=300,
        interval=K,
        total_steps=T,
        arity=2,
    )
    job_id = requester.post_job(terms, reward=parse_eth("0.1"))
    provider = role(chain, market_address, "provider")
    provider.deposit_stake(parse_eth("1"))
    provider.claim_job(job_id)
    hashes = list(checkpoint_hashes or trace.checkpoint_hashes())
    root = merkle.root([merkle.leaf(i * K, h) for i, h in enumerate(hashes)])
    provider.submit_result(
        job_id,
        trace_root=root,
        final_state_hash=hashes[-1],
        manifest_cid=manifest_cid or trace.result.manifest_cid,
        final_model_cid=final_model_cid or trace.result.final_model_cid,
    )
    return job_id


def leaves_of(market: Market, job_id: int, hashes: Sequence[bytes]) -> list[bytes]:
    leaves = [merkle.leaf(i * K, h) for i, h in enumerate(hashes)]
    assert merkle.root(leaves) == market.job(job_id).trace_root
    return leaves


def segment_dispute(
    chain: RunningNode,
    market_address: str,
    job_id: int,
    hashes: Sequence[bytes],
    moves: Sequence[tuple[bytes, str, bool]],
) -> int:
    """Challenge segment 0, then play (mid hash, mid state CID, challenger agrees?) bisection moves
    (arity 2: one interior point per move) down to one step."""
    challenger = role(chain, market_address, "verifier")
    provider = role(chain, market_address, "provider")
    leaves = leaves_of(challenger, job_id, hashes)
    dispute_id = challenger.challenge(
        job_id, 0, hashes[0], hashes[1], merkle.proof(leaves, 0), merkle.proof(leaves, 1), BOND
    )
    for mid_hash, mid_cid, agree in moves:
        provider.dissect(dispute_id, [mid_hash], [mid_cid])
        move = challenger.last_dissection(dispute_id)
        assert move is not None
        challenger.respond(dispute_id, 1 if agree else 0, move)
    d = challenger.dispute(dispute_id)
    assert d.status == DisputeStatus.AWAITING_ORACLE and d.b == d.a + 1
    return dispute_id


def market_epoch(chain: RunningNode, market_address: str) -> int:
    return role(chain, market_address, "verifier").current_oracle_epoch()


def paid_to(market: Market, oracle: str) -> int:
    """Oracle fees credited to ``oracle`` (its ``OracleFeePaid`` events)."""
    logs = market.contract.events.OracleFeePaid().get_logs(from_block=0, argument_filters={"oracle": oracle})
    return sum(int(e["args"]["amount"]) for e in logs)


def random_cid() -> str:
    from crucible.store.ipfs import digest_to_cid

    return digest_to_cid(os.urandom(32))


# ---------------------------------------------------------------------------------------------- segment


def test_segment_honest_provider_wins_via_watcher_and_http(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    job_id = submit_job(chain, market_address, trace)
    h, c = trace.hashes, trace.state_cids
    # A false challenger: agrees with H(2), then rejects the honest H(3) -> the oracle replays 2 -> 3.
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], c[2], True), (h[3], c[3], False)]
    )
    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")

    with TestClient(create_app(service)) as client:  # the lifespan runs the watcher thread
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            resp = client.get(f"/disputes/{dispute_id}")
            if resp.status_code == 200 and resp.json()["outcome"] == "posted":
                break
            time.sleep(0.1)
        ev = resp.json()
        assert ev["outcome"] == "posted", ev
        assert ev["verdict"] == "PROVIDER_CORRECT"
        assert (ev["a"], ev["b"], ev["kind"]) == (2, 3, "SEGMENT")
        assert ev["agreed_hash"] == to_hex(h[2]) and ev["claimed_hash"] == to_hex(h[3])
        assert ev["replayed_hash"] == to_hex(h[3])
        assert ev["state_cid"] == c[2] and ev["replay_seconds"] > 0 and ev["tx_hash"].startswith("0x")
        assert ev["oracle"] == dev_account("oracle").address

        listing = client.get("/disputes").json()
        assert [(e["dispute_id"], e["verdict"]) for e in listing] == [(dispute_id, "PROVIDER_CORRECT")]
        missing = client.get("/disputes/999")
        assert missing.status_code == 404 and "999" in missing.json()["detail"]

        health = client.get("/health")
        body = health.json()
        assert health.status_code == 200, body
        assert body["chain_reachable"] and body["ipfs_reachable"] and body["registered"] and body["watching"]
        assert body["oracle"] == dev_account("oracle").address and body["quorum"] == 1
        assert body["epoch"] == market_epoch(chain, market_address) and body["member_of_latest"]
        assert (
            body["oracle_fee_wei"] == DEVNET_PARAMS.oracle_fee and body["fees_earned_wei"] == DEVNET_PARAMS.oracle_fee
        )
        assert body["profiles"]["cpu-portable"] == "ok"

        metrics = client.get("/metrics").text
        assert 'crucible_oracle_disputes_judged_total{verdict="PROVIDER_CORRECT"} 1.0' in metrics
        assert "crucible_oracle_replay_seconds_count 1.0" in metrics
        assert "crucible_oracle_disputes_refused_total 0.0" in metrics

        paths = client.get("/openapi.json").json()["paths"]
        assert {"/health", "/disputes", "/disputes/{dispute_id}", "/metrics"} <= set(paths)

    market = role(chain, market_address, "verifier")
    assert market.dispute(dispute_id).status == DisputeStatus.PROVIDER_WON
    assert market.job_status(job_id) == JobStatus.SUBMITTED

    # A restarted oracle keeps its history and does not vote again.
    again = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    again.tick()
    kept = again.evidence.get(dispute_id)
    assert kept is not None and kept.tx_hash == ev["tx_hash"] and kept.dispute_outcome == "PROVIDER_WON"
    assert again.metrics.posted._value.get() == 0  # noqa: SLF001


def test_segment_forged_step_from_manifest_checkpoint_slashes_provider(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    job_id = submit_job(chain, market_address, trace)
    h, c = trace.hashes, trace.state_cids
    forged = os.urandom(32)
    # The challenger rejects both moves: [0, 4] -> [0, 2] -> [0, 1]; S_0 comes from the manifest.
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], c[2], False), (forged, c[1], False)]
    )
    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()

    ev = service.evidence.get(dispute_id)
    assert ev is not None and ev.verdict == "PROVIDER_WRONG" and ev.outcome == "posted", ev
    assert ev.state_cid == trace.result.checkpoints[0].cid, "S_0 was taken from the manifest"
    assert ev.replayed_hash == to_hex(h[1]) and ev.claimed_hash == to_hex(forged)
    market = role(chain, market_address, "verifier")
    assert market.dispute(dispute_id).status == DisputeStatus.CHALLENGER_WON
    assert market.job_status(job_id) == JobStatus.SLASHED


def test_segment_unavailable_state_is_provider_data_unavailable(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    job_id = submit_job(chain, market_address, trace)
    h, c = trace.hashes, trace.state_cids
    # H(2) is right but its state was never uploaded; the challenger agrees, then rejects H(3).
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], random_cid(), True), (h[3], c[3], False)]
    )
    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()

    ev = service.evidence.get(dispute_id)
    assert ev is not None and ev.verdict == "PROVIDER_DATA_UNAVAILABLE" and ev.outcome == "posted", ev
    assert "provider's duty" in ev.reason and ev.replayed_hash is None
    assert role(chain, market_address, "verifier").dispute(dispute_id).status == DisputeStatus.CHALLENGER_WON


@pytest.mark.parametrize("profile", ["cuda", "cpu-avx2"])  # this process runs cpu-portable kernels, no GPU
def test_unsupported_profile_is_refused_visibly_and_no_verdict_posted(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path, profile: str
) -> None:
    spec_cid = trace.cuda_spec_cid if profile == "cuda" else trace.avx2_spec_cid
    job_id = submit_job(chain, market_address, trace, spec_cid=spec_cid)
    dispute_id = segment_dispute(
        chain,
        market_address,
        job_id,
        trace.checkpoint_hashes(),
        [(os.urandom(32), random_cid(), False), (os.urandom(32), random_cid(), False)],
    )
    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()
    service.tick()

    ev = service.evidence.get(dispute_id)
    assert ev is not None and ev.outcome == "refused" and ev.verdict is None and ev.tx_hash is None
    assert ev.reason.startswith(f"refused: cannot run profile '{profile}'")
    d = role(chain, market_address, "verifier").dispute(dispute_id)
    assert d.status == DisputeStatus.AWAITING_ORACLE and (d.correct_votes, d.wrong_votes) == (0, 0)
    with TestClient(create_app(service, watch=False)) as client:
        assert client.get("/disputes").json()[0]["reason"].startswith(f"refused: cannot run profile '{profile}'")
        assert client.get("/health").json()["profiles"][profile].startswith("refused")
        assert "crucible_oracle_disputes_refused_total 1.0" in client.get("/metrics").text


def test_own_ipfs_node_down_is_retried_not_blamed_on_the_provider(
    chain: RunningNode, market_address: str, trace: Trace, tmp_path: Path
) -> None:
    from crucible.devnet.processes import free_port

    job_id = submit_job(chain, market_address, trace)
    h, c = trace.hashes, trace.state_cids
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], c[2], True), (h[3], c[3], False)]
    )
    market = role(chain, market_address, "oracle")
    dead = ArtifactStore(IpfsStore(f"http://127.0.0.1:{free_port()}", timeout=2))
    service = OracleService(
        market,
        Judge(market, dead, market.signer.address),  # type: ignore[union-attr]
        tmp_path / "oracle",
        retry_interval=60,
    )
    service.tick()

    ev = service.evidence.get(dispute_id)
    assert ev is not None and ev.outcome == "refused" and ev.retryable and "unreachable" in ev.reason, ev
    assert dispute_id in service._pending  # noqa: SLF001 - scheduled for another attempt
    d = market.dispute(dispute_id)
    assert d.status == DisputeStatus.AWAITING_ORACLE and (d.correct_votes, d.wrong_votes) == (0, 0)


# ---------------------------------------------------------------------------------------------- direct kinds


def test_initial_state_honest_and_forged(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    challenger = role(chain, market_address, "verifier")
    honest_job = submit_job(chain, market_address, trace)
    honest = trace.checkpoint_hashes()
    honest_dispute = challenger.challenge_initial_state(
        honest_job, honest[0], merkle.proof(leaves_of(challenger, honest_job, honest), 0), BOND
    )
    forged = [os.urandom(32), *honest[1:]]
    forged_job = submit_job(chain, market_address, trace, checkpoint_hashes=forged)
    forged_dispute = challenger.challenge_initial_state(
        forged_job, forged[0], merkle.proof(leaves_of(challenger, forged_job, forged), 0), BOND
    )

    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()

    ok, bad = service.evidence.get(honest_dispute), service.evidence.get(forged_dispute)
    assert ok is not None and ok.verdict == "PROVIDER_CORRECT" and ok.replayed_hash == to_hex(honest[0])
    assert bad is not None and bad.verdict == "PROVIDER_WRONG" and bad.claimed_hash == to_hex(forged[0])
    assert challenger.dispute(honest_dispute).status == DisputeStatus.PROVIDER_WON
    assert challenger.dispute(forged_dispute).status == DisputeStatus.CHALLENGER_WON


def test_final_model_honest_and_wrong_model(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    challenger = role(chain, market_address, "verifier")
    hashes = trace.checkpoint_hashes()
    honest_job = submit_job(chain, market_address, trace)
    honest_dispute = challenger.challenge_final_model(
        honest_job, hashes[-1], merkle.proof(leaves_of(challenger, honest_job, hashes), len(hashes) - 1), BOND
    )
    # The provider's final model is really C_1's parameters, not C_n's.
    stale = ArtifactStore(ipfs_store).put(encode_final_model(trace.states[K].tensors, trace.spec_cid))
    wrong_job = submit_job(chain, market_address, trace, final_model_cid=stale)
    wrong_dispute = challenger.challenge_final_model(
        wrong_job, hashes[-1], merkle.proof(leaves_of(challenger, wrong_job, hashes), len(hashes) - 1), BOND
    )

    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()

    ok, bad = service.evidence.get(honest_dispute), service.evidence.get(wrong_dispute)
    assert ok is not None and ok.verdict == "PROVIDER_CORRECT" and ok.outcome == "posted", ok
    assert ok.state_cid == trace.result.checkpoints[-1].cid
    assert bad is not None and bad.verdict == "PROVIDER_WRONG" and "C_n's parameters" in bad.reason, bad
    assert challenger.dispute(honest_dispute).status == DisputeStatus.PROVIDER_WON
    assert challenger.dispute(wrong_dispute).status == DisputeStatus.CHALLENGER_WON


def test_manifest_honest_unavailable_invalid_and_mismatching(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    challenger = role(chain, market_address, "verifier")
    hashes = trace.checkpoint_hashes()
    store = ArtifactStore(ipfs_store)
    jobs = {
        "honest": submit_job(chain, market_address, trace),
        # a manifest CID nobody serves (never uploaded)
        "unavailable": submit_job(chain, market_address, trace, manifest_cid=random_cid()),
        # something is stored there, but it is not a manifest
        "invalid": submit_job(chain, market_address, trace, manifest_cid=store.put(b'{"not": "a manifest"}')),
        # the honest manifest next to another trace root (a forged C_1)
        "other-root": submit_job(
            chain, market_address, trace, checkpoint_hashes=[hashes[0], os.urandom(32), hashes[2]]
        ),
        # the honest manifest and root, but another final-model CID on chain
        "other-model": submit_job(chain, market_address, trace, final_model_cid=random_cid()),
    }
    disputes = {name: challenger.challenge_manifest(job_id, BOND) for name, job_id in jobs.items()}
    for name, dispute_id in disputes.items():
        d = challenger.dispute(dispute_id)
        job = challenger.job(jobs[name])
        assert (d.kind, d.status, d.a, d.b) == (DisputeKind.MANIFEST, DisputeStatus.AWAITING_ORACLE, 0, 0)
        assert (d.hash_a, d.hash_b) == (job.trace_root, job.final_state_hash)

    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()

    ev = {name: service.evidence.get(dispute_id) for name, dispute_id in disputes.items()}
    assert all(e is not None and e.outcome == "posted" and e.kind == "MANIFEST" for e in ev.values()), ev
    ok = ev["honest"]
    assert ok.verdict == "PROVIDER_CORRECT" and ok.manifest_cid == trace.result.manifest_cid, ok  # type: ignore[union-attr]
    assert ok.replayed_hash == ok.agreed_hash == to_hex(trace.result.trace_root)  # type: ignore[union-attr]
    gone = ev["unavailable"]
    assert gone.verdict == "PROVIDER_DATA_UNAVAILABLE" and "provider's duty" in gone.reason, gone  # type: ignore[union-attr]
    bad = ev["invalid"]
    assert bad.verdict == "PROVIDER_WRONG" and "not a valid manifest" in bad.reason, bad  # type: ignore[union-attr]
    root = ev["other-root"]
    assert root.verdict == "PROVIDER_WRONG" and "trace_root" in root.reason, root  # type: ignore[union-attr]
    assert "final_model_cid" not in root.reason  # type: ignore[union-attr]
    model = ev["other-model"]
    assert model.verdict == "PROVIDER_WRONG" and "final_model_cid" in model.reason, model  # type: ignore[union-attr]
    assert "trace_root" not in model.reason  # type: ignore[union-attr]
    outcomes = {name: challenger.dispute(dispute_id).status for name, dispute_id in disputes.items()}
    assert outcomes == {
        "honest": DisputeStatus.PROVIDER_WON,
        **{name: DisputeStatus.CHALLENGER_WON for name in jobs if name != "honest"},
    }
    assert challenger.job_status(jobs["honest"]) == JobStatus.SUBMITTED
    assert challenger.job_status(jobs["unavailable"]) == JobStatus.SLASHED


# ---------------------------------------------------------------------------------------------- quorum


def test_two_oracles_quorum_two(
    chain: RunningNode, deployer: Signer, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    oracles = [dev_account("oracle").address, dev_account("oracle-2").address]
    market_address, _ = deploy_market(deployer, DEVNET_PARAMS, oracles, quorum=2)
    job_id = submit_job(chain, market_address, trace)
    h, c = trace.hashes, trace.state_cids
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], c[2], True), (os.urandom(32), c[3], False)]
    )
    first = make_oracle(chain, market_address, ipfs_store, tmp_path / "o1", "oracle")
    second = make_oracle(chain, market_address, ipfs_store, tmp_path / "o2", "oracle-2")
    market = role(chain, market_address, "verifier")

    first.tick()
    d = market.dispute(dispute_id)
    assert d.status == DisputeStatus.AWAITING_ORACLE and d.wrong_votes == 1
    assert market.call("hasVoted", dispute_id, oracles[0])
    first.tick()  # nothing more to do: it already voted
    assert market.dispute(dispute_id).wrong_votes == 1

    second.tick()
    assert market.dispute(dispute_id).status == DisputeStatus.CHALLENGER_WON
    for service in (first, second):
        ev = service.evidence.get(dispute_id)
        assert ev is not None and ev.verdict == "PROVIDER_WRONG" and ev.outcome == "posted"
    share = DEVNET_PARAMS.oracle_fee // 2
    assert paid_to(market, oracles[1]) == share, "the deciding vote is paid in its own transaction"
    assert paid_to(market, oracles[0]) == 0
    first.tick()  # sees DisputeResolved: its matching earlier vote claims its part of the fee
    assert first.evidence.get(dispute_id).dispute_outcome == "CHALLENGER_WON"  # type: ignore[union-attr]
    assert paid_to(market, oracles[0]) == share and first.fees_earned == second.fees_earned == share
    assert not market.has_voted(dispute_id, oracles[0])  # paid: nothing left to claim
    first.tick()
    assert paid_to(market, oracles[0]) == share  # claimed once
    withdrawn = {
        o: sum(
            e["args"]["amount"]
            for e in market.contract.events.CreditWithdrawn().get_logs(from_block=0, argument_filters={"account": o})
        )
        for o in oracles
    }
    assert withdrawn == {oracles[0]: share, oracles[1]: share}, "each oracle withdrew its fee"
    assert market.balance() == market.total_liabilities()


def test_an_oracle_votes_only_on_disputes_of_its_epoch(
    chain: RunningNode, deployer: Signer, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    """The dispute's epoch is {oracle-2}: the `oracle` key refuses it visibly and posts nothing."""
    market_address, _ = deploy_market(deployer, DEVNET_PARAMS, [dev_account("oracle-2").address], quorum=1)
    job_id = submit_job(chain, market_address, trace)
    h, c = trace.hashes, trace.state_cids
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], c[2], True), (h[3], c[3], False)]
    )
    outsider = make_oracle(chain, market_address, ipfs_store, tmp_path / "outsider", "oracle")
    outsider.tick()
    ev = outsider.evidence.get(dispute_id)
    epoch = market_epoch(chain, market_address)
    assert ev is not None and ev.outcome == "refused" and ev.tx_hash is None, ev
    assert f"not a member of oracle epoch {epoch}" in ev.reason and ev.epoch == epoch
    d = role(chain, market_address, "verifier").dispute(dispute_id)
    assert d.status == DisputeStatus.AWAITING_ORACLE and (d.correct_votes, d.wrong_votes) == (0, 0)
    with TestClient(create_app(outsider, watch=False)) as client:
        health = client.get("/health")
        assert health.status_code == 503 and not health.json()["registered"]
        assert any(f"not a member of oracle epoch {epoch}" in p for p in health.json()["problems"])


def test_missing_dataset_is_the_providers_fault(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, trace: Trace, tmp_path: Path
) -> None:
    """The provider must keep the inputs it trained from available: a dataset nobody serves any more
    (the requester deleted it) is PROVIDER_DATA_UNAVAILABLE, never a void that freezes the job."""
    store = ArtifactStore(ipfs_store)
    gone = store.put_spec(validate_spec(spec_dict(random_cid())))
    job_id = submit_job(chain, market_address, trace, spec_cid=gone)
    h, c = trace.hashes, trace.state_cids
    dispute_id = segment_dispute(
        chain, market_address, job_id, trace.checkpoint_hashes(), [(h[2], c[2], True), (h[3], c[3], False)]
    )
    service = make_oracle(chain, market_address, ipfs_store, tmp_path / "oracle")
    service.tick()
    ev = service.evidence.get(dispute_id)
    assert ev is not None and ev.verdict == "PROVIDER_DATA_UNAVAILABLE" and ev.outcome == "posted", ev
    assert "keep the inputs it trained from available" in ev.reason
    assert role(chain, market_address, "verifier").dispute(dispute_id).status == DisputeStatus.CHALLENGER_WON


# ---------------------------------------------------------------------------------------------- the CLI


def test_serve_cli_starts_the_service_on_loopback(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, tmp_path: Path
) -> None:
    import subprocess
    import sys

    import httpx

    from crucible.chain.deployment import Deployment
    from crucible.devnet.processes import free_port

    deployment = tmp_path / "deployment.json"
    Deployment(chain_id=31337, rpc_url=chain.url, ipfs_api=ipfs_store.api, market=market_address, deploy_block=0).save(
        deployment
    )
    port = free_port()
    env = {**os.environ, "CRUCIBLE_DEPLOYMENT": str(deployment)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from oracle.cli import app; app()",
            "serve",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = None
        for _ in range(200):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert body is not None, proc.stdout.read().decode() if proc.poll() is not None else "no answer"  # type: ignore[union-attr]
        assert body["status"] == "ok" and body["oracle"] == dev_account("oracle").address and body["watching"]
        assert httpx.get(f"http://127.0.0.1:{port}/disputes", timeout=2).json() == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
