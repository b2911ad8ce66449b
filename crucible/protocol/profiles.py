"""Determinism profiles (docs/design.md §4): the settings under which a trace must replay bit for bit.

A profile has two halves:

* process environment that must be in place **before torch is imported** (``ATEN_CPU_CAPABILITY``
  picks the CPU kernels once, at import; ``MKL_CBWR`` is read when MKL initialises). The package
  sets these at import through :func:`prepare_environment`, which therefore must not import torch;
  this module imports torch lazily and only inside functions.
* torch settings applied at run time by :func:`ensure_profile` (deterministic algorithms, cuDNN and
  TF32 switches), which also *checks* the first half and raises :class:`ProfileError` when the
  process cannot honour the profile: torch was imported before the environment was set, or a
  variable holds a conflicting value, or (``cuda``) there is no CUDA device or the device differs
  from the environment the spec pins.

``cpu-portable`` is what CI runs and the default of every spec. ``cuda`` reproduces only on the
same GPU architecture with the same torch and CUDA versions, so the environment record
(:class:`ProfileInfo`) is written into every manifest and an oracle accepts only profiles it can run.

Measured here (torch 2.13 CPU wheel with MKL 2024.2 and oneDNN 3.12, 2 cores):

* without ``ATEN_CPU_CAPABILITY=default`` hashes change with the CPU's vector ISA;
* oneDNN (``torch.backends.mkldnn``) picks its own ISA at run time, ignoring that variable, and its
  convolution backward differs between 1 and 2 threads, so ``cpu-portable`` switches it off
  (convolutions then run as im2col + MKL gemm);
* MKL sgemm under ``MKL_CBWR=COMPATIBLE`` still differs between 1 and 2 threads for some shapes
  (e.g. [93x512]·[512x32]), ``F.layer_norm``'s backward keeps per-thread partial sums, and full
  reductions over more than ~32k elements split by thread count.

Hence ``cpu-portable`` runs every training/replay computation with **one intra-op thread**
(:func:`pinned_threads`, applied by the engine around each segment), whatever the host's core
count: a provider on 64 cores and a verifier on 2 then compute the same bits. (``MKL_CBWR=AVX2,STRICT``
is thread-count invariant for gemm but ties the profile to AVX2 hosts and does not fix ATen's own
reductions, so it is not used.) The model zoo also writes LayerNorm with plain ops.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from crucible.errors import ProfileError

ProfileName = Literal["cpu-portable", "cuda"]
PROFILES: tuple[str, ...] = ("cpu-portable", "cuda")
#: Intra-op threads the cpu-portable profile computes with (see the module docstring for why 1).
PORTABLE_THREADS = 1

#: Set before torch is imported in every Crucible process (harmless for the cuda profile, which
#: never runs training math on the CPU kernels these variables select).
PORTABLE_ENV: Mapping[str, str] = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
#: cuBLAS reads this when its first handle is created, so it is also set before any CUDA work.
CUDA_ENV: Mapping[str, str] = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


#: Values a pre-set variable may hold without conflicting (first one is what we set).
_ACCEPTED: Mapping[str, tuple[str, ...]] = {
    "MKL_CBWR": ("COMPATIBLE", "COMPATIBLE,STRICT"),
    "ATEN_CPU_CAPABILITY": ("default",),
    "CUBLAS_WORKSPACE_CONFIG": (":4096:8", ":16:8"),
}


def _conflicts() -> list[str]:
    return [
        f"{name}={os.environ[name]!r} (allowed: {', '.join(map(repr, ok))})"
        for name, ok in _ACCEPTED.items()
        if name in os.environ and os.environ[name].lower() not in [v.lower() for v in ok]
    ]


def prepare_environment() -> None:
    """Set the environment every profile needs, before torch is imported.

    Idempotent; call it first thing (``crucible/__init__.py`` does). Values already set to what a
    profile needs are kept; a conflicting value raises :class:`ProfileError` rather than being
    silently overridden, because the user asked for something this process cannot give them.
    """
    bad = _conflicts()
    if bad:
        raise ProfileError(
            "the environment conflicts with Crucible's determinism profiles: "
            + ", ".join(bad)
            + "; unset these variables (Crucible sets them itself) and restart the process"
        )
    for name, value in {**PORTABLE_ENV, **CUDA_ENV}.items():
        os.environ.setdefault(name, value)


class ProfileInfo(BaseModel):
    """The environment a result was produced in; written into the manifest (docs/design.md §4)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    profile: ProfileName
    device: str
    torch_version: str
    python_version: str
    cpu_capability: str
    cuda_version: str | None = None
    gpu_name: str | None = None
    gpu_arch: str | None = None  # "sm_90" style compute capability
    machine: str
    intra_op_threads: int | None = None  # pinned thread count, None where not pinned (cuda)
    onednn: bool


