"""What a role keeps pinned on its own IPFS node, per job, until the job is settled.

A provider must serve everything it committed to (checkpoints, manifest, final model) and the inputs
it trained from (spec, dataset, initial weights) for as long as its result can be challenged: if its
node drops them, a verifier's fetch fails and the oracle rules "data unavailable". Pins are recorded
per job in a small JSON file beside the role's other state, so a restarted provider still knows what
to release; a CID held by two jobs stays pinned until both are released.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from crucible.protocol.checkpoint import Manifest
from crucible.protocol.spec import JobSpec, WeightsInit


class PinningNode(Protocol):
    """What :class:`JobPins` needs from an IPFS client (``crucible.store.ipfs.IpfsStore`` fits)."""

    def pin(self, cid: str) -> None: ...
    def unpin(self, cid: str) -> None: ...


def inputs_of(spec_cid: str, spec: JobSpec) -> set[str]:
    """The artifacts a job is trained from: its spec, dataset and (if any) initial weights."""
    cids = {spec_cid, spec.dataset.cid}
    if isinstance(spec.model.init, WeightsInit):
        cids.add(spec.model.init.cid)
    return cids


def committed_by(manifest_cid: str, manifest: Manifest) -> set[str]:
    """The artifacts a submitted result commits to: manifest, every checkpoint, final model, spec."""
    return {manifest_cid, manifest.final_model_cid, manifest.spec_cid, *(c.cid for c in manifest.checkpoints)}


def provider_artifacts(spec: JobSpec, manifest_cid: str, manifest: Manifest) -> set[str]:
    """Everything a provider serves for a submitted job: what it committed and what it trained from."""
    return committed_by(manifest_cid, manifest) | inputs_of(manifest.spec_cid, spec)


class JobPins:
    """Pin sets keyed by job id, on one node, recorded in ``path``."""

    def __init__(self, node: PinningNode, path: Path) -> None:
        self.node = node
        self.path = path
        self._lock = threading.Lock()  # a provider holds from its training thread and releases from its loop

    def _load(self) -> dict[str, list[str]]:
        if not self.path.exists():
            return {}
        data: dict[str, list[str]] = json.loads(self.path.read_text())
        return data

    def _save(self, held: dict[str, list[str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(held, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    def held(self, job_id: int) -> set[str]:
        return set(self._load().get(str(job_id), []))

    def hold(self, job_id: int, cids: Iterable[str]) -> None:
        """Pin ``cids`` for ``job_id`` (recorded first, so a crash mid-way still releases them later).

        Pinning a CID the node does not hold makes it fetch it: hold what this node added or fetched.
        """
        new = set(cids)
        with self._lock:
            held = self._load()
            held[str(job_id)] = sorted(set(held.get(str(job_id), [])) | new)
            self._save(held)
        for cid in sorted(new):
            self.node.pin(cid)

    def release(self, job_id: int) -> list[str]:
        """Unpin what ``job_id`` held and no other job still holds; returns the CIDs unpinned.

        Call it once the job is settled (finalized, slashed, cancelled, refunded or expired). The
        blocks stay on the node until its next garbage collection.
        """
        with self._lock:
            held = self._load()
            mine = set(held.pop(str(job_id), []))
            still = {cid for cids in held.values() for cid in cids}
            freed = sorted(mine - still)
            for cid in freed:
                self.node.unpin(cid)
            self._save(held)
        return freed
