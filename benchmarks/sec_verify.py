"""Section 4, verification cost: the oracle's one-step replay vs the provider's T-step training, and
the verifier's replay cost vs the probability that it catches a forged segment.

No chain needed: the oracle's work is fetch S_a from IPFS (hash-checked) + replay one step on the
job's cached engine + hash;
the verifier's is ``verifier.audit.audit_result`` on a real uploaded trace, here of a provider that
forged one segment (``PoisonStep``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Ctx, median, plotting, save, spread, table

PROVIDER_T = {"mlp": 200, "cnn": 200, "gpt": 40}
QUICK_T = {"mlp": 40, "cnn": 40, "gpt": 10}


#: The oracle's target: fetch + check + replay + hash of one step ≤ this many average provider steps.
TARGET_PROVIDER_STEPS = 2.0


#: Warm disputes timed per job: each is a few provider steps, so enough of them for a stable median on
#: a shared machine, where the median of the whole and the medians of its parts can differ by far more
#: than the parts' own cost when there are only a few.
ORACLE_WARM = {"mlp": 21, "cnn": 21, "gpt": 7}


def oracle_vs_provider(ctx: Ctx, arch: str, T: int, reps: int, warm: int | None = None) -> dict[str, Any]:
    """The provider's T steps against the oracle's work on one Segment dispute of the same job.

    The oracle's path is ``oracle.judge.Replayer``, the code ``Judge`` runs for a Segment dispute:
    its engine comes from an ``EngineCache`` keyed by the spec and dataset CIDs and the layout check
    of S_a is remembered per job, so the model build and the dataset validation are paid by the
    first dispute of a job ("cold") and not again ("warm")."""
    from crucible.engine.examples import example_job
    from crucible.engine.job import train_job
    from crucible.engine.step import Engine, initial_state_from
    from oracle.judge import Replayer

    spec, train, _ = example_job(arch, "bench", total_steps=T, checkpoint_interval=T // 2 if T >= 4 else T)
    store = ctx.store()
    spec_cid = store.put_spec(spec)
    provider, provider_engine = [], []
    train_job(spec, train, store, spec_cid=spec_cid)  # warm-up, not timed
    for _ in range(reps):
        start = time.perf_counter()
        result = train_job(spec, train, store, spec_cid=spec_cid)
        provider.append(time.perf_counter() - start)
        start = time.perf_counter()
        Engine(spec, train).run(initial_state_from(spec), 0, T)
        provider_engine.append(time.perf_counter() - start)
    entry = result.checkpoints[1]  # the dispute's S_a: a mid-trace checkpoint
    a = entry.step
    expected = None
    oracle = Replayer(store)  # a new oracle: repetition 0 is the first dispute of the job
    warm = warm or (5 if ctx.quick else ORACLE_WARM.get(arch, 7))
    fetch, transfer, replay, total, cold, warm_step = [], [], [], [], [], []
    for rep in range(warm + 1):
        start = time.perf_counter()
        state = oracle.agreed_state(spec_cid, spec, entry.cid, entry.digest, a)
        fetched = time.perf_counter()
        engine = oracle.engines.get((spec_cid, spec.dataset.cid), lambda: Engine(spec, train))
        digest, step_s = oracle.replay(engine, state)
        end = time.perf_counter()
        assert expected in (None, digest), "the oracle's replay must not depend on its cache"
        expected = digest
        if rep == 0:
            cold.append(end - start)
            continue
        fetch.append(fetched - start)
        transfer.append(store.fetches[-1][0])  # the node's answer alone, inside fetch
        warm_step.append(step_s)
        replay.append(end - fetched)
        total.append(end - start)
    provider_step = median(provider) / T
    return {
        "arch": arch,
        "T": T,
        "provider_s": median(provider),
        "provider_range": spread(provider),
        "provider_engine_s": median(provider_engine),
        "provider_step_s": provider_step,
        "oracle_warm_disputes": warm,
        "oracle_fetch_s": median(fetch),
        "oracle_transfer_s": median(transfer),
        "oracle_step_s": median(warm_step),
        "oracle_replay_s": median(replay),
        "oracle_total_s": median(total),
        "oracle_total_range": spread(total),
        "oracle_cold_s": cold[0],
        "steps_total": median(total) / provider_step,
        "steps_total_engine_only": median(total) / (median(provider_engine) / T),
        "steps_cold": cold[0] / provider_step,
        "ratio_step": median(warm_step) / median(provider),
        "ratio_replay": median(replay) / median(provider),
        "ratio_total": median(total) / median(provider),
        "one_over_T": 1 / T,
    }


def verifier_sampling(ctx: Ctx, n: int, k: int, trials: int) -> dict[str, Any]:
    from crucible.chain.market import SubmittedResult
    from crucible.engine.job import train_job
    from crucible.protocol.data import build_digits, dataset_bytes
    from crucible.protocol.spec import validate_spec
    from crucible.testing.adversaries import PoisonStep
    from verifier.audit import FindingKind, audit_result

    store = ctx.store()
    train, _ = build_digits()
    spec = validate_spec(
        {
            "version": 1,
            "model": {"arch": "mlp", "input_dim": 64, "hidden": [64], "num_classes": 10},
            "dataset": {"kind": "classification", "cid": store.put(dataset_bytes(train))},
            "train": {
                "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
                "loss": "cross_entropy",
                "batch_size": 32,
                "total_steps": n * k,
                "checkpoint_interval": k,
                "seed": 5,
            },
        }
    )
    spec_cid = store.put_spec(spec)
    forged_segment = n // 2
    start = time.perf_counter()
    honest = train_job(spec, train, store, spec_cid=spec_cid)
    provider_s = time.perf_counter() - start
    engine = PoisonStep(forged_segment * k + k // 2).engine(spec, train)
    forged = train_job(spec, train, store, spec_cid=spec_cid, engine=engine)
    assert honest.checkpoints[forged_segment].digest == forged.checkpoints[forged_segment].digest
    assert honest.checkpoints[forged_segment + 1].digest != forged.checkpoints[forged_segment + 1].digest
    result = SubmittedResult(forged.trace_root, forged.final_state_hash, forged.manifest_cid, forged.final_model_cid, 0)
    qs = sorted({1, 2, max(1, n // 4), max(1, n // 2), n})
    rows = []
    for q in qs:
        times, caught = [], 0
        for trial in range(trials):
            rng = random.Random(1000 * q + trial)
            t0 = time.perf_counter()
            audit, _ = audit_result(1, spec, train, store, result, sample=q, rng=rng)
            times.append(time.perf_counter() - t0)
            caught += any(f.kind == FindingKind.SEGMENT and f.segment == forged_segment for f in audit.findings)
        rows.append(
            {
                "q": q,
                "audit_s": median(times),
                "audit_range": spread(times),
                "detected": caught / trials,
                "theory_single": q / n,
                "cost_fraction": median(times) / provider_s,
            }
        )
    return {"n": n, "k": k, "trials": trials, "provider_s": provider_s, "rows": rows}


def run(ctx: Ctx) -> dict[str, Any]:
    plan = QUICK_T if ctx.quick else PROVIDER_T
    reps = 1 if ctx.quick else 3
    oracle = []
    for arch, T in plan.items():
        ctx.log(f"  verification: oracle vs provider, {arch} (T={T})")
        oracle.append(oracle_vs_provider(ctx, arch, T, reps))
    ctx.log("  verification: verifier sampling")
    sampling = verifier_sampling(ctx, n=10, k=30 if not ctx.quick else 8, trials=5 if ctx.quick else 20)
    return {"oracle": oracle, "sampling": sampling}


def escape(f: float, q: int) -> float:
    return (1 - f) ** q


def headline(result: dict[str, Any]) -> dict[str, Any]:
    return {
        r["arch"]: {
            "provider_steps": r["steps_total"],
            "ratio_total": r["ratio_total"],
            "one_over_T": r["one_over_T"],
            "ok": r["steps_total"] <= TARGET_PROVIDER_STEPS,
        }
        for r in result["oracle"]
    }


def render(result: dict[str, Any], plots: Path) -> str:
    s = result["sampling"]
    lines = [
        "## 4. Verification cost",
        "",
        "### The oracle's replay vs the provider's training",
        "",
        "Provider: `train_job` for T steps of the bench job (hashing + uploads included; engine-only time in "
        "brackets); a provider step is that time / T. Oracle: what `Judge` does for a Segment dispute: fetch "
        "the agreed state S_a from IPFS, check its hash and layout, replay step a on the job's engine, hash "
        "the result (`oracle.judge.Replayer`, the code `Judge` runs). The judge keeps engines by spec and "
        "dataset CID and the state layout it accepted per job, so the model build, the dataset validation "
        "(a full `isfinite` scan) and the layout check against the model are paid by the first dispute of a "
        "job (cold) and not by the next ones (warm). Medians of the warm disputes; the whole is measured per "
        "dispute, so it need not equal the sum of the parts' medians.",
        "",
        table(
            [
                "job",
                "T",
                "provider: T steps",
                "one provider step",
                "oracle: fetch + check S_a (the node's answer)",
                "oracle: replay + hash",
                "oracle: whole (warm)",
                "in provider steps (warm)",
                f"target ≤ {TARGET_PROVIDER_STEPS:.0f}",
                "first dispute of a job (cold)",
                "ratio to the provider's T steps",
            ],
            [
                (
                    r["arch"],
                    r["T"],
                    f"{r['provider_s']:.3f} s ({r['provider_engine_s']:.3f} s)",
                    f"{r['provider_step_s'] * 1000:.2f} ms",
                    f"{r['oracle_fetch_s'] * 1000:.2f} ms"
                    + (f" ({r['oracle_transfer_s'] * 1000:.2f} ms)" if "oracle_transfer_s" in r else ""),
                    f"{r['oracle_replay_s'] * 1000:.2f} ms",
                    f"{r['oracle_total_s'] * 1000:.2f} ms",
                    f"**{r['steps_total']:.1f}**",
                    "**met**" if r["steps_total"] <= TARGET_PROVIDER_STEPS else "**missed**",
                    f"{r['oracle_cold_s'] * 1000:.1f} ms ({r['steps_cold']:.1f} steps)",
                    f"1/{1 / r['ratio_total']:.0f}",
                )
                for r in result["oracle"]
            ],
        ),
        "",
        "What is left of the oracle's work is the step itself, the fetch of S_a (one request to the IPFS "
        "node on a kept-alive connection, the safetensors parse and the state hash) and the hash of the "
        "result. Where a row misses, compare the fetch column with one provider step: for a model whose "
        "step takes about a millisecond, one round trip to the node is itself worth a step or more.",
        "",
        f"### The verifier: replay cost vs detection probability (n = {s['n']} segments of k = {s['k']} steps)",
        "",
        f"A provider forged one of the {s['n']} segments (f = 1/n, `PoisonStep`). The verifier samples q segments "
        "unpredictably and replays each from the provider's own checkpoint (`audit_result`, which also checks "
        f"C_0 and the final model). {s['trials']} audits per q with different seeds. Provider's training: "
        f"{s['provider_s']:.2f} s.",
        "",
        table(
            [
                "q",
                "audit time (median)",
                "cost vs provider",
                "caught (measured)",
                "q/n (theory, one forged)",
                "catch prob. if 10% forged: 1−0.9^q",
            ],
            [
                (
                    r["q"],
                    f"{r['audit_s']:.3f} s",
                    f"{r['cost_fraction']:.2f}×",
                    f"{r['detected']:.0%}",
                    f"{r['theory_single']:.0%}",
                    f"{1 - escape(0.1, r['q']):.0%}",
                )
                for r in s["rows"]
            ],
        ),
        "",
        "The verifier's cost grows linearly in q (each sample is k replayed steps plus a checkpoint fetch), the "
        "probability of catching a forgery of a fraction f of the segments as 1 − (1 − f)^q. A cheater who "
        "forges one segment in n is caught with probability q/n per verifier, so the deterrent is the stake "
        "times that probability; several independent verifiers multiply the escape probabilities.",
    ]
    plt = plotting()
    if plt is not None:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        names = [r["arch"] for r in result["oracle"]]
        x = range(len(names))
        ax1.bar(
            [i - 0.2 for i in x],
            [r["steps_total"] for r in result["oracle"]],
            0.4,
            label="warm dispute (measured)",
        )
        ax1.bar([i + 0.2 for i in x], [r["steps_cold"] for r in result["oracle"]], 0.4, label="first dispute (cold)")
        ax1.axhline(TARGET_PROVIDER_STEPS, color="red", lw=0.8, ls="--", label=f"target {TARGET_PROVIDER_STEPS:.0f}")
        ax1.set_xticks(list(x), [f"{n}\nT={r['T']}" for n, r in zip(names, result["oracle"], strict=True)])
        ax1.set_yscale("log")
        ax1.set_ylabel("oracle work, in provider steps")
        ax1.set_title("Oracle: fetch + check + replay + hash of one step")
        ax1.legend(fontsize=7)
        qs = [r["q"] for r in s["rows"]]
        cost = [r["cost_fraction"] for r in s["rows"]]
        ax2.plot(cost, [r["detected"] for r in s["rows"]], "o", ms=8, label=f"measured, 1 of {s['n']} forged")
        n = s["n"]
        frac = [q / n for q in range(1, n + 1)]
        per_q = cost[-1] / qs[-1] if qs else 0
        ax2.plot(
            [q * per_q for q in range(1, n + 1)],
            [q / n for q in range(1, n + 1)],
            "-",
            label=f"theory, 1 of {n} forged: q/n",
        )
        for f, style in ((0.25, ":"), (0.5, "-.")):
            ax2.plot(
                [q * per_q for q in range(1, n + 1)],
                [1 - escape(f, q) for q in range(1, n + 1)],
                style,
                label=f"theory, f = {f:.2f}: 1 − (1 − f)^q",
            )
        del frac
        ax2.set_xlabel("verifier's replay cost / provider's training cost")
        ax2.set_ylabel("probability of catching the forgery")
        ax2.set_title(f"Verifier: cost vs detection (n = {n})")
        ax2.legend(fontsize=7)
        lines += ["", f"![verification cost](plots/{save(fig, plots / 'verification_cost.png')})"]
    return "\n".join(lines)
