"""The ``cpu-avx2`` profile: bitwise reproducible across processes and thread counts, and refused,
naming the missing instructions, where the CPU cannot reproduce it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import crucible.protocol.profiles

crucible.protocol.profiles.prepare_environment()

import pytest  # noqa: E402

from crucible.engine.examples import example_job  # noqa: E402
from crucible.engine.step import Engine  # noqa: E402
from crucible.errors import ProfileError  # noqa: E402
from crucible.protocol import profiles  # noqa: E402
from crucible.protocol.spec import validate_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HAS_AVX2 = {"avx2", "fma"} <= profiles.cpu_flags()

# One process for the cpu-avx2 profile: every checkpoint hash and the trace root of each tiny job,
# trained with the caller's intra-op thread count set to argv[1] (the engine pins its own).
_CHILD = """
import json, sys, torch
import crucible
from crucible.engine.examples import example_job
from crucible.engine.job import trace_commitment
from crucible.engine.step import Engine, initial_state_from
torch.set_num_threads(int(sys.argv[1]))
out = {"capability": torch.backends.cpu.get_cpu_capability()}
for arch in ("mlp", "cnn", "gpt"):
    spec, train, _ = example_job(arch)
    spec = spec.model_copy(update={"profile": "cpu-avx2"})
    hashes, root = trace_commitment(spec, train, initial_state_from(spec))
    out[arch] = [h.hex() for h in hashes] + [root.hex()]
out["manifest_env"] = Engine(spec, train).profile.model_dump()
print(json.dumps(out))
"""


def _avx2_spec(arch: str = "mlp"):  # type: ignore[no-untyped-def]
    spec, train, _ = example_job(arch)
    return validate_spec({**spec.model_dump(mode="json"), "profile": "cpu-avx2"}), train


def _child(code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.skipif(not HAS_AVX2, reason="this CPU has no AVX2/FMA: the refusal tests below cover it")
def test_cpu_avx2_is_bitwise_reproducible_across_processes_and_thread_counts():
    runs = []
    for threads in ("1", "2", "2"):  # two processes with 2 threads, one with 1
        result = _child(_CHILD, threads, CRUCIBLE_CPU_PROFILE="cpu-avx2")
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    first = runs[0]
    assert first["capability"] == "AVX2"
    assert first["manifest_env"]["profile"] == "cpu-avx2"
    assert first["manifest_env"]["cpu_capability"] == "AVX2" and first["manifest_env"]["intra_op_threads"] == 1
    assert all(run == first for run in runs[1:])


def test_cpu_without_avx2_refuses_the_profile_naming_the_instructions(monkeypatch):
    monkeypatch.setattr(profiles, "cpu_flags", lambda: frozenset({"sse2", "sse4_2", "avx"}))
    spec, train = _avx2_spec()

    with pytest.raises(ProfileError, match=r"lacks the AVX2, FMA instructions the 'cpu-avx2' profile computes with"):
        profiles.ensure_profile("cpu-avx2")
    with pytest.raises(ProfileError, match="lacks the AVX2, FMA instructions"):
        Engine(spec, train)  # what a worker, verifier or oracle builds before any step
    monkeypatch.setenv(profiles.CPU_PROFILE_VAR, "cpu-avx2")
    with pytest.raises(ProfileError, match="lacks the AVX2, FMA instructions"):
        profiles.prepare_environment()  # a process started for cpu-avx2 is refused at start


def test_cpu_with_only_avx2_lacking_fma_names_fma(monkeypatch):
    monkeypatch.setattr(profiles, "cpu_flags", lambda: frozenset({"avx", "avx2"}))

    with pytest.raises(ProfileError, match=r"lacks the FMA instructions"):
        profiles.ensure_profile("cpu-avx2")


@pytest.mark.skipif(not HAS_AVX2, reason="needs a CPU with AVX2/FMA to reach the process check")
def test_portable_process_refuses_cpu_avx2_and_says_how_to_start_one():
    spec, train = _avx2_spec()

    with pytest.raises(ProfileError, match="start a process for it with CRUCIBLE_CPU_PROFILE=cpu-avx2"):
        Engine(spec, train)


def test_unknown_process_cpu_profile_is_refused():
    result = _child("import crucible", CRUCIBLE_CPU_PROFILE="cpu-avx9")
    assert result.returncode != 0
    assert "CRUCIBLE_CPU_PROFILE='cpu-avx9' is not a CPU profile; allowed: cpu-portable, cpu-avx2" in result.stderr
