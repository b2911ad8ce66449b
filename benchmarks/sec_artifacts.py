"""Section 6, artifacts: checkpoint sizes and IPFS upload/fetch throughput vs model size.

Training states of mlp models of growing width (parameters + SGD momentum, float32), each encoded as
a checkpoint (safetensors + metadata), hashed, uploaded to the js-ipfs node and fetched back with
its hash checked (``ArtifactStore.fetch_checkpoint``). Baselines measured in the same run on the same
bytes: ``hashlib.sha256`` over the raw bytes and a plain local-disk write + read.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Ctx, median, plotting, save, table

FULL_HIDDEN = [64, 256, 1024, 2048]
QUICK_HIDDEN = [64, 512]


def _state(hidden: int) -> Any:
    from crucible.engine.step import initial_state_from
    from crucible.protocol.spec import validate_spec

    spec = validate_spec(
        {
            "version": 1,
            "model": {"arch": "mlp", "input_dim": 64, "hidden": [hidden, hidden], "num_classes": 10},
            "dataset": {"kind": "classification", "cid": "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"},
            "train": {
                "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
                "loss": "cross_entropy",
                "batch_size": 8,
                "total_steps": 4,
                "checkpoint_interval": 4,
                "seed": hidden,
            },
        }
    )
    return initial_state_from(spec)


def one_size(ctx: Ctx, hidden: int, reps: int) -> dict[str, Any]:
    from crucible.engine.step import TrainState
    from crucible.protocol import checkpoint as ckpt

    state = _state(hidden)
    store = ctx.store()
    nbytes = sum(t.numel() * t.element_size() for t in state.tensors.values())
    params = sum(t.numel() for n, t in state.tensors.items() if n.startswith("param/"))
    tm: dict[str, list[float]] = {
        k: [] for k in ("hash", "encode", "upload", "fetch", "sha256_raw", "disk_write", "disk_read")
    }
    path = ctx.home / f"artifact-{hidden}.bin"
    for rep in range(reps + 1):  # repetition 0 warms up
        t0 = time.perf_counter()
        digest = state.hash()
        t1 = time.perf_counter()
        data = ckpt.encode_checkpoint(state.tensors, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", digest)
        t2 = time.perf_counter()
        cid = store.put(data)
        t3 = time.perf_counter()
        back = TrainState(store.fetch_checkpoint(cid, expected_hash=digest))
        t4 = time.perf_counter()
        hashlib.sha256(data).digest()
        t5 = time.perf_counter()
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        t6 = time.perf_counter()
        with open(path, "rb") as f:
            f.read()
        t7 = time.perf_counter()
        if rep:
            for key, dt in zip(tm, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True):
                tm[key].append(dt)
        assert back.hash() == digest
    path.unlink(missing_ok=True)
    med = {k: median(v) for k, v in tm.items()}
    mb = len(data) / 1e6
    return {
        "hidden": hidden,
        "params": params,
        "state_bytes": nbytes,
        "checkpoint_bytes": len(data),
        "seconds": med,
        "mb_per_s": {k: mb / v if v > 0 else float("inf") for k, v in med.items()},
    }


def run(ctx: Ctx) -> dict[str, Any]:
    from crucible.engine.examples import example_job
    from crucible.engine.step import state_bytes

    sizes = QUICK_HIDDEN if ctx.quick else FULL_HIDDEN
    reps = 2 if ctx.quick else 5
    rows = []
    for h in sizes:
        ctx.log(f"  artifacts: mlp hidden {h}")
        rows.append(one_size(ctx, h, reps))
    examples = {}
    for arch in ("mlp", "cnn", "gpt"):
        spec, _, _ = example_job(arch, "bench")
        n = spec.train.total_steps // spec.train.checkpoint_interval
        examples[arch] = {"state_bytes": state_bytes(spec), "checkpoints": n + 1}
    return {"rows": rows, "reps": reps, "examples": examples}


def headline(result: dict[str, Any]) -> dict[str, Any]:
    big = result["rows"][-1]
    return {
        "checkpoint_mb": big["checkpoint_bytes"] / 1e6,
        "upload_mb_s": big["mb_per_s"]["upload"],
        "fetch_mb_s": big["mb_per_s"]["fetch"],
        "disk_write_mb_s": big["mb_per_s"]["disk_write"],
    }


def render(result: dict[str, Any], plots: Path) -> str:
    rows = result["rows"]
    lines = [
        "## 6. Artifacts: checkpoint size and IPFS throughput",
        "",
        "Training states of a 64→h→h→10 mlp with SGD momentum (state = parameters + momentum + step), "
        f"medians of {result['reps']} repetitions after a warm-up. Throughput in MB/s of checkpoint bytes; "
        "baselines on the same bytes in the same run: `hashlib.sha256` and a local-disk write (fsync) and read.",
        "",
        table(
            [
                "h",
                "parameters",
                "state",
                "checkpoint file",
                "state hash",
                "encode",
                "IPFS upload",
                "IPFS fetch + verify",
                "baseline sha256",
                "baseline disk write",
                "baseline disk read",
            ],
            [
                (
                    r["hidden"],
                    f"{r['params']:,}",
                    _mb(r["state_bytes"]),
                    _mb(r["checkpoint_bytes"]),
                    *(
                        _rate(r, k)
                        for k in ("hash", "encode", "upload", "fetch", "sha256_raw", "disk_write", "disk_read")
                    ),
                )
                for r in rows
            ],
        ),
        "",
        "Checkpoint file overhead over the raw state: "
        + ", ".join(f"h={r['hidden']}: +{r['checkpoint_bytes'] - r['state_bytes']:,} B" for r in rows)
        + " (safetensors header with names, dtypes, shapes and the metadata: spec CID, state hash).",
        "",
        "What the example jobs commit to: "
        + "; ".join(
            f"{a} bench: {_mb(e['state_bytes'])} per checkpoint × {e['checkpoints']} checkpoints = "
            f"{_mb(e['state_bytes'] * e['checkpoints'])} per job"
            for a, e in result["examples"].items()
        )
        + ". Storage per job grows as (T/k + 1) × state size: the checkpoint interval trades storage and upload "
        "time against the replay work of a verifier (k steps per sampled segment) and the dispute depth "
        "(⌈log₂ k⌉ rounds).",
    ]
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = [r["checkpoint_bytes"] / 1e6 for r in rows]
        for key, label, style in (
            ("upload", "IPFS upload (js-ipfs)", "o-"),
            ("fetch", "IPFS fetch + verify", "s-"),
            ("hash", "state hash", "^-"),
            ("encode", "encode", "v-"),
            ("sha256_raw", "baseline: sha256 raw", "x:"),
            ("disk_write", "baseline: disk write+fsync", "d:"),
            ("disk_read", "baseline: disk read", "+:"),
        ):
            ax.plot(xs, [r["mb_per_s"][key] for r in rows], style, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("checkpoint size (MB)")
        ax.set_ylabel("throughput (MB/s)")
        ax.set_title("Artifact throughput vs checkpoint size")
        ax.legend(fontsize=7)
        lines += ["", f"![artifact throughput](plots/{save(fig, plots / 'artifacts.png')})"]
    return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _rate(r: dict[str, Any], key: str) -> str:
    return f"{r['mb_per_s'][key]:.0f} MB/s ({r['seconds'][key] * 1000:.1f} ms)"
