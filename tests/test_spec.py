"""Job spec: loading from YAML/JSON, canonical bytes, the published schema, and the messages users see."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from crucible.engine.examples import example_spec_dict
from crucible.errors import InvalidJobSpec
from crucible.protocol.spec import MAX_SPEC_BYTES, SCHEMA_PATH, JobSpec, load_spec, render_schema, validate_spec

CID = "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX"
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.y*ml"))

YAML = f"""
version: 1
model: {{arch: mlp, input_dim: 64, hidden: [32], num_classes: 10}}
dataset: {{cid: {CID}}}
train:
  optimizer: {{name: sgd, lr: 0.1, momentum: 0.9}}
  loss: cross_entropy
  batch_size: 32
  total_steps: 100
  checkpoint_interval: 10
  seed: 7
"""


def good(arch: str = "mlp") -> dict:
    return example_spec_dict(arch, "tiny", dataset_cid=CID)


def with_(arch: str, path: str, value: object) -> dict:
    """A good spec of ``arch`` with the field at dotted ``path`` set (or deleted when value is DELETE)."""
    doc = copy.deepcopy(good(arch))
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


DELETE = object()

BAD_SPECS = [
    (with_("mlp", "version", 2), ["version: Input should be 1 (got 2)"]),
    (with_("mlp", "model.arch", "resnet"), ["model: Input tag 'resnet'", "expected tags: 'mlp', 'cnn', 'gpt'"]),
    (with_("mlp", "model.hidden", [0]), ["model.hidden.0: Input should be greater than or equal to 1 (got 0)"]),
    (with_("mlp", "model.dropout", 0.1), ["model.dropout: unknown field; allowed here: activation, arch, hidden,"]),
    (with_("mlp", "model.activation", "swish"), ["model.activation: Input should be 'relu', 'tanh' or 'gelu'"]),
    (
        with_("mlp", "model.init", {"kind": "weights", "cid": "bafy123"}),
        ["model.init.cid: must be a CIDv0: base58, 46 characters starting with 'Qm'"],
    ),
    (with_("mlp", "model.init", {"kind": "pretrained"}), ["model.init: 'kind' must be one of: 'seeded', 'weights'"]),
    (with_("mlp", "model.init", {"seed": -1}), ["model.init.seed: Input should be greater than or equal to 0"]),
    (with_("cnn", "model.height", 10), ["model: height and width (10x8) must be divisible by 2**len(channels) = 4"]),
    (with_("gpt", "model.n_head", 3), ["model: n_embd (16) must be a multiple of n_head (3)"]),
    (with_("mlp", "dataset.cid", "not-a-cid"), ["dataset.cid: must be a CIDv0", "(got 'not-a-cid')"]),
    (with_("mlp", "dataset.kind", "images"), ["dataset: 'kind' must be one of: 'classification', 'tokens'"]),
    (with_("mlp", "dataset.inputs", "x y"), ["dataset.inputs: must match"]),
    (with_("mlp", "dataset", {"kind": "tokens", "cid": CID}), ["model.arch 'mlp' needs dataset.kind 'classification'"]),
    (
        with_("gpt", "dataset", {"cid": CID}),
        ["model.arch 'gpt' trains on a token stream: dataset.kind must be 'tokens'"],
    ),
    (with_("mlp", "train.loss", "lm_cross_entropy"), ["train.loss must be 'cross_entropy' for model.arch 'mlp'"]),
    (with_("mlp", "train.loss", "mse"), ["train.loss: Input should be 'cross_entropy' or 'lm_cross_entropy'"]),
    (
        with_("mlp", "train.optimizer", {"name": "adam", "lr": 0.1}),
        ["train.optimizer: Input tag 'adam'", "expected tags: 'sgd', 'adamw'"],
    ),
    (with_("mlp", "train.optimizer.lr", 0), ["train.optimizer.lr: Input should be greater than 0 (got 0)"]),
    (with_("mlp", "train.optimizer.lr", "0.1"), ["train.optimizer.lr: Input should be a valid number (got '0.1')"]),
    (with_("mlp", "train.optimizer.momentum", 1.0), ["train.optimizer.momentum: Input should be less than 1"]),
    (
        with_("mlp", "train.optimizer.nesterov", True),
        ["train.optimizer.nesterov: unknown field; allowed here: lr, momentum, name, weight_decay"],
    ),
    (with_("gpt", "train.optimizer.betas", [0.9]), ["train.optimizer.betas: List should have at least 2 items"]),
    (with_("mlp", "train.batch_size", 0), ["train.batch_size: Input should be greater than or equal to 1"]),
    (with_("mlp", "train.batch_size", True), ["train.batch_size: Input should be a valid integer (got True)"]),
    (
        with_("mlp", "train.total_steps", 10),
        ["train: total_steps (10) must be a multiple of checkpoint_interval (4)", "e.g. total_steps 8 or 12"],
    ),
    (
        with_("mlp", "train.checkpoint_interval", 1)
        | {"train": {**good()["train"], "total_steps": 10_000, "checkpoint_interval": 1}},
        ["10000 segments exceeds the limit of 4096; use a checkpoint_interval of at least 3"],
    ),
    (with_("mlp", "train.seed", DELETE), ["train.seed: required field is missing"]),
    (with_("mlp", "profile", "tpu"), ["profile: Input should be 'cpu-portable', 'cpu-avx2' or 'cuda'"]),
    (with_("mlp", "environment", {"gpu_arch": "sm_90"}), ["environment pins are only meaningful for profile 'cuda'"]),
    (with_("mlp", "eval", {"cid": CID, "metric": "f1"}), ["eval.metric: Input should be 'accuracy' or 'loss'"]),
    (with_("mlp", "extra", 1), ["extra: unknown field; allowed here: dataset, description, environment, eval, model,"]),
]


@pytest.mark.parametrize(("doc", "messages"), BAD_SPECS, ids=[m[0][:50] for _, m in BAD_SPECS])
def test_bad_spec_message_names_field_and_what_is_allowed(doc, messages):
    with pytest.raises(InvalidJobSpec) as info:
        validate_spec(doc)
    text = str(info.value)
    assert text.startswith("invalid job spec:")
    for message in messages:
        assert message in text


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[1, 2]", "job spec must be a mapping (JSON object), got list"),
        ('{"version": 1, "version": 1}', "duplicate key 'version'"),
        ('{"version": NaN}', "NaN is not a valid number"),
        ("{not json", "job spec is not valid JSON"),
        ("a: [1\n", "neither valid JSON nor valid YAML"),
        ("base: &b {x: 1}\nother: *b\n", "YAML anchors and aliases (*name) are not allowed"),
        (b"\xff\xfe", "job spec is not UTF-8 text"),
        ("x" * (MAX_SPEC_BYTES + 1), f"the limit is {MAX_SPEC_BYTES} bytes"),
    ],
)
def test_bad_documents_are_refused(document, message):
    with pytest.raises(InvalidJobSpec, match=None) as info:
        load_spec(document)
    assert message in str(info.value)


def test_yaml_and_json_give_the_same_canonical_bytes(tmp_path):
    from_yaml = load_spec(YAML)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(json.loads(from_yaml.canonical_json()), indent=4))
    from_json = load_spec(path)
    assert from_json == from_yaml
    canon = from_yaml.canonical_json()
    assert canon == from_json.canonical_json()
    assert b" " not in canon and b"\n" not in canon
    assert list(json.loads(canon)) == sorted(json.loads(canon))
    assert load_spec(canon).canonical_json() == canon  # a fixed point: its CID never drifts
    assert json.loads(canon)["model"]["init"] == {"kind": "seeded", "seed": 0}  # defaults written out


def test_spec_is_frozen():
    spec = load_spec(YAML)
    with pytest.raises(Exception, match="frozen"):
        spec.profile = "cuda"  # type: ignore[misc]


def test_committed_schema_is_current():
    assert SCHEMA_PATH.read_text() == render_schema(), "run: python -m crucible.protocol.spec"
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["additionalProperties"] is False and schema["properties"]["version"]["const"] == 1


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(path):
    """Examples are templates: the requester CLI fills in dataset.cid / eval.cid after uploading."""
    from crucible.protocol.spec import parse_document

    doc = parse_document(path.read_bytes())
    doc["dataset"].setdefault("cid", CID)
    if "eval" in doc:
        doc["eval"].setdefault("cid", CID)
    assert isinstance(validate_spec(doc), JobSpec)
