"""ETH amounts as people type them (Foundry's and ape's conventions), and back.

Input: ``1.5`` or ``1.5eth``/``1.5ether`` (ETH), ``10gwei``, ``1000wei``, case-insensitive, spaces
allowed between number and unit. Output: ETH with up to 18 decimals for people, exact integer wei
in JSON (never a float: amounts above 2^53 wei would lose digits).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from crucible.errors import ConfigError

WEI_PER_ETH = 10**18

#: Wei per unit, by every name the unit is written with.
UNITS = {"": WEI_PER_ETH, "eth": WEI_PER_ETH, "ether": WEI_PER_ETH, "gwei": 10**9, "wei": 1}

_AMOUNT = re.compile(r"^\s*([0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_eth(text: str) -> int:
    """``"1.5"``, ``"1.5ether"``, ``"10gwei"``, ``"7wei"`` -> wei; refuses negatives, garbage,
    unknown units and fractions of a wei, saying which."""
    if text.strip().startswith("-"):
        raise ConfigError(f"{text!r} is not a non-negative amount of ETH (amounts are 0 or more)")
    match = _AMOUNT.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or not match.group(1) or unit not in UNITS:
        raise ConfigError(f"{text!r} is not an amount: write it like 0.5 (ETH), 0.5eth, 1ether, 10gwei or 1000wei")
    try:
        value = Decimal(match.group(1))
    except InvalidOperation:
        raise ConfigError(f"{text!r} is not an amount: write it like 0.5 (ETH), 10gwei or 1000wei") from None
    wei = value * UNITS[unit]
    if wei != wei.to_integral_value():
        raise ConfigError(f"{text!r} is not a whole number of wei (at most 18 decimals of ETH, 9 of gwei)")
    return int(wei)


def format_eth(wei: int) -> str:
    """Exact ETH for people: ``1500000000000000000`` -> ``"1.5"`` (no rounding, no exponent)."""
    if wei == 0:
        return "0"
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), WEI_PER_ETH)
    return sign + (f"{whole}.{frac:018d}".rstrip("0") if frac else str(whole))


def eth(wei: int) -> str:
    """``format_eth`` with the unit, for log lines and messages: ``"1.5 ETH"``."""
    return f"{format_eth(wei)} ETH"
