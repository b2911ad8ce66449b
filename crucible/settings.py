"""Settings from the environment (prefix ``CRUCIBLE_``), the one rule for local state, and how a
role gets its key.

Every setting is read here, through pydantic-settings; command-line options default to unset and
are passed with :meth:`CoreSettings.with_overrides`, so an option given wins and an option not given
leaves the environment's value. Local state (devnet, worker checkpoints, verifier audits, oracle
evidence) lives per user under :meth:`CoreSettings.state_root`: ``CRUCIBLE_STATE_DIR``, else
``$XDG_STATE_HOME/crucible``, else ``~/.local/state/crucible``; never in the installed package or
the working directory.

Keys come from an encrypted keystore (``CRUCIBLE_KEYSTORE`` + ``CRUCIBLE_KEYSTORE_PASSWORD``), the
``CRUCIBLE_PRIVATE_KEY`` variable, or, on the devnet only, a named dev account. They are held as
``SecretStr`` and never printed.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Self

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account, is_devnet, load_key
from crucible.errors import ConfigError

DEFAULT_RPC_TIMEOUT = 30.0
NETWORKS_FILE = "networks.toml"


class EnvSettings(BaseSettings):
    """Settings read from the environment, with command-line options over them."""

    @classmethod
    def with_overrides(cls, **options: Any) -> Self:
        """Settings with the command-line ``options`` that were given (not None) over the environment."""
        return cls(**{k: v for k, v in options.items() if v is not None})


class CoreSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", extra="ignore")

    #: Root of all local state (default: $XDG_STATE_HOME/crucible, else ~/.local/state/crucible).
    state_dir: Path | None = None
    #: The XDG base folder for state (read as XDG_STATE_HOME, without the prefix).
    xdg_state_home: Path | None = Field(default=None, validation_alias="XDG_STATE_HOME")
    #: Seconds an RPC request is retried before the chain counts as unavailable.
    rpc_timeout: float = Field(default=DEFAULT_RPC_TIMEOUT, gt=0, le=3600)
    #: Seconds a one-shot command (and a health check) retries the RPC before it reports the chain
    #: unavailable; daemons keep ``rpc_timeout``, long enough to ride out a node restart.
    rpc_command_timeout: float = Field(default=5.0, gt=0, le=3600)
    #: Seconds without a new block after which `status` and `watch` warn that the chain looks idle.
    block_stall_warning: float = Field(default=60.0, gt=0)
    #: Address the daemons' metrics endpoints bind (`--metrics-host`); loopback unless you scrape remotely.
    metrics_host: str = "127.0.0.1"
    #: Where the npm toolchain is installed (default: tools/ of the checkout).
    tools_dir: Path | None = None

    def state_root(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        return (self.xdg_state_home or Path.home() / ".local" / "state") / "crucible"

    def role_state_dir(self, role: str, *names: str) -> Path:
        """The folder of ``role``'s local state, e.g. ``<state root>/worker/<address>``."""
        return self.state_root().joinpath(role, *names)

    def devnet_home(self) -> Path:
        return self.state_root() / "devnet"


class NetworkProfile(BaseModel):
    """One named network in ``networks.toml``: which chain and deployment a command uses."""

    model_config = ConfigDict(extra="forbid")

    deployment: Path | None = None
    rpc_url: str | None = None
    ipfs_api: str | None = None
    keystore: Path | None = None
    confirmations: int | None = Field(default=None, ge=0, le=1000)


