"""Reverts and node refusals as :class:`~crucible.errors.ChainError`, the contract's custom error
decoded by name from the ABI."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

from crucible.errors import ChainError


def _error_selectors(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [_abi_type(i) for i in item["inputs"]]
            table[function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")] = (item["name"], types)
    return table


def _abi_type(param: Mapping[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[5:]
    return t


def decode_custom_error(abi: list[dict[str, Any]], data: str | bytes) -> tuple[str, tuple[Any, ...]] | None:
    """(name, args) of the custom error ``data`` encodes, or None if no error of ``abi`` matches."""
    try:
        raw = bytes.fromhex(data[2:] if data[:2] in ("0x", "0X") else data) if isinstance(data, str) else bytes(data)
    except ValueError:
        return None
    entry = _error_selectors(abi).get(raw[:4])
    if entry is None:
        return None
    name, types = entry
    try:
        return name, tuple(abi_decode(types, raw[4:]))
    except Exception:  # noqa: BLE001 - selector clash or truncated data: not this error after all
        return None


def _render_args(args: tuple[Any, ...]) -> str:
    return ", ".join(repr("0x" + a.hex() if isinstance(a, bytes) else a) for a in args)


def _error_inputs(abi: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return next((list(i["inputs"]) for i in abi if i.get("type") == "error" and i["name"] == name), [])


def _named_args(abi: list[dict[str, Any]], name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` of error ``name`` with every contract enum as its member (``JobStatus.FINALIZED``,
    not ``7``), read from the ABI's ``internalType`` (``enum JobStatus``)."""
    from crucible.chain import market  # the enums live with the bindings; imported late (market imports us)

    inputs = _error_inputs(abi, name)
    named = []
    for param, value in zip(inputs, args, strict=False):
        internal = str(param.get("internalType", ""))
        enum = getattr(market, internal.split()[-1].split(".")[-1], None) if internal.startswith("enum ") else None
        try:
            named.append(enum(value) if isinstance(enum, type) and issubclass(enum, IntEnum) else value)
        except ValueError:  # a member this client does not know: keep the number
            named.append(value)
    return tuple(named) + args[len(named) :]


def _render_named(abi: list[dict[str, Any]], name: str, args: tuple[Any, ...]) -> str:
    inputs = _error_inputs(abi, name)
    parts = []
    for i, value in enumerate(_named_args(abi, name, args)):
        label = f"{inputs[i]['name']}=" if i < len(inputs) and inputs[i].get("name") else ""
        shown = value.name if isinstance(value, IntEnum) else _render_args((value,))
        parts.append(label + shown)
    return ", ".join(parts)


def revert_error(exc: Exception, abi: list[dict[str, Any]] | None, what: str, *, verb: str = "reverted") -> ChainError:
    """A ``ChainError`` for a revert web3 reported, the custom error decoded by name where ``abi`` has it."""
    if isinstance(exc, ContractCustomError):
        data = exc.data if isinstance(exc.data, str) else str(exc.message)
        decoded = decode_custom_error(abi or [], data)
        if decoded is None:
            hexdata = data if data.startswith("0x") else f"0x{data}"
            return ChainError(
                f"{what} {verb} with an error this client does not know: selector {hexdata[:10]}, data {hexdata} "
                "(is the ABI snapshot current? `crucible contracts build --check`)"
            )
        name, args = decoded
        return ChainError(
            f"{what} {verb}: {name}({_render_named(abi or [], name, args)})",
            error_name=name,
            error_args=_named_args(abi or [], name, args),
        )
    if isinstance(exc, ContractPanicError):
        return ChainError(f"{what} {verb} with a Solidity panic: {exc.message} (data {exc.data})", error_name="Panic")
    if isinstance(exc, ContractLogicError):
        message = str(exc.message or "execution reverted")
        data = f" (data {exc.data})" if isinstance(exc.data, str) and exc.data not in ("", "0x") else ""
        return ChainError(f"{what} {verb}: {message}{data}")
    return ChainError(f"{what} failed: {exc}")


def rpc_message(exc: Web3RPCError) -> str:
    response = exc.rpc_response or {}
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(exc.message if hasattr(exc, "message") else exc)


def rpc_error(exc: Web3RPCError, what: str, address: str) -> ChainError:
    message = rpc_message(exc)
    hint = ""
    if "insufficient funds" in message.lower():
        hint = f": account {address} cannot pay the value plus gas; fund it or lower the amount"
    elif "gas" in message.lower() and "limit" in message.lower():
        hint = ": the transaction needs more gas than allowed; check the gas limit"
    return ChainError(f"{what} was refused by the node: {message}{hint}")


REVERTS = (ContractCustomError, ContractPanicError, ContractLogicError)
NONCE_CLASH = (
    "nonce too low",
    "already known",
    "already imported",
    "replacement transaction underpriced",
    "nonce has already been used",
    "known transaction",
)
