"""What many tests build the same way: a market client for a named devnet role, and the tiny MLP
job on the digits that keeps dispute tests fast."""

from __future__ import annotations

from typing import Any

from crucible.chain.keys import dev_account
from crucible.chain.market import Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer


def market_for(rpc_url: str, market_address: str, role: str) -> Market:
    """The market as devnet account ``role`` (requester, provider, verifier, oracle, cheater...)."""
    w3 = connect(rpc_url)
    return Market(w3, market_address, Signer(w3, dev_account(role)))


def tiny_spec(dataset_cid: str, *, steps: int, interval: int, seed: int = 7, **top: Any) -> dict[str, Any]:
    """A 64-16-10 MLP on the digits, SGD with momentum, batch 16: ``steps`` steps, a checkpoint every
    ``interval``. ``top`` adds or replaces top-level fields (``profile="cuda"``)."""
    return {
        "version": 1,
        "model": {"arch": "mlp", "input_dim": 64, "hidden": [16], "num_classes": 10},
        "dataset": {"kind": "classification", "cid": dataset_cid},
        "train": {
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            "loss": "cross_entropy",
            "batch_size": 16,
            "total_steps": steps,
            "checkpoint_interval": interval,
            "seed": seed,
        },
        **top,
    }
