"""The attack suite of docs/design.md §10, through the real chain, IPFS node and training.

Every test runs the real roles (worker, verifier, oracle) in-process, each with its own key, and
asserts the end state on chain: the cheater slashed or its bond lost, the honest side paid, the
requester made whole, no honest party ever slashed, and the market solvent.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import advance_time
from factories import market_for, tiny_spec

from crucible.chain.contract import ContractClient, deploy
from crucible.chain.keys import dev_account
from crucible.chain.market import DisputeKind, DisputeStatus, JobStatus, Market, Verdict
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.chain.units import parse_eth
from crucible.devnet.contracts import compile_sources
from crucible.devnet.deploy import DEVNET_PARAMS
from crucible.devnet.nodes import RunningNode
from crucible.engine.behaviour import Honest, ProviderBehaviour
from crucible.errors import ChainError
from crucible.protocol.data import build_digits, dataset_bytes
from crucible.protocol.spec import validate_spec
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore
from crucible.testing import adversaries as b
from oracle.judge import Judge
from oracle.service import OracleService
from requester.client import JobTerms, Requester
from verifier.audit import Finding, FindingKind
from verifier.daemon import Verifier, VerifierConfig
from worker.provider import Worker, WorkerConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T, K = 32, 8  # 4 segments of 8 steps: 3 bisection rounds
DEPOSIT = parse_eth("1")
TERMS = JobTerms(
    reward=parse_eth("1"), stake=parse_eth("0.5"), bond=parse_eth("0.05"), duration=300, challenge_window=30
)
SHARES = DEVNET_PARAMS


def market_as(chain: RunningNode, address: str, role: str) -> Market:
    return market_for(chain.url, address, role)


@dataclass
class Arena:
    """One job on a fresh market, with a provider of some behaviour, an honest verifier and an oracle."""

    chain: RunningNode
    market_address: str
    store: ArtifactStore
    tmp: Path
    behaviour: ProviderBehaviour
    requester: Requester = field(init=False)
    provider: Market = field(init=False)
    worker: Worker = field(init=False)
    verifier: Verifier = field(init=False)
    oracle: OracleService = field(init=False)
    job_id: int = 0

    def __post_init__(self) -> None:
        self.requester = Requester(market_as(self.chain, self.market_address, "requester"), self.store)
        self.provider = market_as(self.chain, self.market_address, "cheater")
        self.provider.deposit_stake(DEPOSIT)
        self.worker = Worker(
            self.provider,
            self.store,
            WorkerConfig(state_dir=self.tmp / "worker", poll_interval=0),
            start_block=0,
            behaviour=self.behaviour,
        )
        self.verifier = Verifier(
            market_as(self.chain, self.market_address, "verifier"),
            self.store,
            VerifierConfig(state_dir=self.tmp / "verifier", poll_interval=0),
            start_block=0,
        )
        oracle_market = market_as(self.chain, self.market_address, "oracle")
        self.oracle = OracleService(
            oracle_market,
            Judge(oracle_market, self.store, oracle_market.signer.address),  # type: ignore[union-attr]
            self.tmp / "oracle",
            poll_interval=0,
        )

    def post(self, seed: int) -> int:
        self.job_id = post_tiny_job(self.requester, seed)
        return self.job_id

    def false_challenge(self, finding: Finding) -> None:
        """Once the honest provider has submitted, have the verifier challenge it on ``finding`` anyway."""
        self.drive(lambda: self.status() == JobStatus.SUBMITTED, roles=("worker",))
        self.verifier.execute(self.verifier.plan_challenge(self.job_id, finding))

    def drive(
        self, done: Callable[[], bool], *, roles: tuple[str, ...] = ("worker", "verifier", "oracle"), ticks: int = 300
    ) -> None:
        for _ in range(ticks):
            for name in roles:
                getattr(self, name).tick()
            if done():
                return
        raise AssertionError(f"not done after {ticks} rounds: job {self.requester.view(self.job_id).status.name}")

    def status(self) -> JobStatus:
        return self.requester.market.job_status(self.job_id)

    def dispute(self):  # type: ignore[no-untyped-def]
        return self.provider.dispute(self.requester.market.job(self.job_id).dispute_id)

    def assert_solvent(self) -> None:
        market = self.requester.market
        assert market.w3.eth.get_balance(market.address) == market.call("totalLiabilities")


def post_tiny_job(requester: Requester, seed: int) -> int:
    """A 32-step MLP job on the digits, posted with TERMS."""
    train, _ = build_digits()
    spec = validate_spec(tiny_spec(requester.store.put(dataset_bytes(train)), steps=T, interval=K, seed=seed))
    return requester.post(spec, requester.store.put_spec(spec), TERMS)


def seed_of(name: str) -> int:
    """A seed per test, so no two tests upload identical checkpoints to the shared IPFS node."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


