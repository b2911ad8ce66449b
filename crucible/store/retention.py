"""What a role drops once a job is settled, and the rate-limited garbage collection of its IPFS node.

The policy is docs/retention.md. In short: a provider keeps every local checkpoint and every pin of a
job (its inputs, its trace, its dissection states) while the job can still be disputed, i.e. until the
job is Finalized, Slashed, Cancelled, Refunded or back to Open/Expired *and* none of its disputes is
live. Then, by default, it drops the job's local folder and releases the job's pins; ``keep`` says to
keep the final model (``final``) or everything (``everything``). Unpinned blocks leave the node at its
next garbage collection, which :class:`RepoCollector` runs at most once per ``gc_interval``.
"""

from __future__ import annotations

import enum
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from crucible.store.pins import JobPins


class Keep(enum.StrEnum):
    """What a provider keeps of a settled job."""

    NOTHING = "nothing"  # drop the local folder, release every pin
    FINAL = "final"  # keep the final model pinned and its last local checkpoint; drop the rest (the default:
    # a requester fetches its model after payment)
    EVERYTHING = "everything"  # keep the local folder and every pin (an archive; the disk grows per job)


@dataclass(frozen=True)
class RetentionPolicy:
    keep: Keep = Keep.FINAL
    #: Least seconds between two garbage collections of the node (a gc walks the whole repo).
    gc_interval: float = 60.0


class CollectingNode(Protocol):
    """What :class:`RepoCollector` needs (``crucible.store.ipfs.IpfsStore`` fits)."""

    def gc(self) -> None: ...


class RepoCollector:
    """Garbage-collects one IPFS node after releases, at most once per ``interval`` seconds."""

    def __init__(self, node: CollectingNode, interval: float) -> None:
        self.node = node
        self.interval = interval
        self.pending = False  # something was released since the last collection
        self.last = float("-inf")  # monotonic time of the last collection
        self.runs = 0

    def request(self) -> None:
        self.pending = True

    def collect(self) -> bool:
        """Collect if something was released and the interval has passed; True if it ran."""
        if not self.pending or time.monotonic() - self.last < self.interval:
            return False
        self.node.gc()
        self.pending, self.last = False, time.monotonic()
        self.runs += 1
        return True


@dataclass(frozen=True)
class Released:
    """What settling one job dropped."""

    job_id: int
    unpinned: list[str]
    bytes_deleted: int


class Retention:
    """Applies a :class:`RetentionPolicy` to settled jobs: their folder under ``jobs_dir`` and their
    pins in ``pins``. ``kept`` records what ``keep=final`` holds on to, so a restart still knows it."""

    def __init__(
        self, node: CollectingNode, pins: JobPins, kept: JobPins, jobs_dir: Path, policy: RetentionPolicy
    ) -> None:
        self.pins = pins
        self.kept = kept
        self.jobs_dir = jobs_dir
        self.policy = policy
        self.collector = RepoCollector(node, policy.gc_interval)

    def settle(self, job_id: int, final: Iterable[str] = ()) -> Released:
        """Drop what ``job_id`` held, as the policy says. Call it only once the job is settled and no
        dispute on it is live: nothing a dispute could need may go before then. ``final``: what
        ``keep=final`` holds on to (the final model and the manifest a requester checks it with)."""
        if self.policy.keep == Keep.EVERYTHING:
            return Released(job_id, [], 0)
        folder = self.jobs_dir / str(job_id)
        kept_files: set[Path] = set()
        if self.policy.keep == Keep.FINAL:
            checkpoints = sorted(folder.glob("ckpt-*.safetensors")) if folder.exists() else []
            kept_files = set(checkpoints[-1:])
        deleted = _delete_except(folder, kept_files)
        unpinned = self.pins.release(job_id)
        kept = set(final) if self.policy.keep == Keep.FINAL else set()
        if kept:
            self.kept.hold(job_id, kept)  # pinned again before any gc can run
            unpinned = [c for c in unpinned if c not in kept]
        if unpinned:
            self.collector.request()
        return Released(job_id, unpinned, deleted)

    def collect(self) -> bool:
        """The rate-limited garbage collection; call it every round."""
        return self.collector.collect()


def _delete_except(folder: Path, keep: set[Path]) -> int:
    """Delete ``folder`` (all of it, unless ``keep`` names files in it); returns the bytes deleted."""
    if not folder.exists():
        return 0
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p not in keep)
    if not keep:
        shutil.rmtree(folder)
        return size
    for path in sorted(folder.rglob("*"), reverse=True):
        if path in keep:
            continue
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        else:
            path.unlink()
    return size
