"""Section 1, training overhead: plain PyTorch vs the engine, profile cost and commitment cost apart.

Each arch runs in child processes (so torch's kernel choice is made per process, as in
``benchmarks.bench_engine``, whose child functions are reused for the plain loops):

* ``baseline``     plain PyTorch (torch.optim, native kernels, default threads), no checkpoints;
* ``plain1``       the same loop with one intra-op thread (what cpu-portable pins);
* ``plain1env``    the same with the profile's environment and switches as well
  (``ATEN_CPU_CAPABILITY=default``, ``MKL_CBWR=COMPATIBLE``: portable, non-vectorised kernels; oneDNN
  off, as every CPU profile sets it, so convolutions run as im2col + gemm), so that the next factor
  is the functional step's alone;
* ``engine``       ``Engine`` + ``S_0`` + ``Engine.run`` under cpu-portable, no commitments (adds the
  functional, out-of-place step and the deterministic batch generator);
* ``avx2``         the same under the ``cpu-avx2`` profile, in a process started for it
  (``CRUCIBLE_CPU_PROFILE=cpu-avx2``: AVX2 kernels, ``MKL_CBWR=AVX2,STRICT``);
* ``hashed``       engine + the canonical state hash of every k-th state (``trace_commitment``);
* ``committed``    ``train_job``: hashing + background checkpoint uploads to a real IPFS node +
  final model and manifest, at several intervals k.

Modes of one arch that share a process are interleaved repetition by repetition, so slow drift
of the machine hits them alike; every process makes one untimed warm-up repetition first. Medians
over the repetitions. Also measured: the per-checkpoint
cost of each commitment part (hash, encode, upload) and a cProfile of one committed run.

Only stdlib at module level: a child in ``baseline`` mode must import torch before crucible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROFILE_VARS = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "CUBLAS_WORKSPACE_CONFIG")
DEFAULT_INTERVAL = 20  # the bench/example jobs' checkpoint_interval (spec docs, examples/*.yaml)
TARGET_PCT = 5.0
#: Profile cost targets (× the fastest plain loop) from the performance issue.
TARGET_PROFILE_X = {"mlp": 1.3, "cnn": 1.3, "gpt": 2.0}


def _has_avx2() -> bool:
    """Whether this CPU can run the cpu-avx2 profile (read here: this module may not import crucible)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return {"avx2", "fma"} <= set(flags)


FULL = {  # arch: (total steps, intervals, reps)
    "mlp": (1200, [10, 20, 50, 100, 200], 3),
    "cnn": (400, [10, 20, 50, 100, 200], 3),
    "gpt": (40, [5, 20, 40], 3),
}
PLAIN_MODES = ("baseline", "plain1", "plain1env")
QUICK = {
    "mlp": (200, [20, 100], 1),
    "cnn": (80, [20, 40], 1),
    "gpt": (20, [10, 20], 1),
}


# ------------------------------------------------------------------------------------------ children


def _set_workload(arch: str, steps: int) -> Any:
    from benchmarks import bench_engine

    bench_engine.WORKLOADS[arch] = (steps, DEFAULT_INTERVAL)
    return bench_engine


def child_plain(arch: str, steps: int, reps: int, *, onednn: bool = True) -> dict[str, Any]:
    import torch  # before crucible, as child_baseline needs

    torch.backends.mkldnn.enabled = onednn  # type: ignore[assignment]
    out: dict[str, Any] = _set_workload(arch, steps).child_baseline(arch, reps + 1)
    out["times"] = out["times"][1:]  # the first repetition warms up
    return out


def child_profile_engine(arch: str, steps: int, reps: int, profile: str) -> dict[str, Any]:
    """``Engine.run`` alone under ``profile`` (this process must have been started for it)."""
    import crucible  # noqa: F401  (profile environment before torch)
    from crucible.engine.examples import example_job
    from crucible.engine.step import Engine, initial_state_from

    spec, train, _ = example_job(arch, "bench", total_steps=steps, checkpoint_interval=DEFAULT_INTERVAL)
    spec = spec.model_copy(update={"profile": profile})
    times: list[float] = []
    hashes: set[str] = set()
    for rep in range(reps + 1):  # repetition 0 warms up and is not recorded
        start = time.perf_counter()
        engine = Engine(spec, train)
        end = engine.run(initial_state_from(spec), 0, steps)
        if rep:
            times.append(time.perf_counter() - start)
        hashes.add(end.hash().hex())
    return {"times": times, "final_hashes": sorted(hashes), "cpu_capability": engine.profile.cpu_capability}


