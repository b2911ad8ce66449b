"""``python -m benchmarks``: run every section, write ``benchmarks/REPORT.md``, plots and raw results.

    python -m benchmarks                 # the full run (about 10 minutes on 2 cores)
    python -m benchmarks --quick         # a small smoke run (about 2 minutes)
    python -m benchmarks --sections gas verify --out /tmp/bench
    python -m benchmarks --sections economics --merge   # re-run one section, keep the others' results

Each section measures its figures next to a baseline in the same run and reports medians of
repetitions. Every process this starts (anvil, an IPFS node, the overhead children) listens on
127.0.0.1 only and is stopped by PID at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from benchmarks import (
    sec_artifacts,
    sec_dispute,
    sec_economics,
    sec_gas,
    sec_overhead,
    sec_scale,
    sec_soak,
    sec_verify,
)
from benchmarks.before import BEFORE, BEFORE_RUN
from benchmarks.common import ROOT, Ctx, machine_info, table

SECTIONS: dict[str, Any] = {
    "overhead": sec_overhead,
    "gas": sec_gas,
    "dispute": sec_dispute,
    "verify": sec_verify,
    "scale": sec_scale,
    "artifacts": sec_artifacts,
    "economics": sec_economics,
    "soak": sec_soak,
}
#: Where each section's body goes in REPORT.md (the GPU note, numbered 7, before the soak, 8).
REPORT_ORDER = [*(n for n in SECTIONS if n != "soak"), "gpu", "soak"]
DEFAULT_OUT = ROOT / "benchmarks"


def gpu_section() -> tuple[dict[str, Any], str]:
    import torch

    if not torch.cuda.is_available():
        return {"measured": False, "reason": "no GPU available in this run"}, "\n".join(
            [
                "## 8. GPU",
                "",
                "**Not measured: no GPU available in this run** (`torch.cuda.is_available()` is False; torch "
                f"{torch.__version__}). On a machine with a CUDA GPU this section is to compare the `cuda` profile "
                "(deterministic algorithms, `CUBLAS_WORKSPACE_CONFIG=:4096:8`, TF32 off) against a plain CUDA loop "
                "and check that replays reproduce the state hashes (`tests/test_engine_gpu.py` holds the "
                "reproducibility checks).",
            ]
        )
    return {
        "measured": False,
        "reason": f"a GPU is present ({torch.cuda.get_device_name()}) but this suite has no CUDA workload yet",
    }, ("## 8. GPU\n\n**Not measured**: a GPU is present but the suite has no CUDA workload.")


def run(
    sections: list[str],
    quick: bool,
    out: Path,
    ctx: Ctx | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    merge: bool = False,
) -> dict[str, Any]:
    """Run ``sections`` and write REPORT.md, results.json and plots/ under ``out``; returns the results.

    With ``merge``, the other sections' results already in ``out/results.json`` are kept (and the report
    says from which run), so one section can be re-run without re-measuring the rest."""
    previous = json.loads((out / "results.json").read_text()) if merge and (out / "results.json").exists() else None
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    own_ctx = ctx is None
    ctx = ctx or Ctx(Path(tempfile.mkdtemp(prefix="crucible-bench-")), quick=quick)
    results: dict[str, Any] = {"quick": quick, "sections": {}, "seconds": {}}
    bodies: dict[str, str] = {}
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        for name in sections:
            ctx.log(f"[{name}]")
            t0 = time.perf_counter()
            try:
                results["sections"][name] = SECTIONS[name].run(ctx, **(params or {}).get(name, {}))
            except Exception as exc:  # one section's failure must not cost the others' measurements
                ctx.log(traceback.format_exc())
                results.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"
                continue
            results["seconds"][name] = time.perf_counter() - t0
            ctx.log(f"[{name}] {results['seconds'][name]:.0f} s")
        ipfs_version = None
        if ctx.ipfs_node is not None:
            from crucible.store.ipfs import IpfsStore

            ipfs_version = f"js-ipfs {IpfsStore(ctx.ipfs_node.url).version()}"
    finally:
        if own_ctx:
            ctx.close()
    results["total_seconds"] = time.perf_counter() - started
    results["machine"] = machine_info(ipfs_version)
    results["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if previous is not None:
        earlier = previous.get("kept_from", {})
        this_run = {k: previous["machine"].get(k) for k in ("date", "commit")} | {"quick": previous["quick"]}
        for name in previous["sections"]:
            if name in SECTIONS and name not in sections:
                results["sections"][name] = previous["sections"][name]
                results["seconds"][name] = previous["seconds"].get(name)
                results.setdefault("kept_from", {})[name] = earlier.get(name, this_run)
    gpu, gpu_md = gpu_section()
    results["sections"]["gpu"] = gpu
    for name in results["sections"]:
        if name in SECTIONS:
            bodies[name] = SECTIONS[name].render(results["sections"][name], plots)
    bodies["gpu"] = gpu_md
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_jsonable) + "\n")
    (out / "REPORT.md").write_text(report(results, bodies))
    return results


def rerender(out: Path) -> None:
    """REPORT.md and plots from a saved results.json (after a change to the report's wording or plots)."""
    results = json.loads((out / "results.json").read_text())
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    bodies = {
        name: SECTIONS[name].render(body, plots) for name, body in results["sections"].items() if name in SECTIONS
    }
    bodies["gpu"] = gpu_section()[1]
    (out / "REPORT.md").write_text(report(results, bodies))


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    return str(x)


def headlines(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target or baseline, verdict) rows for the top of the report."""
    rows: list[tuple[str, str, str, str]] = []
    s = results["sections"]
    if "overhead" in s:
        k0 = s["overhead"]["default_interval"]
        for arch, h in sec_overhead.headline(s["overhead"]).items():
            rows.append(
                (
                    f"commitment overhead, {arch} (k = {k0})",
                    "–" if h["commit_pct"] is None else f"{h['commit_pct']:+.1f}%",
                    "≤ 5%",
                    "–" if h["ok"] is None else ("met" if h["ok"] else "missed"),
                )
            )
        for arch, h in sec_overhead.headline(s["overhead"]).items():
            target, avx2 = h.get("profile_target_x"), h.get("avx2_cost_x")
            measured = f"{h['profile_cost_x']:.2f}× (cpu-portable)"
            verdict = "–" if target is None else f"portable: {'met' if h['profile_cost_x'] <= target else 'missed'}"
            if avx2 is not None:
                measured += f", {avx2:.2f}× (cpu-avx2)"
                verdict += f"; avx2: {'met' if target is not None and avx2 <= target else 'missed'}"
            rows.append(
                (
                    f"profile cost, {arch}",
                    measured,
                    "fastest plain loop" + ("" if target is None else f"; target ≤ {target:.1f}×"),
                    verdict,
                )
            )
    if "gas" in s:
        h = sec_gas.headline(s["gas"])
        rows.append(
            (
                "happy path gas (post, claim, submit, finalize, withdraw)",
                f"{h['happy_gas']:,}",
                "≤ 400,000",
                "met" if h["happy_ok"] else "missed",
            )
        )
        rows.append(
            (
                f"whole dispute at k = {h['dispute_k']}",
                f"{h['dispute_gas']:,} gas, {h['dispute_txs']} txs (arity {h['dispute_arity']})"
                + (f"; binary: {h['binary_gas']:,} gas, {h['binary_txs']} txs" if h["binary_gas"] else ""),
                f"≤ {sec_gas.DISPUTE_TARGET:,} gas, ≤ {sec_gas.DISPUTE_TX_TARGET} txs",
                "met" if h["dispute_ok"] else "missed",
            )
        )
        rows.append(
            (
                "dispute transactions vs OP Stack fault dispute game",
                f"{h['dispute_txs']}",
                f"baseline {sec_gas.OP_STACK_TXS} (published)",
                "–",
            )
        )
    if "dispute" in s:
        h = sec_dispute.headline(s["dispute"])
        rows.append(
            (
                f"challenge → verdict on the devnet (k = {h['k']})",
                f"{h['challenge_to_verdict_s']:.2f} s, {int(h['rounds'])} rounds (arity {h['arity']})"
                + (
                    f"; binary: {h['binary_challenge_to_verdict_s']:.2f} s, {int(h['binary_rounds'])} rounds"
                    if "binary_rounds" in h
                    else ""
                ),
                "baseline: binary in the same run",
                "–",
            )
        )
    if "verify" in s:
        for arch, h in sec_verify.headline(s["verify"]).items():
            rows.append(
                (
                    f"oracle: fetch + check + replay + hash of one step, {arch}",
                    f"{h['provider_steps']:.1f} provider steps (1/{1 / h['ratio_total']:.0f} of the job)",
                    f"≤ {sec_verify.TARGET_PROVIDER_STEPS:.0f} provider steps",
                    "met" if h["ok"] else "missed",
                )
            )
    if "scale" in s:
        h = sec_scale.headline(s["scale"])
        tput, rpc, chain_id = h["throughput"], h["rpc_per_job"], h["chain_id_per_job"]
        most = max(tput)
        gain = f" (×{tput[most] / tput[1]:.1f})" if 1 in tput and tput[1] and most != 1 else ""
        rows.append(
            (
                f"finalized jobs per minute, 1 vs {most} worker processes",
                ", ".join(f"{w}: {v:.1f}" for w, v in tput.items()) + gain,
                "baseline: 1 worker",
                "–",
            )
        )
        rows.append(
            (
                f"RPC calls per finalized job, 1 vs {most} worker processes",
                ", ".join(f"{w} w: {v:.0f}" for w, v in rpc.items())
                + f"; eth_chainId {max(chain_id.values(), default=0.0):.2f}/job",
                "eth_chainId ≈ 0 (cached)",
                "met" if max(chain_id.values(), default=0.0) < 0.5 else "missed",
            )
        )
        rows.append(
            (
                "scale: every job finalized, money right",
                str(h["money_ok"]),
                "True",
                "met" if h["money_ok"] else "missed",
            )
        )
    if "artifacts" in s:
        h = sec_artifacts.headline(s["artifacts"])
        rows.append(
            (
                f"IPFS upload / fetch, {h['checkpoint_mb']:.1f} MB checkpoint",
                f"{h['upload_mb_s']:.0f} / {h['fetch_mb_s']:.0f} MB/s",
                f"baseline: disk write {h['disk_write_mb_s']:.0f} MB/s",
                "–",
            )
        )
    if "economics" in s:
        h = sec_economics.headline(s["economics"])
        rows.append(
            (
                "cheater's expected profit vs honest work, best strategy (worst cell: shares on the bound, q, gas)",
                f"{h['max_cheater_excess']:+.4f} ETH per job",
                "< 0",
                "met" if h["max_cheater_excess"] < 0 else "missed",
            )
        )
        rows.append(
            (
                "stake a caught cheater loses (least over strategies and share settings)",
                f"{h['min_loss_fraction']:.1%}",
                "≥ 80%",
                "met" if h["min_loss_fraction"] >= 0.8 - 1e-9 else "missed",
            )
        )
        rows.append(
            (
                "honest third-party verifier's income at 0% cheaters",
                f"{h['verifier_income_at_zero']:.4f} ETH",
                "the verifier's dilemma: the requester verifies its own jobs",
                "–",
            )
        )
        rows.append(
            (
                "griefer's cost per hour of delay, void chain on the contract (1 + 1 ETH job, arity 2)",
                ", ".join(
                    f"{name}: {v['cost_per_hour_bound']:.2e} ETH after {v['voids']} voids "
                    f"({v['delay_days_per_eth']:.3g} days per ETH)"
                    for name, v in h["void_chain"].items()
                ),
                "≥ delayCostPerHour stated before the chain: "
                + ", ".join(f"{name}: {v['stated_per_hour']:.2e}" for name, v in h["void_chain"].items()),
                "met"
                if all(
                    v["cost_per_hour_bound"] >= v["least_stated_per_hour"] * (1 - 1e-9)
                    for v in h["void_chain"].values()
                )
                else "missed",
            )
        )
    if "soak" in s:
        h = sec_soak.headline(s["soak"])
        rows.append(
            (
                "soak: honest provider's disk / IPFS repo growth per settled job",
                f"{h['state_bytes_per_job'] / 1e3:+.1f} / {h['repo_bytes_per_job'] / 1e3:+.1f} kB",
                f"0 (keep nothing; ≤ {sec_soak.TOLERANCE_BYTES_PER_JOB / 1e3:g} kB of metadata)",
                "met"
                if max(h["state_bytes_per_job"], h["repo_bytes_per_job"]) <= sec_soak.TOLERANCE_BYTES_PER_JOB
                else "missed",
            )
        )
        rows.append(
            (
                "soak: daemons' RSS / fd growth, warm-up to end (worst daemon)",
                f"{h['rss_growth_mb']:+.0f} MB / {h['fd_growth']:+d}",
                "flat",
                "–",
            )
        )
        rows.append(("soak: reverted transactions", str(h["reverted"]), "0", "met" if not h["reverted"] else "missed"))
    rows.append(
        (
            "GPU (cuda profile)",
            "not measured: no GPU" if not s.get("gpu", {}).get("measured") else "–",
            "baseline: plain CUDA loop; reproducibility across two processes",
            "–",
        )
    )
    return rows


def _kept_note(results: dict[str, Any]) -> list[str]:
    kept: dict[str, dict[str, Any]] = results.get("kept_from", {})
    if not kept:
        return []
    runs: dict[tuple[Any, ...], list[str]] = {}
    for name, origin in kept.items():
        runs.setdefault((origin["date"], origin["commit"], origin["quick"]), []).append(name)
    notes = [
        f"{', '.join(names)} from the {'quick' if quick else 'full'} run of {date} (commit {commit})"
        for (date, commit, quick), names in runs.items()
    ]
    return [
        "",
        f"Sections kept from earlier runs: {'; '.join(notes)}. This run (`--merge`) measured "
        f"{', '.join(_measured(results))}; the machine table describes this run.",
    ]


def _measured(results: dict[str, Any]) -> list[str]:
    return [n for n in results["sections"] if n in SECTIONS and n not in results.get("kept_from", {})]


def _merge_args(results: dict[str, Any]) -> str:
    return f" --sections {' '.join(_measured(results))} --merge" if results.get("kept_from") else ""


def report(results: dict[str, Any], bodies: dict[str, str]) -> str:
    m = results["machine"]
    mode = "quick smoke run (`--quick`: fewer steps, sizes and repetitions)" if results["quick"] else "full run"
    parts = [
        "# Crucible benchmarks",
        "",
        f"Written by `python -m benchmarks{' --quick' if results['quick'] else ''}{_merge_args(results)}` ({mode}) in "
        f"{results['total_seconds'] / 60:.1f} min. Raw numbers: [`results.json`](results.json). Every figure is "
        "measured in this run next to its baseline; times are medians of repetitions unless a section says "
        "otherwise. Targets come from the project's benchmark issue; a missed target is reported as missed, "
        "with the reason measured.",
        *_kept_note(results),
        "",
        "## Machine",
        "",
        table(["", ""], [(k, v) for k, v in m.items()]),
        "",
        "A shared 2-core VM: the load averages before and after the run say whether other work ran beside it "
        "(the benchmark itself keeps one to two cores busy); other work widens the min–max ranges and, above "
        "all, slows torch's default multi-threaded loops.",
        *(
            [
                "",
                "**Sections that failed in this run** (not in this report): "
                + "; ".join(f"{name}: {why}" for name, why in results["failed"].items()),
            ]
            if results.get("failed")
            else []
        ),
        *(
            [
                "",
                "Sections not measured in this run, carried over from an earlier run's `results.json` and "
                "rendered unchanged: "
                + ", ".join(f"{name} ({when})" for name, when in results["carried_over"].items())
                + ".",
            ]
            if results.get("carried_over")
            else []
        ),
        "",
        "## Headlines",
        "",
        f"Before: the figures of the {BEFORE_RUN} (kept from the previous REPORT.md, not re-measured); "
        "after: this run.",
        "",
        table(
            ["figure", "before", "after (this run)", "target / baseline", "verdict"],
            [(name, BEFORE.get(name, "–"), *rest) for name, *rest in headlines(results)],
        ),
        "",
    ]
    for name in REPORT_ORDER:
        if name in bodies:
            parts += [bodies[name], ""]
    parts += [
        "## Reproduce",
        "",
        "```bash",
        "pip install -e '.[bench]'   # matplotlib, for the plots",
        "python -m benchmarks  # or --quick; --sections overhead gas dispute verify scale artifacts economics soak",
        "```",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (minutes, not tens of minutes)")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where REPORT.md, results.json and plots/ go")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the results of the sections not run from the results.json already in --out",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite REPORT.md and plots/ from the results.json already in --out (no measuring)",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        rerender(args.out)
        print(f"rewrote {args.out / 'REPORT.md'} from {args.out / 'results.json'}")
        return 0
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    results = run(args.sections, args.quick, args.out, merge=args.merge)
    print(f"wrote {args.out / 'REPORT.md'} in {results['total_seconds']:.0f} s")
    for row in headlines(results):
        print(" | ".join(row))
    for name, why in results.get("failed", {}).items():
        print(f"section {name} failed: {why}")
    return 1 if results.get("failed") else 0
