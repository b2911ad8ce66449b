"""k-ary dissection of a disputed step interval (docs/dispute-game.md §1.4), with no chain and no I/O.

A segment dispute starts on [a, b] with H(a) agreed and H(b) rejected. Each round the provider
splits it into ``p = min(arity, b - a)`` parts at ``m_i = a + floor(i * (b - a) / p)`` and posts
H(m_1) .. H(m_{p-1}); the challenger picks the first part whose end hash it disagrees with. After
``rounds(b - a, arity) = ceil(log_arity(b - a))`` rounds one step is left and the oracle replays it.
The formulas here are the contract's (``dissectionPoints``, ``roundsFor``) to the integer.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_ARITY, MAX_ARITY = 2, 16


def _check(a: int, b: int, arity: int) -> None:
    if not MIN_ARITY <= arity <= MAX_ARITY:
        raise ValueError(f"arity {arity} is outside [{MIN_ARITY}, {MAX_ARITY}]")
    if b <= a or a < 0:
        raise ValueError(f"[{a}, {b}] is not an interval of steps (need 0 <= a < b)")


def parts(length: int, arity: int) -> int:
    """How many parts a round splits an interval of ``length`` steps into."""
    return min(arity, length)


def points(a: int, b: int, arity: int) -> list[int]:
    """m_0 = a, m_1, ..., m_p = b for one round on [a, b]."""
    _check(a, b, arity)
    length = b - a
    p = parts(length, arity)
    return [a + (i * length) // p for i in range(p + 1)]


def interior(a: int, b: int, arity: int) -> list[int]:
    """The points whose hashes (and states) the provider posts: m_1 .. m_{p-1}."""
    return points(a, b, arity)[1:-1]


def rounds(length: int, arity: int) -> int:
    """Provider moves needed to narrow ``length`` steps to one: ceil(log_arity(length))."""
    if not MIN_ARITY <= arity <= MAX_ARITY:
        raise ValueError(f"arity {arity} is outside [{MIN_ARITY}, {MAX_ARITY}]")
    count, reach = 0, 1
    while reach < length:
        reach *= arity
        count += 1
    return count


def choose_part(claimed: Sequence[bytes], own: Sequence[bytes | None]) -> int:
    """The challenger's pick: the index i of the first part [m_i, m_{i+1}] whose end hash the
    challenger disagrees with. ``claimed`` are the provider's H(m_1..m_{p-1}); ``own`` the
    challenger's hashes at the same points (None where it does not know one: counted as a
    disagreement). When it agrees with every interior point the last part is disputed, since the
    challenger rejects H(b) by the dispute's definition."""
    if len(own) != len(claimed):
        raise ValueError(f"{len(claimed)} claimed hashes but {len(own)} of the challenger's own")
    for i, (theirs, mine) in enumerate(zip(claimed, own, strict=True)):
        if mine is None or bytes(mine) != bytes(theirs):
            return i
    return len(claimed)


def narrow(a: int, b: int, arity: int, index: int) -> tuple[int, int]:
    """The interval after the challenger disputes part ``index`` of [a, b]."""
    m = points(a, b, arity)
    if not 0 <= index < len(m) - 1:
        raise ValueError(f"part {index} is out of range: [{a}, {b}] has {len(m) - 1} parts")
    return m[index], m[index + 1]
