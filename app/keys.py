"""`crucible keys`: create and inspect encrypted keystores, so no role needs a raw key in its environment.

The password comes from ``CRUCIBLE_KEYSTORE_PASSWORD`` or an interactive prompt, never from a command
line argument (it would land in the shell history and in ``ps``). Nothing here prints a key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from eth_account import Account
from pydantic import SecretStr
from rich.console import Console

from crucible.console import reports_errors
from crucible.settings import RoleSettings

app = typer.Typer(no_args_is_help=True, help="Encrypted keystores for the roles' keys (never printed).")
console = Console(soft_wrap=True)

PASSWORD_ENV = "CRUCIBLE_KEYSTORE_PASSWORD"


def _password(confirm: bool) -> str:
    from_env = RoleSettings().keystore_password
    if from_env is not None:
        return from_env.get_secret_value()
    return str(typer.prompt("keystore password", hide_input=True, confirmation_prompt=confirm))


@app.command("new")
@reports_errors
def new(
    out: Annotated[Path, typer.Option("--out", help="Where to write the keystore (V3 JSON, mode 0600).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Create a fresh random account and write it to an encrypted keystore; prints only its address."""
    from crucible.settings import write_keystore

    account = Account.create()
    write_keystore(out, account, _password(confirm=True))
    if json_out:
        print(json.dumps({"address": account.address, "keystore": str(out)}))
        return
    console.print(f"new account [bold]{account.address}[/bold] in {out}")
    console.print(f"Use it with: CRUCIBLE_KEYSTORE={out} and the password in {PASSWORD_ENV}; fund the address first.")


@app.command("address")
@reports_errors
def address(
    keystore: Annotated[Path, typer.Argument(help="A V3 keystore file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Decrypt the keystore (checks the password) and print the account's address."""
    from crucible.settings import read_keystore

    account = read_keystore(keystore, SecretStr(_password(confirm=False)))
    if json_out:
        print(json.dumps({"address": account.address, "keystore": str(keystore)}))
        return
    print(account.address)


if __name__ == "__main__":
    app()
