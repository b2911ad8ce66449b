"""The provider's side of the dispute game, apart from the daemon loop: the states it posts for a
dissection round, and the inputs it keeps available until its job is settled.

An honest provider must be able to answer every round from its own trace, and the oracle rules
``PROVIDER_DATA_UNAVAILABLE`` when an artifact it needs cannot be fetched, the job's inputs
(spec, dataset, initial weights) included (docs/dispute-game.md §1.3): so the worker pins them on
its own node when it claims a job and keeps them pinned until the job is finalized or slashed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from crucible.engine.step import Engine, TrainState
from crucible.errors import StoreError
from crucible.protocol import dissection
from crucible.protocol.checkpoint import encode_checkpoint
from crucible.store.artifacts import ArtifactStore


class InputKeeper:
    """Keeps a job's inputs served by this provider's node until the job is settled: a local copy
    of each (written when training starts) is added back, same bytes and so the same CID, whenever
    the node no longer holds a pin on it (the requester deleted its dataset, say)."""

    def __init__(self, store: ArtifactStore, folder: Path) -> None:
        self.store = store
        self.folder = folder

    def keep(self, cids: list[str]) -> None:
        """Keep a local copy of each input's bytes (the worker's :class:`JobPins` pins them)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for cid in cids:
            path = self.folder / cid
            if not path.exists():
                data = self.store.fetch_raw(cid, "job input")
                fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{cid}.")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)

    def restore(self) -> list[str]:
        """Add back every kept input the node lost; returns the CIDs restored."""
        restored = []
        kept = sorted(p for p in self.folder.glob("*") if not p.name.startswith(".")) if self.folder.exists() else []
        for path in kept:
            cid = path.name
            if self.store.pinned(cid):
                continue
            again = self.store.put(path.read_bytes())
            if again != cid:
                raise StoreError(f"the local copy of {cid} now hashes to {again}: not restored")
            restored.append(cid)
        return restored


@dataclass(frozen=True)
class Move:
    """One ``dissect``: the interior points of [a, b] and H(m_i), CID(S_{m_i}) for each."""

    points: list[int]
    hashes: list[bytes]
    state_cids: list[str]


def dissection_move(
    engine: Engine,
    start: TrainState,
    a: int,
    b: int,
    arity: int,
    *,
    store: ArtifactStore,
    spec_cid: str,
) -> Move:
    """Replay from ``start`` (the provider's checkpoint at or before ``a``) through every interior
    point of [a, b], uploading (pinned) each S_{m_i} so the oracle can start from it."""
    points = dissection.interior(a, b, arity)
    if start.step > a:
        raise ValueError(f"replay must start at or before step {a}, not at step {start.step}")
    hashes: list[bytes] = []
    cids: list[str] = []
    state, at = start, start.step
    for m in points:
        state = engine.run(state, at, m)
        at = m
        digest = state.hash()
        hashes.append(digest)
        cids.append(store.put(encode_checkpoint(state.tensors, spec_cid, digest)))
    return Move(points, hashes, cids)
