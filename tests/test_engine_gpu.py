"""The cuda profile reproduces its hashes across processes (needs a CUDA GPU; skipped elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json
import crucible
from crucible.engine.examples import example_job
from crucible.engine.job import trace_commitment
from crucible.engine.step import Engine, initial_state_from
from crucible.protocol.spec import validate_spec
out = {}
for arch in ("mlp", "cnn", "gpt"):
    spec, train, _ = example_job(arch)
    spec = validate_spec({**spec.model_dump(mode="json"), "profile": "cuda"})
    hashes, root = trace_commitment(spec, train, initial_state_from(spec))
    out[arch] = [h.hex() for h in hashes] + [root.hex()]
out["env"] = Engine(spec, train).profile.model_dump()
print(json.dumps(out))
"""


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_profile_reproduces_across_processes():
    runs = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    env = runs[0]["env"]
    assert env["device"] == "cuda" and env["gpu_arch"].startswith("sm_") and env["cuda_version"]
