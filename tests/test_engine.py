"""The deterministic step: one run vs segment replays, across processes and thread counts, for mlp/cnn/gpt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import crucible.protocol.profiles

crucible.protocol.profiles.prepare_environment()

import pytest  # noqa: E402
import torch  # noqa: E402

from crucible.engine.examples import example_job  # noqa: E402
from crucible.engine.job import trace_commitment  # noqa: E402
from crucible.engine.models import param_specs, seeded_params  # noqa: E402
from crucible.engine.step import (  # noqa: E402
    Engine,
    TrainState,
    check_state,
    initial_state_from,
    replay_segment,
    state_layout,
    step_seed,
)
from crucible.errors import InvalidDataset, InvalidState, ProfileError  # noqa: E402
from crucible.protocol import hashing, merkle  # noqa: E402
from crucible.protocol.spec import validate_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARCHS = ["mlp", "cnn", "gpt"]

# A standalone process prints every checkpoint hash of each tiny job; compared with in-process runs.
_CHILD = """
import json, sys, torch
import crucible.protocol.profiles; crucible.protocol.profiles.prepare_environment()
from crucible.engine.examples import example_job
from crucible.engine.job import trace_commitment
from crucible.engine.step import initial_state_from
torch.set_num_threads(int(sys.argv[1]))
out = {}
for arch in ("mlp", "cnn", "gpt"):
    spec, train, _ = example_job(arch)
    hashes, root = trace_commitment(spec, train, initial_state_from(spec))
    out[arch] = [h.hex() for h in hashes] + [root.hex()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def jobs():
    return {arch: example_job(arch) for arch in ARCHS}


@pytest.fixture(scope="module")
def one_run(jobs):
    """Per arch: the hashes of every checkpoint and the trace root from one run S_0 -> S_T."""
    out = {}
    for arch, (spec, train, _) in jobs.items():
        hashes, root = trace_commitment(spec, train, initial_state_from(spec))
        out[arch] = [h.hex() for h in hashes] + [root.hex()]
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_segment_replay_matches_one_run(arch, jobs, one_run):
    spec, train, _ = jobs[arch]
    engine = Engine(spec, train)
    k, T = spec.train.checkpoint_interval, spec.train.total_steps
    # Prepare: the checkpoints of one uninterrupted run.
    checkpoints = [initial_state_from(spec)]
    engine.run(checkpoints[0], 0, T, on_step=lambda s: checkpoints.append(s) if s.step % k == 0 else None)
    # Execute: replay each segment from its own checkpoint, in a fresh engine, as a verifier would.
    replayed = [replay_segment(spec, train, checkpoints[i], i * k, (i + 1) * k) for i in range(T // k)]
    # Assert
    hashes = [c.hash() for c in checkpoints]
    assert [h.hex() for h in hashes] + [
        merkle.root([merkle.leaf(i * k, h) for i, h in enumerate(hashes)]).hex()
    ] == one_run[arch]
    assert [r.hash() for r in replayed] == hashes[1:]
    single_steps = engine.run(engine.step(checkpoints[1]), k + 1, 2 * k)
    assert single_steps.hash() == hashes[2]


@pytest.mark.parametrize("arch", ARCHS)
def test_same_hashes_with_two_threads(arch, jobs, one_run):
    spec, train, _ = jobs[arch]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        hashes, root = trace_commitment(spec, train, initial_state_from(spec))
        assert torch.get_num_threads() == 2, "the engine must restore the caller's thread count"
    finally:
        torch.set_num_threads(before)
    assert [h.hex() for h in hashes] + [root.hex()] == one_run[arch]


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_same_hashes_in_another_process(threads, one_run):
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(threads)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == one_run


def test_state_layout_and_immutability(jobs):
    spec, train, _ = jobs["gpt"]
    s0 = initial_state_from(spec)
    assert set(s0.tensors) == set(state_layout(spec))
    assert {n for n in s0.tensors if n.startswith("opt/")} == {
        f"opt/{p}/{slot}" for p in param_specs(spec.model) for slot in ("exp_avg", "exp_avg_sq")
    }
    h0 = s0.hash()
    s1 = Engine(spec, train).step(s0)
    assert s1.step == 1 and s0.step == 0
    assert s0.hash() == h0, "step must not modify its input state"
    with pytest.raises(TypeError):
        s0.tensors["step"] = torch.tensor(5)  # type: ignore[index]


def test_initial_state_is_pure_function_of_spec(jobs):
    spec, _, _ = jobs["cnn"]
    assert initial_state_from(spec).hash() == initial_state_from(spec).hash()
    other = validate_spec(
        {
            **spec.model_dump(mode="json"),
            "model": {**spec.model.model_dump(mode="json"), "init": {"kind": "seeded", "seed": 8}},
        }
    )
    assert initial_state_from(other).hash() != initial_state_from(spec).hash()
    torch.manual_seed(123)  # the global RNG must not matter
    assert initial_state_from(spec).hash() == initial_state_from(spec).hash()


def test_initial_state_golden_hash():
    """S_0 of the tiny mlp job, pinned: a change means every existing job's S_0 changed."""
    spec, _, _ = example_job("mlp")
    assert initial_state_from(spec).hash().hex() == GOLDEN_MLP_S0


def test_step_seed_is_63_bits_and_distinct():
    seeds = {step_seed(7, t) for t in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert step_seed(7, 0) != step_seed(8, 0)


def test_initial_weights_are_used_and_validated():
    base, train, _ = example_job("mlp")
    weights = seeded_params(base.model, 99)
    spec = validate_spec(
        {
            **base.model_dump(mode="json"),
            "model": {**base.model.model_dump(mode="json"), "init": {"kind": "weights", "cid": "Qm" + "a" * 44}},
        }
    )
    s0 = initial_state_from(spec, weights)
    assert hashing.params_hash(s0.tensors) == hashing.state_hash(weights)
    bad = dict(weights)
    bad["layers.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(
        InvalidState, match=r"'layers.0.weight' is float32\[3, 3\], architecture needs float32\[16, 64\]"
    ):
        initial_state_from(spec, bad)
    with pytest.raises(InvalidState, match="missing tensor 'layers.1.bias'"):
        initial_state_from(spec, {n: t for n, t in weights.items() if n != "layers.1.bias"})
    with pytest.raises(InvalidState, match="unexpected tensor 'extra'"):
        initial_state_from(spec, {**weights, "extra": torch.zeros(1)})
    with pytest.raises(InvalidState, match="non-finite"):
        initial_state_from(spec, {**weights, "layers.1.bias": torch.full((10,), float("nan"))})
    with pytest.raises(InvalidState, match="pass them in"):
        initial_state_from(spec)


def test_check_state_rejects_foreign_layout(jobs):
    spec, _, _ = jobs["mlp"]
    s0 = initial_state_from(spec)
    check_state(spec, s0)
    broken = dict(s0.tensors)
    del broken["opt/layers.0.bias/momentum"]
    broken["param/layers.0.bias"] = torch.zeros(3)
    with pytest.raises(
        InvalidState, match="missing 'opt/layers.0.bias/momentum'.*'param/layers.0.bias' is torch.float32\\[3\\]"
    ):
        check_state(spec, TrainState(broken))


def test_run_refuses_wrong_start_and_past_end(jobs):
    spec, train, _ = jobs["mlp"]
    engine = Engine(spec, train)
    s0 = initial_state_from(spec)
    with pytest.raises(InvalidState, match=r"run\(4, 8\) needs S_4, got a state at step 0"):
        engine.run(s0, 4, 8)
    end = engine.run(s0, 0, spec.train.total_steps)
    with pytest.raises(InvalidState, match="only 12 steps"):
        engine.step(end)


def test_dataset_validation_messages(jobs):
    spec, train, _ = jobs["mlp"]
    cases = [
        ({"labels": train["labels"]}, "dataset has no tensor 'inputs' (it has: labels)"),
        ({**train, "inputs": train["inputs"].double()}, "inputs 'inputs' is float64[1437, 64]; needs float32"),
        ({**train, "labels": train["labels"].int()}, "needs a 1-D int64 tensor"),
        ({**train, "labels": train["labels"][:5]}, "must hold the same N >= 1 samples"),
        ({**train, "inputs": train["inputs"][:, :10]}, "have 10 features per sample; model.input_dim is 64"),
        ({**train, "labels": train["labels"] + 5}, "labels span 5..14; model.num_classes 10 allows 0..9"),
        ({**train, "inputs": train["inputs"].clone().fill_(float("inf"))}, "NaN or infinite"),
    ]
    for tensors, message in cases:
        with pytest.raises(InvalidDataset) as info:
            Engine(spec, tensors)
        assert message in str(info.value)
    gspec, gtrain, _ = jobs["gpt"]
    with pytest.raises(InvalidDataset, match="token ids span 0..200; model.vocab_size 93 allows 0..92"):
        Engine(gspec, {"tokens": torch.tensor([0, 200] * 20)})
    with pytest.raises(InvalidDataset, match="needs at least block_size \\+ 1 = 17"):
        Engine(gspec, {"tokens": gtrain["tokens"][:10]})


def test_evaluate_reports_accuracy_and_loss(jobs):
    from crucible.engine.step import evaluate

    spec, train, test = example_job("mlp", "small")
    engine = Engine(spec, train)
    trained = engine.run(initial_state_from(spec), 0, 150)
    acc = evaluate(spec, trained.params(), test)
    assert 0.8 < acc <= 1.0
    assert evaluate(spec, trained.params(), test, "loss") < evaluate(
        spec, initial_state_from(spec).params(), test, "loss"
    )
    gspec, gtrain, gtest = jobs["gpt"]
    assert 0.0 < evaluate(gspec, initial_state_from(gspec).params(), gtest, "loss") < 10.0


def test_step_module_imports_no_chain_or_ipfs():
    code = (
        "import sys, crucible.engine.step; bad = [m for m in ('crucible.store.ipfs', 'ipfshttpclient', 'web3', "
        "'crucible.store.artifacts', 'crucible.chain') if m in sys.modules]; print(bad); assert not bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_profile_refuses_torch_imported_without_environment():
    code = (
        "import torch; torch.randn(100).exp()  # kernels picked before crucible set the env\n"
        "from crucible.protocol.profiles import ensure_profile\n"
        "from crucible.errors import ProfileError\n"
        "try:\n    ensure_profile('cpu-portable')\nexcept ProfileError as e:\n    print('REFUSED', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert "REFUSED" in result.stdout, result.stdout + result.stderr
    assert "torch selected CPU kernels 'AVX" in result.stdout or "'DEFAULT'" in result.stdout
    assert "before torch is imported" in result.stdout


def test_prepare_environment_refuses_conflicting_values():
    code = "import crucible.protocol.profiles as p; p.prepare_environment()"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "ATEN_CPU_CAPABILITY": "avx2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode != 0
    assert "ATEN_CPU_CAPABILITY='avx2' (allowed: 'default')" in result.stderr


def test_cuda_profile_refused_without_gpu(jobs):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    spec, train, _ = jobs["mlp"]
    cuda_spec = validate_spec({**spec.model_dump(mode="json"), "profile": "cuda"})
    with pytest.raises(ProfileError, match="sees no CUDA device"):
        Engine(cuda_spec, train)


GOLDEN_MLP_S0 = "7756f51d86469c27f0baf1d2f5f3c965c6754dcbe44c4b352c2786ece9ba4fc7"
