"""Crucible's exception hierarchy.

Every error a user can cause derives from :class:`CrucibleError` and from the builtin it refines,
so callers can catch either. Messages say what was wrong and what to do about it.
"""

from __future__ import annotations


class CrucibleError(Exception):
    """Root of every error Crucible raises on purpose."""


class ConfigError(CrucibleError, ValueError):
    """A setting, deployment file, key or address is missing or malformed."""


class ToolMissing(CrucibleError, FileNotFoundError):
    """A project-local tool (anvil, solc, the IPFS node) is not installed: run scripts/bootstrap.sh."""


class DevnetError(CrucibleError, RuntimeError):
    """The local devnet could not be started, reached or stopped."""


class CompileError(CrucibleError, RuntimeError):
    """The Solidity compiler rejected the sources."""


class ChainError(CrucibleError, RuntimeError):
    """A transaction or call failed; carries the decoded custom error when there is one."""

    def __init__(self, message: str, *, error_name: str | None = None, error_args: tuple[object, ...] = ()):
        super().__init__(message)
        self.error_name = error_name
        self.error_args = error_args


class WouldRevert(ChainError):
    """The simulation against the pending state reverted, so the transaction was not sent (no gas
    spent): typically another party changed the state first (a lost race)."""


class ChainUnavailable(ChainError):
    """The RPC endpoint did not answer within the retry budget (down, unreachable or too slow)."""


class StoreError(CrucibleError, IOError):
    """The IPFS node is unreachable, or an artifact is missing, too large or not what was committed."""


class StoreTimeout(StoreError, TimeoutError):
    """The IPFS node did not answer within the request's timeout."""


class ArtifactUnavailable(StoreError):
    """The node answered but could not produce the artifact in time: nobody is serving it."""


class ArtifactRejected(StoreError, ValueError):
    """A fetched artifact failed validation (size, hash, format) and was not used."""


class InvalidJobSpec(CrucibleError, ValueError):
    """A job spec does not validate against the schema."""


class ProfileError(CrucibleError, RuntimeError):
    """This process cannot honour the requested determinism profile."""


class InvalidDataset(CrucibleError, ValueError):
    """A dataset's tensors do not have the names, dtypes, shapes or values the job spec requires."""


class InvalidState(CrucibleError, ValueError):
    """A training state (checkpoint or initial weights) does not fit the job's model and optimizer."""
