"""A quick run of the economics section through the benchmark suite, checking the design's headline facts.

The section is a seeded Monte Carlo with closed forms beside it. The facts asserted are the
ones the dispute game promises (docs/dispute-game.md): cheating loses money under the cheater's best
strategy at every share setting the bounds allow, a caught cheater loses at least 80% of its stake, an
honest third-party verifier earns nothing when nobody cheats, and a griefer pays the contract's stated
price per hour of delay. The contract's figures (its constants, least bond and a chain of voids) come
from the contract itself, on the session's anvil (rolled back after the test).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not an installed package
from benchmarks import sec_economics, suite  # noqa: E402
from benchmarks.common import Ctx  # noqa: E402
from crucible.devnet.nodes import RunningNode  # noqa: E402


def test_economics_section_reports_the_design_facts(chain: RunningNode, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ctx = Ctx(tmp_path / "home", quick=True, anvil_node=chain, log=lambda _msg: None)  # its markets roll back

    suite.run(["economics"], quick=True, out=out, ctx=ctx)

    report = (out / "REPORT.md").read_text()
    first = json.loads((out / "results.json").read_text())
    econ = first["sections"]["economics"]
    assert "## 7. Economics of the dispute game" in report and "verifier of last resort" in report
    assert "cheater's expected profit vs honest work" in report  # the headline row

    settings = econ["cheater"]["settings"]
    assert {(s["challenger_share_bps"], s["requester_share_bps"]) for s in settings} == set(sec_economics.SHARE_EDGES)
    for s in settings:
        for cell in s["cells"]:
            assert cell["best_closed"] < 0 and cell["best_mc"] < 0, (s["challenger_share_bps"], cell)
            assert cell["loss_fraction_caught"] >= 0.8
            # the Monte Carlo estimates the closed form
            assert abs(cell["best_mc"] - cell["best_closed"]) <= 5 * cell["best_mc_se"] + 1e-9
        recoverable = (s["challenger_share_bps"] + s["requester_share_bps"]) / sec_economics.BPS
        assert s["worst_case_loss_fraction_timeout"] == 1 - recoverable >= 0.8 - 1e-12
        assert s["worst_case_loss_fraction_verdict"] >= s["worst_case_loss_fraction_timeout"]
    # at the edge the bound is tight: a cheater owning the requester and every challenger keeps 20%
    assert min(s["worst_case_loss_fraction_timeout"] for s in settings) == 1 - 0.2

    rows = econ["verifier"]["rows"]
    for r in rows:
        if r["cheat_rate"] == 0:
            assert r["income_mc"] == r["income_closed"] == 0
            assert r["profit_mc"] == r["profit_closed"] == -r["replay_cost"] < 0
    caught_all = [r for r in rows if r["cheat_rate"] == 0.2 and r["q"] == econ["params"]["segments"]]
    assert all(r["income_mc"] > 0 for r in caught_all)  # fraud does pay whoever catches it

    p = econ["params"]
    for r in econ["griefer"]["rows"]:
        base = sec_economics.PROFILES[r["profile"]]
        rounds = math.ceil(math.log(p["interval"], r["arity"]) - 1e-9)
        dmax = 2 * (base.clock_budget + rounds * base.move_extension) + base.oracle_timeout
        assert r["dmax_s"] == dmax and r["span_s"] == dmax + base.reaction_time
        assert r["false_per_hour_bound"] == r["bond"] * 3600 / r["span_s"]
        assert r["false_per_hour_mc"] >= r["false_per_hour_with_gas"] >= r["false_per_hour_bound"]
        assert r["void_per_hour_mc"] >= r["void_per_hour_bound"] == r["void_fee"] * 3600 / r["span_s"]
        assert 0 < r["false_delay_mc_s"] <= r["void_delay_mc_s"] <= r["span_s"]  # the clocks bound every dispute

    # the contract's own figures: its constants, its least bond (the model agrees), the void chain on it
    assert set(econ["contract_constants"]) == set(sec_economics.CONTRACT_CONSTANTS)
    assert econ["contract_constants"]["DEFENCE_BASE_GAS"] > 0 and "defence_base" not in econ["gas"]
    for check in econ["bond_check"]:
        assert check["model"] == pytest.approx(check["contract"], rel=1e-9), check
    chains = econ["void_chains"]
    assert {(c["profile"], c["size_eth"], c["arity"]) for c in chains} == {
        (pr, size, a)
        for pr in ("default", "devnet")
        for size in sec_economics.JOB_SIZES
        for a in sec_economics.VOID_ARITIES
    }
    for c in chains:
        steps = c["steps"]
        max_level = econ["contract_constants"]["MAX_BOND_LEVEL"]
        assert [s["bond"] for s in steps] == [c["base_bond"] << min(i, max_level) for i in range(len(steps))]
        for s in steps:
            assert c["dispute_cost"] <= s["void_fee"] <= s["bond"], "a void pays the provider its cost, within the bond"
            assert s["bought_s"] <= c["span_s"], "one dispute buys at most Dmax + reactionTime"
            assert s["void_fee"] * 3600 >= s["stated_per_hour"] * s["bought_s"], "never below the stated floor"
        assert c["provider_paid"] == c["size_eth"] * 10**18 + sum(s["void_fee"] for s in steps)
        assert 0 < c["delay_measured_s"] <= len(steps) * c["span_s"]
        for row in sec_economics.chain_rows(c):
            assert row["cost_per_hour_bound"] >= row["least_stated_per_hour"] * (1 - 1e-12)
            assert row["cost_per_hour_bound"] >= row["carry_per_hour"], "at least the carrying cost of R + S"
            assert row["delay_days_per_eth"] <= row["former_delay_days_per_eth"]
    assert "A chain of voids against an honest provider" in report

    # --merge keeps the section's results when another (here: no) section is re-run
    suite.run([], quick=True, out=out, ctx=ctx, merge=True)
    merged = (out / "REPORT.md").read_text()
    assert "## 7. Economics of the dispute game" in merged and "from the quick run of" in merged
    saved = json.loads((out / "results.json").read_text())
    assert saved["sections"]["economics"] == econ
    assert saved["kept_from"]["economics"]["date"] == first["machine"]["date"]


def test_detection_probability() -> None:
    n = 20
    for forged in (1, 5, 20):
        f = forged / n
        for q in (1, 2, 4):
            assert sec_economics.detect_probability(n, forged, q) >= 1 - (1 - f) ** q - 1e-12
        assert sec_economics.detect_probability(n, forged, n) == 1.0
    assert sec_economics.detect_probability(n, 1, 1) == pytest.approx(1 / n)
    assert sec_economics.detect_probability(n, 0, n) == 0.0
