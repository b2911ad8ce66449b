"""Oracle settings from the environment (prefix ``CRUCIBLE_ORACLE_``).

The deployment file and the key come from the shared role settings (``CRUCIBLE_DEPLOYMENT``,
``CRUCIBLE_KEYSTORE``/``CRUCIBLE_PRIVATE_KEY``, or a devnet account); these are the oracle's own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crucible.settings import EnvSettings


class Settings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_ORACLE_", extra="ignore")

    #: Address the oracle's HTTP API binds.
    host: str = "127.0.0.1"
    #: Port of the oracle's HTTP API.
    port: int = Field(default=8700, ge=0, le=65535)
    #: Where evidence is kept (default: the oracle's folder under the state root, see crucible.settings).
    state_dir: Path | None = None
    #: Seconds between event polls.
    poll_interval: float = Field(default=1.0, gt=0)
    #: How long one IPFS fetch may take before the artifact counts as unavailable (the provider's fault).
    ipfs_fetch_timeout: float = Field(default=30.0, gt=0)
    #: Seconds between attempts at a dispute refused for a cause that may pass (IPFS node down).
    retry_interval: float = Field(default=15.0, gt=0)
