"""Role settings from the environment (prefix ``CRUCIBLE_``) and how a role gets its key.

Keys come from an encrypted keystore (``CRUCIBLE_KEYSTORE`` + ``CRUCIBLE_KEYSTORE_PASSWORD``), the
``CRUCIBLE_PRIVATE_KEY`` variable, or, on the devnet only, a named dev account. They are held as
``SecretStr`` and never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account, is_devnet, load_key
from crucible.devnet.manage import DEFAULT_HOME, DEPLOYMENT_FILE
from crucible.errors import ConfigError


class RoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", extra="ignore")

    deployment: Path = DEFAULT_HOME / DEPLOYMENT_FILE
    private_key: SecretStr | None = None
    keystore: Path | None = None
    keystore_password: SecretStr | None = None
    dev_account: str | None = None
    ipfs_api: str | None = None  # overrides the deployment file's, e.g. a user's own kubo daemon

    def load_deployment(self) -> Deployment:
        deployment = Deployment.load(self.deployment)
        if self.ipfs_api:
            deployment = deployment.model_copy(update={"ipfs_api": self.ipfs_api})
        return deployment

    def signer_account(self, deployment: Deployment, role: str | None = None) -> LocalAccount:
        """The role's key: keystore or private key (never both), else (devnet only) a named dev account."""
        if self.keystore is not None and self.private_key is not None:
            raise ConfigError(
                "both CRUCIBLE_KEYSTORE and CRUCIBLE_PRIVATE_KEY are set: unset one, so it is clear which account signs"
            )
        if self.keystore is not None:
            return read_keystore(self.keystore, self.keystore_password)
        if self.private_key is not None:
            return load_key(self.private_key.get_secret_value())
        name = self.dev_account or role
        if name and is_devnet(deployment.chain_id):
            return dev_account(name)
        raise ConfigError(
            "no key configured: set CRUCIBLE_KEYSTORE (+ CRUCIBLE_KEYSTORE_PASSWORD) or CRUCIBLE_PRIVATE_KEY"
            + ("" if is_devnet(deployment.chain_id) else " (dev accounts exist only on the devnet, chain 31337)")
        )


def read_keystore(path: Path, password: SecretStr | None) -> LocalAccount:
    """Decrypt an Ethereum V3 keystore; every error names the file and never the key or password."""
    if password is None:
        raise ConfigError(f"keystore {path} needs its password in CRUCIBLE_KEYSTORE_PASSWORD")
    try:
        encrypted = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"no keystore file at {path}: check CRUCIBLE_KEYSTORE (create one with `crucible keys new`)"
        ) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read keystore {path}: {exc.__class__.__name__}") from None
    except ValueError:
        raise ConfigError(f"keystore {path} is not JSON (expected an Ethereum V3 keystore)") from None
    if not isinstance(encrypted, dict) or "crypto" not in {k.lower() for k in encrypted}:
        raise ConfigError(f"keystore {path} is not an Ethereum V3 keystore (no 'crypto' section)")
    try:
        key = Account.decrypt(encrypted, password.get_secret_value())
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"cannot decrypt keystore {path}: wrong password or damaged file") from None
    return load_key(key.hex())


def write_keystore(path: Path, account: LocalAccount, password: str, *, overwrite: bool = False) -> Path:
    """Encrypt ``account`` into a V3 keystore at ``path``, readable by its owner only (0600 from the start)."""
    if not password:
        raise ConfigError("a keystore needs a non-empty password")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; refusing to overwrite a keystore (choose another --out)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(Account.encrypt(account.key, password)))
    tmp.replace(path)
    return path
