"""One job on a real market with the real roles in-process (worker, verifier, oracle), each with its
own key, plus the money assertions the attack and dispute-game suites share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factories import market_for, tiny_spec

from crucible.chain.keys import dev_account
from crucible.chain.market import Dispute, JobStatus, Market
from crucible.chain.units import parse_eth
from crucible.devnet.deploy import DEVNET_PARAMS
from crucible.devnet.nodes import RunningNode
from crucible.engine.behaviour import ProviderBehaviour
from crucible.protocol.data import build_digits, dataset_bytes
from crucible.protocol.spec import validate_spec
from crucible.store.artifacts import ArtifactStore
from oracle.judge import Judge
from oracle.service import OracleService
from requester.client import Offer, Requester
from verifier.audit import Finding
from verifier.daemon import Verifier, VerifierConfig
from worker.provider import Worker, WorkerConfig

T, K = 32, 8  # 4 segments of 8 steps; arity 4: two dissection rounds per segment dispute
ARITY = 4
DEPOSIT = parse_eth("2")
TERMS = Offer(
    reward=parse_eth("0.5"),
    stake=parse_eth("0.5"),
    bond=parse_eth("0.05"),
    arity=ARITY,
    duration=300,
    challenge_window=30,
)
assert TERMS.stake is not None and TERMS.bond is not None
STAKE, BOND = TERMS.stake, TERMS.bond
P = DEVNET_PARAMS
BPS = 10_000


def market_as(chain: RunningNode, address: str, role: str) -> Market:
    return market_for(chain.url, address, role)


def seed_of(name: str) -> int:
    """A seed per test, so no two tests upload identical checkpoints to the shared IPFS node."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def post_tiny_job(requester: Requester, seed: int) -> int:
    """A 32-step MLP job on the digits, posted with TERMS."""
    train, _ = build_digits()
    spec = validate_spec(tiny_spec(requester.store.put(dataset_bytes(train)), steps=T, interval=K, seed=seed))
    return requester.post(spec, requester.store.put_spec(spec), TERMS)


def make_oracle(chain: RunningNode, address: str, store: ArtifactStore, state_dir: Path, name: str) -> OracleService:
    market = market_as(chain, address, name)
    return OracleService(market, Judge(market, store, market.signer.address), state_dir, poll_interval=0)  # type: ignore[union-attr]


def make_verifier(chain: RunningNode, address: str, store: ArtifactStore, state_dir: Path, name: str) -> Verifier:
    config = VerifierConfig(state_dir=state_dir, poll_interval=0)
    return Verifier(market_as(chain, address, name), store, config, start_block=0)


@dataclass
class Arena:
    """One job on a market, with a provider of some behaviour, an honest verifier and an oracle."""

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
        self.worker = self.new_worker()
        self.verifier = make_verifier(self.chain, self.market_address, self.store, self.tmp / "verifier", "verifier")
        self.oracle = make_oracle(self.chain, self.market_address, self.store, self.tmp / "oracle", "oracle")

    def new_worker(self) -> Worker:
        config = WorkerConfig(state_dir=self.tmp / "worker", poll_interval=0)
        return Worker(self.provider, self.store, config, start_block=0, behaviour=self.behaviour)

    @property
    def market(self) -> Market:
        return self.requester.market

    def post(self, seed: int) -> int:
        self.job_id = post_tiny_job(self.requester, seed)
        return self.job_id

    def false_challenge(self, finding: Finding) -> int:
        """Once the honest provider has submitted, have the verifier challenge it on ``finding`` anyway."""
        self.drive(lambda: self.status() == JobStatus.SUBMITTED, roles=("worker",))
        before = set(self.verifier.report.disputes)
        self.verifier.execute(self.verifier.plan_challenge(self.job_id, finding))
        (dispute_id,) = set(self.verifier.report.disputes) - before
        return dispute_id

    def drive(
        self, done: Callable[[], bool], *, roles: Iterable[str] = ("worker", "verifier", "oracle"), ticks: int = 300
    ) -> None:
        for _ in range(ticks):
            for name in roles:
                getattr(self, name).tick()
            if done():
                return
        raise AssertionError(f"not done after {ticks} rounds: job {self.status().name}, disputes {self.disputes()}")

    def status(self) -> JobStatus:
        return self.market.job_status(self.job_id)

    def disputes(self) -> list[int]:
        return self.market.disputes_of(self.job_id)

    def dispute(self, dispute_id: int | None = None) -> Dispute:
        """A dispute on the job (by default the verifier's first, else the first opened)."""
        if dispute_id is None:
            mine = [d for d, j in self.verifier.report.disputes.items() if j == self.job_id]
            dispute_id = min(mine) if mine else self.disputes()[0]
        return self.market.dispute(dispute_id)

    def assert_solvent(self) -> None:
        assert self.market.balance() == self.market.total_liabilities()


