"""k-ary dissection (crucible.protocol.dissection): the formulas, the challenger's choice, and the
points checked against the real contract's ``dissectionPoints`` and ``roundsFor`` on anvil."""

from __future__ import annotations

import math

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from crucible.protocol import dissection, merkle

arities = st.integers(min_value=2, max_value=16)


def test_points_of_a_bisection_and_of_an_octal_round() -> None:
    assert dissection.points(0, 10, 2) == [0, 5, 10]
    assert dissection.points(0, 10, 8) == [0, 1, 2, 3, 5, 6, 7, 8, 10]
    assert dissection.points(20, 23, 8) == [20, 21, 22, 23]  # fewer steps than the arity: one part each
    assert dissection.interior(0, 10, 8) == [1, 2, 3, 5, 6, 7, 8]


def test_rounds_are_the_ceiling_of_the_log() -> None:
    assert dissection.rounds(1, 2) == 0
    assert dissection.rounds(128, 2) == 7
    assert dissection.rounds(128, 8) == 3  # 8^2 = 64 < 128 <= 512
    assert dissection.rounds(129, 16) == 2
    assert dissection.rounds(2**32 - 1, 2) == 32


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="arity 17"):
        dissection.points(0, 10, 17)
    with pytest.raises(ValueError, match=r"\[5, 5\]"):
        dissection.points(5, 5, 2)
    with pytest.raises(ValueError, match="part 2 is out of range"):
        dissection.narrow(0, 2, 4, 2)
    with pytest.raises(ValueError, match="3 claimed hashes but 2"):
        dissection.choose_part([b"x"] * 3, [b"x"] * 2)


def test_the_challenger_picks_the_first_part_it_disagrees_with() -> None:
    assert dissection.choose_part([b"a", b"b", b"c"], [b"a", b"X", b"Y"]) == 1
    assert dissection.choose_part([b"a", b"b", b"c"], [b"a", b"b", b"c"]) == 3  # only H(b) is wrong
    assert dissection.choose_part([b"a", b"b"], [None, b"b"]) == 0  # unknown counts as a disagreement


@given(a=st.integers(0, 10**9), length=st.integers(2, 10**6), arity=arities)
def test_points_split_the_interval_into_near_equal_nonempty_parts(a: int, length: int, arity: int) -> None:
    m = dissection.points(a, a + length, arity)
    assert m[0] == a and m[-1] == a + length
    assert len(m) == dissection.parts(length, arity) + 1
    sizes = [y - x for x, y in zip(m, m[1:], strict=False)]
    assert min(sizes) >= 1
    assert max(sizes) == math.ceil(length / len(sizes))


@given(length=st.integers(1, 10**7), arity=arities, first_wrong=st.data())
def test_an_honest_challenger_narrows_to_the_first_wrong_step_in_at_most_rounds_moves(
    length: int, arity: int, first_wrong: st.DataObject
) -> None:
    """The provider's trace is wrong from step f on; the challenger's is right. Playing the game
    ends on [f - 1, f] after no more than ``rounds(length, arity)`` provider moves."""
    f = first_wrong.draw(st.integers(1, length))

    def provider(t: int) -> bytes:
        return keccak(b"liar%d" % t) if t >= f else keccak(b"%d" % t)

    def honest(t: int) -> bytes:
        return keccak(b"%d" % t)

    a, b, moves = 0, length, 0
    while b - a > 1:
        inner = dissection.interior(a, b, arity)
        index = dissection.choose_part([provider(t) for t in inner], [honest(t) for t in inner])
        a, b = dissection.narrow(a, b, arity, index)
        moves += 1
    assert (a, b) == (f - 1, f) or (length == 1 and (a, b) == (0, 1))
    assert moves <= dissection.rounds(length, arity)


@settings(max_examples=30)
@given(length=st.integers(2, 5000), arity=arities)
def test_the_worst_case_takes_exactly_rounds_moves(length: int, arity: int) -> None:
    """Always disputing the longest part: the bound ``rounds`` is reached, never exceeded."""
    a, b, moves = 0, length, 0
    while b - a > 1:
        m = dissection.points(a, b, arity)
        index = max(range(len(m) - 1), key=lambda i: m[i + 1] - m[i])
        a, b = m[index], m[index + 1]
        moves += 1
    assert moves == dissection.rounds(length, arity)


# ------------------------------------------------------------------ against the contract


def _h(tag: bytes, t: int) -> bytes:
    return keccak(tag + t.to_bytes(8, "big"))


@pytest.mark.parametrize(("k", "arity"), [(10, 2), (100, 8), (37, 16), (1000, 3)])
def test_points_and_rounds_match_the_contract(chain, market_address, k: int, arity: int) -> None:  # type: ignore[no-untyped-def]
    """A real segment dispute on anvil, dissected round by round down to one step: each round's
    ``dissectionPoints`` equals ours, and the number of rounds is ``roundsFor``."""
    from crucible.chain.keys import dev_account
    from crucible.chain.market import DisputeStatus, JobTerms, Market
    from crucible.chain.rpc import connect
    from crucible.chain.signer import Signer
    from crucible.store.ipfs import digest_to_cid

    w3 = connect(chain.url)
    requester, provider, challenger = (
        Market(w3, market_address, Signer(w3, dev_account(name))) for name in ("requester", "provider", "verifier")
    )
    n = 4
    reward = 10**17
    terms = JobTerms(
        spec_cid=digest_to_cid(_h(b"spec", k)),
        stake=requester.min_stake_for(reward),
        bond=requester.min_bond_for(reward, requester.min_stake_for(reward), k, arity),
        duration=600,
        challenge_window=600,
        interval=k,
        total_steps=n * k,
        arity=arity,
    )
    job_id = requester.post_job(terms, reward=reward)
    provider.deposit_stake(terms.stake)
    provider.claim_job(job_id)
    hashes = [_h(b"liar", i * k) for i in range(n + 1)]
    leaves = [merkle.leaf(i * k, h) for i, h in enumerate(hashes)]
    provider.submit_result(
        job_id,
        trace_root=merkle.root(leaves),
        final_state_hash=hashes[-1],
        manifest_cid=digest_to_cid(_h(b"manifest", 0)),
        final_model_cid=digest_to_cid(_h(b"model", 0)),
    )
    j = 1
    dispute_id = challenger.challenge(
        job_id, j, hashes[j], hashes[j + 1], merkle.proof(leaves, j), merkle.proof(leaves, j + 1), terms.bond
    )
    assert challenger.rounds_for(k, arity) == dissection.rounds(k, arity)
    moves = 0
    while (d := challenger.dispute(dispute_id)).status == DisputeStatus.DISSECTING:
        assert challenger.dissection_points(dispute_id) == dissection.points(d.a, d.b, arity)
        inner = dissection.interior(d.a, d.b, arity)
        provider.dissect(dispute_id, [_h(b"liar", t) for t in inner], [digest_to_cid(_h(b"cid", t)) for t in inner])
        move = challenger.last_dissection(dispute_id)
        assert move is not None and (move.a, move.b) == (d.a, d.b)
        index = dissection.choose_part(move.hashes, [_h(b"honest", t) for t in inner])
        assert index == 0  # every claimed point is wrong: the first part is disputed
        challenger.respond(dispute_id, index, move)
        moves += 1
    assert d.status == DisputeStatus.AWAITING_ORACLE and (d.a, d.b) == (j * k, j * k + 1)
    assert 1 <= moves <= dissection.rounds(k, arity)
