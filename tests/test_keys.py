"""Keys come from an encrypted keystore or CRUCIBLE_PRIVATE_KEY and are never printed, logged or echoed
in an error: not by the settings object, not by the CLIs, not by a failed parse of a mistyped key."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account, load_key
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.devnet.nodes import RunningNode
from crucible.errors import ConfigError
from crucible.settings import RoleSettings, read_keystore, write_keystore

MARKET = "0x" + "11" * 20


def fresh_key() -> tuple[str, str]:
    account = Account.create()
    return "0x" + account.key.hex().removeprefix("0x"), account.address


def leaks(secret: str, text: str) -> bool:
    """Whether ``text`` shows ``secret`` or any 12-character piece of its hex."""
    body = secret.removeprefix("0x").lower()
    text = text.lower()
    return any(body[i : i + 12] in text for i in range(len(body) - 11))


def deployment(tmp_path: Path, chain_id: int = 31337, rpc_url: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "deployment.json"
    Deployment(chain_id=chain_id, rpc_url=rpc_url, ipfs_api="http://127.0.0.1:9", market=MARKET, deploy_block=0).save(
        path
    )
    return path


def crucible(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRUCIBLE_")}
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**clean, **env},
    )


# --------------------------------------------------------------------------------- private key (env)


def test_private_key_from_the_environment_signs_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key, address = fresh_key()
    monkeypatch.setenv("CRUCIBLE_PRIVATE_KEY", key)

    settings = RoleSettings()
    account = settings.signer_account(Deployment.load(deployment(tmp_path)))

    assert account.address == address
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert not leaks(key, shown), shown


def test_key_with_surrounding_whitespace_or_no_prefix_is_accepted() -> None:
    key, address = fresh_key()

    assert load_key(f"  {key}\n").address == address
    assert load_key(key.removeprefix("0x")).address == address


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1],  # one digit short
        lambda k: k + "0",  # one digit too many
        lambda k: k[:10] + "g" + k[11:],  # not hex
        lambda k: k[2:34],  # half a key
        lambda k: "",  # empty
    ],
    ids=["short", "long", "not-hex", "half", "empty"],
)
def test_malformed_key_is_refused_without_echoing_it(
    mangle,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    key, _ = fresh_key()
    bad = mangle(key)
    monkeypatch.setenv("CRUCIBLE_PRIVATE_KEY", bad)

    with pytest.raises(ConfigError) as info:
        RoleSettings().signer_account(Deployment.load(deployment(tmp_path)))

    message = str(info.value)
    assert "the private key is malformed" in message and "64 hex digits" in message
    assert not leaks(key, message)
    assert info.value.__suppress_context__, "the parser's own error (which may quote the input) is not chained"


def test_signing_with_debug_logging_never_logs_the_key(chain: RunningNode, caplog: pytest.LogCaptureFixture) -> None:
    key = "0x" + dev_account("cheater").key.hex().removeprefix("0x")
    caplog.set_level(logging.DEBUG)

    signer = Signer(
        connect(chain.url),
        RoleSettings(private_key=SecretStr(key)).signer_account(
            Deployment(chain_id=31337, rpc_url=chain.url, ipfs_api="http://127.0.0.1:9", market=MARKET, deploy_block=0)
        ),
    )
    receipt = signer.send({"to": dev_account("verifier").address, "value": 1})

    assert receipt["status"] == 1
    assert caplog.records, "debug logging was on"
    assert not leaks(key, caplog.text)
    assert not leaks(key, repr(signer))


def test_malformed_key_through_the_cli_is_reported_without_echo_or_traceback(tmp_path: Path) -> None:
    key, _ = fresh_key()

    result = crucible(
        "app.cli",
        "requester",
        "jobs",
        env={"CRUCIBLE_DEPLOYMENT": str(deployment(tmp_path)), "CRUCIBLE_PRIVATE_KEY": key[:-3]},
    )

    assert result.returncode == 1
    assert "the private key is malformed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not leaks(key, result.stdout + result.stderr)


def test_both_keystore_and_private_key_set_is_refused(tmp_path: Path) -> None:
    key, _ = fresh_key()
    settings = RoleSettings(private_key=SecretStr(key), keystore=tmp_path / "k.json", keystore_password=SecretStr("pw"))

    with pytest.raises(ConfigError, match="both CRUCIBLE_KEYSTORE and CRUCIBLE_PRIVATE_KEY are set"):
        settings.signer_account(Deployment.load(deployment(tmp_path)))


def test_dev_accounts_are_refused_off_the_devnet(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no key configured.*only on the devnet"):
        RoleSettings(dev_account="requester").signer_account(Deployment.load(deployment(tmp_path, chain_id=1)))


# ------------------------------------------------------------------------------------------- keystore


def test_keystore_round_trip_is_owner_only_and_holds_no_plain_key(tmp_path: Path) -> None:
    key, address = fresh_key()
    path = write_keystore(tmp_path / "keys" / "provider.json", load_key(key), "correct horse")

    account = RoleSettings(keystore=path, keystore_password=SecretStr("correct horse")).signer_account(
        Deployment.load(deployment(tmp_path, chain_id=1))
    )

    assert account.address == address
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not leaks(key, path.read_text())
    with pytest.raises(ConfigError, match="exists; refusing to overwrite"):
        write_keystore(path, Account.create(), "x")


@pytest.mark.parametrize(
    ("content", "password", "expected"),
    [
        (None, "pw", "no keystore file at"),
        ("not json", "pw", "is not JSON"),
        ('{"hello": 1}', "pw", "not an Ethereum V3 keystore"),
        ("KEYSTORE", "wrong password", "cannot decrypt keystore .*: wrong password or damaged file"),
        ("KEYSTORE", None, "needs its password in CRUCIBLE_KEYSTORE_PASSWORD"),
    ],
    ids=["missing", "not-json", "not-keystore", "wrong-password", "no-password"],
)
def test_bad_keystore_is_refused_with_what_to_fix(
    tmp_path: Path, content: str | None, password: str | None, expected: str
) -> None:
    key, _ = fresh_key()
    path = tmp_path / "key.json"
    if content == "KEYSTORE":
        write_keystore(path, load_key(key), "right password")
    elif content is not None:
        path.write_text(content)

    with pytest.raises(ConfigError, match=expected) as info:
        read_keystore(path, SecretStr(password) if password is not None else None)

    assert not leaks(key, str(info.value))
    assert "right password" not in str(info.value)


def test_keys_cli_creates_a_keystore_and_prints_only_the_address(tmp_path: Path) -> None:
    out = tmp_path / "worker.json"
    env = {"CRUCIBLE_KEYSTORE_PASSWORD": "s3cret pass"}

    created = crucible("app.keys", "new", "--out", str(out), "--json", env=env)
    shown = crucible("app.keys", "address", str(out), env=env)
    wrong = crucible("app.keys", "address", str(out), env={"CRUCIBLE_KEYSTORE_PASSWORD": "nope"})
    again = crucible("app.keys", "new", "--out", str(out), env=env)

    assert created.returncode == 0, created.stderr
    address = read_keystore(out, SecretStr("s3cret pass")).address
    key = read_keystore(out, SecretStr("s3cret pass")).key.hex()
    assert created.stdout.strip() == f'{{"address": "{address}", "keystore": "{out}"}}'
    assert shown.returncode == 0 and shown.stdout.strip() == address
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr and "Traceback" not in wrong.stderr
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    for result in (created, shown, wrong, again):
        assert not leaks(key, result.stdout + result.stderr)
        assert "s3cret" not in result.stdout + result.stderr