def config_dir() -> Path:
    """The per-user configuration folder: ``CRUCIBLE_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/crucible``
    (``~/.config/crucible``)."""
    explicit = os.environ.get("CRUCIBLE_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser() / "crucible"


def load_network(name: str) -> NetworkProfile:
    """The profile ``[networks.NAME]`` of the user's ``networks.toml``; every error names the file.
    Relative paths in it are relative to the file."""
    path = config_dir() / NETWORKS_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"network {name!r} is not defined: there is no {path} (write one with a [networks.{name}] table: "
            "rpc_url, deployment, keystore, ipfs_api, confirmations; see docs/networks.md)"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    networks = data.get("networks", {})
    if not isinstance(networks, dict) or name not in networks:
        known = ", ".join(sorted(networks)) if isinstance(networks, dict) and networks else "none"
        raise ConfigError(f"network {name!r} is not defined in {path} (defined: {known})")
    try:
        profile = NetworkProfile.model_validate(networks[name])
    except ValueError as exc:
        raise ConfigError(f"network {name!r} in {path} is invalid: {exc}") from None
    paths = {k: getattr(profile, k) for k in ("deployment", "keystore") if getattr(profile, k) is not None}
    return profile.model_copy(update={k: path.parent / v.expanduser() for k, v in paths.items()})


class RoleSettings(CoreSettings):
    """Which chain, deployment and key a command uses. Each comes, first found, from the command's
    option (``--deployment``, ``--rpc-url``, ``--network``: they set the variables), the
    ``CRUCIBLE_*`` variable, the named network's profile in ``networks.toml``, or the devnet's default."""

    #: The deployment file (default: the local devnet's, ``<state root>/devnet/deployment.json``).
    deployment: Path | None = None
    #: A network of ``networks.toml`` (its values fill what is not set otherwise).
    network: str | None = None
    #: The chain's RPC address, over the deployment file's (e.g. your own node for the same chain).
    rpc_url: str | None = None
    #: Blocks an event must be deep before the daemons act on it (default: the deployment file's).
    confirmations: int | None = Field(default=None, ge=0, le=1000)
    #: A raw private key (hex) to sign with; prefer an encrypted keystore.
    private_key: SecretStr | None = None
    #: An encrypted V3 keystore to sign with (`crucible keys new`).
    keystore: Path | None = None
    #: The keystore's password (else asked for on a terminal by `keys`).
    keystore_password: SecretStr | None = None
    #: A named devnet account (requester, provider, verifier, oracle, …); chain 31337 only.
    dev_account: str | None = None
    #: The IPFS API address, over the deployment file's (e.g. your own kubo daemon).
    ipfs_api: str | None = None

    def model_post_init(self, __context: Any) -> None:
        """Fill what was not given from the named network's profile."""
        if self.network is None:
            return
        profile = load_network(self.network)
        for name in ("deployment", "rpc_url", "ipfs_api", "keystore", "confirmations"):
            if getattr(self, name) is None and getattr(profile, name) is not None:
                setattr(self, name, getattr(profile, name))

    def deployment_path(self) -> Path:
        return self.deployment or self.devnet_home() / "deployment.json"

    def load_deployment(self, role: str | None = None) -> Deployment:
        """The deployment, its ``ipfs_api`` being the node this role uses: ``CRUCIBLE_IPFS_API`` if set,
        else the deployment's node for the role's account (``dev_account`` or ``role``), else its default."""
        deployment = Deployment.load(self.deployment_path())
        node = self.ipfs_api or deployment.ipfs_nodes.get(self.dev_account or role or "")
        overrides: dict[str, object] = {}
        if node:
            overrides["ipfs_api"] = node
        if self.rpc_url:
            overrides["rpc_url"] = self.rpc_url
        if self.confirmations is not None:
            overrides["confirmations"] = self.confirmations
        return deployment.model_copy(update=overrides) if overrides else deployment

    def signer_account(self, deployment: Deployment, role: str | None = None) -> LocalAccount:
        """The role's key for ``deployment``'s chain (see :meth:`account_for`)."""
        return self.account_for(deployment.chain_id, role)

    def account_for(self, chain_id: int, role: str | None = None) -> LocalAccount:
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
        if name and is_devnet(chain_id):
            return dev_account(name)
        raise ConfigError(
            "no key configured: set CRUCIBLE_KEYSTORE (+ CRUCIBLE_KEYSTORE_PASSWORD) or CRUCIBLE_PRIVATE_KEY"
            + ("" if is_devnet(chain_id) else " (dev accounts exist only on the devnet, chain 31337)")
        )


def deployer_account(settings: RoleSettings, chain_id: int, keystore: Path | None = None) -> LocalAccount:
    """Who deploys: ``keystore`` (password from ``CRUCIBLE_KEYSTORE_PASSWORD`` or a prompt), else the
    settings' key, else on the devnet chain the dev ``deployer`` account."""
    if keystore is not None:
        password = settings.keystore_password
        if password is None:
            import getpass

            password = SecretStr(getpass.getpass(f"password of {keystore}: "))
        return read_keystore(keystore, password)
    if settings.keystore is not None or settings.private_key is not None or is_devnet(chain_id):
        return settings.account_for(chain_id, "deployer")
    raise ConfigError(
        f"chain {chain_id} is not the devnet: say who deploys with --keystore (or CRUCIBLE_KEYSTORE / "
        "CRUCIBLE_PRIVATE_KEY)"
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
