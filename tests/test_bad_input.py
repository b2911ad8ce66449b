"""Bad input is refused with a message that says what was wrong and how to fix it, before any money
moves: through the real `crucible requester` CLI where a user would meet it (exit code 1, no
traceback, the chain unchanged), and through the library where only a daemon meets it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import REPO

from crucible.chain.deployment import Deployment, checksum
from crucible.chain.market import Market
from crucible.chain.rpc import connect
from crucible.devnet.nodes import RunningNode
from crucible.errors import ArtifactRejected, ArtifactUnavailable, ConfigError, InvalidDataset
from crucible.protocol import checkpoint as ckpt
from crucible.protocol.data import build_digits, dataset_bytes, validate_dataset
from crucible.protocol.spec import MAX_SPEC_BYTES, load_spec
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import IpfsStore, digest_to_cid

pytestmark = pytest.mark.integration

SPEC = {k: v for k, v in yaml.safe_load((REPO / "examples" / "digits-mlp.yaml").read_text()).items() if k != "eval"}


# ------------------------------------------------------------------------------------------ helpers


def one_line(text: str) -> str:
    """Rich wraps long messages at the terminal width: compare words, not line breaks."""
    return " ".join(text.split())


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRUCIBLE_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**clean, **env},
    )


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Assert the CLI failed cleanly with every ``expected`` phrase; returns the one-line stderr."""
    err = one_line(result.stderr)
    assert result.returncode == 1, f"exit {result.returncode}; stdout={result.stdout!r} stderr={err!r}"
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in expected:
        assert phrase in err, f"{phrase!r} not in {err!r}"
    return err


@pytest.fixture
def env(tmp_path: Path, chain: RunningNode, ipfs_node: RunningNode, market_address: str) -> dict[str, str]:
    """The environment of a requester whose deployment file names this test's anvil, market and IPFS."""
    path = tmp_path / "deployment.json"
    Deployment(chain_id=31337, rpc_url=chain.url, ipfs_api=ipfs_node.url, market=market_address, deploy_block=0).save(
        path
    )
    return {"CRUCIBLE_DEPLOYMENT": str(path), "CRUCIBLE_RPC_TIMEOUT": "5"}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    train, _ = build_digits()
    path = tmp_path_factory.mktemp("data") / "digits.safetensors"
    path.write_bytes(dataset_bytes(train))
    return path


def spec_file(tmp_path: Path, spec: dict[str, Any] | str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec))
    return path


def mutated(**changes: Any) -> dict[str, Any]:
    """A copy of the example spec with ``section__field=value`` changes."""
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        spec[section][name] = value
    return spec


def post(tmp_path: Path, env: dict[str, str], spec: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "requester",
        "post",
        str(spec),
        "--reward",
        "1",
        "--stake",
        "1",
        "--duration",
        "600",
        "--window",
        "60",
        *extra,
        env=env,
    )


def jobs_on_chain(env: dict[str, str]) -> int:
    deployment = Deployment.load(Path(env["CRUCIBLE_DEPLOYMENT"]))
    return Market(connect(deployment.rpc_url), deployment.market).job_count()


# -------------------------------------------------------------------------- specs, through the CLI


def test_post_with_valid_input_succeeds(tmp_path: Path, env: dict[str, str], digits: Path) -> None:
    """The control: the same command with good input posts a job (so the refusals below are about the input)."""
    result = post(tmp_path, env, spec_file(tmp_path, SPEC), "--dataset", str(digits), "--json")

    assert result.returncode == 0, result.stderr
    assert jobs_on_chain(env) == 1


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("model: {arch: mlp\n  - nonsense: [", ("job spec is neither valid JSON nor valid YAML",)),
        ('{"version": 1, "version": 1}', ("duplicate key 'version'",)),
        ("- just\n- a list\n", ("a job spec is a mapping",)),
        (mutated(model__arch="resnet"), ("model:", "'resnet'", "expected tags: 'mlp', 'cnn', 'gpt'")),
        (
            mutated(train__total_steps=405),
            ("total_steps (405) must be a multiple of checkpoint_interval (20)", "e.g. total_steps 400 or 420"),
        ),
        (mutated(train__batch_size=0), ("train.batch_size:", "greater than or equal to 1")),
        (mutated(train__learning_rate=0.1), ("train.learning_rate: unknown field", "allowed here:")),
    ],
    ids=[
        "not-yaml",
        "duplicate-key",
        "not-a-mapping",
        "unknown-arch",
        "steps-not-multiple",
        "batch-zero",
        "unknown-field",
    ],
)
def test_malformed_spec_is_refused_before_posting(
    tmp_path: Path, env: dict[str, str], digits: Path, spec: Any, expected: tuple[str, ...]
) -> None:
    result = post(tmp_path, env, spec_file(tmp_path, spec), "--dataset", str(digits))

    refused(result, *expected)
    assert jobs_on_chain(env) == 0, "nothing was posted"


