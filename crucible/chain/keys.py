"""Keys: the named devnet accounts (public, chain 31337 only) and private keys read without ever
echoing them."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from crucible.errors import ConfigError

Account.enable_unaudited_hdwallet_features()

DEV_CHAIN_ID = 31337
# Anvil's public test mnemonic: the devnet's accounts are well known and hold only devnet ETH.
DEV_MNEMONIC = "test test test test test test test test test test test junk"

# Named devnet accounts: index into anvil's public test mnemonic.
DEV_ACCOUNTS: dict[str, int] = {
    "deployer": 0,
    "requester": 1,
    "provider": 2,
    "verifier": 3,
    "oracle": 4,
    "provider-2": 5,
    "provider-3": 6,
    "oracle-2": 7,
    "cheater": 8,
    "requester-2": 9,
    "verifier-2": 10,
}


def dev_account(role: str) -> LocalAccount:
    """The devnet key of a named role. Only for chain id 31337: these keys are public."""
    if role not in DEV_ACCOUNTS:
        raise ConfigError(f"unknown devnet account {role!r}; known: {', '.join(DEV_ACCOUNTS)}")
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{DEV_ACCOUNTS[role]}")
    return account


def load_key(private_key: str) -> LocalAccount:
    """A signer from a hex private key (``0x`` optional, surrounding whitespace ignored), with an error
    that never echoes the key or any part of it."""
    text = private_key.strip() if isinstance(private_key, str) else private_key
    try:
        if not isinstance(text, str) or len(text.removeprefix("0x")) != 64:
            raise ValueError
        int(text.removeprefix("0x"), 16)
        account: LocalAccount = Account.from_key(text)
        return account
    except (ValueError, TypeError):
        length = len(text.removeprefix("0x")) if isinstance(text, str) else 0
        raise ConfigError(
            f"the private key is malformed ({length} characters after any 0x prefix): expected 32 bytes "
            "written as 64 hex digits, optionally 0x-prefixed; or use an encrypted keystore "
            "(CRUCIBLE_KEYSTORE, see `crucible keys new`)"
        ) from None


def is_devnet(chain_id: int) -> bool:
    return chain_id == DEV_CHAIN_ID
