"""Small ready-made jobs over the bundled datasets: for tests, the benchmark and the example specs.

``example_job(arch, size)`` returns a validated spec and its (train, test) tensors. The spec names
the dataset by the CID its safetensors bytes get on IPFS (CIDv0 of deterministic bytes), unless a
``dataset_cid`` is given; use :func:`dataset_files` to obtain those bytes for upload.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from crucible.protocol.data import build_digits, build_text, dataset_bytes
from crucible.protocol.spec import JobSpec, validate_spec

Arch = Literal["mlp", "cnn", "gpt"]
Size = Literal["tiny", "small", "bench"]
PLACEHOLDER_CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"  # the empty file; stands in when no real CID matters

_MODELS: dict[tuple[str, str], dict[str, Any]] = {
    ("mlp", "tiny"): {"arch": "mlp", "input_dim": 64, "hidden": [16], "num_classes": 10},
    ("mlp", "small"): {"arch": "mlp", "input_dim": 64, "hidden": [64], "num_classes": 10},
    ("mlp", "bench"): {"arch": "mlp", "input_dim": 64, "hidden": [128, 64], "num_classes": 10},
    ("cnn", "tiny"): {"arch": "cnn", "height": 8, "width": 8, "channels": [4, 8], "hidden": 16, "num_classes": 10},
    ("cnn", "small"): {"arch": "cnn", "height": 8, "width": 8, "channels": [16, 32], "hidden": 64, "num_classes": 10},
    ("cnn", "bench"): {"arch": "cnn", "height": 8, "width": 8, "channels": [16, 32], "hidden": 64, "num_classes": 10},
    ("gpt", "tiny"): {"arch": "gpt", "vocab_size": 93, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16},
    ("gpt", "small"): {"arch": "gpt", "vocab_size": 93, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32},
    ("gpt", "bench"): {"arch": "gpt", "vocab_size": 93, "block_size": 64, "n_layer": 2, "n_head": 4, "n_embd": 64},
}
_TRAIN: dict[str, dict[str, Any]] = {
    "tiny": {"batch_size": 8, "total_steps": 12, "checkpoint_interval": 4},
    "small": {"batch_size": 32, "total_steps": 300, "checkpoint_interval": 30},
    "bench": {"batch_size": 32, "total_steps": 200, "checkpoint_interval": 20},
}
_OPT: dict[str, dict[str, Any]] = {
    "mlp": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0001},
    "cnn": {"name": "adamw", "lr": 0.003},
    "gpt": {"name": "adamw", "lr": 0.003, "weight_decay": 0.01},
}


def dataset_files(arch: Arch) -> tuple[bytes, bytes]:
    """(train, test) safetensors bytes of the bundled dataset that ``arch``'s example jobs use."""
    train, test = example_data(arch)
    return dataset_bytes(train), dataset_bytes(test)


def example_data(arch: Arch) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    if arch == "gpt":
        train, test, _ = build_text()
        return train, test
    return build_digits("image" if arch == "cnn" else "flat")


def example_spec_dict(
    arch: Arch,
    size: Size = "tiny",
    *,
    dataset_cid: str = PLACEHOLDER_CID,
    eval_cid: str | None = None,
    seed: int = 7,
    **train: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "version": 1,
        "model": {**_MODELS[(arch, size)], "init": {"kind": "seeded", "seed": seed}},
        "dataset": {"kind": "tokens", "cid": dataset_cid} if arch == "gpt" else {"cid": dataset_cid},
        "train": {
            "optimizer": _OPT[arch],
            "loss": "lm_cross_entropy" if arch == "gpt" else "cross_entropy",
            "seed": seed,
            **_TRAIN[size],
            **train,
        },
        "profile": "cpu-portable",
    }
    if eval_cid is not None:
        spec["eval"] = {"cid": eval_cid, "metric": "loss" if arch == "gpt" else "accuracy"}
    return spec


def example_job(
    arch: Arch, size: Size = "tiny", **kw: Any
) -> tuple[JobSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    train, test = example_data(arch)
    return validate_spec(example_spec_dict(arch, size, **kw)), train, test
