"""post -> claim -> train -> submit -> finalize -> withdraw -> fetch, through real anvil and IPFS."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import REPO, advance_time
from factories import market_for

from crucible.chain.market import JobStatus, Market
from crucible.chain.units import parse_eth
from crucible.devnet.nodes import RunningNode
from crucible.protocol.hashing import params_hash
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from requester.client import JobTerms, Requester
from worker.provider import Worker, WorkerConfig

pytestmark = pytest.mark.integration

TERMS = JobTerms(
    reward=parse_eth("1"), stake=parse_eth("0.1"), bond=parse_eth("0.01"), duration=600, challenge_window=30
)


def role(chain: RunningNode, market_address: str, name: str) -> Market:
    return market_for(chain.url, market_address, name)


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from crucible.protocol.data import build_digits, dataset_bytes

    out = tmp_path_factory.mktemp("digits")
    train, test = build_digits()
    (out / "train.safetensors").write_bytes(dataset_bytes(train))
    (out / "test.safetensors").write_bytes(dataset_bytes(test))
    return out / "train.safetensors", out / "test.safetensors"


def run_until(worker: Worker, done, ticks: int = 400) -> None:  # type: ignore[no-untyped-def]
    for _ in range(ticks):
        worker.tick()
        if done():
            return
        threading.Event().wait(0.05)
    raise AssertionError("worker did not get there in time")


def test_job_is_trained_paid_and_fetched(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, digits_files: tuple[Path, Path], tmp_path: Path
) -> None:
    store = ArtifactStore(ipfs_store)
    requester = Requester(role(chain, market_address, "requester"), store)
    provider = role(chain, market_address, "provider")
    w3 = provider.w3
    provider.deposit_stake(parse_eth("1"))
    spec, spec_cid = requester.prepare_spec(
        REPO / "examples" / "digits-mlp.yaml", dataset=digits_files[0], eval_data=digits_files[1]
    )
    requester_before = w3.eth.get_balance(requester.market.signer.address)  # type: ignore[union-attr]
    provider_before = w3.eth.get_balance(provider.signer.address)  # type: ignore[union-attr]

    job_id = requester.post(spec, spec_cid, TERMS)
    worker = Worker(provider, store, WorkerConfig(state_dir=tmp_path / "worker"), start_block=0)
    run_until(worker, lambda: requester.view(job_id).status == JobStatus.SUBMITTED)
    advance_time(chain, TERMS.challenge_window + 1)
    run_until(worker, lambda: requester.view(job_id).status == JobStatus.FINALIZED and worker.report.withdrawn > 0)

    info = provider.provider_info(provider.signer.address)  # type: ignore[union-attr]
    assert (info.free, info.locked, info.finalized, info.slashed) == (parse_eth("1"), 0, 1, 0)
    provider_after = w3.eth.get_balance(provider.signer.address)  # type: ignore[union-attr]
    assert provider_after - provider_before > TERMS.reward - parse_eth("0.01"), "reward (less gas) reached the provider"
    assert worker.report.withdrawn == TERMS.reward
    assert w3.eth.get_balance(market_address) == parse_eth("1"), "only the provider's free stake remains"
    assert requester_before - w3.eth.get_balance(requester.market.signer.address) >= TERMS.reward  # type: ignore[union-attr]

    fetched = requester.fetch(job_id, tmp_path / "model.safetensors")
    job = requester.view(job_id).job
    manifest = store.fetch_manifest(requester.view(job_id).result.manifest_cid)  # type: ignore[union-attr]
    last = manifest.checkpoints[-1]
    assert last.digest == job.final_state_hash
    assert fetched.params_hash == params_hash(store.fetch_checkpoint(last.cid, expected_hash=last.digest))
    assert fetched.metric == "accuracy" and fetched.value is not None and fetched.value > 0.8


def test_job_waits_for_stake_freed_by_an_earlier_job(
    chain: RunningNode, market_address: str, ipfs_store: IpfsStore, digits_files: tuple[Path, Path], tmp_path: Path
) -> None:
    store = ArtifactStore(ipfs_store)
    requester = Requester(role(chain, market_address, "requester"), store)
    provider = role(chain, market_address, "provider-2")
    provider.deposit_stake(TERMS.stake)  # enough for one job at a time
    spec, spec_cid = requester.prepare_spec(
        REPO / "examples" / "digits-mlp.yaml", dataset=digits_files[0], eval_data=digits_files[1]
    )
    first, second = requester.post(spec, spec_cid, TERMS), requester.post(spec, spec_cid, TERMS)
    worker = Worker(provider, store, WorkerConfig(state_dir=tmp_path / "worker"), start_block=0)

    run_until(worker, lambda: requester.view(first).status == JobStatus.SUBMITTED)
    assert requester.view(second).status == JobStatus.OPEN, "no stake left for a second claim"
    advance_time(chain, TERMS.challenge_window + 1)
    run_until(worker, lambda: requester.view(second).status == JobStatus.SUBMITTED)

    assert worker.report.claimed == [first, second]
    assert worker.report.skipped == {}
