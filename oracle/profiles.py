"""Which determinism profiles this oracle process can honour (checked once, then cached)."""

from __future__ import annotations

from functools import lru_cache

from crucible.errors import ProfileError
from crucible.protocol.profiles import PROFILES, ensure_profile


@lru_cache(maxsize=1)
def _check() -> tuple[tuple[str, str], ...]:
    out = []
    for profile in PROFILES:
        try:
            ensure_profile(profile)
            out.append((profile, "ok"))
        except ProfileError as exc:
            out.append((profile, f"refused: {exc}"))
    return tuple(out)


def runnable_profiles() -> dict[str, str]:
    """profile -> "ok", or "refused: <why>" (such disputes are refused, never guessed)."""
    return dict(_check())