def test_oversized_spec_is_refused(tmp_path: Path, env: dict[str, str], digits: Path) -> None:
    spec = mutated()
    spec["description"] = "x" * 100
    path = spec_file(tmp_path, yaml.safe_dump(spec) + "#" * MAX_SPEC_BYTES + "\n")

    refused(post(tmp_path, env, path, "--dataset", str(digits)), f"the limit is {MAX_SPEC_BYTES} bytes")
    assert jobs_on_chain(env) == 0


def test_missing_spec_file_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    refused(post(tmp_path, env, tmp_path / "nope.yaml"), "no spec file at", "nope.yaml")


# ---------------------------------------------------------------------- datasets, through the CLI


def test_pickle_as_dataset_is_refused_without_unpickling(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"inputs": [1.0, 2.0], "labels": [0, 1]}))

    refused(
        post(tmp_path, env, spec_file(tmp_path, SPEC), "--dataset", str(path)),
        "dataset is a Python pickle, not safetensors; refused without unpickling it",
    )
    assert jobs_on_chain(env) == 0


def test_dataset_file_missing_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    refused(
        post(tmp_path, env, spec_file(tmp_path, SPEC), "--dataset", str(tmp_path / "gone.safetensors")),
        "dataset file",
        "gone.safetensors does not exist",
    )


def test_dataset_with_wrong_dtype_is_refused_at_post(tmp_path: Path, env: dict[str, str]) -> None:
    train, _ = build_digits()
    path = tmp_path / "float64.safetensors"
    path.write_bytes(dataset_bytes({"inputs": train["inputs"].double(), "labels": train["labels"]}))

    refused(post(tmp_path, env, spec_file(tmp_path, SPEC), "--dataset", str(path)), "float32")
    assert jobs_on_chain(env) == 0


# ------------------------------------------------------------------ amounts and terms, through the CLI


def test_negative_reward_is_refused(tmp_path: Path, env: dict[str, str], digits: Path) -> None:
    result = run_cli(
        "requester", "post", str(spec_file(tmp_path, SPEC)), "--reward", "-1", "--dataset", str(digits), env=env
    )

    refused(result, "'-1' is not a non-negative amount of ETH")


def test_terms_the_market_rejects_show_the_decoded_custom_error(
    tmp_path: Path, env: dict[str, str], digits: Path
) -> None:
    result = run_cli(
        "requester",
        "post",
        str(spec_file(tmp_path, SPEC)),
        "--reward",
        "1",
        "--duration",
        "1",
        "--window",
        "60",
        "--dataset",
        str(digits),
        env=env,
    )

    refused(
        result, "CrucibleMarket.postJob would revert (not sent): DurationOutOfBounds(duration=1, min=10, max=2592000)"
    )
    assert jobs_on_chain(env) == 0


@pytest.mark.parametrize(
    ("terms", "error"),
    [
        (("--stake", "0.1"), "StakeTooLow(stake=100000000000000000, minStake=1000000000000000000)"),  # below the reward
        (("--arity", "17"), "InvalidArity(arity=17)"),
        (("--bond", "0.0000001"), "BondTooLow(bond=100000000000, minBond="),
    ],
)
def test_v2_terms_below_the_markets_minimums_are_refused_by_name(
    tmp_path: Path, env: dict[str, str], digits: Path, terms: tuple[str, str], error: str
) -> None:
    result = post(tmp_path, env, spec_file(tmp_path, SPEC), "--dataset", str(digits), *terms)
    refused(result, f"CrucibleMarket.postJob would revert (not sent): {error}")
    assert jobs_on_chain(env) == 0