def logs(market: Market, event: str, **filters: Any) -> list[dict[str, Any]]:
    found = getattr(market.contract.events, event)().get_logs(from_block=0, argument_filters=filters or None)
    return [dict(e["args"]) for e in found]


def withdrawn(market: Market, account: str) -> int:
    """Everything ``account`` withdrew from the market (its ``CreditWithdrawn`` events)."""
    return sum(int(e["amount"]) for e in logs(market, "CreditWithdrawn", account=account))


def credited(market: Market, account: str, job_id: int) -> int:
    """Everything credited to ``account`` because of ``job_id`` (its ``Credited`` events)."""
    return sum(int(e["amount"]) for e in logs(market, "Credited", account=account, jobId=job_id))


def assert_slashed(
    arena: Arena, *, by_verdict: bool, winners: list[str], extra: dict[str, int] | None = None
) -> dict[str, Any]:
    """The provider lost exactly the job's stake, split per docs/dispute-game.md §2: the oracle fee
    (verdict only), the pool shared equally by ``winners`` (each also got its bond back), the
    requester's share on top of its escrow, the rest burned; at least 80% of the stake left the
    cheater whatever accounts it controls. ``extra``: other credits a winner got on this job (the
    refund of an earlier voided dispute). Returns the ``ProviderSlashed`` event."""
    market, job_id = arena.market, arena.job_id
    info = market.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.slashed, info.locked, info.free) == (1, 0, DEPOSIT - STAKE), "stake slashed, nothing else"
    assert arena.status() == JobStatus.SLASHED
    (slash,) = logs(market, "ProviderSlashed", jobId=job_id)
    fee = P.oracle_fee if by_verdict else 0
    assert (slash["amount"], slash["oracleFee"], slash["winners"]) == (STAKE, fee, len(winners)), slash
    assert slash["pool"] == (STAKE - fee) * P.challenger_share_bps // BPS
    assert slash["toRequester"] == (STAKE - fee) * P.requester_share_bps // BPS
    share = slash["pool"] // len(winners)
    assert slash["burned"] == STAKE - fee - share * len(winners) - slash["toRequester"]
    for name in winners:
        expected = BOND + share + (extra or {}).get(name, 0)
        assert credited(market, dev_account(name).address, job_id) == expected, f"{name}: bond back + share"
    assert credited(market, market.signer.address, job_id) == TERMS.reward + slash["toRequester"]  # type: ignore[union-attr]
    assert slash["burned"] + fee >= STAKE * 8 // 10, "at least 80% of the stake leaves the cheater"
    arena.assert_solvent()
    return slash


def assert_bond_forfeited(arena: Arena, dispute_id: int, *, by_verdict: bool) -> dict[str, Any]:
    """The challenger of ``dispute_id`` lost its bond: the oracle fee (verdict only), the provider's
    share, the rest burned."""
    (lost,) = logs(arena.market, "BondForfeited", disputeId=dispute_id)
    fee = P.oracle_fee if by_verdict else 0
    assert (lost["amount"], lost["oracleFee"]) == (BOND, fee), lost
    assert lost["toProvider"] == (BOND - fee) * P.provider_bond_share_bps // BPS
    assert lost["burned"] == BOND - fee - lost["toProvider"]
    return lost


def assert_honest_provider_paid(arena: Arena, bond_shares: int) -> None:
    """The honest provider was finalized and paid the reward plus ``bond_shares`` wei of forfeited
    bonds and void fees, never slashed, and the market still holds exactly what it owes."""
    market = arena.market
    info = market.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.slashed, info.finalized, info.free, info.locked) == (0, 1, DEPOSIT, 0), "honest provider untouched"
    assert credited(market, arena.provider.signer.address, arena.job_id) == TERMS.reward + bond_shares  # type: ignore[union-attr]
    assert arena.worker.report.withdrawn >= TERMS.reward + bond_shares
    arena.assert_solvent()
