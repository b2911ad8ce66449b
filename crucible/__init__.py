"""Crucible: verifiable ML training on untrusted GPUs.

The determinism profiles need environment variables set *before* torch is imported
(docs/design.md §4). Every entry point imports this package first, so they are set here;
``crucible.protocol.profiles`` refuses to train if torch was already loaded with other settings.
"""

from crucible.protocol.profiles import prepare_environment as _prepare_environment

_prepare_environment()

__version__ = "0.1.0"