# -------------------------------------------------------------- deployment files, through the CLI


def test_deployment_file_for_another_chain_is_refused(tmp_path: Path, chain: RunningNode, market_address: str) -> None:
    path = tmp_path / "mainnet.json"
    Deployment(
        chain_id=1, rpc_url=chain.url, ipfs_api="http://127.0.0.1:9", market=market_address, deploy_block=0
    ).save(path)

    result = run_cli("requester", "status", "1", env={"CRUCIBLE_DEPLOYMENT": str(path)})

    refused(
        result,
        f"the RPC at {chain.url} serves chain id 31337, but the deployment file is for chain id 1",
        "use the deployment file of this chain",
    )


@pytest.mark.parametrize(
    ("market", "expected"),
    [
        ("0x1234", "market address '0x1234' is not an Ethereum address (0x followed by 40 hex digits)"),
        ("0x8464135c8F25Da09e49BC8782676a84730C318bC".replace("c8F", "C8f"), "has a wrong EIP-55 checksum"),
    ],
    ids=["short", "bad-checksum"],
)
def test_deployment_file_with_a_malformed_address_is_refused(
    tmp_path: Path, chain: RunningNode, market: str, expected: str
) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(
        f'{{"chain_id": 31337, "rpc_url": "{chain.url}", "ipfs_api": "http://127.0.0.1:9", '
        f'"market": "{market}", "deploy_block": 0}}'
    )

    refused(
        run_cli("requester", "status", "1", env={"CRUCIBLE_DEPLOYMENT": str(path)}),
        "deployment file",
        "is invalid",
        expected,
    )


def test_deployment_file_naming_no_contract_is_refused(tmp_path: Path, chain: RunningNode) -> None:
    path = tmp_path / "stale.json"
    Deployment(
        chain_id=31337, rpc_url=chain.url, ipfs_api="http://127.0.0.1:9", market="0x" + "ab" * 20, deploy_block=0
    ).save(path)

    refused(
        run_cli("requester", "status", "1", env={"CRUCIBLE_DEPLOYMENT": str(path)}),
        "there is no contract at",
        "use the current one",
    )


def test_missing_deployment_file_says_how_to_make_one(tmp_path: Path) -> None:
    refused(
        run_cli("requester", "status", "1", env={"CRUCIBLE_DEPLOYMENT": str(tmp_path / "none.json")}),
        "no deployment file at",
        "crucible devnet up",
    )


def test_chain_rpc_down_is_reported_in_bounded_time(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "deployment.json"
    Deployment(
        chain_id=31337,
        rpc_url=f"http://127.0.0.1:{port}",
        ipfs_api="http://127.0.0.1:9",
        market="0x" + "ab" * 20,
        deploy_block=0,
    ).save(path)

    start = time.monotonic()
    result = run_cli("requester", "status", "1", env={"CRUCIBLE_DEPLOYMENT": str(path), "CRUCIBLE_RPC_TIMEOUT": "2"})
    elapsed = time.monotonic() - start

    refused(result, f"cannot reach the chain RPC at http://127.0.0.1:{port}", "check that the node is running")
    assert elapsed < 20


# ----------------------------------------------------------------------- library-level: addresses


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("0x123", "is not an Ethereum address"),
        ("8464135c8f25da09e49bc8782676a84730c318bc", None),  # no 0x, lower case: accepted
        ("0xZZ64135c8f25da09e49bc8782676a84730c318bc", "is not an Ethereum address"),
        ("0x8464135c8F25Da09e49BC8782676a84730C318BC", "wrong EIP-55 checksum"),
        ("", "is not an Ethereum address"),
    ],
)
def test_address_format(address: str, expected: str | None) -> None:
    if expected is None:
        assert checksum(address) == "0x8464135c8F25Da09e49BC8782676a84730C318bC"
    else:
        with pytest.raises(ConfigError, match=expected):
            checksum(address, "provider address")


