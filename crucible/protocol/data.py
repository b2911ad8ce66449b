"""Tensor-only datasets: builders for the example jobs, safetensors I/O, and validation against a spec.

A dataset is a safetensors file (never a pickle): classification jobs read float32 ``inputs``
[N, ...] and int64 ``labels`` [N]; language-model jobs read a 1-D ``tokens`` stream (uint8 or int64).
Whatever comes from IPFS is validated by :func:`validate_dataset` before a step touches it.

Bundled builders (deterministic, no download):

* :func:`build_digits`: scikit-learn's bundled 8x8 digits (1797 images), inputs scaled to [0, 1];
  every 5th sample (index % 5 == 0) is held out, so the split needs no RNG.
* :func:`build_text`: a character-level corpus made of the dataset descriptions that ship inside
  scikit-learn (``sklearn/datasets/descr/*.rst``, sorted by file name, joined by blank lines). The
  package is pinned in pyproject.toml, so every machine with the same lock builds the same bytes;
  the corpus's sha256 is recorded in the file's metadata and :data:`TEXT_CORPUS_SHA256` lets a test
  notice a drifted source. Tokens index a sorted byte vocabulary (stored as the ``vocab`` tensor);
  the last 10% of the stream is held out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from importlib import resources

import numpy as np
import torch

from crucible.errors import InvalidDataset
from crucible.protocol.checkpoint import read_safetensors, write_safetensors
from crucible.protocol.spec import CnnModel, GptModel, JobSpec, MlpModel

MAX_DATASET_BYTES = 1 << 30
TEXT_SOURCE = "sklearn.datasets.descr"
#: sha256 of :func:`text_corpus` with scikit-learn 1.9.1 (the pinned version); 43081 bytes, 93 symbols.
TEXT_CORPUS_SHA256 = "1a59b8217c0171828c6d6aa5699741258e9c4d6fd1d69bb92d8bb249c196a7fb"


# --- builders ------------------------------------------------------------------------------------


def build_digits(layout: str = "flat") -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(train, test) from sklearn's bundled digits; ``layout`` "flat" -> [N, 64], "image" -> [N, 1, 8, 8]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.data.astype(np.float32) / np.float32(16.0)).copy())
    y = torch.from_numpy(digits.target.astype(np.int64).copy())
    if layout == "image":
        x = x.reshape(-1, 1, 8, 8)
    elif layout != "flat":
        raise ValueError(f"layout must be 'flat' or 'image', got {layout!r}")
    test = torch.arange(x.shape[0]) % 5 == 0
    return (
        {"inputs": x[~test].contiguous(), "labels": y[~test].contiguous()},
        {"inputs": x[test].contiguous(), "labels": y[test].contiguous()},
    )


def text_corpus() -> bytes:
    """The raw corpus bytes (see the module docstring for where they come from)."""
    files = sorted((f for f in resources.files(TEXT_SOURCE).iterdir() if f.name.endswith(".rst")), key=lambda f: f.name)
    return b"\n\n".join(f.read_bytes() for f in files)


def build_text(max_bytes: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """(train, test, metadata): uint8 ``tokens`` over a sorted byte ``vocab``; metadata has the sha256."""
    corpus = text_corpus()
    if max_bytes is not None:
        corpus = corpus[:max_bytes]
    raw = torch.frombuffer(bytearray(corpus), dtype=torch.uint8)
    vocab = torch.unique(raw)  # sorted
    lookup = torch.zeros(256, dtype=torch.uint8)
    lookup[vocab.long()] = torch.arange(vocab.numel(), dtype=torch.uint8)
    tokens = lookup[raw.long()]
    cut = tokens.numel() * 9 // 10
    meta = {"source": TEXT_SOURCE, "sha256": hashlib.sha256(corpus).hexdigest(), "vocab_size": str(vocab.numel())}
    return (
        {"tokens": tokens[:cut].contiguous(), "vocab": vocab},
        {"tokens": tokens[cut:].contiguous(), "vocab": vocab.clone()},
        meta,
    )


def decode_tokens(tokens: torch.Tensor, vocab: torch.Tensor) -> str:
    return bytes(vocab[tokens.long()].tolist()).decode("utf-8", errors="replace")


# --- I/O -----------------------------------------------------------------------------------------


def dataset_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    return write_safetensors(tensors, {"format": "crucible-dataset", **(metadata or {})})


def load_dataset_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors dataset file (refuses anything else, e.g. a pickle)."""
    tensors, _ = read_safetensors(data, "dataset", max_bytes=MAX_DATASET_BYTES, error=InvalidDataset)
    return tensors


