"""The eight problems of issue 11 (docs/dispute-game.md), each played through the real chain, IPFS
node and training with the real roles (worker, verifier, oracle), asserting the money: who lost
what, who was paid, and that the market holds exactly what it owes."""

from __future__ import annotations

import pytest
from arena import (
    ARITY,
    BOND,
    BPS,
    DEPOSIT,
    STAKE,
    TERMS,
    Arena,
    K,
    P,
    assert_bond_forfeited,
    assert_honest_provider_paid,
    assert_slashed,
    credited,
    logs,
    make_oracle,
    make_verifier,
    market_as,
    seed_of,
)
from conftest import advance_time

from crucible.chain.keys import dev_account
from crucible.chain.market import DisputeStatus, JobStatus, Market, Verdict
from crucible.engine.behaviour import Honest
from crucible.errors import ChainError
from crucible.protocol import dissection
from crucible.testing import adversaries as b
from verifier.audit import Finding, FindingKind
from verifier.daemon import Verifier
from worker.provider import ReportProgress

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FORGED = 13  # the step the cheater forges: segment 1 = [8, 16]


def forged_segment() -> Finding:
    return Finding(FindingKind.SEGMENT, FORGED // K, "the forged segment")


def test_1_self_challenge_by_a_silent_accomplice_is_shared_with_the_honest_verifier(arena_for) -> None:  # type: ignore[no-untyped-def]
    """The cheater's accomplice challenges first and the cheater goes silent to be slashed fast: the
    honest verifier's challenge still opens, both disputes win, and the cheater loses >= 80%."""
    arena: Arena = arena_for(b.SilentInDispute(at_step=FORGED, moves=0))
    arena.post(seed_of("self-challenge"))
    arena.drive(lambda: arena.status() == JobStatus.SUBMITTED, roles=("worker",))
    accomplice = make_verifier(arena.chain, arena.market_address, arena.store, arena.tmp / "accomplice", "requester-2")
    accomplice.execute(accomplice.plan_challenge(arena.job_id, forged_segment()))
    (decoy,) = accomplice.report.disputes

    arena.drive(lambda: len(arena.disputes()) == 2, roles=("worker", "verifier"))  # a decoy blocks nobody
    advance_time(arena.chain, P.clock_budget + 2)  # the cheater never answered: its clocks ran out
    arena.drive(
        lambda: (
            arena.status() == JobStatus.SLASHED and not arena.verifier.cases and arena.verifier.report.withdrawn > 0
        ),
        roles=("worker", "verifier"),
    )
    arena.provider.settle_dispute(decoy)  # the cheater settles its accomplice's share itself

    assert {arena.market.dispute(d).status for d in arena.disputes()} == {DisputeStatus.CHALLENGER_WON}
    slash = assert_slashed(arena, by_verdict=False, winners=["verifier", "requester-2"])
    kept = slash["pool"] // 2 + slash["toRequester"]  # even if the requester were the cheater too
    assert STAKE - kept >= STAKE * 8 // 10


class Copycat:
    """Copies the honest verifier's challenge call (same arguments, its own bond and account), then
    copies each of its answers: no audit of its own."""

    def __init__(self, market: Market, verifier: Verifier) -> None:
        self.market, self.verifier, self.dispute_id = market, verifier, 0

    def tick(self) -> None:
        if not self.dispute_id:
            self._copy_challenge()
            return
        d = self.market.dispute(self.dispute_id)
        if not d.live:
            return
        if self.market.job_status(d.job_id) == JobStatus.SLASHED:
            self.market.settle_dispute(self.dispute_id)
        elif d.awaiting_response:
            index = self._copied_index(d.a, d.b)
            move = self.market.last_dissection(self.dispute_id)
            if index is not None and move is not None and (move.a, move.b) == (d.a, d.b):
                self.market.respond(self.dispute_id, index, move)

    def _copy_challenge(self) -> None:
        opened = self.market.contract.events.DisputeOpened().get_logs(
            from_block=0, argument_filters={"challenger": self.verifier.address}
        )
        if not opened:
            return
        tx = self.market.w3.eth.get_transaction(opened[0]["transactionHash"])
        _, args = self.market.contract.decode_function_input(tx["input"])
        self.dispute_id = self.market.challenge(
            args["jobId"], args["segment"], args["hashJ"], args["hashJ1"], args["proofJ"], args["proofJ1"], tx["value"]
        )

    def _copied_index(self, a: int, b: int) -> int | None:
        (original,) = self.verifier.report.disputes
        rounds = logs(self.market, "DisputeDissected", disputeId=original)
        picks = logs(self.market, "DisputeNarrowed", disputeId=original)
        return next((p["index"] for r, p in zip(rounds, picks, strict=False) if (r["a"], r["b"]) == (a, b)), None)


def test_2_a_copycat_of_the_verifiers_challenge_only_shares(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(b.PoisonStep(FORGED))
    arena.post(seed_of("copycat"))
    copycat = Copycat(market_as(arena.chain, arena.market_address, "verifier-2"), arena.verifier)
    arena.copycat = copycat  # type: ignore[attr-defined]

    arena.drive(
        lambda: (
            arena.status() == JobStatus.SLASHED
            and not arena.verifier.cases
            and arena.verifier.report.withdrawn > 0
            and not arena.market.dispute(copycat.dispute_id).live
        ),
        roles=("worker", "verifier", "copycat", "oracle"),
    )
    copycat.market.collect_credit()

    original = arena.dispute()
    assert (original.a, original.b, original.status) == (FORGED, FORGED + 1, DisputeStatus.CHALLENGER_WON)
    assert arena.market.dispute(copycat.dispute_id).status == DisputeStatus.CHALLENGER_WON
    assert_slashed(arena, by_verdict=True, winners=["verifier", "verifier-2"])


def test_3_oracle_outage_voids_then_the_verifier_challenges_again_and_the_cheater_is_slashed(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(b.PoisonStep(FORGED))
    arena.post(seed_of("oracle-outage"))
    # The oracle process is down: the dispute reaches the oracle stage and nobody votes.
    arena.drive(
        lambda: arena.status() == JobStatus.DISPUTED and arena.dispute().status == DisputeStatus.AWAITING_ORACLE,
        roles=("worker", "verifier"),
    )
    first = arena.disputes()[0]
    advance_time(arena.chain, P.oracle_timeout + 1)
    arena.drive(lambda: len(arena.disputes()) == 2, roles=("worker", "verifier"))  # void, then a new challenge

    assert arena.market.dispute(first).status == DisputeStatus.VOIDED
    (void,) = logs(arena.market, "DisputeVoided", disputeId=first)
    fee = BOND * P.void_fee_bps // BPS
    assert (void["refund"], void["voidFee"]) == (BOND - fee, fee), "a void costs the challenger the void fee"
    (resolved,) = arena.market.contract.events.DisputeResolved().get_logs(
        from_block=0, argument_filters={"disputeId": first}
    )
    voided_at = int(arena.market.w3.eth.get_block(resolved["blockNumber"])["timestamp"])
    assert resolved["args"]["windowEnd"] >= voided_at + P.reaction_time, "the window reopened"

    arena.oracle = make_oracle(arena.chain, arena.market_address, arena.store, arena.tmp / "oracle", "oracle")
    arena.drive(
        lambda: arena.status() == JobStatus.SLASHED and not arena.verifier.cases and arena.verifier.report.withdrawn > 0
    )
    second = arena.disputes()[1]
    assert arena.market.dispute(second).status == DisputeStatus.CHALLENGER_WON
    assert arena.market.dispute(second).challenger == arena.verifier.address
    assert arena.market.dispute(second).bond == 2 * BOND, "the bond doubled after the void (§1.5)"
    assert credited(arena.market, arena.provider.signer.address, arena.job_id) == fee  # type: ignore[union-attr]
    # the first dispute's refund, and the second bond's other half (it is back in full with the win)
    assert_slashed(arena, by_verdict=True, winners=["verifier"], extra={"verifier": BOND - fee + BOND})


def test_4_a_deleted_requester_dataset_cannot_freeze_an_honest_provider(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(Honest())
    arena.post(seed_of("griefing"))
    arena.drive(lambda: arena.status() == JobStatus.SUBMITTED, roles=("worker",))
    griefer = make_verifier(arena.chain, arena.market_address, arena.store, arena.tmp / "griefer", "verifier-2")
    challenge = griefer.plan_challenge(arena.job_id, Finding(FindingKind.SEGMENT, 2, "false"))
    dataset = arena.store.fetch_spec(arena.market.job(arena.job_id).spec_cid_str).dataset.cid

    arena.store.blobs.remove(dataset)  # type: ignore[attr-defined]  # the requester deletes its dataset
    assert not arena.store.pinned(dataset)
    griefer.execute(challenge)
    (dispute_id,) = griefer.report.disputes
    bound = arena.market.payout_bound(arena.job_id)
    arena.griefer = griefer  # type: ignore[attr-defined]
    arena.drive(
        lambda: arena.market.dispute(dispute_id).status == DisputeStatus.PROVIDER_WON,
        roles=("worker", "griefer", "oracle"),
    )

    assert arena.store.pinned(dataset), "the provider served the dataset again from its own copy"
    evidence = arena.oracle.evidence.get(dispute_id)
    assert evidence is not None and evidence.verdict == Verdict.PROVIDER_CORRECT.name, evidence
    advance_time(arena.chain, P.reaction_time + 1)
    arena.drive(lambda: arena.status() == JobStatus.FINALIZED and arena.worker.report.withdrawn > 0)
    (finalized,) = arena.market.contract.events.JobFinalized().get_logs(
        from_block=0, argument_filters={"jobId": arena.job_id}
    )
    paid_at = int(arena.market.w3.eth.get_block(finalized["blockNumber"])["timestamp"])
    assert paid_at <= bound, "paid within the payout bound stated when the false challenge opened"
    lost = assert_bond_forfeited(arena, dispute_id, by_verdict=True)
    assert_honest_provider_paid(arena, lost["toProvider"])


def test_5_an_oracle_set_scheduled_during_a_dispute_does_not_change_its_voters(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(b.PoisonStep(FORGED))
    arena.post(seed_of("governance"))
    arena.drive(
        lambda: arena.status() == JobStatus.DISPUTED and arena.dispute().status == DisputeStatus.AWAITING_ORACLE,
        roles=("worker", "verifier"),
    )
    (dispute_id,) = arena.disputes()
    d = arena.market.dispute(dispute_id)
    owner = market_as(arena.chain, arena.market_address, "deployer")

    epoch = owner.schedule_oracle_set([dev_account("oracle-2").address], 1)  # the owner swaps the oracles

    assert epoch == d.epoch + 1 and owner.current_oracle_epoch() == d.epoch, "not effective yet"
    assert owner.oracle_epoch(epoch).effective_at > d.deadline, "only after every live dispute has ended"
    with pytest.raises(ChainError, match="NotOracle"):
        market_as(arena.chain, arena.market_address, "oracle-2").submit_verdict(dispute_id, Verdict.PROVIDER_CORRECT)
    arena.drive(lambda: arena.status() == JobStatus.SLASHED and arena.verifier.report.withdrawn > 0)

    assert arena.market.dispute(dispute_id).epoch == d.epoch
    assert_slashed(arena, by_verdict=True, winners=["verifier"])


def test_6_chess_clocks_a_slow_then_silent_challenger_loses_only_when_its_budget_is_spent(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(Honest())
    arena.post(seed_of("clocks"))
    dispute_id = arena.false_challenge(Finding(FindingKind.SEGMENT, 1, "slow, then silent"))
    rounds = dissection.rounds(K, ARITY)
    bound = 2 * (P.clock_budget + rounds * P.move_extension) + P.oracle_timeout
    assert arena.market.dispute_duration_bound(arena.job_id) == bound
    challenger = arena.verifier.market

    arena.drive(lambda: arena.dispute().awaiting_response, roles=("worker",))
    advance_time(arena.chain, 40)  # the challenger thinks for 40 s of its budget
    move = challenger.last_dissection(dispute_id)
    assert move is not None
    challenger.respond(dispute_id, len(move.hashes), move)  # disputes the last part
    arena.drive(lambda: arena.dispute().awaiting_response, roles=("worker",))

    d = arena.dispute()
    assert d.challenger_clock_used >= 40
    assert d.deadline - d.turn_started_at == max(P.clock_budget - d.challenger_clock_used, P.move_extension)
    with pytest.raises(ChainError, match="NotTimedOut"):
        arena.provider.timeout(dispute_id)  # its clock still runs
    advance_time(arena.chain, d.deadline - arena.market.now() + 1)
    arena.provider.timeout(dispute_id)

    (resolved,) = arena.market.contract.events.DisputeResolved().get_logs(
        from_block=0, argument_filters={"disputeId": dispute_id}
    )
    ended = int(arena.market.w3.eth.get_block(resolved["blockNumber"])["timestamp"])
    assert ended - d.opened_at <= bound
    assert_bond_forfeited(arena, dispute_id, by_verdict=False)
    arena.assert_solvent()


def test_7_a_squatted_claim_is_released_and_the_squatter_pays(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(b.ClaimAndVanish())
    arena.post(seed_of("squatter"))
    arena.drive(lambda: arena.status() == JobStatus.CLAIMED, roles=("worker",))
    with pytest.raises(ChainError, match="ProgressNotStale"):
        arena.requester.release(arena.job_id)

    advance_time(arena.chain, P.progress_timeout + 1)
    withdrawn = arena.requester.release(arena.job_id)

    penalty = STAKE * P.expiry_slash_bps // BPS
    assert arena.status() == JobStatus.REFUNDED
    assert withdrawn == TERMS.reward + penalty
    (released,) = logs(arena.market, "JobReleased", jobId=arena.job_id)
    assert (released["toRequester"], released["refunded"]) == (penalty, True)
    info = arena.provider.provider_info(arena.provider.signer.address)  # type: ignore[union-attr]
    assert (info.expired, info.locked, info.free) == (1, 0, DEPOSIT - penalty)
    arena.assert_solvent()


def test_7_a_worker_that_reports_progress_cannot_be_released(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(b.ClaimAndVanish())  # trains nothing: its progress is set by hand below
    arena.post(seed_of("progress"))
    arena.drive(lambda: arena.status() == JobStatus.CLAIMED, roles=("worker",))
    held = arena.worker.held[arena.job_id]
    held.progress = K  # training reached the first checkpoint
    assert arena.worker.next_actions(held) == [], "not due before half the progress timeout"

    advance_time(arena.chain, P.progress_timeout // 2 + 1)
    actions = arena.worker.next_actions(held)
    assert actions == [ReportProgress(arena.job_id, K)]
    arena.worker.execute(actions[0])
    advance_time(arena.chain, P.progress_timeout // 2 + 1)  # a whole timeout after the claim

    (report,) = logs(arena.market, "ProgressReported", jobId=arena.job_id)
    assert report["step"] == K
    with pytest.raises(ChainError, match="ProgressNotStale"):
        arena.requester.release(arena.job_id)


def test_8_the_loser_pays_the_oracle_and_the_bond_covers_the_defence(arena_for) -> None:  # type: ignore[no-untyped-def]
    arena: Arena = arena_for(Honest())
    arena.post(seed_of("who-pays"))
    dispute_id = arena.false_challenge(Finding(FindingKind.SEGMENT, 3, "false"))
    arena.drive(lambda: arena.dispute().status == DisputeStatus.PROVIDER_WON)

    lost = assert_bond_forfeited(arena, dispute_id, by_verdict=True)
    (fee,) = logs(arena.market, "OracleFeePaid", disputeId=dispute_id)
    assert (fee["oracle"], fee["amount"]) == (dev_account("oracle").address, P.oracle_fee), "paid from the bond"
    moves = arena.market.contract.events.DisputeDissected().get_logs(
        from_block=0, argument_filters={"disputeId": dispute_id}
    )
    spent = sum(int(arena.market.w3.eth.get_transaction_receipt(m["transactionHash"])["gasUsed"]) for m in moves)
    stated = arena.market.defence_gas(K, ARITY)
    assert len(moves) == dissection.rounds(K, ARITY) and spent <= stated, (spent, stated)
    assert lost["toProvider"] >= stated * P.ref_gas_price, "the bond's share pays the defence at the stated price"
    arena.assert_solvent()


def test_the_arity_chosen_from_two_constants_is_the_one_defence_gas_ranks_first(arena_for) -> None:  # type: ignore[no-untyped-def]
    """`requester post` ranks arities from DEFENCE_MOVE_GAS and DEFENCE_POINT_GAS (two reads); the
    contract's own ``defenceGas`` for every arity (fewer rounds breaking ties) picks the same one."""
    arena: Arena = arena_for(Honest())
    market = arena.requester.market
    for interval in (2, 3, 10, 64, 100, 128, 1000, 4096):
        by_contract = min(
            range(dissection.MIN_ARITY, dissection.MAX_ARITY + 1),
            key=lambda a: (market.defence_gas(interval, a), dissection.rounds(interval, a)),
        )
        assert arena.requester.choose_arity(interval) == by_contract, interval
