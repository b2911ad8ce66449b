"""Engine benchmark: what determinism and commitments cost, in steps per second.

For ``mlp`` on the digits and ``gpt`` on the text corpus, in one run, each mode in its own process:

* ``baseline``  plain PyTorch: torch.optim, ``model(x)``, default threads/oneDNN/CPU kernels, no
  checkpoints. Its process starts *without* the profile variables and runs a matmul before
  importing crucible, so torch has picked its native kernels before crucible's import sets them.
* ``engine``    ``Engine.run`` under cpu-portable: no commitments.
* ``committed`` ``train_job``: the same steps plus hashing every k-th state, checkpoint uploads
  in the background, final model and manifest, against a real IPFS node on a free loopback port.

Reports (a) the profile cost ratio baseline/engine and (b) the commitment overhead
(engine/committed - 1) at the job's default checkpoint interval; medians over repetitions.

    .venv/bin/python -m benchmarks.bench_engine [--reps 3] [--out benchmarks/bench_engine.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROFILE_VARS = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "CUBLAS_WORKSPACE_CONFIG")
# (arch, total steps, checkpoint interval): the "bench" example jobs, sized to run ~5-20 s per mode.
WORKLOADS = {"mlp": (2000, 20), "gpt": (200, 20)}


def _spec(arch: str):  # type: ignore[no-untyped-def]
    from crucible.engine.examples import example_job

    steps, interval = WORKLOADS[arch]
    return example_job(arch, "bench", total_steps=steps, checkpoint_interval=interval)


def child_baseline(arch: str, reps: int) -> dict[str, object]:
    import torch

    torch.randn(64, 64) @ torch.randn(64, 64)  # fix torch's native kernels before crucible is imported
    capability = torch.backends.cpu.get_cpu_capability()
    import torch.nn.functional as F

    from crucible.engine.models import build_model

    spec, train, _ = _spec(arch)
    steps = spec.train.total_steps
    times = []
    for _ in range(reps):
        torch.manual_seed(0)
        model = build_model(spec.model)
        opt_cfg = spec.train.optimizer
        if opt_cfg.name == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                model.parameters(), lr=opt_cfg.lr, momentum=opt_cfg.momentum, weight_decay=opt_cfg.weight_decay
            )
        else:
            opt = torch.optim.AdamW(
                model.parameters(),
                lr=opt_cfg.lr,
                betas=tuple(opt_cfg.betas),
                eps=opt_cfg.eps,
                weight_decay=opt_cfg.weight_decay,
            )
        bs = spec.train.batch_size
        start = time.perf_counter()
        for _ in range(steps):
            if arch == "gpt":
                block = spec.model.block_size
                tokens = train["tokens"]
                s = torch.randint(0, tokens.numel() - block, (bs,))
                chunk = tokens[s[:, None] + torch.arange(block + 1)].long()
                logits = model(chunk[:, :-1])
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1))
            else:
                idx = torch.randint(0, train["inputs"].shape[0], (bs,))
                loss = F.cross_entropy(model(train["inputs"][idx]), train["labels"][idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return {"times": times, "steps": steps, "cpu_capability": capability, "threads": torch.get_num_threads()}


def child_engine(arch: str, reps: int) -> dict[str, object]:
    import torch

    from crucible.engine.step import Engine, initial_state_from

    spec, train, _ = _spec(arch)
    engine = Engine(spec, train)
    times, hashes = [], set()
    for _ in range(reps):
        s0 = initial_state_from(spec)
        start = time.perf_counter()
        end = engine.run(s0, 0, spec.train.total_steps)
        times.append(time.perf_counter() - start)
        hashes.add(end.hash().hex())
    return {
        "times": times,
        "steps": spec.train.total_steps,
        "final_hashes": sorted(hashes),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def child_committed(arch: str, reps: int, ipfs_url: str) -> dict[str, object]:
    from crucible.engine.job import train_job
    from crucible.store.artifacts import ArtifactStore
    from crucible.store.ipfs import IpfsStore

    spec, train, _ = _spec(arch)
    store = ArtifactStore(IpfsStore(ipfs_url))
    spec_cid = store.put_spec(spec)
    times, roots, sizes = [], set(), []
    for _ in range(reps):
        start = time.perf_counter()
        result = train_job(spec, train, store, spec_cid=spec_cid)
        times.append(time.perf_counter() - start)
        roots.add(result.trace_root.hex())
        sizes.append(len(store.blobs.cat(result.checkpoints[-1].cid)))
        final_hash = result.final_state_hash.hex()
    return {
        "times": times,
        "steps": spec.train.total_steps,
        "trace_roots": sorted(roots),
        "final_hash": final_hash,
        "checkpoints": len(result.checkpoints),
        "checkpoint_bytes": sizes[-1],
    }


def _run_child(mode: str, arch: str, reps: int, ipfs_url: str) -> dict[str, object]:
    env = dict(os.environ)
    if mode == "baseline":
        for var in PROFILE_VARS:
            env.pop(var, None)
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, arch, str(reps), ipfs_url]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{mode}/{arch} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "bench_engine.json")
    parser.add_argument("--archs", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--child", nargs=4, metavar=("MODE", "ARCH", "REPS", "IPFS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, arch, reps, url = args.child
        fn = {
            "baseline": lambda: child_baseline(arch, int(reps)),
            "engine": lambda: child_engine(arch, int(reps)),
            "committed": lambda: child_committed(arch, int(reps), url),
        }[mode]
        print(json.dumps(fn()))
        return 0

    from crucible.devnet.nodes import start_ipfs

    home = Path(tempfile.mkdtemp(prefix="crucible-bench-"))
    node = start_ipfs(home)
    results: dict[str, dict[str, object]] = {}
    try:
        for arch in args.archs:
            row: dict[str, object] = {}
            for mode in ("baseline", "engine", "committed"):
                r = _run_child(mode, arch, args.reps, node.url)
                med = statistics.median(r["times"])  # type: ignore[arg-type]
                r["median_s"] = med
                r["steps_per_s"] = r["steps"] / med  # type: ignore[operator]
                row[mode] = r
            eng, com, base = (row[m]["steps_per_s"] for m in ("engine", "committed", "baseline"))  # type: ignore[index]
            row["profile_cost_ratio"] = base / eng
            row["commitment_overhead_pct"] = (eng / com - 1.0) * 100.0
            row["interval"] = WORKLOADS[arch][1]
            results[arch] = row
    finally:
        node.daemon.stop()  # by PID, the node this run started

    import platform

    doc = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "reps": args.reps,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        "| job | baseline steps/s | engine (cpu-portable) steps/s | + commitments steps/s | profile cost ratio "
        "| commitment overhead (k) |\n|---|---|---|---|---|---|"
    )
    for arch, row in results.items():
        print(
            f"| {arch} | {row['baseline']['steps_per_s']:.0f} | {row['engine']['steps_per_s']:.0f} | "  # type: ignore[index]
            f"{row['committed']['steps_per_s']:.0f} | {row['profile_cost_ratio']:.2f}x | "  # type: ignore[index]
            f"{row['commitment_overhead_pct']:.1f}% (k={row['interval']}) |"
        )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
