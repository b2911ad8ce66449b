"""Section 7, economics of the dispute game (version 2): does cheating pay, does verifying pay, and what
does an hour of delay cost a griefer?

A seeded Monte Carlo over many jobs next to the closed-form expectation of the same quantity. The
game's rules are docs/dispute-game.md (shared reward for every challenger live at the slash, at most
20% of a slashed stake recoverable, chess clocks, bonds that double per level of failed disputes, void
fees that cover the provider's dispute cost). Every parameter is in :class:`GameParams`; the
per-transaction gas estimates are in :data:`GAS`. What the contract states is read from the contract
itself, deployed from the ABI snapshot on anvil with each deploy profile: its DEFENCE_*_GAS constants
(:func:`contract_constants`), its least bond (checked against the model's), and a chain of voids
against an honest provider played on it (:func:`void_chains`), every fee and bound as the contract
computed it.

Money is in ETH (floats: this is a model, not the contract's integer arithmetic), the void chain's
amounts in wei as the contract paid them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import ETHER, Ctx, TxLog, account, market_for, plotting, save, table

BPS = 10_000
GWEI = 1e-9  # ETH per gwei
DAY = 86_400

# Gas per transaction of the model's other roles (estimates). The honest provider's defence is the
# contract's own defenceGas = DEFENCE_BASE_GAS + rounds·(DEFENCE_MOVE_GAS + (arity − 1)·DEFENCE_POINT_GAS),
# read from the deployed contract into GameParams (never copied here).
GAS = {
    "challenge": 150_000,
    "move": 60_000,  # one dissection move (dissect or respond), either side
    "verdict": 80_000,
    "timeout": 80_000,  # assumed as a verdict: it resolves the dispute and moves the money
    "settle": 50_000,
    "withdraw": 35_000,
}
YEAR = 365 * DAY
#: The contract's constants the model needs, by name (read with :func:`contract_constants`).
CONTRACT_CONSTANTS = ("DEFENCE_BASE_GAS", "DEFENCE_MOVE_GAS", "DEFENCE_POINT_GAS", "MAX_BOND_LEVEL")
GAS_PRICES_GWEI = (1, 10, 50)
CHEAT_RATES = (0.0, 0.01, 0.05, 0.10, 0.20)
MAX_RECOVERABLE_BPS = 2_000  # the bound challengerShareBps + requesterShareBps <= 2000
# (challengerShareBps, requesterShareBps) on the edges of that bound
SHARE_EDGES = (
    (0, 0),
    (MAX_RECOVERABLE_BPS, 0),
    (MAX_RECOVERABLE_BPS // 2, MAX_RECOVERABLE_BPS // 2),
    (0, MAX_RECOVERABLE_BPS),
)
STAKE_BPS_SETTINGS = (10_000, 20_000, 50_000)  # minStakeBps from its floor to the contract's MAX_STAKE_BPS


@dataclass(frozen=True)
class GameParams:
    """Everything the model depends on: the market's governance parameters (names as the contract's
    ``Params``, in ETH and seconds), one job's terms, and the model's own knobs."""

    # governance (contract Params)
    clock_budget: int = DAY
    move_extension: int = 3_600
    oracle_timeout: int = 2 * DAY
    reaction_time: int = DAY
    challenger_share_bps: int = 1_000
    requester_share_bps: int = 1_000
    provider_bond_share_bps: int = 5_000
    void_fee_bps: int = 1_000
    min_stake_bps: int = 10_000
    carry_bps: int = 500  # carrying cost of a delayed payout, bps a year of reward + stake
    min_stake: float = 0.1
    min_bond: float = 0.01
    oracle_fee: float = 0.002
    ref_gas_price_gwei: float = 20.0
    # the job
    reward: float = 1.0
    segments: int = 20  # n = T / k
    interval: int = 128  # k
    arity: int = 2
    replay_cost_per_segment: float = 0.025  # ETH of compute to train (or replay) one segment
    # the model
    jobs: int = 2_000
    seed: int = 11
    max_sybils: int = 2_000
    provider_response_s: float = 600.0  # an honest provider answers each move within this (uniform)
    oracle_response_s: float = 3_600.0  # an answering oracle votes within this (uniform)
    # the contract's defenceGas constants: 0 until read from the deployed contract (with_contract)
    defence_base_gas: int = 0
    defence_move_gas: int = 0
    defence_point_gas: int = 0

    @property
    def stake(self) -> float:
        """The smallest stake the contract accepts: ``max(minStake, reward·minStakeBps/BPS)``."""
        return max(self.min_stake, self.reward * self.min_stake_bps / BPS)

    @property
    def rounds(self) -> int:
        """``ceil(log_arity k)``, counted as the contract does."""
        rounds, reach = 0, 1
        while reach < self.interval:
            reach *= self.arity
            rounds += 1
        return rounds

    @property
    def defence_gas(self) -> int:
        """The contract's ``defenceGas(k, arity)`` from its constants (read by :func:`with_contract`)."""
        if not self.defence_base_gas:
            raise ValueError("the contract's DEFENCE_*_GAS constants were not read (with_contract)")
        return self.defence_base_gas + self.rounds * (self.defence_move_gas + (self.arity - 1) * self.defence_point_gas)

    @property
    def dispute_cost(self) -> float:
        """What one false segment dispute costs the honest provider: its defence gas at refGasPrice plus
        the carrying cost of reward + stake over Dmax + reactionTime at carryBps a year."""
        carry = (self.reward + self.stake) * self.carry_bps / BPS * (self.dmax + self.reaction_time) / YEAR
        return self.defence_gas * self.ref_gas_price_gwei * GWEI + carry

    @property
    def bond(self) -> float:
        """``minBondFor(R, S, k, arity)``: the oracle fee plus the dispute cost grossed up by the
        provider's share of a forfeit, at least minBond."""
        return max(self.min_bond, self.oracle_fee + self.dispute_cost * BPS / self.provider_bond_share_bps)

    @property
    def void_fee(self) -> float:
        """What a void of a dispute at the job's base bond pays the provider."""
        return min(self.bond, max(self.bond * self.void_fee_bps / BPS, self.dispute_cost))

    @property
    def dmax(self) -> int:
        """Worst-case dispute duration: ``2·(clockBudget + rounds·moveExtension) + oracleTimeout``."""
        return 2 * (self.clock_budget + self.rounds * self.move_extension) + self.oracle_timeout

    @property
    def training_cost(self) -> float:
        return self.segments * self.replay_cost_per_segment


# The v2 deploy profiles of crucible/deploy.py, mirrored field for field until that file carries the
# v2 fields; from then on :func:`profiles` reads them from it.
PROFILES = {
    "default": GameParams(),
    "devnet": GameParams(
        clock_budget=60,
        move_extension=30,
        oracle_timeout=60,
        reaction_time=30,
        void_fee_bps=500,
        min_stake=0.01,
        min_bond=0.001,
        oracle_fee=0.0001,
        ref_gas_price_gwei=1.0,
        provider_response_s=5.0,
        oracle_response_s=20.0,
    ),
}