class _CountingBlobs:
    """An IPFS store that counts upload requests and the artifacts in them (what batching saves)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.requests, self.artifacts = inner, 0, 0

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        return self.add_many([data], pin=pin)[0]

    def add_many(self, blobs: Any, *, pin: bool = True) -> list[str]:
        self.requests += 1
        self.artifacts += len(blobs)
        return list(self.inner.add_many(blobs, pin=pin))

    def cat(self, cid: str, *, max_bytes: int = 1 << 30) -> bytes:
        return bytes(self.inner.cat(cid, max_bytes=max_bytes))

    def pin(self, cid: str) -> None:
        self.inner.pin(cid)


def child_engine(arch: str, steps: int, reps: int, intervals: list[int], ipfs_url: str) -> dict[str, Any]:
    import crucible  # noqa: F401  (profile environment before torch)
    from crucible.engine.examples import example_job
    from crucible.engine.job import trace_commitment, train_job
    from crucible.engine.step import Engine, initial_state_from
    from crucible.protocol import checkpoint as ckpt
    from crucible.store.artifacts import ArtifactStore
    from crucible.store.ipfs import IpfsStore

    blobs = _CountingBlobs(IpfsStore(ipfs_url))
    store = ArtifactStore(blobs)
    specs = {k: example_job(arch, "bench", total_steps=steps, checkpoint_interval=k)[0] for k in intervals}
    _, train, _ = example_job(arch, "bench", total_steps=steps, checkpoint_interval=intervals[0])
    spec_cids = {k: store.put_spec(s) for k, s in specs.items()}
    base_spec = specs[intervals[0]]
    times: dict[str, list[float]] = {"engine": []}
    for k in intervals:
        times[f"hashed/{k}"] = []
        times[f"committed/{k}"] = []
    final_hashes: set[str] = set()
    for rep in range(reps + 1):  # repetition 0 warms up and is not recorded

        def record(key: str, start: float, rep: int = rep) -> None:
            if rep:
                times[key].append(time.perf_counter() - start)

        start = time.perf_counter()
        engine = Engine(base_spec, train)
        end = engine.run(initial_state_from(base_spec), 0, steps)
        record("engine", start)
        final_hashes.add(end.hash().hex())
        for k in intervals:
            spec = specs[k]
            start = time.perf_counter()
            trace_commitment(spec, train, initial_state_from(spec))
            record(f"hashed/{k}", start)
            start = time.perf_counter()
            result = train_job(spec, train, store, spec_cid=spec_cids[k])
            record(f"committed/{k}", start)
            final_hashes.add(result.final_state_hash.hex())

    # Per-checkpoint cost of each commitment part, on the final state (medians of 15).
    state = end
    parts: dict[str, list[float]] = {"hash": [], "encode": [], "upload": [], "step": []}
    digest = state.hash()
    for _ in range(15):
        t0 = time.perf_counter()
        state.hash()
        t1 = time.perf_counter()
        data = ckpt.encode_checkpoint(state.tensors, spec_cids[intervals[0]], digest)
        t2 = time.perf_counter()
        store.put(data)  # same bytes each time: what a provider pays per checkpoint upload
        t3 = time.perf_counter()
        parts["hash"].append(t1 - t0)
        parts["encode"].append(t2 - t1)
        parts["upload"].append(t3 - t2)
    import statistics

    s1 = initial_state_from(base_spec)
    for _ in range(5):
        t0 = time.perf_counter()
        engine.run(s1, 0, 1)
        parts["step"].append(time.perf_counter() - t0)
    per_ckpt = {k: statistics.median(v) for k, v in parts.items()}

    # Where the time of one committed run at the default interval goes.
    import cProfile
    import io
    import pstats

    k = DEFAULT_INTERVAL if DEFAULT_INTERVAL in specs else intervals[0]
    before = (blobs.requests, blobs.artifacts)
    prof = cProfile.Profile()
    prof.enable()
    train_job(specs[k], train, store, spec_cid=spec_cids[k])
    prof.disable()
    uploads = {"requests": blobs.requests - before[0], "artifacts": blobs.artifacts - before[1]}
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(14)
    return {
        "times": times,
        "steps": steps,
        "final_hashes": sorted(final_hashes),
        "per_checkpoint": per_ckpt,
        "checkpoint_bytes": len(data),
        "state_bytes": sum(t.numel() * t.element_size() for t in state.tensors.values()),
        "profile_top": _trim_profile(buf.getvalue()),
        "uploads": uploads,
    }


def _trim_profile(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    out = []
    for line in lines[start : start + 15]:
        out.append(line.replace(str(ROOT) + "/", "").replace(sys.prefix, "<venv>")[:150])
    return "\n".join(out)


def _child_main(argv: list[str]) -> int:
    mode, arch, cfg = argv[0], argv[1], json.loads(argv[2])
    if mode in PLAIN_MODES:
        # plain1env takes the profile's oneDNN switch too: its oneDNN-off convolutions are a profile
        # cost (cnn: 1.06-1.27x on the plain loop), not the functional step's.
        out = child_plain(arch, cfg["steps"], cfg["reps"], onednn=mode != "plain1env")
    elif mode == "avx2":
        out = child_profile_engine(arch, cfg["steps"], cfg["reps"], "cpu-avx2")
    else:
        out = child_engine(arch, cfg["steps"], cfg["reps"], cfg["intervals"], cfg["ipfs"])
    print(json.dumps(out))
    return 0


# ------------------------------------------------------------------------------------------- parent


def _run_child(mode: str, arch: str, cfg: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    if mode in PLAIN_MODES or mode == "avx2":
        for var in PROFILE_VARS:
            env.pop(var, None)
    if mode == "avx2":
        env["CRUCIBLE_CPU_PROFILE"] = "cpu-avx2"
    if mode in ("plain1", "plain1env"):
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if mode == "plain1env":
        env.update(MKL_CBWR="COMPATIBLE", ATEN_CPU_CAPABILITY="default")
    cmd = [sys.executable, "-m", "benchmarks.sec_overhead", "--child", mode, arch, json.dumps(cfg)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"overhead child {mode}/{arch} failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(ctx: Any, archs: list[str] | None = None) -> dict[str, Any]:
    from benchmarks.common import median, spread

    plan = QUICK if ctx.quick else FULL
    ipfs = ctx.ipfs().url
    results: dict[str, Any] = {}
    for arch in archs or list(plan):
        steps, intervals, reps = plan[arch]
        ctx.log(f"  overhead: {arch} (T={steps}, k in {intervals}, {reps} reps)")
        cfg = {"steps": steps, "reps": reps, "intervals": intervals, "ipfs": ipfs}
        plain = {mode: _run_child(mode, arch, cfg) for mode in PLAIN_MODES}
        base = plain["baseline"]
        eng = _run_child("engine", arch, cfg)
        avx2 = _run_child("avx2", arch, cfg) if _has_avx2() else None
        row: dict[str, Any] = {
            "steps": steps,
            "reps": reps,
            "intervals": intervals,
            "native_capability": base.get("cpu_capability"),
            "threads": base.get("threads"),
            "per_checkpoint": eng["per_checkpoint"],
            "checkpoint_bytes": eng["checkpoint_bytes"],
            "state_bytes": eng["state_bytes"],
            "profile_top": eng["profile_top"],
            "uploads": eng["uploads"],
            "avx2_capability": None if avx2 is None else avx2["cpu_capability"],
            "avx2_reproducible": None if avx2 is None else len(avx2["final_hashes"]) == 1,
            "reproducible": len(eng["final_hashes"]) == 1,
        }
        med = {mode: median(plain[mode]["times"]) for mode in PLAIN_MODES}
        rng = {mode: spread(plain[mode]["times"]) for mode in PLAIN_MODES}
        row["plain_capability"] = {mode: plain[mode].get("cpu_capability") for mode in PLAIN_MODES}
        for name, ts in eng["times"].items():
            med[name], rng[name] = median(ts), spread(ts)
        if avx2 is not None:
            med["avx2"], rng["avx2"] = median(avx2["times"]), spread(avx2["times"])
        row["median_s"], row["range_s"] = med, rng
        e = med["engine"]
        fastest = min(med["baseline"], med["plain1"])
        row["profile_cost"] = {
            "engine": e / fastest,  # against the fastest plain loop on this machine
            "engine_vs_default": e / med["baseline"],
            "threads": med["plain1"] / med["baseline"],
            "kernels": med["plain1env"] / med["plain1"],
            "functional_step": e / med["plain1env"],
            "avx2": med["avx2"] / fastest if "avx2" in med else None,
        }
        row["overhead_pct"] = {
            k: {"hash": (med[f"hashed/{k}"] / e - 1) * 100, "commit": (med[f"committed/{k}"] / e - 1) * 100}
            for k in intervals
        }
        results[arch] = row
    return {"archs": results, "default_interval": DEFAULT_INTERVAL, "target_pct": TARGET_PCT}


def headline(result: dict[str, Any]) -> dict[str, Any]:
    k = result["default_interval"]
    out = {}
    for arch, row in result["archs"].items():
        ov = row["overhead_pct"].get(str(k)) or row["overhead_pct"].get(k)
        out[arch] = {
            "profile_cost_x": row["profile_cost"]["engine"],
            "avx2_cost_x": row["profile_cost"].get("avx2"),
            "profile_target_x": TARGET_PROFILE_X.get(arch),
            "commit_pct": None if ov is None else ov["commit"],
            "ok": None if ov is None else ov["commit"] <= result["target_pct"],
        }
    return out


def break_even_interval(row: dict[str, Any], target_pct: float) -> float:
    """Smallest k at which the serial per-checkpoint cost (hash + encode + upload) is ≤ target of k steps."""
    p = row["per_checkpoint"]
    return (p["hash"] + p["encode"] + p["upload"]) / (p["step"] * target_pct / 100)


def render(result: dict[str, Any], plots: Path) -> str:
    from benchmarks.common import plotting, save, table

    k0, target = result["default_interval"], result["target_pct"]
    archs = result["archs"]
    lines = [
        "## 1. Training overhead: plain PyTorch vs the engine",
        "",
        'The bench example jobs (`example_job(arch, "bench")`: mlp 64→128→64→10 SGD-momentum on digits, '
        "cnn 16/32 channels AdamW on 8×8 digits, gpt 2 layers × 4 heads × 64 dims AdamW on the text corpus), "
        "batch 32. Seconds are medians over the repetitions (min–max in brackets). Each column is measured in "
        "the same run as the baseline to its left.",
        "",
        table(
            [
                "job",
                "T",
                "plain PyTorch (default threads)",
                "plain, 1 thread",
                "plain, 1 thread + profile env",
                "engine (cpu-portable)",
                f"engine + commitments (k={k0})",
                "engine (cpu-avx2)",
            ],
            [
                (
                    arch,
                    r["steps"],
                    _s(r, "baseline"),
                    _s(r, "plain1"),
                    _s(r, "plain1env"),
                    _s(r, "engine"),
                    _s(r, f"committed/{k0}"),
                    _s(r, "avx2"),
                )
                for arch, r in archs.items()
            ],
        ),
        "",
        table(
            [
                "job",
                "profile cost: engine / fastest plain loop",
                "cpu-avx2 profile / fastest plain loop",
                "target",
                "engine / plain default",
                "1 thread vs default",
                "portable kernels, oneDNN off (profile env)",
                "functional step + batch generator",
                f"commitment overhead (k={k0}): committed / engine − 1",
            ],
            [
                (
                    arch,
                    f"**{r['profile_cost']['engine']:.2f}×**",
                    "–" if r["profile_cost"].get("avx2") is None else f"**{r['profile_cost']['avx2']:.2f}×**",
                    f"≤ {TARGET_PROFILE_X.get(arch, 0):.1f}×",
                    f"{r['profile_cost']['engine_vs_default']:.2f}×",
                    f"{r['profile_cost']['threads']:.2f}×",
                    f"{r['profile_cost']['kernels']:.2f}×",
                    f"{r['profile_cost']['functional_step']:.2f}×",
                    f"**{_pct(r, k0, 'commit')}**",
                )
                for arch, r in archs.items()
            ],
        ),
        "",
        "The profile cost is the product of its three factors: pinning one intra-op thread (on a 2-core machine "
        "shared with other work, one thread can be *faster* than torch's default), the portable "
        "(`ATEN_CPU_CAPABILITY=default`) kernels with oneDNN off, and the engine's out-of-place functional step "
        "with its per-step seeded generator. It is reported against the faster of the two plain loops, so a slow "
        "default does not flatter the engine. Native kernels on this machine: "
        + ", ".join(sorted({str(r.get("native_capability")) for r in archs.values()}))
        + ". The `cpu-avx2` profile runs ATen's AVX2 kernels and MKL's AVX2 path in strict reproducible mode "
        "(one thread, oneDNN off) in a process started with `CRUCIBLE_CPU_PROFILE=cpu-avx2`; its final state "
        "hashes were identical across repetitions: "
        + ", ".join(f"{a}: {'yes' if r.get('avx2_reproducible') else 'no'}" for a, r in archs.items())
        + " (bitwise reproducibility across processes and thread counts is `tests/test_profile_avx2.py`).",
        "",
        f"Target: commitment overhead ≤ {target:.0f}% at the default interval k = {k0}. "
        + "; ".join(
            f"{arch}: **{'met' if _ov(r, k0, 'commit') <= target else 'missed'}** ({_pct(r, k0, 'commit')})"
            for arch, r in archs.items()
            if _ov(r, k0, "commit") is not None
        )
        + ".",
        "",
        "### Overhead vs checkpoint interval",
        "",
        table(
            ["job", "k", "checkpoints", "hashing only", "hashing + uploads (train_job)"],
            [
                (arch, k, r["steps"] // k + 1, _pct(r, k, "hash"), _pct(r, k, "commit"))
                for arch, r in archs.items()
                for k in r["intervals"]
            ],
        ),
        "",
        "### Where the commitment time goes (per checkpoint, medians of 15)",
        "",
        table(
            [
                "job",
                "state bytes",
                "checkpoint file bytes",
                "one training step",
                "state hash (SHA-256)",
                "encode (safetensors)",
                "IPFS upload (js-ipfs, loopback)",
                f"k where the serial cost ≤ {target:.0f}%",
            ],
            [
                (
                    arch,
                    f"{r['state_bytes']:,}",
                    f"{r['checkpoint_bytes']:,}",
                    _ms(r["per_checkpoint"]["step"]),
                    _ms(r["per_checkpoint"]["hash"]),
                    _ms(r["per_checkpoint"]["encode"]),
                    _ms(r["per_checkpoint"]["upload"]),
                    f"≈ {break_even_interval(r, target):.0f}",
                )
                for arch, r in archs.items()
            ],
        ),
        "",
        "The training thread pays only the hash; encoding and upload run on the background uploader thread, "
        "which gathers the checkpoints that arrive within 0.25 s and uploads them in one request (each still "
        "its own file with its own CIDv0), the final model riding with the last ones. Upload requests per job "
        f"at k = {k0}: "
        + ", ".join(
            f"{a}: {r['uploads']['requests']} requests for {r['uploads']['artifacts']} artifacts"
            for a, r in archs.items()
            if r.get("uploads")
        )
        + " (before batching: one request per artifact). The per-checkpoint upload figure below is one "
        "checkpoint uploaded alone, i.e. the cost batching amortises.",
        "",
        _explain(archs, k0, target),
        "",
        "<details><summary>cProfile of one committed run at the default interval (top by own time)</summary>",
        "",
    ]
    for arch, r in archs.items():
        lines += [f"**{arch}**", "", "```", r["profile_top"], "```", ""]
    lines += ["</details>"]
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        for arch, r in archs.items():
            ks = r["intervals"]
            (line,) = ax.plot(ks, [_ov(r, k, "commit") for k in ks], "o-", label=f"{arch}: hash + upload")
            ax.plot(ks, [_ov(r, k, "hash") for k in ks], "x:", color=line.get_color(), label=f"{arch}: hash only")
        ax.axhline(target, color="red", lw=0.8, ls="--", label=f"target {target:.0f}%")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xscale("log")
        ax.set_xlabel("checkpoint interval k (steps)")
        ax.set_ylabel("overhead vs engine without commitments (%)")
        ax.set_title("Commitment overhead vs checkpoint interval")
        ax.legend(fontsize=7, ncol=2)
        lines += ["", f"![overhead vs interval](plots/{save(fig, plots / 'overhead_vs_interval.png')})"]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = list(archs)
        cols = [
            ("baseline", "plain PyTorch"),
            ("plain1", "plain, 1 thread"),
            ("plain1env", "+ profile env"),
            ("engine", "engine"),
            (f"committed/{k0}", f"engine + commitments (k={k0})"),
        ]
        width = 0.16
        for i, (key, label) in enumerate(cols):
            ax.bar(
                [j + i * width for j in range(len(names))],
                [archs[a]["median_s"][key] / archs[a]["median_s"]["baseline"] for a in names],
                width,
                label=label,
            )
        ax.set_xticks([j + 2 * width for j in range(len(names))], names)
        ax.set_ylabel("time relative to plain PyTorch")
        ax.set_title("Cost of determinism and commitments")
        ax.legend(fontsize=7)
        lines += ["", f"![relative cost](plots/{save(fig, plots / 'overhead_relative.png')})"]
    return "\n".join(lines)


def _ov(r: dict[str, Any], k: int, part: str) -> float | None:
    ov = r["overhead_pct"].get(str(k)) or r["overhead_pct"].get(k)
    return None if ov is None else float(ov[part])


def _pct(r: dict[str, Any], k: int, part: str) -> str:
    v = _ov(r, k, part)
    return "–" if v is None else f"{v:+.1f}%"


def _s(r: dict[str, Any], key: str) -> str:
    if key not in r["median_s"]:
        return "–"
    lo, hi = r["range_s"][key]
    return f"{r['median_s'][key]:.2f} s [{lo:.2f}–{hi:.2f}]"


def _ms(s: float) -> str:
    return f"{s * 1000:.2f} ms"


def _explain(archs: dict[str, Any], k0: int, target: float) -> str:
    missed = [a for a, r in archs.items() if (_ov(r, k0, "commit") or 0) > target]
    if not missed:
        return f"Every job meets the {target:.0f}% target at k = {k0}."
    parts = []
    for a in missed:
        r = archs[a]
        p = r["per_checkpoint"]
        serial = p["hash"] + p["encode"] + p["upload"]
        parts.append(
            f"{a}: one step takes {p['step'] * 1000:.2f} ms, so k = {k0} steps are "
            f"{p['step'] * k0 * 1000:.1f} ms of training against {serial * 1000:.1f} ms of hashing, "
            f"encoding and uploading per checkpoint; the cost is per checkpoint, not per step, so it "
            f"falls as 1/k (≤ {target:.0f}% from k ≈ {break_even_interval(r, target):.0f})"
        )
    worst = max((archs[a]["per_checkpoint"] for a in missed), key=lambda p: p["hash"] + p["encode"] + p["upload"])
    need = (worst["hash"] + worst["encode"] + worst["upload"]) / (k0 * target / 100)
    return (
        "**Why the target is missed where it is:** " + "; ".join(parts) + ". With this machine's "
        f"per-checkpoint cost, any model whose training step takes ≥ {need * 1000:.0f} ms meets the target "
        f"at k = {k0}; the small bench models step in about a millisecond, so the fixed cost of a checkpoint "
        "(mostly the upload to the Node.js IPFS node, which shares the 2 cores) is not amortised. Where a "
        "row misses with a per-checkpoint cost far below its step time, the difference is run-to-run noise "
        "on this shared machine (see the min–max ranges) and per-job fixed costs (final model and manifest "
        "uploads, waiting for the last checkpoint's upload)."
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        raise SystemExit(_child_main(sys.argv[2:]))
    raise SystemExit("run `python -m benchmarks` (this module is one section of it)")