@pytest.fixture
def arena_for(chain: RunningNode, market_address: str, ipfs_node: RunningNode, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = ArtifactStore(IpfsStore(ipfs_node.url, fetch_timeout=2))

    def make(behaviour: ProviderBehaviour) -> Arena:
        return Arena(chain, market_address, store, tmp_path, behaviour)

    return make


def assert_cheater_slashed(arena: Arena) -> None:
    market = arena.requester.market
    info = market.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.slashed, info.locked, info.free) == (1, 0, DEPOSIT - TERMS.stake), "stake slashed, nothing else"
    assert arena.status() == JobStatus.SLASHED
    assert arena.dispute().status == DisputeStatus.CHALLENGER_WON
    challenger_share = TERMS.stake * SHARES.challenger_share_bps // 10_000
    assert arena.verifier.report.withdrawn == TERMS.bond + challenger_share, "bond back plus a share of the stake"
    requester_share = TERMS.stake * SHARES.requester_share_bps // 10_000
    assert arena.requester.withdraw() == TERMS.reward + requester_share, "escrow back plus a share"
    arena.assert_solvent()


def assert_honest_provider_paid_with_bond_share(arena: Arena) -> None:
    info = arena.provider.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.slashed, info.finalized, info.free, info.locked) == (0, 1, DEPOSIT, 0), "honest provider untouched"
    bond_share = TERMS.bond * SHARES.provider_bond_share_bps // 10_000
    assert arena.worker.report.withdrawn == TERMS.reward + bond_share, "reward plus a share of the forfeited bond"
    assert arena.verifier.report.withdrawn == 0
    arena.assert_solvent()


CHEATS = [
    pytest.param(b.LazyProvider(), DisputeKind.SEGMENT, id="lazy-provider"),
    pytest.param(b.SkipSteps(), DisputeKind.SEGMENT, id="skipped-steps"),
    pytest.param(b.PoisonStep(13), DisputeKind.SEGMENT, id="poisoned-step"),
    pytest.param(b.OtherData(), DisputeKind.SEGMENT, id="other-data"),
    pytest.param(b.ForgedRoot(2), DisputeKind.SEGMENT, id="root-not-matching-checkpoints"),
    pytest.param(b.WithheldCheckpoint(2), DisputeKind.SEGMENT, id="withheld-checkpoint"),
    pytest.param(b.FinalModelSwap(), DisputeKind.FINAL_MODEL, id="final-model-differs"),
    pytest.param(b.WrongInitialState(), DisputeKind.INITIAL_STATE, id="wrong-initial-state"),
    pytest.param(b.HiddenManifest(), DisputeKind.MANIFEST, id="manifest-never-uploaded"),
    pytest.param(b.MismatchedManifest(), DisputeKind.MANIFEST, id="manifest-of-another-trace"),
]


@pytest.mark.parametrize(("cheat", "kind"), CHEATS)
def test_cheating_provider_is_caught_and_slashed(
    arena_for,
    cheat: ProviderBehaviour,
    kind: DisputeKind,  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest,
) -> None:
    arena = arena_for(cheat)
    arena.post(seed_of(request.node.name))

    arena.drive(
        lambda: arena.status() == JobStatus.SLASHED and not arena.verifier.cases and arena.verifier.report.withdrawn > 0
    )

    assert arena.dispute().kind == kind
    assert_cheater_slashed(arena)