def with_contract(p: GameParams, constants: dict[str, int]) -> GameParams:
    """``p`` with the contract's defenceGas constants."""
    return replace(
        p,
        defence_base_gas=constants["DEFENCE_BASE_GAS"],
        defence_move_gas=constants["DEFENCE_MOVE_GAS"],
        defence_point_gas=constants["DEFENCE_POINT_GAS"],
    )


def params_from_market(market: Any, base: GameParams) -> GameParams:
    """``base`` with the governance fields of a deploy ``MarketParams`` (wei → ETH) where it has them."""
    wei = {"min_stake", "min_bond", "oracle_fee"}
    updates: dict[str, Any] = {}
    for name in GameParams.__dataclass_fields__:
        if hasattr(market, name):
            updates[name] = getattr(market, name) / 1e18 if name in wei else getattr(market, name)
    if hasattr(market, "ref_gas_price"):
        updates["ref_gas_price_gwei"] = market.ref_gas_price / 1e9
    return replace(base, **updates)


def profiles() -> dict[str, GameParams]:
    """The deploy profiles of this checkout when they carry the v2 fields, else the mirrored ones."""
    from crucible.devnet import deploy

    if "clock_budget" not in getattr(deploy.MarketParams, "__dataclass_fields__", {}):
        return dict(PROFILES)
    return {name: params_from_market(deploy.PROFILES[name], base) for name, base in PROFILES.items()}


# ------------------------------------------------------------------------------------------ detection


@dataclass(frozen=True)
class Forgery:
    """What a cheater forges: ``segments`` of the n segments, or one step of one segment."""

    name: str
    segments: int
    one_step: bool = False

    def saved(self, p: GameParams) -> float:
        """Compute the cheater does not spend (one forged step saves 1/k of a segment)."""
        per_segment = p.replay_cost_per_segment / p.interval if self.one_step else p.replay_cost_per_segment
        return self.segments * per_segment