# --- validation ----------------------------------------------------------------------------------


def _fmt(t: torch.Tensor) -> str:
    return f"{str(t.dtype).removeprefix('torch.')}{list(t.shape)}"


def validate_dataset(spec: JobSpec, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a job reads, checked against the spec and renamed to ``inputs``/``labels`` or ``tokens``.

    Raises :class:`InvalidDataset` with what was found and what the spec requires.
    """
    ds = spec.dataset

    def get(name: str) -> torch.Tensor:
        if name not in tensors:
            raise InvalidDataset(
                f"dataset has no tensor {name!r} (it has: {', '.join(sorted(tensors)) or 'none'}); "
                f"fix the dataset or the spec's dataset tensor names"
            )
        return tensors[name].detach().to("cpu").contiguous()

    model = spec.model
    if isinstance(model, GptModel):
        tokens = get(ds.tokens)  # type: ignore[union-attr]
        if tokens.dtype not in (torch.uint8, torch.int64, torch.int32) or tokens.dim() != 1:
            raise InvalidDataset(f"tokens {ds.tokens!r} is {_fmt(tokens)}; needs a 1-D uint8/int32/int64 tensor")  # type: ignore[union-attr]
        if tokens.numel() < model.block_size + 1:
            raise InvalidDataset(
                f"tokens {ds.tokens!r} has {tokens.numel()} tokens; needs at least block_size + 1 = "  # type: ignore[union-attr]
                f"{model.block_size + 1}"
            )
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= model.vocab_size:
            raise InvalidDataset(
                f"token ids span {lo}..{hi}; model.vocab_size {model.vocab_size} allows 0..{model.vocab_size - 1}"
            )
        return {"tokens": tokens}

    inputs, labels = get(ds.inputs), get(ds.labels)  # type: ignore[union-attr]
    if inputs.dtype != torch.float32:
        raise InvalidDataset(f"inputs {ds.inputs!r} is {_fmt(inputs)}; needs float32")  # type: ignore[union-attr]
    if labels.dtype != torch.int64 or labels.dim() != 1:
        raise InvalidDataset(f"labels {ds.labels!r} is {_fmt(labels)}; needs a 1-D int64 tensor")  # type: ignore[union-attr]
    n = inputs.shape[0] if inputs.dim() else 0
    if n < 1 or labels.shape[0] != n:
        raise InvalidDataset(f"inputs {_fmt(inputs)} and labels {_fmt(labels)} must hold the same N >= 1 samples")
    if isinstance(model, MlpModel):
        features = int(np.prod(inputs.shape[1:])) if inputs.dim() > 1 else 0
        if features != model.input_dim:
            raise InvalidDataset(
                f"inputs {_fmt(inputs)} have {features} features per sample; model.input_dim is {model.input_dim}"
            )
    elif isinstance(model, CnnModel):
        want = (model.in_channels, model.height, model.width)
        if tuple(inputs.shape[1:]) != want:
            raise InvalidDataset(f"inputs {_fmt(inputs)}; the cnn needs [N, {want[0]}, {want[1]}, {want[2]}]")
    if not bool(torch.isfinite(inputs).all()):
        raise InvalidDataset("inputs hold NaN or infinite values")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= model.num_classes:
        raise InvalidDataset(
            f"labels span {lo}..{hi}; model.num_classes {model.num_classes} allows 0..{model.num_classes - 1}"
        )
    return {"inputs": inputs, "labels": labels}