def test_deployment_load_refuses_another_chain_id(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    Deployment(
        chain_id=11155111, rpc_url="http://x", ipfs_api="http://y", market="0x" + "ab" * 20, deploy_block=0
    ).save(path)

    with pytest.raises(ConfigError, match="is for chain id 11155111, not 31337"):
        Deployment.load(path, expected_chain_id=31337)


def test_connect_refuses_an_rpc_of_another_chain(chain: RunningNode) -> None:
    with pytest.raises(ConfigError, match="serves chain id 31337, but the deployment file is for chain id 10"):
        connect(chain.url, expected_chain_id=10)


# ------------------------------------------------------------------ library-level: what daemons fetch


def test_dataset_with_wrong_dtype_or_shape_says_what_the_spec_requires() -> None:
    spec = load_spec(
        yaml.safe_dump(
            {
                **SPEC,
                "dataset": {"kind": "classification", "cid": digest_to_cid(b"\1" * 32)},
                "eval": {"cid": digest_to_cid(b"\2" * 32)},
            }
        )
    )
    train, _ = build_digits()

    with pytest.raises(InvalidDataset) as dtype:
        validate_dataset(spec, {"inputs": train["inputs"].double(), "labels": train["labels"]})
    with pytest.raises(InvalidDataset) as shape:
        validate_dataset(spec, {"inputs": train["inputs"][:, :32].contiguous(), "labels": train["labels"]})
    with pytest.raises(InvalidDataset) as labels:
        validate_dataset(spec, {"inputs": train["inputs"], "labels": train["labels"][:-1].contiguous()})

    assert "float64" in str(dtype.value) and "float32" in str(dtype.value)
    assert "32" in str(shape.value) and "64" in str(shape.value)
    assert "labels" in str(labels.value)


def test_cid_that_does_not_resolve_is_reported_with_the_providers_duty(ipfs_node: RunningNode) -> None:
    store = ArtifactStore(IpfsStore(ipfs_node.url, fetch_timeout=2))
    nobody_has = digest_to_cid(os.urandom(32))

    start = time.monotonic()
    with pytest.raises(ArtifactUnavailable) as info:
        store.fetch_dataset(nobody_has)
    elapsed = time.monotonic() - start

    assert nobody_has in str(info.value) and "nobody serves it" in str(info.value)
    assert "keep its trace available" in str(info.value)
    assert elapsed < 10


def test_malformed_cid_is_refused_before_asking_the_node(ipfs_node: RunningNode) -> None:
    with pytest.raises(ArtifactRejected, match="is not a .*CIDv0"):
        ArtifactStore(IpfsStore(ipfs_node.url)).fetch_dataset(
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
        )


def test_artifact_over_the_size_limit_is_refused(ipfs_store: IpfsStore) -> None:
    big = ipfs_store.add_bytes(os.urandom(4096))
    huge_spec = ipfs_store.add_bytes(b"{" + b" " * MAX_SPEC_BYTES + b"}")

    with pytest.raises(ArtifactRejected, match="larger than the limit of 1024 bytes"):
        ipfs_store.cat(big, max_bytes=1024)
    with pytest.raises(ArtifactRejected, match=f"job spec {huge_spec}: .*larger than the limit of {MAX_SPEC_BYTES}"):
        ArtifactStore(ipfs_store).fetch_spec(huge_spec)


def test_pickle_as_checkpoint_or_weights_is_refused_and_never_unpickled(
    ipfs_store: IpfsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something tried to unpickle untrusted data")

    payload = pickle.dumps({"param/w": [1.0, 2.0], "step": 0})
    cid = ipfs_store.add_bytes(payload)
    for target in (pickle, torch):
        monkeypatch.setattr(target, "load", never)
    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "Unpickler", never)
    store = ArtifactStore(ipfs_store)

    with pytest.raises(ArtifactRejected, match="Python pickle, not safetensors; refused without unpickling"):
        store.fetch_checkpoint(cid, expected_hash=b"\0" * 32)
    with pytest.raises(ArtifactRejected, match="Python pickle"):
        store.fetch_weights(cid)
    with pytest.raises(ArtifactRejected, match="Python pickle"):
        ckpt.read_safetensors(payload, "final model")