def forgeries(n: int) -> list[Forgery]:
    return [
        Forgery("one step", 1, one_step=True),
        Forgery("1 segment", 1),
        Forgery(f"{n // 4} segments (25%)", n // 4),
        Forgery(f"all {n} segments", n),
    ]


def q_values(n: int) -> list[int]:
    return sorted({q for q in (1, 2, 4) if q < n} | {n})


def detect_probability(n: int, forged: int, q: int) -> float:
    """One auditor replaying q of n segments drawn without replacement catches one of ``forged``:
    ``1 − C(n − forged, q)/C(n, q)`` (≥ 1 − (1 − f)^q, the with-replacement figure; 1 at q = n)."""
    if forged <= 0 or q <= 0:
        return 0.0
    return 1.0 - math.comb(n - forged, q) / math.comb(n, q)


def simulate_detections(rng: random.Random, n: int, forged: int, q: int, jobs: int, auditors: int) -> list[int]:
    """Per job, how many of ``auditors`` independent auditors (each sampling q of n segments)
    hit one of ``forged`` segments the cheater chose at random."""
    out = []
    for _ in range(jobs):
        bad = set(rng.sample(range(n), forged))
        out.append(sum(1 for _ in range(auditors) if not bad.isdisjoint(rng.sample(range(n), q))))
    return out


def binomial(k: int, trials: int, p: float) -> float:
    return math.comb(trials, k) * p**k * (1 - p) ** (trials - k)


# ---------------------------------------------------------------------------------- the cheater


def best_sybils(pool: float, honest: int, cost_each: float, cap: int) -> int:
    """The number of own challengers that maximizes ``pool·m/(m + honest) − m·cost_each``."""
    if pool <= 0 or honest == 0 and cost_each >= pool:
        return 0
    if honest == 0:
        return 1
    guess = math.sqrt(pool * honest / cost_each) - honest if cost_each > 0 else cap
    candidates = {0, cap, *(max(0, min(cap, int(guess) + d)) for d in (-1, 0, 1, 2))}
    return max(candidates, key=lambda m: pool * m / (m + honest) - m * cost_each)


def strategies(p: GameParams, forgery: Forgery, gas_price_gwei: float) -> dict[str, Callable[[int], float]]:
    """Each cheating strategy's excess payoff over honest work, as a function of how many honest
    auditors caught the forgery (0: not caught)."""
    gp = gas_price_gwei * GWEI
    S, R, c = p.stake, p.reward, p.challenger_share_bps / BPS
    saved = forgery.saved(p)
    slashed = saved - R - S  # not paid, stake gone, compute saved
    sybil_gas = (GAS["challenge"] + GAS["settle"] + GAS["withdraw"]) * gp  # its bond comes back
    decoy_lost = p.bond * (1 - p.provider_bond_share_bps / BPS)  # challenger timeout: provider share returns
    decoy_gas = (GAS["challenge"] + GAS["move"] + GAS["timeout"] + GAS["withdraw"]) * gp

    def plain(h: int) -> float:  # defends the lie through the dissection, loses at the oracle
        return saved if h == 0 else slashed - p.rounds * GAS["move"] * gp

    def silence(h: int) -> float:  # never answers a challenge: slashed by its clock (no oracle fee)
        return saved if h == 0 else slashed

    def sybils(h: int) -> float:  # on seeing a challenge, opens m own challenges, then goes silent
        if h == 0:
            return saved
        m = best_sybils(c * S, h, sybil_gas, p.max_sybils)
        return slashed + c * S * m / (m + h) - m * sybil_gas

    def self_first(h: int) -> float:  # version 1's attack: its accomplice challenges first, always slashed
        m = best_sybils(c * S, h, sybil_gas, p.max_sybils) if h else 1
        return slashed + c * S * m / (m + h) - m * sybil_gas

    def decoys(d: int) -> Callable[[int], float]:  # d false challenges opened at once; live at a slash they share
        def payoff(h: int) -> float:
            if h == 0:
                return saved - d * (decoy_lost + decoy_gas)
            m = max(d, best_sybils(c * S, h, sybil_gas, p.max_sybils))  # topped up with sybils when caught
            return slashed + c * S * m / (m + h) - m * sybil_gas

        return payoff

    out: dict[str, Callable[[int], float]] = {
        "plain (defend, lose at the oracle)": plain,
        "silence": silence,
        "sybils after a challenge + silence": sybils,
        "self-challenge first": self_first,
    }
    for d in (1, 4, 16):
        out[f"{d} decoy{'s' if d > 1 else ''} + silence"] = decoys(d)
    return out


def recovered_when_caught(p: GameParams, gas_price_gwei: float, honest: int) -> float:
    """What the cheater's own accounts recover of the slashed stake under its best response."""
    S, c = p.stake, p.challenger_share_bps / BPS
    sybil_gas = (GAS["challenge"] + GAS["settle"] + GAS["withdraw"]) * gas_price_gwei * GWEI
    m = best_sybils(c * S, honest, sybil_gas, p.max_sybils)
    return c * S * m / (m + honest) - m * sybil_gas if m else 0.0


def worst_case_loss_fraction(p: GameParams, by_verdict: bool) -> float:
    """The part of the stake that leaves the cheater when the requester and every challenger are its own."""
    S = p.stake
    F = p.oracle_fee if by_verdict else 0.0
    kept = (S - F) * (p.challenger_share_bps + p.requester_share_bps) / BPS
    return (S - kept) / S


def cheater_cell(
    p: GameParams, forgery: Forgery, q: int, gas_price_gwei: float, detections: list[int], auditors: int
) -> dict[str, Any]:
    """Every strategy's expected excess (Monte Carlo over ``detections`` and closed form), the best one."""
    det_p = detect_probability(p.segments, forgery.segments, q)
    jobs = len(detections)
    counts = [detections.count(h) for h in range(auditors + 1)]  # a payoff depends on the job only through h
    rows = {}
    for name, payoff in strategies(p, forgery, gas_price_gwei).items():
        values = [payoff(h) for h in range(auditors + 1)]
        mc = sum(n * v for n, v in zip(counts, values, strict=True)) / jobs
        spread = sum(n * (v - mc) ** 2 for n, v in zip(counts, values, strict=True)) / (jobs - 1)
        se = math.sqrt(spread / jobs)
        closed = sum(binomial(h, auditors, det_p) * payoff(h) for h in range(auditors + 1))
        rows[name] = {"mc": mc, "mc_se": se, "closed": closed}
    best = max(rows, key=lambda name: rows[name]["closed"])
    caught_h = 1  # loss fraction with one honest challenger (the fewest that catches it)
    recovered = recovered_when_caught(p, gas_price_gwei, caught_h)
    return {
        "forgery": forgery.name,
        "q": q,
        "gas_gwei": gas_price_gwei,
        "detect_p": det_p,
        "detect_p_mc": sum(1 for h in detections if h) / len(detections),
        "strategies": rows,
        "best": best,
        "best_mc": rows[best]["mc"],
        "best_mc_se": rows[best]["mc_se"],
        "best_closed": rows[best]["closed"],
        "break_even_value": (
            None if det_p >= 1 else max(0.0, -rows[best]["closed"]) / (1 - det_p)
        ),  # the largest private value of an undetected forgery (a backdoor) that still does not pay
        "loss_fraction_caught": (p.stake - recovered) / p.stake,
    }


def cheater_tables(p: GameParams, rng: random.Random) -> dict[str, Any]:
    """The cheater's best strategy at each share setting on the bound's edges, audited by the requester alone."""
    n = p.segments
    auditors = 1  # the requester, the verifier of last resort; third-party verifiers only add detection
    detections = {
        (f.name, q): simulate_detections(rng, n, f.segments, q, p.jobs, auditors)
        for f in forgeries(n)
        for q in q_values(n)
    }
    settings = []
    for c_bps, r_bps in SHARE_EDGES:
        sp = replace(p, challenger_share_bps=c_bps, requester_share_bps=r_bps)
        cells, loss_fractions = [], []
        for f in forgeries(n):
            for q in q_values(n):
                by_gas = [cheater_cell(sp, f, q, g, detections[(f.name, q)], auditors) for g in GAS_PRICES_GWEI]
                loss_fractions += [c["loss_fraction_caught"] for c in by_gas]
                cells.append(max(by_gas, key=lambda c: c["best_closed"]))  # the gas price that suits the cheater
        settings.append(
            {
                "challenger_share_bps": c_bps,
                "requester_share_bps": r_bps,
                "cells": cells,
                "max_best_excess": max(c["best_closed"] for c in cells),
                "max_best_excess_mc": max(c["best_mc"] for c in cells),
                "min_loss_fraction_caught": min(loss_fractions),
                "worst_case_loss_fraction_timeout": worst_case_loss_fraction(sp, by_verdict=False),
                "worst_case_loss_fraction_verdict": worst_case_loss_fraction(sp, by_verdict=True),
            }
        )
    one_step = forgeries(n)[0]
    stake_role = [
        {
            "min_stake_bps": bps,
            "stake": replace(p, min_stake_bps=bps).stake,
            "break_even_value": {
                str(q): cheater_cell(
                    replace(p, min_stake_bps=bps), one_step, q, GAS_PRICES_GWEI[0], detections[(one_step.name, q)], 1
                )["break_even_value"]
                for q in q_values(n)
            },
        }
        for bps in STAKE_BPS_SETTINGS
    ]
    return {"auditors": "requester alone", "settings": settings, "stake_role": stake_role}


# ---------------------------------------------------------------------------------- the verifier


def verifier_tables(p: GameParams, rng: random.Random) -> dict[str, Any]:
    """An honest third-party verifier auditing every job (q segments each) beside the requester."""
    n, S, R = p.segments, p.stake, p.reward
    c, r = p.challenger_share_bps / BPS, p.requester_share_bps / BPS
    pool = c * S  # the cheater goes silent when caught: slashed by its clock, no oracle fee
    cases = [f for f in forgeries(n) if not f.one_step and f.segments in (1, n)]
    rows = []
    for forgery in cases:
        for q in q_values(n):
            det_p = detect_probability(n, forgery.segments, q)
            jobs = []  # (cheat draw, verifier caught, requester caught) per job
            for _ in range(p.jobs):
                bad = set(rng.sample(range(n), forgery.segments))
                u = rng.random()
                v = not bad.isdisjoint(rng.sample(range(n), q))
                req = not bad.isdisjoint(rng.sample(range(n), q))
                jobs.append((u, v, req))
            for rate in CHEAT_RATES:
                for g in GAS_PRICES_GWEI:
                    gp = g * GWEI
                    sybil_gas = (GAS["challenge"] + GAS["settle"] + GAS["withdraw"]) * gp
                    win_gas = (GAS["challenge"] + GAS["timeout"] + GAS["withdraw"]) * gp
                    replay = q * p.replay_cost_per_segment

                    # the verifier's part of the pool, by whether the requester caught it too
                    part = {
                        req: pool / (1 + req + best_sybils(pool, 1 + req, sybil_gas, p.max_sybils)) for req in (0, 1)
                    }

                    mc_income = mc_gas = 0.0
                    for u, v, req in jobs:
                        if u < rate and v:
                            mc_income += part[req]
                            mc_gas += win_gas
                    mc_income /= p.jobs
                    mc_gas /= p.jobs
                    closed_income = rate * det_p * (det_p * part[1] + (1 - det_p) * part[0])
                    closed_gas = rate * det_p * win_gas
                    # the requester's side: its audit costs q/n of the training; what it saves is the escrow
                    # it would have paid for a forged (worthless) model plus its share of the stake, less its gas
                    req_saved = rate * det_p * (R + r * S - win_gas)
                    rows.append(
                        {
                            "forgery": forgery.name,
                            "q": q,
                            "cheat_rate": rate,
                            "gas_gwei": g,
                            "detect_p": det_p,
                            "income_mc": mc_income,
                            "income_closed": closed_income,
                            "replay_cost": replay,
                            "gas_cost_mc": mc_gas,
                            "profit_mc": mc_income - replay - mc_gas,
                            "profit_closed": closed_income - replay - closed_gas,
                            "share_per_catch": part[0],
                            "requester_audit_cost": replay,
                            "requester_audit_cost_of_training": q / n,
                            "requester_loss_avoided": req_saved,
                        }
                    )
    return {"pool": pool, "rows": rows}


# ---------------------------------------------------------------------------------- the griefer


def one_false_dispute(p: GameParams, rng: random.Random, oracle_answers: bool) -> float:
    """Seconds from a false challenge opened one second before the window closes to the payout it
    delays: the honest provider answers each move within ``provider_response_s``, the griefer moves at
    the last second of each of its turns, the oracle answers (or not: a void at the oracle timeout)."""
    t, provider_used, griefer_used = 0.0, 0.0, 0.0
    for _ in range(p.rounds):
        allowance = max(p.clock_budget - provider_used, p.move_extension)
        took = min(rng.uniform(0, p.provider_response_s), allowance - 1)
        provider_used += took
        allowance = max(p.clock_budget - griefer_used, p.move_extension)
        griefer_used += allowance - 1
        t += took + allowance - 1
    t += min(rng.uniform(0, p.oracle_response_s), p.oracle_timeout - 1) if oracle_answers else p.oracle_timeout
    return t + p.reaction_time - 1  # windowEnd becomes end + reactionTime; it was due 1 s after the challenge


def griefer_tables(profile_params: dict[str, GameParams], rng: random.Random, campaigns: int) -> dict[str, Any]:
    rows = []
    for profile, base in profile_params.items():
        for arity in (2, 16):
            p = replace(base, arity=arity)
            span = p.dmax + p.reaction_time
            void_fee = p.void_fee
            false_delays = [one_false_dispute(p, rng, True) for _ in range(campaigns)]
            void_delays = [one_false_dispute(p, rng, False) for _ in range(campaigns)]
            for g in GAS_PRICES_GWEI:
                gp = g * GWEI
                griefer_gas = (GAS["challenge"] + p.rounds * GAS["move"]) * gp
                void_gas = griefer_gas + GAS["withdraw"] * gp
                false_cost = p.bond + griefer_gas
                void_cost = void_fee + void_gas
                compensation = (p.bond - p.oracle_fee) * p.provider_bond_share_bps / BPS
                rows.append(
                    {
                        "profile": profile,
                        "arity": arity,
                        "rounds": p.rounds,
                        "gas_gwei": g,
                        "dmax_s": p.dmax,
                        "span_s": span,
                        "bond": p.bond,
                        "void_fee": void_fee,
                        "false_per_hour_bound": p.bond * 3600 / span,
                        "false_per_hour_with_gas": false_cost * 3600 / span,
                        "false_per_hour_mc": sum(false_cost * 3600 / d for d in false_delays) / campaigns,
                        "void_per_hour_bound": void_fee * 3600 / span,
                        "void_per_hour_with_gas": void_cost * 3600 / span,
                        "void_per_hour_mc": sum(void_cost * 3600 / d for d in void_delays) / campaigns,
                        "false_delay_mc_s": sum(false_delays) / campaigns,
                        "void_delay_mc_s": sum(void_delays) / campaigns,
                        "provider_compensation": compensation,
                        "provider_defence_cost": p.defence_gas * gp,
                    }
                )
    return {"campaigns": campaigns, "rows": rows}


# ---------------------------------------------------------------------------------- the contract

VOID_CHAIN = 20  # voids in a row against one honest provider (the chain)
CHAIN_MARKS = (1, 5, 10, 20)  # rows of the table: the chain after this many voids
JOB_SIZES = (1, 100)  # reward = stake, ETH
VOID_ARITIES = (2, 16)
CHAIN_K, CHAIN_SEGMENTS = 128, 8
ROLE_ACCOUNTS = {"requester": 11, "provider": 12, "griefer": 13, "oracle": 14}  # anvil's 20 dev accounts


def contract_constants(market: Any) -> dict[str, int]:
    """The constants of the deployed contract the model needs (:data:`CONTRACT_CONSTANTS`)."""
    return {name: int(market.call(name)) for name in CONTRACT_CONSTANTS}


def deploy_profiles(ctx: Ctx) -> dict[str, str]:
    """One market per deploy profile on the run's anvil (from the ABI snapshot, as ``devnet up``
    deploys it); its only oracle never votes, so every dispute voids. Returns the addresses."""
    from crucible.chain.rpc import connect
    from crucible.chain.signer import Signer
    from crucible.devnet.deploy import PROFILES as DEPLOY_PROFILES
    from crucible.devnet.deploy import deploy_market

    w3 = connect(ctx.anvil().url)
    oracle = account(ROLE_ACCOUNTS["oracle"]).address
    return {
        name: deploy_market(Signer(w3, account(ROLE_ACCOUNTS["requester"])), params, [oracle], 1)[0]
        for name, params in DEPLOY_PROFILES.items()
    }


def _chain_now(url: str) -> int:
    from crucible.devnet.nodes import rpc_call

    return int(rpc_call(url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def _advance_to(url: str, t: int, *, mine: bool = True) -> None:
    """The next block at ``t`` (or the next second if that has passed): mined now, or (``mine`` False)
    the block the next transaction lands in."""
    from crucible.devnet.nodes import rpc_call

    rpc_call(url, "evm_setNextBlockTimestamp", [max(t, _chain_now(url) + 1)])
    if mine:
        rpc_call(url, "evm_mine")


def void_chain(url: str, address: str, size: int, arity: int, voids: int) -> dict[str, Any]:
    """A griefer opens ``voids`` disputes in a row against an honest provider of a job with reward =
    stake = ``size`` ETH (k = 128), each at the window's last second; nobody votes, the provider
    voids each with ``timeout`` and is paid after the last. Every figure is the contract's: the bond
    it asked (``bondFor``), the hourly floor it stated before each dispute (``delayCostPerHour``),
    the payout bound it moved, the void fee it paid (``DisputeVoided``)."""
    from eth_hash.auto import keccak

    from crucible.chain.market import JobTerms
    from crucible.devnet.nodes import rpc_call
    from crucible.protocol import merkle
    from crucible.store.ipfs import digest_to_cid

    log = TxLog()
    m = {role: market_for(url, address, account(i), log) for role, i in ROLE_ACCOUNTS.items() if role != "oracle"}
    rpc_call(url, "anvil_setBalance", [m["griefer"].signer.address, hex(2**110)])  # type: ignore[union-attr]
    reward = stake = size * ETHER
    params = m["requester"].params()
    k, n = CHAIN_K, CHAIN_SEGMENTS
    cid = digest_to_cid(keccak(f"void-chain {size} {arity} {_chain_now(url)}".encode()))
    bond = m["requester"].min_bond_for(reward, stake, k, arity)
    job_id = m["requester"].post_job(
        JobTerms(cid, stake, bond, params["min_duration"], params["min_challenge_window"], k, k * n, arity, False),
        reward=reward,
    )
    m["provider"].deposit_stake(stake)
    m["provider"].claim_job(job_id)
    hashes = [keccak(b"honest" + (i * k).to_bytes(8, "big")) for i in range(n + 1)]
    m["provider"].submit_result(
        job_id,
        trace_root=merkle.root([merkle.leaf(i * k, h) for i, h in enumerate(hashes)]),
        final_state_hash=hashes[-1],
        manifest_cid=cid,
        final_model_cid=cid,
    )
    job = m["provider"].job(job_id)
    due = job.window_end  # when it is paid without a dispute
    span = m["provider"].dispute_duration_bound(job_id) + params["reaction_time"]
    rounds = m["provider"].rounds_for(k, arity)
    defence_gas = m["provider"].defence_gas(k, arity)
    carry = -(-(reward + stake) * params["carry_bps"] * span // (BPS * YEAR))
    steps = []
    for _ in range(voids):
        bond_now, stated = m["griefer"].bond_for(job_id), m["griefer"].delay_cost_per_hour(job_id)
        before = m["griefer"].payout_bound(job_id)
        _advance_to(url, m["provider"].job(job_id).window_end - 1, mine=False)  # the window's last second
        dispute_id = m["griefer"].challenge_manifest(job_id, bond_now)
        bought = m["griefer"].payout_bound(job_id) - before
        _advance_to(url, m["provider"].dispute_deadline(dispute_id))
        receipt = m["provider"].timeout(dispute_id)
        (voided,) = m["provider"].events("DisputeVoided", receipt)
        steps.append({"bond": bond_now, "stated_per_hour": stated, "bought_s": bought, "void_fee": voided["voidFee"]})
    _advance_to(url, m["provider"].payout_bound(job_id))
    paid_at = _chain_now(url) + 1
    _advance_to(url, paid_at)
    m["provider"].finalize_job(job_id)
    provider_got = m["provider"].collect_credit()
    griefer_back = m["griefer"].collect_credit()
    market = m["provider"]
    assert market.balance() == market.total_liabilities(), "balance == liabilities after the chain"
    fees = [s["void_fee"] for s in steps]
    assert provider_got == reward + sum(fees), (provider_got, reward, fees)
    assert griefer_back == sum(s["bond"] for s in steps) - sum(fees)
    return {
        "size_eth": size,
        "arity": arity,
        "rounds": rounds,
        "span_s": span,
        "base_bond": bond,
        "void_fee_bps": params["void_fee_bps"],
        "defence_gas": defence_gas,
        "ref_gas_price": params["ref_gas_price"],
        "dispute_cost": defence_gas * params["ref_gas_price"] + carry,
        "carry_per_hour": (reward + stake) * params["carry_bps"] * 3600 / (BPS * YEAR),
        "steps": steps,
        "delay_measured_s": paid_at - due,  # Manifest disputes: oracleTimeout + reactionTime each
        "provider_paid": provider_got,
        "griefer_gas": sum(r.gas for r in log.records if r.what == "challengeManifest"),
    }


def void_chains(ctx: Ctx, markets: dict[str, str], voids: int) -> list[dict[str, Any]]:
    url = ctx.anvil().url
    out = []
    for profile, address in markets.items():
        for size in JOB_SIZES:
            for arity in VOID_ARITIES:
                ctx.log(f"  economics: void chain, {profile}, {size} ETH job, arity {arity}")
                out.append({"profile": profile, **void_chain(url, address, size, arity, voids)})
    return out


def chain_rows(chain: dict[str, Any], marks: tuple[int, ...] = CHAIN_MARKS) -> list[dict[str, Any]]:
    """The chain after each of ``marks`` voids: what the griefer paid, the most delay it bought (each
    dispute at most Dmax + reactionTime, a segment dispute stalled to its bound), its cost per hour
    there against the floor the contract stated before the first, delay per ETH now and under the
    former rule (a flat voidFeeBps of the base bond), and the provider's pay against its costs."""
    steps, span = chain["steps"], chain["span_s"]
    rows = []
    for n in marks:
        if n > len(steps):
            continue
        fees = sum(s["void_fee"] for s in steps[:n]) / ETHER
        flat = n * chain["base_bond"] * chain["void_fee_bps"] / BPS / ETHER
        delay = n * span
        rows.append(
            {
                "voids": n,
                "last_bond": steps[n - 1]["bond"] / ETHER,
                "griefer_cost": fees,
                "delay_bound_s": delay,
                "cost_per_hour_bound": fees * 3600 / delay,
                "stated_per_hour": steps[0]["stated_per_hour"] / ETHER,
                "least_stated_per_hour": min(s["stated_per_hour"] for s in steps[:n]) / ETHER,
                "carry_per_hour": chain["carry_per_hour"] / ETHER,
                "delay_days_per_eth": delay / DAY / fees,
                "former_delay_days_per_eth": delay / DAY / flat,
                "least_fee_over_cost": min(s["void_fee"] for s in steps[:n]) / chain["dispute_cost"],
                "least_fee_over_defence_50gwei": min(s["void_fee"] for s in steps[:n])
                / (chain["defence_gas"] * 50 * 10**9),
            }
        )
    return rows


# ---------------------------------------------------------------------------------- the section


def run(ctx: Ctx, jobs: int | None = None, seed: int | None = None) -> dict[str, Any]:
    from crucible.chain.market import Market
    from crucible.chain.rpc import connect

    markets = deploy_profiles(ctx)
    w3 = connect(ctx.anvil().url)
    deployed = {name: Market(w3, address) for name, address in markets.items()}
    constants = contract_constants(deployed["default"])
    profile_params = {name: with_contract(p, constants) for name, p in profiles().items()}
    bond_check = []  # the model's least bond against the contract's minBondFor
    for name, pp in profile_params.items():
        for arity in VOID_ARITIES:
            q = replace(pp, arity=arity)
            wei = deployed[name].min_bond_for(int(q.reward * ETHER), int(q.stake * ETHER), q.interval, arity)
            bond_check.append({"profile": name, "arity": arity, "model": q.bond, "contract": wei / ETHER})
    p = profile_params["default"]
    p = replace(p, jobs=jobs or (400 if ctx.quick else p.jobs), seed=p.seed if seed is None else seed)
    rng = random.Random(p.seed)
    ctx.log(f"  economics: {p.jobs} jobs per cell, seed {p.seed}")
    return {
        "params": {
            **asdict(p),
            "stake": p.stake,
            "bond": p.bond,
            "rounds": p.rounds,
            "dmax_s": p.dmax,
            "training_cost": p.training_cost,
        },
        "devnet_params": asdict(profile_params["devnet"]),
        "gas": dict(GAS),
        "contract_constants": constants,
        "bond_check": bond_check,
        "void_chains": void_chains(ctx, markets, 10 if ctx.quick else VOID_CHAIN),
        "cheater": cheater_tables(p, rng),
        "verifier": verifier_tables(p, rng),
        "griefer": griefer_tables(profile_params, rng, campaigns=max(50, p.jobs // 10)),
    }


def render_void_chains(result: dict[str, Any]) -> list[str]:
    """The void chain played on the contract, as a table (docs/dispute-game.md §1.5)."""
    chains = result["void_chains"]
    rows = []
    for c in chains:
        for r in chain_rows(c):
            rows.append(
                (
                    c["profile"],
                    f"{c['size_eth']:g} + {c['size_eth']:g}",
                    c["arity"],
                    r["voids"],
                    f"{r['last_bond']:.4g}",
                    f"{r['griefer_cost']:.4g}",
                    _hours(r["delay_bound_s"])
                    if r["delay_bound_s"] < 10 * DAY
                    else f"{r['delay_bound_s'] / DAY:.1f} d",
                    f"{r['cost_per_hour_bound']:.3e} ≥ {r['stated_per_hour']:.3e}"
                    + (" ✓" if r["cost_per_hour_bound"] >= r["least_stated_per_hour"] * (1 - 1e-9) else " ✗"),
                    f"{r['carry_per_hour']:.2e}",
                    f"{r['delay_days_per_eth']:.3g} / {r['former_delay_days_per_eth']:.3g}",
                    f"{r['least_fee_over_cost']:.2f} / {r['least_fee_over_defence_50gwei']:.2f}",
                )
            )
    first = next(c for c in chains if c["profile"] == "default" and c["size_eth"] == 1 and c["arity"] == 2)
    h = chain_rows(first)[-1]
    return [
        "#### A chain of voids against an honest provider, played on the contract",
        "",
        "Each profile's market deployed from the ABI snapshot on anvil; a job of reward R and stake S (k = 128); "
        f"a griefer opens {len(first['steps'])} disputes in a row, each at the window's last second, at the bond "
        "the contract asks (`bondFor`); no oracle answers, the provider voids each with `timeout` and is paid "
        "after the last (the run asserts it is credited R plus every void fee, the griefer gets the rest of its "
        "bonds back, and the balance equals the liabilities). Each dispute buys at most Dmax + reactionTime "
        "(a segment dispute stalled to its bound; the Manifest disputes played here buy oracleTimeout + "
        "reactionTime). Columns: the bond of the last dispute (ETH); what the griefer paid (ETH, void fees only: "
        "its gas is on top); the most delay the chain bought; its cost per hour there against the floor "
        "`delayCostPerHour` stated before its first dispute (ETH/h; ✓: never below what the contract stated "
        "before any of its disputes); the carrying cost of R + S per hour at carryBps; delay bought per ETH "
        "(days), now / under the former rule (a flat voidFeeBps of the same base bond per void); the provider's "
        "least void fee over its dispute cost (defence gas at refGasPrice + carrying cost) / over its defence "
        "gas at 50 gwei.",
        "",
        table(
            [
                "profile",
                "R + S (ETH)",
                "arity",
                "voids",
                "last bond",
                "griefer paid",
                "delay (bound)",
                "per hour vs stated",
                "carry per hour",
                "days per ETH (now / former)",
                "provider: fee / cost, / defence at 50 gwei",
            ],
            rows,
        ),
        "",
        f"Default profile, 1 + 1 ETH job, arity 2: {h['voids']} voids cost the griefer {h['griefer_cost']:.4g} ETH "
        f"for at most {h['delay_bound_s'] / DAY:.0f} days of delay, {h['delay_days_per_eth']:.3g} days per ETH "
        f"(the former rule: {h['former_delay_days_per_eth']:.3g} days per ETH); the contract stated "
        f"{h['stated_per_hour']:.3e} ETH per hour before the first, the chain cost {h['cost_per_hour_bound']:.3e}. "
        "Every void paid the provider at least its dispute cost at the reference gas price; at 50 gwei the first "
        "voids of a small job pay less than the defence gas (the bond is sized at refGasPrice).",
    ]


def headline(result: dict[str, Any]) -> dict[str, Any]:
    settings = result["cheater"]["settings"]
    zero = [r for r in result["verifier"]["rows"] if r["cheat_rate"] == 0]
    grief = {r["profile"]: r for r in result["griefer"]["rows"] if r["arity"] == 2 and r["gas_gwei"] == 10}
    cells = [c for s in settings for c in s["cells"]]
    return {
        "max_mc_sigma": max(abs(c["best_mc"] - c["best_closed"]) / max(c["best_mc_se"], 1e-12) for c in cells),
        "max_cheater_excess": max(s["max_best_excess"] for s in settings),
        "max_cheater_excess_mc": max(s["max_best_excess_mc"] for s in settings),
        "min_loss_fraction": min(
            min(s["min_loss_fraction_caught"], s["worst_case_loss_fraction_timeout"]) for s in settings
        ),
        "verifier_income_at_zero": max(max(r["income_mc"], r["income_closed"]) for r in zero),
        "grief_per_hour": {name: r["false_per_hour_bound"] for name, r in grief.items()},
        "void_chain": {
            c["profile"]: chain_rows(c)[-1] for c in result["void_chains"] if c["size_eth"] == 1 and c["arity"] == 2
        },
    }


def _eth(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:+.4f}" if abs(x) >= 1e-3 else f"{x:+.2e}"


def _break_even(vrows: list[dict[str, Any]], kind: str, q: int) -> str:
    """The cheat rate at which a third-party verifier's income pays its replay cost and gas (10 gwei)."""
    r = next(
        row
        for row in vrows
        if row["forgery"] == kind and row["q"] == q and row["cheat_rate"] == CHEAT_RATES[-1] and row["gas_gwei"] == 10
    )
    gas = r["income_closed"] - r["replay_cost"] - r["profit_closed"]
    margin = (r["income_closed"] - gas) / r["cheat_rate"]  # net income per unit of cheat rate
    if margin <= 0:
        return f"q = {q}: never"
    rate = r["replay_cost"] / margin
    return f"q = {q}: {rate:.0%}" + (" (never)" if rate > 1 else "")


def _value(v: float | None) -> str:
    return "any value (p = 1)" if v is None else f"{v:.3f} ETH"


def _hours(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s:.0f} s"


def render(result: dict[str, Any], plots: Path) -> str:
    p = result["params"]
    n, qs = p["segments"], q_values(p["segments"])
    settings = result["cheater"]["settings"]
    h = headline(result)
    gas_line = ", ".join(f"{k} {v:,}" for k, v in result["gas"].items())
    lines = [
        "## 7. Economics of the dispute game",
        "",
        "A model of the version 2 rules (docs/dispute-game.md), its contract figures read from the contract on "
        "anvil (the void chain below is played there): a seeded Monte Carlo over "
        f"{p['jobs']:,} jobs per cell (seed {p['seed']}) next to the closed-form expectation (MC / closed form). "
        f"Job: reward R = {p['reward']} ETH, n = {n} segments of k = {p['interval']} steps, arity {p['arity']} "
        f"({p['rounds']} rounds), stake at the bound S = max(minStake, R·minStakeBps/BPS) = {p['stake']} ETH "
        f"(minStakeBps {p['min_stake_bps']}), bond = minBondFor(R, S, k, arity) = {p['bond']:.4f} ETH "
        "(as the contract computes it), oracle fee "
        f"{p['oracle_fee']} ETH, provider bond share {p['provider_bond_share_bps']} bps, void fee "
        f"{p['void_fee_bps']} bps. Training (or replaying) one segment costs {p['replay_cost_per_segment']} ETH "
        f"of compute, so the job costs {p['training_cost']:.2f} ETH to train. An auditor replays "
        "q of the n segments drawn without replacement: it catches a forgery of f·n segments with probability "
        "1 − C(n − fn, q)/C(n, q) (≥ 1 − (1 − f)^q; 1 at q = n). Gas per transaction of the other roles "
        f"(estimates): {gas_line}; the provider's defence is the contract's defenceGas, from its constants "
        + ", ".join(f"{k} {v:,}" for k, v in result["contract_constants"].items())
        + f"; gas prices {', '.join(f'{g} gwei' for g in GAS_PRICES_GWEI)}.",
        "",
        "### Cheating never pays",
        "",
        "A cheater's profit is its expected payoff minus what the same job pays done honestly (what a rational "
        "provider compares). Not caught, it keeps the compute it skipped; caught, it loses the reward and the "
        "stake and recovers what its own accounts collect. Strategies: **plain** (defends the lie, loses at the "
        "oracle), **silence** (never answers; slashed by its clock, no oracle fee, so a bigger pool), **sybils** "
        "(on seeing an honest challenge, opens the number m of own challenges that maximizes its part m/(m + h) "
        "of the challenger pool net of their gas, then goes silent), **self-challenge first** (version 1's attack), "
        "**decoys** (d false challenges from accomplices at submission: lost bonds if nobody catches it, sybils if "
        "somebody does). Audited by the requester alone (the verifier of last resort; third-party verifiers only "
        "raise the detection probability). Each cell: the best strategy's expected profit per job in ETH at "
        "the gas price most favourable to the cheater (in brackets, gwei), MC / closed form.",
        "",
    ]
    for s in settings:
        cells = s["cells"]
        rows = []
        for f in forgeries(n):
            row: list[str] = [f.name]
            for q in qs:
                cell = next(c for c in cells if c["forgery"] == f.name and c["q"] == q)
                row.append(f"{_eth(cell['best_mc'])} / {_eth(cell['best_closed'])} ({cell['gas_gwei']:g})")
            best_names = sorted({c["best"] for c in cells if c["forgery"] == f.name})
            row.append(", ".join(best_names))
            rows.append(row)
        lines += [
            f"**challengerShareBps {s['challenger_share_bps']}, requesterShareBps {s['requester_share_bps']}** "
            f"(largest expected profit of any cell: {_eth(s['max_best_excess'])} ETH; loss when caught by one "
            f"honest challenger ≥ {s['min_loss_fraction_caught']:.1%} of the stake; if the requester and every "
            f"challenger are the cheater's own: {s['worst_case_loss_fraction_timeout']:.1%} (slash by clock), "
            f"{s['worst_case_loss_fraction_verdict']:.1%} (by verdict))",
            "",
            table(["forgery", *(f"q = {q}" for q in qs), "best strategy"], rows),
            "",
        ]
    default = next(s for s in settings if s["challenger_share_bps"] == p["challenger_share_bps"])
    one = [c for c in default["cells"] if c["forgery"] == "one step"]
    stake_rows = [
        (
            row["min_stake_bps"],
            f"{row['stake']:g} ETH",
            *(_value(row["break_even_value"][str(q)]) for q in qs),
        )
        for row in result["cheater"]["stake_role"]
    ]
    lines += [
        f"Headline: the largest expected profit from cheating over every share setting on the bound, forgery, q "
        f"and gas price is **{_eth(h['max_cheater_excess'])} ETH per job** (MC {_eth(h['max_cheater_excess_mc'])}): "
        "negative everywhere, because every strategy loses R + S·(1 − recovered) with probability p ≥ f while "
        "saving at most f of the training, which costs less than R; more stake only lowers it. (The Monte Carlo "
        f"agrees with the closed form within {h['max_mc_sigma']:.1f} standard errors in every cell.) For a cheater "
        "that only saves compute the forfeited reward alone would deter it; the stake is what makes a caught "
        "cheater pay the pool and the burn, and what deters one that values the forgery itself (below). "
        "A caught cheater loses at least "
        f"**{h['min_loss_fraction']:.1%}** of its stake. Sybils are the best response whenever the challenger "
        "share is positive and dilute the honest challengers' pool (see the verifier's table).",
        "",
        "The stake's own role shows for a cheater that values an undetected forgery itself (a backdoor, one "
        "forged step): such a forgery does not pay while its private value stays below "
        "−profit/(1 − p) ≈ p·(R + S)/(1 − p): at the default shares "
        + ", ".join(f"q = {c['q']}: {_value(c['break_even_value'])}" for c in one)
        + ". Raising minStakeBps raises these linearly; sampling every segment (q = n) deters any value. "
        "The largest private value (ETH) a one-step forgery may have and still not pay, by minStakeBps "
        "(default shares, 1 gwei):",
        "",
        table(["minStakeBps", "stake", *(f"q = {q}" for q in qs)], stake_rows),
        "",
    ]

    vrows = result["verifier"]["rows"]
    lines += [
        "### Does verifying pay? (the verifier's dilemma)",
        "",
        f"A third-party verifier audits every job (q segments, {p['replay_cost_per_segment']} ETH of compute "
        "each) beside the requester, which audits with the same q. On a catch it challenges (challenge + timeout "
        "+ withdraw gas; its bond comes back) and shares the challenger pool "
        f"({result['verifier']['pool']:.3f} ETH at the default shares, the cheater silent so no oracle fee) with "
        "the requester's challenge and the cheater's sybils. Per job audited, in ETH, MC / closed form, "
        "at 10 gwei (the last columns: the net profit at the other gas prices, closed form).",
        "",
    ]
    kinds = sorted({r["forgery"] for r in vrows}, key=lambda name: name != "1 segment")

    def vrow(forgery: str, q: int, rate: float, gas: int) -> dict[str, Any]:
        return next(
            r
            for r in vrows
            if r["forgery"] == forgery and r["q"] == q and r["cheat_rate"] == rate and r["gas_gwei"] == gas
        )

    verifier_rows: list[tuple[Any, ...]] = []
    for rate in CHEAT_RATES:
        for q in qs:
            line: list[Any] = [f"{rate:.0%}", q, _eth(-q * p["replay_cost_per_segment"])]
            for kind in kinds:
                r = vrow(kind, q, rate, 10)
                line += [
                    f"{r['detect_p']:.2f}",
                    f"{_eth(r['income_mc'])} / {_eth(r['income_closed'])}",
                    f"{_eth(r['profit_mc'])} / {_eth(r['profit_closed'])}",
                    " / ".join(_eth(vrow(kind, q, rate, g)["profit_closed"]) for g in GAS_PRICES_GWEI if g != 10),
                ]
            verifier_rows.append(tuple(line))
    other_gas = " / ".join(f"{g}" for g in GAS_PRICES_GWEI if g != 10)
    header: list[str] = ["cheat rate", "q", "replay cost"]
    for kind in kinds:
        header += [
            f"{kind}: P(catch) of a cheat",
            f"{kind}: income",
            f"{kind}: net (10 gwei)",
            f"{kind}: net at {other_gas} gwei",
        ]
    lines += [
        table(header, verifier_rows),
        "",
        "Break-even cheat rate for the third-party verifier at 10 gwei (net income per job grows linearly with "
        "the cheat rate: the rate at which income less gas covers the replay cost; above 100% means never): "
        + "; ".join(f"{kind}: " + ", ".join(_break_even(vrows, kind, q) for q in qs) for kind in kinds)
        + ".",
        "",
    ]
    share = next(r for r in vrows if r["cheat_rate"] > 0 and r["gas_gwei"] == 10)["share_per_catch"]
    lines += [
        "At a 0% cheat rate an honest third-party verifier earns nothing: its income is 0 and its net is minus "
        "its replay cost (the verifier's dilemma). It is paid only from fraud, and the cheater's sybils dilute "
        f"its part of the pool (at 10 gwei it gets {share:.4f} ETH per catch instead of "
        f"{result['verifier']['pool']:.3f}). **In this design the requester is the verifier of last resort**: "
        "it runs a verifier on its own jobs, paying q/n of the training, and the stake bound makes cheating "
        "unprofitable at its sampling rate (table above). What that buys it, per job in ETH (cheaters forging "
        "one segment; the loss avoided is the escrow it gets back plus its share of the stake, times the chance "
        "of a catch; with no audit every rational provider forges everything and the requester loses R on "
        "every job):",
        "",
    ]
    req_rows = []
    for q in qs:
        r_by_rate = {
            r["cheat_rate"]: r for r in vrows if r["forgery"] == "1 segment" and r["q"] == q and r["gas_gwei"] == 10
        }
        cost = r_by_rate[0.0]["requester_audit_cost"]
        req_rows.append(
            (
                q,
                f"{q}/{n} = {q / n:.0%}",
                f"{cost:.3f} ETH",
                *(f"{r_by_rate[rate]['requester_loss_avoided']:.4f}" for rate in CHEAT_RATES),
                f"{p['reward']:.2f} ETH",
            )
        )
    lines += [
        table(
            [
                "q",
                "audit cost (of training)",
                "audit cost",
                *(f"loss avoided, {rate:.0%} cheaters" for rate in CHEAT_RATES),
                "loss with no audit",
            ],
            req_rows,
        ),
        "",
        "The direct saving at a given cheat rate is small next to the audit's cost; the audit pays through "
        "deterrence: with q = 0 a forger is never caught and forging everything earns the whole training cost, "
        "so every rational provider would forge; with q ≥ 1 every forgery loses money (first table), so a "
        "rational provider does not cheat and the requester pays q/n of the training for a correct model.",
        "",
    ]

    g = result["griefer"]
    grows = []
    for r in g["rows"]:
        grows.append(
            (
                r["profile"],
                r["arity"],
                r["rounds"],
                r["gas_gwei"],
                f"{_hours(r['dmax_s'])} + {_hours(r['span_s'] - r['dmax_s'])}",
                f"{r['bond']:.5f}",
                f"**{r['false_per_hour_bound']:.2e}** / {r['false_per_hour_with_gas']:.2e} / "
                f"{r['false_per_hour_mc']:.2e}",
                f"{r['void_per_hour_bound']:.2e} / {r['void_per_hour_with_gas']:.2e} / {r['void_per_hour_mc']:.2e}",
                f"{r['provider_compensation']:.5f} vs {r['provider_defence_cost']:.5f}"
                + (" ✓" if r["provider_compensation"] >= r["provider_defence_cost"] else " ✗"),
            )
        )
    dp = result["devnet_params"]
    week = 168 * next(r for r in g["rows"] if r["profile"] == "default" and r["arity"] == 2)["false_per_hour_bound"]
    lines += [
        "### Delay costs the griefer",
        "",
        "A griefer delays an honest provider's payout with disputes that end without a slash, each opened "
        "just before the window closes; disputes run in parallel, so only sequential ones add delay, each at most "
        "Dmax + reactionTime with **Dmax = 2·(clockBudget + rounds·moveExtension) + oracleTimeout**. A false "
        "challenge costs the whole bond (ProviderWon), a void (no oracle quorum in time: an oracle outage, "
        "which a griefer rides on but cannot cause alone) the void fee, max(bond·voidFeeBps/BPS, the provider's "
        "dispute cost = defenceGas·refGasPrice + the carrying cost of reward + stake over Dmax + reactionTime at "
        f"carryBps {p['carry_bps']} a year). The first dispute of a {p['reward']:g} ETH job, at the base bond; "
        "each dispute that ends without a slash doubles the next one's bond (the chain below). "
        "Default: clockBudget 1 day, moveExtension 1 h, oracleTimeout 2 days, reactionTime 1 day, refGasPrice "
        f"{p['ref_gas_price_gwei']:g} gwei; devnet: clockBudget {dp['clock_budget']} s, moveExtension "
        f"{dp['move_extension']} s, oracleTimeout {dp['oracle_timeout']} s, reactionTime {dp['reaction_time']} s, "
        f"refGasPrice {dp['ref_gas_price_gwei']:g} gwei. Cost per hour of delay in ETH: the bound "
        "(bond, or void fee, ·3600/(Dmax + reactionTime); the void's is `delayCostPerHour`) / with the griefer's "
        "gas / simulated "
        f"({g['campaigns']} disputes: the griefer moves at the last second of each turn, the provider answers "
        f"within {PROFILES['default'].provider_response_s:.0f} s (devnet {dp['provider_response_s']:.0f} s), the "
        f"oracle within {PROFILES['default'].oracle_response_s:.0f} s (devnet {dp['oracle_response_s']:.0f} s) "
        "or never for a void). Last column: the honest provider's part of a forfeited bond, "
        "(bond − oracleFee)·providerBondShareBps/BPS, vs its defence gas defenceGas(rounds) at that gas price.",
        "",
        table(
            [
                "profile",
                "arity",
                "rounds",
                "gas (gwei)",
                "Dmax + reactionTime",
                "bond (ETH)",
                "false challenge: per hour (bound / + gas / simulated)",
                "void: per hour (bound / + gas / simulated)",
                "provider: compensation vs defence gas (ETH)",
            ],
            grows,
        ),
        "",
        "The simulated cost per hour is above the bound: an honest provider that answers at once leaves its own "
        "half of the clocks unused, so a real dispute delays less than Dmax. The bond covers the provider's "
        "defence up to the reference gas price; above it (✗) a false challenge costs the honest provider gas. "
        f"At the default parameters one week of false challenges at the base bond would cost {week:.3f} ETH "
        f"(arity 2) against a reward of {p['reward']:g} ETH and a stake of {p['stake']:g} ETH; the bond now "
        "carries the carrying cost of both, and it doubles per dispute, so the week costs far more (below).",
        "",
        *render_void_chains(result),
    ]
    plt = plotting()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for s in settings:
            worst = [
                max(c["best_closed"] for c in s["cells"] if c["q"] == q and c["forgery"] == "1 segment") for q in qs
            ]
            axes[0].plot(
                qs, worst, marker="o", label=f"c {s['challenger_share_bps']} / r {s['requester_share_bps']} bps"
            )
        axes[0].axhline(0, color="grey", lw=0.8)
        axes[0].set_xscale("log", base=2)
        axes[0].set_xticks(qs, [str(q) for q in qs])
        axes[0].set_xlabel("segments the requester replays (q)")
        axes[0].set_ylabel("ETH per job vs honest work")
        axes[0].set_title("Cheater (1 forged segment), best strategy")
        axes[0].legend(fontsize=7)
        for q in qs:
            ys = [
                next(
                    r["profit_closed"]
                    for r in vrows
                    if r["forgery"] == "1 segment" and r["q"] == q and r["cheat_rate"] == rate and r["gas_gwei"] == 10
                )
                for rate in CHEAT_RATES
            ]
            axes[1].plot([100 * x for x in CHEAT_RATES], ys, marker="o", label=f"q = {q}")
        axes[1].axhline(0, color="grey", lw=0.8)
        axes[1].set_xlabel("cheat rate (%)")
        axes[1].set_ylabel("ETH per job audited")
        axes[1].set_title("Third-party verifier, net profit (10 gwei)")
        axes[1].legend(fontsize=7)
        lines += ["", f"![economics](plots/{save(fig, plots / 'economics.png')})"]
    return "\n".join(lines)
