"""Retention (docs/retention.md) through the real chain, IPFS node and worker: a settled job's local
checkpoints and pins are released (or kept, as configured), and nothing a live dispute could need is
released before the dispute ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from arena import Arena, make_verifier, seed_of
from conftest import advance_time

from crucible.chain.market import JobStatus
from crucible.engine.behaviour import Honest
from crucible.store.ipfs import IpfsStore
from crucible.store.pins import JobPins
from crucible.store.retention import Keep, RepoCollector, Retention, RetentionPolicy
from crucible.testing import adversaries as b
from worker.provider import Worker, WorkerConfig

FORGED = 13


class FakeNode:
    """Pins and garbage collections, counted (the real node is in the integration tests below)."""

    def __init__(self) -> None:
        self.pinned: set[str] = set()
        self.collections = 0

    def pin(self, cid: str) -> None:
        self.pinned.add(cid)

    def unpin(self, cid: str) -> None:
        self.pinned.discard(cid)

    def gc(self) -> None:
        self.collections += 1


def test_garbage_collection_runs_only_after_a_release_and_at_most_once_per_interval() -> None:
    node = FakeNode()
    collector = RepoCollector(node, interval=3600)
    assert not collector.collect(), "nothing released: no gc"
    collector.request()
    assert collector.collect() and node.collections == 1
    collector.request()
    assert not collector.collect(), "a second release within the interval waits"
    assert node.collections == 1 and collector.pending


def test_keep_final_keeps_the_final_model_pinned_and_the_last_checkpoint(tmp_path: Path) -> None:
    node = FakeNode()
    pins, kept = JobPins(node, tmp_path / "pins.json"), JobPins(node, tmp_path / "kept.json")
    folder = tmp_path / "jobs" / "7"
    (folder / "inputs").mkdir(parents=True)
    for step in (0, 4, 8):
        (folder / f"ckpt-{step:012d}.safetensors").write_bytes(b"x" * 10)
    (folder / "inputs" / "QmData").write_bytes(b"d" * 5)
    pins.hold(7, ["QmData", "QmCkpt", "QmFinal"])
    pins.hold(8, ["QmData"])  # another job trained from the same dataset, not settled

    released = Retention(node, pins, kept, tmp_path / "jobs", RetentionPolicy(Keep.FINAL)).settle(7, ["QmFinal"])

    assert sorted(p.name for p in folder.rglob("*")) == ["ckpt-000000000008.safetensors"]
    assert released.unpinned == ["QmCkpt"] and released.bytes_deleted == 25
    assert node.pinned == {"QmData", "QmFinal"}, "shared by job 8, and the kept final model"
    assert kept.held(7) == {"QmFinal"}


def with_retention(arena: Arena, keep: Keep) -> Worker:
    """The arena's provider, built with ``keep`` and a garbage collection after every release."""
    config = WorkerConfig(state_dir=arena.tmp / "worker", poll_interval=0, retention=RetentionPolicy(keep, 0.0))
    arena.worker = Worker(arena.provider, arena.store, config, start_block=0, behaviour=arena.behaviour)
    return arena.worker


@dataclass(frozen=True)
class Held:
    """What the provider holds for one job, read from its state folder and its node."""

    files: list[Path]
    pins: set[str]


def held_by(worker: Worker, job_id: int) -> Held:
    folder = worker.config.state_dir / "jobs" / str(job_id)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    return Held(files, worker.pins.held(job_id))


def node_of(arena: Arena) -> IpfsStore:
    node = arena.store.blobs
    assert isinstance(node, IpfsStore)
    return node


def submitted_and_audited(arena: Arena) -> Held:
    arena.drive(
        lambda: arena.status() == JobStatus.SUBMITTED and arena.job_id in arena.verifier.report.audits,
        roles=("worker", "verifier"),
    )
    held = held_by(arena.worker, arena.job_id)
    assert any(p.name.startswith("ckpt-") for p in held.files), "checkpoints are kept locally while it can be disputed"
    assert all(node_of(arena).pinned(cid) for cid in held.pins) and held.pins
    return held


def finalized_and_settled(arena: Arena) -> None:
    advance_time(arena.chain, 31)  # past the 30 s challenge window
    arena.drive(
        lambda: arena.status() == JobStatus.FINALIZED and arena.job_id not in arena.worker.held, roles=("worker",)
    )


