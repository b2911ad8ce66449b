"""A small smoke run of the benchmark code (not the benchmarks themselves: no timing is asserted).

Runs the gas section at k = 16 against the session's anvil and writes a report into a temporary
directory, then checks the report's structure and the numbers' sanity: every lifecycle call and
every dispute move measured from a receipt, the transaction count 2·⌈log_a k⌉ + 3 for the k-ary
and the binary game, gas identical on
a second run, the GPU section saying it was not measured where there is no GPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from crucible.devnet.nodes import RunningNode
from crucible.protocol import dissection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not an installed package
from benchmarks import sec_verify, suite  # noqa: E402
from benchmarks.common import Ctx  # noqa: E402

pytestmark = pytest.mark.integration


def test_gas_section_writes_a_sane_report(anvil: RunningNode, tmp_path: Path) -> None:
    ctx = Ctx(tmp_path / "home", quick=True, anvil_node=anvil, log=lambda _msg: None)

    results = suite.run(["gas"], quick=True, out=tmp_path / "out", ctx=ctx, params={"gas": {"ks": [16]}})

    report = (tmp_path / "out" / "REPORT.md").read_text()
    for heading in (
        "# Crucible benchmarks",
        "## Machine",
        "## Headlines",
        "## 2. Gas: lifecycle calls and a whole dispute vs segment length k",
        "## 8. GPU",
    ):
        assert heading in report
    assert "happy path gas" in report and "OP Stack" in report
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    gas = saved["sections"]["gas"]
    (row,) = gas["by_k"]
    assert row["k"] == 16 and gas["deterministic"] is True
    assert [c["call"] for c in row["happy"]["calls"]] == [
        "postJob",
        "claimJob",
        "submitResult",
        "finalizeJob",
        "withdrawCredit",
    ]
    assert all(21_000 < c["gas"] < 1_000_000 for c in row["happy"]["calls"])
    for outcome in ("provider_wrong", "provider_right"):
        d = row[outcome]
        assert d["rounds"] == dissection.rounds(16, row["arity"]) == d["expected_rounds"]
        assert d["txs"] == 2 * d["rounds"] + 3
        assert [c["call"] for c in d["calls"]][:1] == ["challenge"]
        assert [c["call"] for c in d["calls"]][-2:] == ["submitVerdict", "withdrawCredit"]
        assert d["gas"] == sum(c["gas"] for c in d["calls"])
    (binary,) = gas["binary_by_k"]
    assert binary["arity"] == 2 and binary["provider_wrong"]["rounds"] == dissection.rounds(16, 2) == 4
    assert row["provider_wrong"]["txs"] < binary["provider_wrong"]["txs"] == 11  # k-ary: fewer moves
    assert saved["machine"]["cores"] and saved["machine"]["torch"]
    if not saved["sections"]["gpu"]["measured"]:
        assert "not measured: no gpu available in this run" in report.lower()
    assert results["sections"]["gas"]["by_k"][0]["happy"]["gas"] == row["happy"]["gas"]
    plots = list((tmp_path / "out" / "plots").glob("*.png"))
    if "![gas vs k]" in report:
        assert [p.name for p in plots] == ["gas_vs_k.png"]


def test_escape_probability_matches_the_design() -> None:
    assert sec_verify.escape(0.1, 0) == 1.0
    assert sec_verify.escape(0.1, 10) == pytest.approx(0.9**10)
    assert sec_verify.escape(1.0, 1) == 0.0


def test_a_failing_section_is_named_and_the_others_are_still_written(
    chain: RunningNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        @staticmethod
        def run(ctx: Ctx) -> dict[str, object]:
            raise RuntimeError("port taken")

    monkeypatch.setitem(suite.SECTIONS, "broken", Broken)
    ctx = Ctx(tmp_path / "home", quick=True, anvil_node=chain, log=lambda _msg: None)  # economics deploys on it

    results = suite.run(["broken", "economics"], quick=True, out=tmp_path / "out", ctx=ctx)

    assert results["failed"] == {"broken": "RuntimeError: port taken"}
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "economics" in saved["sections"] and "broken" not in saved["sections"]
    assert (
        "**Sections that failed in this run** (not in this report): broken: RuntimeError: port taken"
        in (tmp_path / "out" / "REPORT.md").read_text()
    )