def _check_portable_env() -> None:
    import torch

    missing = [
        f"{k}={v}"
        for k, v in PORTABLE_ENV.items()
        if os.environ.get(k, "").lower() not in [a.lower() for a in _ACCEPTED[k]]
    ]
    capability = torch.backends.cpu.get_cpu_capability()
    if missing or capability != "DEFAULT":
        raise ProfileError(
            "this process cannot honour the 'cpu-portable' profile: "
            + (f"environment lacks {', '.join(missing)}; " if missing else "")
            + f"torch selected CPU kernels {capability!r} (needs 'DEFAULT'). These must be set before "
            "torch is imported: import crucible (or call crucible.protocol.profiles.prepare_environment()) "
            "before torch, or export MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default"
        )


def current_info(profile: str) -> ProfileInfo:
    """Describe this process for ``profile`` (no checks; see :func:`ensure_profile`)."""
    import torch

    info: dict[str, object] = {
        "profile": profile,
        "device": "cpu",
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "intra_op_threads": PORTABLE_THREADS if profile == "cpu-portable" else None,
        "onednn": bool(torch.backends.mkldnn.enabled),
    }
    if profile == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        info.update(
            device="cuda",
            cuda_version=torch.version.cuda,
            gpu_name=torch.cuda.get_device_name(),
            gpu_arch=f"sm_{major}{minor}",
        )
    return ProfileInfo.model_validate(info)


def ensure_profile(profile: str, *, required: Mapping[str, str | None] | None = None) -> ProfileInfo:
    """Apply ``profile``'s torch settings and check this process can honour it.

    ``required`` optionally pins environment fields (``torch_version``, ``cuda_version``,
    ``gpu_arch``) that a spec recorded; any mismatch raises :class:`ProfileError`. Returns the
    environment record for the manifest.
    """
    if profile not in PROFILES:
        raise ProfileError(f"unknown determinism profile {profile!r}; allowed: {', '.join(PROFILES)}")
    if profile == "cpu-portable":
        _check_portable_env()
    import torch

    if profile == "cpu-portable":
        # torch's stubs declare the flag as its ContextProp descriptor, not the bool it reads as.
        torch.backends.mkldnn.enabled = False  # type: ignore[assignment]

    if profile == "cuda":
        if not torch.cuda.is_available():
            raise ProfileError(
                "the job's profile is 'cuda' but this process sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); run it on a GPU "
                "host or pick a job with the 'cpu-portable' profile"
            )
        if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in _ACCEPTED["CUBLAS_WORKSPACE_CONFIG"]:
            raise ProfileError(
                "the 'cuda' profile needs CUBLAS_WORKSPACE_CONFIG=:4096:8 set before the first cuBLAS "
                "call; import crucible before torch or export it"
            )
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    torch.use_deterministic_algorithms(True)
    if torch.get_default_dtype() != torch.float32:
        raise ProfileError(f"default dtype is {torch.get_default_dtype()}; profiles assume float32")
    info = current_info(profile)
    for key, want in (required or {}).items():
        have = getattr(info, key, None)
        if want is not None and have != want:
            raise ProfileError(
                f"the job pins {key}={want!r} for profile {profile!r} but this process has {have!r}; "
                "a replay elsewhere would not reproduce the provider's bits"
            )
    return info


@contextlib.contextmanager
def pinned_threads(profile: str) -> Iterator[None]:
    """Run the body with the profile's intra-op thread count (cpu-portable: 1), then restore it."""
    import torch

    if profile != "cpu-portable":
        yield
        return
    before = torch.get_num_threads()
    if before != PORTABLE_THREADS:
        torch.set_num_threads(PORTABLE_THREADS)
    try:
        yield
    finally:
        if before != PORTABLE_THREADS:
            torch.set_num_threads(before)