def test_poisoned_step_is_pinned_to_the_exact_step(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(b.PoisonStep(13))
    arena.post(seed_of("exact-step"))

    arena.drive(lambda: arena.status() == JobStatus.SLASHED)

    dispute = arena.dispute()
    assert (dispute.a, dispute.b) == (13, 14), "bisection narrows to the one forged step"
    evidence = arena.oracle.evidence.get(arena.requester.market.job(arena.job_id).dispute_id)
    assert evidence is not None and evidence.verdict == Verdict.PROVIDER_WRONG.name


def test_false_challenge_costs_the_challenger_its_bond(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(Honest())
    arena.post(seed_of("false-challenge"))

    # A challenger that disputes a correct segment (it then plays honestly and must lose).
    arena.false_challenge(Finding(FindingKind.SEGMENT, 1, "false"))
    arena.drive(lambda: arena.dispute().status == DisputeStatus.PROVIDER_WON)
    advance_time(arena.chain, TERMS.challenge_window + 1)
    arena.drive(lambda: arena.status() == JobStatus.FINALIZED and arena.worker.report.withdrawn > 0)

    assert_honest_provider_paid_with_bond_share(arena)


def test_false_manifest_challenge_costs_the_challenger_its_bond(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(Honest())
    arena.post(seed_of("false-manifest-challenge"))

    # A challenger that claims the honest provider's manifest is missing; the oracle fetches it.
    arena.false_challenge(Finding(FindingKind.MANIFEST, 0, "false"))
    assert arena.dispute().kind == DisputeKind.MANIFEST
    arena.drive(lambda: arena.dispute().status == DisputeStatus.PROVIDER_WON)
    dispute_id = arena.requester.market.job(arena.job_id).dispute_id
    evidence = arena.oracle.evidence.get(dispute_id)
    assert evidence is not None and evidence.verdict == Verdict.PROVIDER_CORRECT.name, evidence
    advance_time(arena.chain, TERMS.challenge_window + 1)
    arena.drive(lambda: arena.status() == JobStatus.FINALIZED and arena.worker.report.withdrawn > 0)

    assert_honest_provider_paid_with_bond_share(arena)


def test_provider_that_stops_answering_loses_by_timeout(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(b.SilentInDispute(at_step=13, moves=1))
    arena.post(seed_of("silent-provider"))
    arena.drive(
        lambda: (
            arena.status() == JobStatus.DISPUTED
            and arena.dispute().a + 1 < arena.dispute().b
            and not arena.dispute().awaiting_response
            and arena.worker.held[arena.job_id].moves
        )
    )

    advance_time(arena.chain, SHARES.move_timeout + 2)
    arena.drive(lambda: arena.status() == JobStatus.SLASHED and arena.verifier.report.withdrawn > 0)

    assert_cheater_slashed(arena)


def test_challenger_that_stops_answering_loses_its_bond(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(Honest())
    arena.post(seed_of("silent-challenger"))
    arena.false_challenge(Finding(FindingKind.SEGMENT, 0, "then silent"))
    arena.drive(lambda: arena.dispute().awaiting_response, roles=("worker",))

    advance_time(arena.chain, SHARES.move_timeout + 2)
    arena.drive(lambda: arena.dispute().status == DisputeStatus.PROVIDER_WON, roles=("worker",))

    info = arena.provider.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.slashed, info.locked) == (0, TERMS.stake), "the provider keeps its claim and its stake"
    assert arena.status() == JobStatus.SUBMITTED, "the window resumes"
    arena.assert_solvent()


def test_provider_that_claims_and_vanishes_compensates_the_requester(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(b.ClaimAndVanish())
    arena.post(seed_of("vanish"))
    arena.drive(lambda: arena.status() == JobStatus.CLAIMED, roles=("worker",))

    advance_time(arena.chain, TERMS.duration + 1)
    withdrawn = arena.requester.reclaim(arena.job_id)

    assert arena.status() == JobStatus.REFUNDED
    assert withdrawn == TERMS.reward + TERMS.stake * SHARES.expiry_slash_bps // 10_000
    info = arena.provider.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.expired, info.locked) == (1, 0)
    assert info.free == DEPOSIT - TERMS.stake * SHARES.expiry_slash_bps // 10_000
    arena.assert_solvent()


def test_forged_and_replayed_oracle_verdicts_are_rejected(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(b.PoisonStep(13))
    arena.post(seed_of("verdicts"))
    arena.drive(
        lambda: (
            arena.dispute().status == DisputeStatus.AWAITING_ORACLE if arena.status() == JobStatus.DISPUTED else False
        ),
        roles=("worker", "verifier"),
    )
    dispute_id = arena.requester.market.job(arena.job_id).dispute_id

    # The cheater forges a verdict in its own favour; the requester tries too.
    for forger in (arena.provider, arena.requester.market):
        with pytest.raises(ChainError, match="NotOracle"):
            forger.submit_verdict(dispute_id, Verdict.PROVIDER_CORRECT)
    arena.drive(lambda: arena.status() == JobStatus.SLASHED, roles=("oracle",))
    # The real oracle's verdict replayed, on the resolved dispute and on another job's dispute id.
    oracle = arena.oracle.market
    with pytest.raises(ChainError, match="DisputeNotInStatus"):
        oracle.submit_verdict(dispute_id, Verdict.PROVIDER_WRONG)
    with pytest.raises(ChainError, match="DisputeNotFound"):
        oracle.submit_verdict(dispute_id + 1, Verdict.PROVIDER_WRONG)

    assert arena.dispute().status == DisputeStatus.CHALLENGER_WON
    arena.assert_solvent()


REENTRANT = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;
interface IMarket {
    function postJob(bytes32, uint96, uint96, uint32, uint32, uint32, uint64, bool) external payable returns (uint256);
    function cancelJob(uint256) external;
    function withdrawCredit() external returns (uint256);
}
/// Posts and cancels a job, then tries to withdraw its refund twice by re-entering from receive().
contract Reentrant {
    IMarket immutable market;
    uint256 public reentries;
    uint256 public blocked;
    constructor(IMarket m) { market = m; }
    function attack(bytes32 specCid) external payable {
        uint256 id = market.postJob{value: msg.value}(specCid, 1e16, 1e15, 300, 30, 8, 32, true);
        market.cancelJob(id);
        market.withdrawCredit();
    }
    receive() external payable {
        reentries++;
        try market.withdrawCredit() {} catch { blocked++; }
    }
}
"""


def test_reentrant_withdrawal_pays_once(chain: RunningNode, market_address: str, tmp_path: Path) -> None:
    (tmp_path / "Reentrant.sol").write_text(REENTRANT)
    artifact = compile_sources(tmp_path)["Reentrant"]
    w3 = connect(chain.url)
    signer = Signer(w3, dev_account("cheater"))
    address, _ = deploy(signer, artifact, market_address)
    attacker = ContractClient(w3, address, artifact, signer)
    market = Market(w3, market_address)

    attacker.transact("attack", b"\x11" * 32, value=parse_eth("1"))

    assert w3.eth.get_balance(address) == parse_eth("1"), "exactly the refund, once"
    assert (attacker.call("reentries"), attacker.call("blocked")) == (1, 1), "the re-entry was refused"
    assert market.credits(address) == 0
    assert w3.eth.get_balance(market_address) == market.call("totalLiabilities")


def test_verifier_and_worker_restarted_mid_bisection_finish_the_dispute(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena = arena_for(b.PoisonStep(13))
    arena.post(seed_of("restarts"))
    arena.drive(
        lambda: arena.status() == JobStatus.DISPUTED and bool(arena.worker.held[arena.job_id].moves),
        roles=("worker", "verifier"),
    )

    # Both processes die; new ones start from nothing but the chain, IPFS and the worker's disk.
    arena.verifier = Verifier(
        arena.verifier.market,
        arena.store,
        VerifierConfig(state_dir=arena.tmp / "verifier", poll_interval=0),
        start_block=0,
    )
    arena.worker = Worker(
        arena.provider,
        arena.store,
        WorkerConfig(state_dir=arena.tmp / "worker", poll_interval=0),
        start_block=0,
        behaviour=arena.behaviour,
    )
    arena.drive(
        lambda: arena.status() == JobStatus.SLASHED and not arena.verifier.cases and arena.verifier.report.withdrawn > 0
    )

    assert (arena.dispute().a, arena.dispute().b) == (13, 14)
    assert_cheater_slashed(arena)


def test_crowd_three_workers_two_verifiers_two_oracles_five_jobs_each_settled_once(
    chain: RunningNode, deployer: Signer, ipfs_node: RunningNode, tmp_path: Path
) -> None:
    from crucible.devnet.deploy import deploy_market
    from crucible.errors import CrucibleError

    oracles = [dev_account("oracle").address, dev_account("oracle-2").address]
    address, _ = deploy_market(deployer, DEVNET_PARAMS, oracles, quorum=2)
    store = ArtifactStore(IpfsStore(ipfs_node.url, fetch_timeout=2))
    requester = Requester(market_as(chain, address, "requester"), store)
    workers = []
    for name, behaviour in (("cheater", b.PoisonStep(13)), ("provider", Honest()), ("provider-2", Honest())):
        market = market_as(chain, address, name)
        market.deposit_stake(DEPOSIT)
        workers.append(
            Worker(
                market,
                store,
                WorkerConfig(state_dir=tmp_path / name, poll_interval=0),
                start_block=0,
                behaviour=behaviour,
            )
        )
    verifiers = [
        Verifier(market_as(chain, address, name), store, VerifierConfig(state_dir=tmp_path / name), start_block=0)
        for name in ("verifier", "verifier-2")
    ]
    oracle_services = []
    for name in ("oracle", "oracle-2"):
        market = market_as(chain, address, name)
        oracle_services.append(
            OracleService(market, Judge(market, store, market.signer.address), tmp_path / name, poll_interval=0)  # type: ignore[union-attr]
        )
    jobs = [post_tiny_job(requester, seed_of(f"crowd-{i}")) for i in range(5)]
    final = {JobStatus.FINALIZED, JobStatus.SLASHED}

    for _ in range(600):
        for role in (*workers, *verifiers, *oracle_services):
            with contextlib.suppress(CrucibleError):  # as in the daemons' loop: logged there, retried next round
                role.tick()
        statuses = [requester.market.job_status(j) for j in jobs]
        if all(s in final for s in statuses):
            break
        if all(s in (JobStatus.SUBMITTED, JobStatus.ACCEPTED, *final) for s in statuses) and not any(
            v.cases for v in verifiers
        ):
            advance_time(chain, TERMS.challenge_window + 1)  # nobody disputes what is left: let windows pass
    market = requester.market
    statuses = {j: market.job_status(j) for j in jobs}
    assert set(statuses.values()) <= final, statuses
    assert sorted(int(e["jobId"]) for e in _logs(market, "JobFinalized")) == sorted(
        j for j, s in statuses.items() if s == JobStatus.FINALIZED
    ), "every finalized job paid exactly once"
    slashed = [j for j, s in statuses.items() if s == JobStatus.SLASHED]
    assert slashed, "the cheater took some jobs and was caught"
    assert all(market.job(j).provider == dev_account("cheater").address for j in slashed)
    for name in ("provider", "provider-2"):
        info = market.provider_info(dev_account(name).address)
        assert info.slashed == 0 and info.locked == 0, f"honest {name} never slashed"
    assert market.provider_info(dev_account("cheater").address).slashed == len(slashed)
    assert all(
        market.dispute(d).status == DisputeStatus.CHALLENGER_WON for d in range(1, market.call("disputeCount") + 1)
    )
    assert market.w3.eth.get_balance(address) == market.call("totalLiabilities")


def _logs(market: Market, event: str) -> list[dict[str, object]]:
    return [dict(e["args"]) for e in getattr(market.contract.events, event)().get_logs(from_block=0)]
