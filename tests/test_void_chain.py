"""Issue 26's void chain through the real chain, IPFS node, training and roles: a griefer opens false
segment challenges against an honest provider (the worker daemon) while no oracle answers, so each
dispute voids. Every void pays the provider at least the contract's void fee and doubles the next
bond; the griefer's cost per hour of delay is never below what `delayCostPerHour` stated before it
bought that delay; the provider is paid its reward plus every void fee; the market holds exactly
what it owes (docs/dispute-game.md §1.5)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from arena import (
    BOND,
    TERMS,
    Arena,
    P,
    assert_honest_provider_paid,
    credited,
    logs,
    make_verifier,
    seed_of,
    withdrawn,
)
from conftest import advance_time

from crucible.chain.market import DisputeStatus, JobStatus, Market
from crucible.engine.behaviour import Honest
from verifier.audit import Finding, FindingKind

pytestmark = pytest.mark.integration  # about 10 s: not slow

VOIDS = 4


def _reaches(market: Market, dispute_id: int, status: DisputeStatus) -> Callable[[], bool]:
    return lambda: market.dispute(dispute_id).status == status


def test_a_chain_of_voids_costs_the_griefer_the_stated_price_and_pays_the_honest_provider(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(Honest())
    arena.post(seed_of("void-chain"))
    arena.drive(lambda: arena.status() == JobStatus.SUBMITTED, roles=("worker",))
    griefer = make_verifier(arena.chain, arena.market_address, arena.store, arena.tmp / "griefer", "verifier-2")
    arena.griefer = griefer  # type: ignore[attr-defined]
    market, job_id = arena.market, arena.job_id
    due = market.job(job_id).window_end  # when it would be paid without a dispute
    span = market.dispute_duration_bound(job_id) + P.reaction_time
    first_stated = market.delay_cost_per_hour(job_id)
    fees = bonds = 0
    for i in range(VOIDS):
        bond, stated = market.bond_for(job_id), market.delay_cost_per_hour(job_id)
        assert bond == BOND << i, "the bond doubles with every dispute that ended without a slash"
        assert stated == market.void_fee_for(job_id, bond) * 3600 // span, "the floor: the next void over the span"
        before = market.payout_bound(job_id)
        opened = set(griefer.report.disputes)
        griefer.execute(griefer.plan_challenge(job_id, Finding(FindingKind.SEGMENT, 2, "a false challenge")))
        (dispute_id,) = set(griefer.report.disputes) - opened
        bought = market.payout_bound(job_id) - before  # the most delay this dispute can add
        assert 0 < bought <= span
        # the honest worker defends down to one step; the griefer plays along; no oracle runs
        arena.drive(_reaches(market, dispute_id, DisputeStatus.AWAITING_ORACLE), roles=("worker", "griefer"))
        advance_time(arena.chain, P.oracle_timeout + 1)
        arena.drive(_reaches(market, dispute_id, DisputeStatus.VOIDED), roles=("worker",))  # its own timeout

        (voided,) = market.contract.events.DisputeVoided().get_logs(
            from_block=0, argument_filters={"disputeId": dispute_id}
        )
        sender = market.w3.eth.get_transaction(voided["transactionHash"])["from"]
        assert sender == arena.provider.signer.address, "the provider voided it with its own timeout"  # type: ignore[union-attr]
        void = voided["args"]
        fee = int(void["voidFee"])
        assert fee == market.void_fee_for(job_id, bond) and void["refund"] == bond - fee
        assert fee >= bond * P.void_fee_bps // 10_000, "at least voidFeeBps of the bond"
        assert fee * 3600 >= stated * bought, "this delay cost at least the rate stated before it was bought"
        fees, bonds = fees + fee, bonds + bond
        assert market.delay_cost_per_hour(job_id) > stated, "the next hour costs more"

    advance_time(arena.chain, P.reaction_time + 1)
    arena.drive(lambda: arena.status() == JobStatus.FINALIZED and arena.worker.report.withdrawn > 0, roles=("worker",))
    (finalized,) = logs(market, "JobFinalized", jobId=job_id)
    (event,) = market.contract.events.JobFinalized().get_logs(from_block=0, argument_filters={"jobId": job_id})
    delay = int(market.w3.eth.get_block(event["blockNumber"])["timestamp"]) - due
    assert delay > 0 and fees * 3600 >= first_stated * delay, "the chain's cost per hour >= the floor stated before it"

    griefer.market.collect_credit()
    address = griefer.address
    assert credited(market, address, job_id) == bonds - fees, "the griefer got back its bonds less the void fees"
    assert withdrawn(market, address) == bonds - fees
    assert finalized["reward"] == TERMS.reward
    assert_honest_provider_paid(arena, fees)  # reward + every void fee, never slashed, balance == liabilities
