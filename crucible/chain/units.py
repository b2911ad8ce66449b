"""ETH amounts as people type them, and back."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from crucible.errors import ConfigError

WEI_PER_ETH = 10**18


def parse_eth(text: str) -> int:
    """``"1.5"`` -> 1.5 ETH in wei; refuses negatives, garbage and sub-wei precision."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"{text!r} is not an amount of ETH (write it like 0.5 or 12)") from None
    wei = value * WEI_PER_ETH
    if value < 0 or wei != wei.to_integral_value():
        raise ConfigError(f"{text!r} is not a non-negative amount of ETH with at most 18 decimals")
    return int(wei)


def format_eth(wei: int) -> str:
    return f"{Decimal(wei) / WEI_PER_ETH:.6f}".rstrip("0").rstrip(".") if wei else "0"