def test_settled_job_releases_local_checkpoints_and_pins_and_collects_the_node(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(Honest())
    worker = with_retention(arena, Keep.NOTHING)
    arena.post(seed_of("retention-nothing"))
    before = submitted_and_audited(arena)
    result = arena.market.result(arena.job_id)
    assert result is not None
    trace = [e.cid for e in arena.store.fetch_manifest(result.manifest_cid).checkpoints]

    finalized_and_settled(arena)

    node = node_of(arena)
    assert not (worker.config.state_dir / "jobs" / str(arena.job_id)).exists(), "local checkpoints deleted"
    assert not any(p.exists() for p in before.files)
    still = [cid for cid in before.pins if node.pinned(cid)]
    assert still == [], f"pin ls still lists {still}"
    assert worker.pins.held(arena.job_id) == set()
    assert worker.retention.collector.runs >= 1, "the node was garbage-collected after the release"
    left = [cid for cid in [*trace, result.manifest_cid] if node.has_local(cid)]
    assert left == [], f"the trace's blocks are gone, but the node still holds {left} (of {trace})"
    assert arena.provider.provider_info(arena.provider.signer.address).finalized == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("keep", [Keep.FINAL, Keep.EVERYTHING])
def test_settled_job_keeps_what_it_is_configured_to(arena_for, keep: Keep) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(Honest())
    worker = with_retention(arena, keep)
    arena.post(seed_of(f"retention-{keep}"))
    before = submitted_and_audited(arena)
    result = arena.market.result(arena.job_id)
    assert result is not None

    finalized_and_settled(arena)

    node = node_of(arena)
    after = held_by(worker, arena.job_id)
    checkpoints = [p for p in before.files if p.name.startswith("ckpt-")]
    if keep == Keep.EVERYTHING:
        assert after.files == before.files, "every local file kept"
        assert all(node.pinned(cid) for cid in before.pins), "every pin kept"
    else:
        assert [p for p in before.files if p.exists()] == checkpoints[-1:], "only the final checkpoint kept"
        last = arena.store.fetch_manifest(result.manifest_cid).checkpoints[-1].cid
        final = {result.final_model_cid, result.manifest_cid, last}
        assert all(node.pinned(cid) for cid in final), "the final model, its manifest and C_n stay pinned"
        assert final <= worker.retention.kept.held(arena.job_id), "recorded as kept (with the job's inputs)"
        released = before.pins - final
        assert released and not any(node.pinned(cid) for cid in released), "the rest is released"


def test_job_in_a_live_dispute_keeps_everything_until_the_dispute_ends(arena_for) -> None:  # type: ignore[no-untyped-def]
    """A cheater slashed by one dispute while a second is still live: everything stays until that one
    is settled too (the second challenger is driven only at the end)."""
    arena: Arena = arena_for(b.PoisonStep(FORGED))
    worker = with_retention(arena, Keep.NOTHING)
    second = make_verifier(arena.chain, arena.market_address, arena.store, arena.tmp / "verifier-2", "verifier-2")
    arena.second = second  # type: ignore[attr-defined]
    arena.post(seed_of("retention-dispute"))
    arena.drive(lambda: len(arena.disputes()) == 2, roles=("worker", "verifier", "second"))
    during = held_by(worker, arena.job_id)
    assert any(p.name.startswith("ckpt-") for p in during.files) and during.pins

    arena.drive(lambda: arena.status() == JobStatus.SLASHED, roles=("worker", "verifier", "oracle"))
    live = [d for d in arena.disputes() if arena.market.dispute(d).live]
    assert len(live) == 1, "the second challenger's dispute is still live on the slashed job"
    for _ in range(20):
        worker.tick()
    kept = held_by(worker, arena.job_id)
    node = node_of(arena)
    assert arena.job_id in worker.held
    assert set(during.files) <= set(kept.files), "no local file released while a dispute is live"
    assert during.pins <= kept.pins and all(node.pinned(cid) for cid in kept.pins), "no pin released"

    arena.drive(
        lambda: not arena.market.dispute(live[0]).live and arena.job_id not in worker.held, roles=("second", "worker")
    )
    assert not (worker.config.state_dir / "jobs" / str(arena.job_id)).exists()
    assert not any(node.pinned(cid) for cid in kept.pins), "released once no dispute can need them"
