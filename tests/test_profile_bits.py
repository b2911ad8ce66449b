"""Existing profiles keep their bits: fixed jobs' trace roots, as recorded before any engine change.

The values below were produced on commit 8ca6d02 (before the second performance round touched the
engine), with ``trace_commitment(spec, train, initial_state_from(spec))`` on ``example_job(arch)``
(the "tiny" jobs: 12 steps, k = 4, seed 7) under ``cpu-portable`` (version 1), torch 2.13.0+cpu.
A change that alters them must become a new profile version recorded in the spec, not an edit here.
"""

from __future__ import annotations

import crucible.protocol.profiles

crucible.protocol.profiles.prepare_environment()

import pytest  # noqa: E402

from crucible.engine.examples import example_job  # noqa: E402
from crucible.engine.job import trace_commitment  # noqa: E402
from crucible.engine.step import initial_state_from  # noqa: E402

# arch: (trace root, hash of S_12), recorded on commit 8ca6d02 as described in the module docstring.
RECORDED_PORTABLE_V1 = {
    "mlp": (
        "f55fee7bc4380b7298cd59e5180661abc0a120181ef2e35bc3962beafefe3213",
        "003e34812fa5405a9c9c8fd812d7f5e3aedeb192cf1ec82a60de3aba25c0abef",
    ),
    "cnn": (
        "659bb271ac159006e468a4003cbb7d5db2885d76cb1d2223a7128952948bec64",
        "4a8914cb3a6aa9b830200e4f99903983500bf7676c0c79875216dc8b50512d97",
    ),
    "gpt": (
        "52fc37303348a4ac5e0154b52580eeb4e1f252142369db03159a3eb9fbc8758c",
        "6d1d8c53d00efa1af2ec52855d761b53c9461ee730ccc66d1c1f04111ef893f1",
    ),
}


@pytest.mark.parametrize("arch", sorted(RECORDED_PORTABLE_V1))
def test_cpu_portable_trace_root_is_the_recorded_one(arch):
    spec, train, _ = example_job(arch)
    assert spec.profile == "cpu-portable"
    hashes, root = trace_commitment(spec, train, initial_state_from(spec))
    assert (root.hex(), hashes[-1].hex()) == RECORDED_PORTABLE_V1[arch]
