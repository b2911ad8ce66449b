"""The contract build pipeline: the solc wrapper, ABI snapshots, custom errors surfaced by name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from web3.utils.address import get_create_address

from crucible.chain.abi import market_artifact
from crucible.chain.contract import ContractClient, deploy
from crucible.chain.signer import Signer
from crucible.devnet.contracts import SHIPPED, build, compile_sources
from crucible.devnet.tools import solc_wrapper
from crucible.errors import ChainError, CompileError
from crucible.store.ipfs import IpfsStore

pytestmark = pytest.mark.integration

GUARDED = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;
contract Guarded {
    error TooLarge(uint256 value, uint256 limit);
    event Stored(address indexed by, uint256 value);
    uint256 public stored;
    function store(uint256 value) external {
        if (value > 10) revert TooLarge(value, 10);
        stored = value;
        emit Stored(msg.sender, value);
    }
}
"""


def test_wrapper_reports_the_pinned_compiler_version_like_native_solc() -> None:
    out = subprocess.run([str(solc_wrapper()), "--version"], capture_output=True, text=True, check=True).stdout

    assert re.search(r"^Version: 0\.8\.30\+commit\.[0-9a-f]{8}\.Linux\.g\+\+$", out, re.M), out


def test_wrapper_refuses_unsupported_flags_clearly() -> None:
    result = subprocess.run([str(solc_wrapper()), "--combined-json", "abi"], capture_output=True, text=True)

    assert result.returncode == 2
    assert "unsupported argument" in result.stderr


def test_custom_error_is_surfaced_by_name(tmp_path: Path, deployer: Signer) -> None:
    (tmp_path / "Guarded.sol").write_text(GUARDED)
    artifact = compile_sources(tmp_path)["Guarded"]
    address, _ = deploy(deployer, artifact)
    guarded = ContractClient(deployer.w3, address, artifact, deployer)

    receipt = guarded.transact("store", 7)
    with pytest.raises(
        ChainError, match=r"Guarded\.store would revert \(not sent\): TooLarge\(value=11, limit=10\)"
    ) as info:
        guarded.transact("store", 11)

    assert guarded.call("stored") == 7
    assert guarded.events("Stored", receipt) == [{"by": deployer.address, "value": 7}]
    assert info.value.error_name == "TooLarge"
    assert info.value.error_args == (11, 10)


def test_syntax_error_is_reported_with_the_compiler_message(tmp_path: Path) -> None:
    (tmp_path / "Broken.sol").write_text("pragma solidity 0.8.30; contract Broken { function f( }")

    with pytest.raises(CompileError, match="ParserError"):
        compile_sources(tmp_path)


def test_abi_snapshots_match_the_sources() -> None:
    drifted = build(check=True)

    assert drifted == [], f"ABI snapshots out of date for {drifted}: run `crucible contracts build`"
    assert SHIPPED


EIP170_MAX_RUNTIME = 24_576


def _runtime_of_size(size: int) -> str:
    """Init code leaving `size` zero bytes of runtime code: PUSH2 size, PUSH1 0, RETURN."""
    return f"0x61{size:04x}6000f3"


def test_test_chain_enforces_the_contract_size_limit(deployer: Signer) -> None:
    """The anvil the tests use is stock: a contract one byte over EIP-170 cannot be created."""
    deployer.send({"data": _runtime_of_size(EIP170_MAX_RUNTIME)}, what="deploy a contract at the limit")

    with pytest.raises(ChainError, match="CreateContractSizeLimit"):
        deployer.send({"data": _runtime_of_size(EIP170_MAX_RUNTIME + 1)}, what="deploy a contract over the limit")


def test_market_and_its_dispute_module_deploy_within_the_size_limit(deployer: Signer, market_address: str) -> None:
    """`deploy_market` creates the market, whose constructor creates its DisputeModule (nonce 1)."""
    module = get_create_address(market_address, 1)
    market_code = deployer.w3.eth.get_code(market_address)  # type: ignore[arg-type]
    module_code = deployer.w3.eth.get_code(module)

    assert 0 < len(market_code) <= EIP170_MAX_RUNTIME
    assert 0 < len(module_code) <= EIP170_MAX_RUNTIME
    assert len(bytes.fromhex(market_artifact().bytecode[2:])) <= 2 * EIP170_MAX_RUNTIME  # EIP-3860


@pytest.mark.slow
def test_ape_compiles_and_deploys_with_the_same_deploy_function(tmp_path: Path, ipfs_store: IpfsStore) -> None:
    from crucible.chain.deployment import Deployment
    from crucible.devnet.tools import REPO_ROOT, tools_dir

    env = {
        **os.environ,
        "SOLCX_BINARY_PATH": str(tools_dir() / "solcx"),
        "PATH": f"{Path(sys.executable).parent}:{tools_dir() / 'node_modules' / '.bin'}:{os.environ['PATH']}",
        "CRUCIBLE_DEPLOYMENT": str(tmp_path / "deployment.json"),
    }
    ape = str(Path(sys.executable).parent / "ape")

    compiled = subprocess.run(
        [ape, "compile", "--force"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert "compiled" in compiled.stdout + compiled.stderr
    deployed = subprocess.run(
        [
            ape,
            "run",
            "deploy",
            "--network",
            "ethereum:local:foundry",
            "--ipfs-api",
            ipfs_store.api,
            "--out",
            str(tmp_path / "deployment.json"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    deployment = Deployment.load(tmp_path / "deployment.json")
    assert deployment.chain_id == 31337 and deployment.rpc_url.startswith("http://127.0.0.1:")
