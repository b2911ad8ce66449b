"""Everything the explorer knows about the contract: folds the market's event log into a read model
of jobs, providers, challengers and disputes, kept in memory and in a local cache file.

This is the one module that knows the contract's events and views; the pages and the JSON API read
only :class:`ReadModel`. A new dispute game (new events, clocks, several disputes per job) changes
:meth:`Indexer._fold` and :meth:`Indexer._refresh`, nothing else. The model is plain JSON so it can be
cached as is: with ``cache_path`` a restarted explorer continues from its block cursor, and while the
chain does not answer the last model keeps being served, marked stale.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from crucible.artifacts import ArtifactStore
from crucible.chain import Deployment, RetryingHTTPProvider
from crucible.errors import CrucibleError
from crucible.events import Event, EventLog
from crucible.ipfs import digest_to_cid
from crucible.market import DisputeStatus, Market

log = logging.getLogger("crucible.explorer")

CACHE_VERSION = 1
FEED_LENGTH = 200
#: Job statuses whose reward is still held by the contract (escrow).
ESCROWED = {"OPEN", "CLAIMED", "EXPIRED", "SUBMITTED", "DISPUTED", "ACCEPTED"}
SETTLED_JOB = {"FINALIZED", "SLASHED", "CANCELLED", "REFUNDED"}
LIVE_DISPUTE = {"BISECTING", "AWAITING_ORACLE"}


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray | HexBytes) else str(value)


def _cid(digest: bytes) -> str | None:
    return digest_to_cid(bytes(digest)) if any(bytes(digest)) else None


def _jsonable(args: dict[str, Any]) -> dict[str, Any]:
    """Event args for JSON: bytes as hex, big integers as decimal strings (JS numbers are doubles)."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, bool):
            out[k] = v
        elif isinstance(v, int):
            out[k] = v if abs(v) < 2**53 else str(v)
        else:
            out[k] = _hex(v)
    return out


def empty_model(deployment: Deployment) -> dict[str, Any]:
    return {
        "version": CACHE_VERSION,
        "chain_id": deployment.chain_id,
        "market": deployment.market,
        "deploy_block": deployment.deploy_block,
        "anchor": None,  # [block, hash] of a block this model has read: tells a new chain from this one
        "next_block": deployment.deploy_block,
        "head": None,
        "chain_time": None,
        "updated_at": None,
        "jobs": {},
        "disputes": {},
        "providers": {},
        "challengers": {},
        "credits": {},
        "oracles": {},
        "totals": {},
        "feed": [],
    }


class Indexer:
    """Folds new events into the model on each :meth:`poll`; thread-safe reads via :meth:`snapshot`."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        cache_path: Path | None = None,
        store: ArtifactStore | None = None,
        rpc_timeout: float = 3.0,
    ) -> None:
        self.deployment = deployment
        self.cache_path = cache_path
        self.store = store
        w3 = Web3(RetryingHTTPProvider(deployment.rpc_url, timeout=rpc_timeout, retry_for=rpc_timeout))
        self.market = Market(w3, deployment.market)
        self.model = self._load_cache() or empty_model(deployment)
        self.chain_error: str | None = None
        self.ipfs_error: str | None = None
        self._lock = threading.Lock()
        self._block_times: dict[int, int] = {}
        self._checked_anchor = False
        self._events = EventLog(self.market.contract, int(self.model["next_block"]))

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the model plus what is currently unreachable."""
        with self._lock:
            model: dict[str, Any] = json.loads(json.dumps(self.model))
        model["chain_error"] = self.chain_error
        model["ipfs_error"] = self.ipfs_error
        return model

    def provider_of(self, job_id: int) -> str | None:
        with self._lock:
            job = self.model["jobs"].get(str(job_id))
            return job["provider"] if job and job.get("provider") else None

    # ------------------------------------------------------------------ polling

    def poll(self) -> list[dict[str, Any]]:
        """Read new events and refresh what they touched; returns the new feed entries. A chain that
        does not answer leaves the model as it was and sets :attr:`chain_error`."""
        try:
            self._check_anchor()
            events = self._events.poll()
            with self._lock:
                entries = [self._fold(e) for e in events]
            self._refresh()
        except (CrucibleError, OSError, ValueError) as exc:
            if self.chain_error is None:
                log.warning("chain unreachable: %s", exc)
            self.chain_error = str(exc) or exc.__class__.__name__
            return []
        self.chain_error = None
        self._fetch_artifacts()
        with self._lock:
            self.model["next_block"] = self._events.next_block
            self.model["updated_at"] = time.time()
            self.model["feed"] = (self.model["feed"] + entries)[-FEED_LENGTH:]
        if entries:
            self._save_cache()
        return entries

    def _check_anchor(self) -> None:
        """Drop the model if the chain is not the one it was read from (a fresh devnet reuses addresses)."""
        if self._checked_anchor:
            return
        chain_id = int(self.market.w3.eth.chain_id)
        if chain_id != self.deployment.chain_id:
            raise CrucibleError(
                f"the RPC serves chain {chain_id}, the deployment file is for {self.deployment.chain_id}"
            )
        anchor = self.model.get("anchor")
        if anchor is not None:
            block = self.market.w3.eth.get_block(int(anchor[0]))
            if _hex(block["hash"]) != anchor[1]:
                log.info("cached model is for another chain; reading from the deployment block")
                with self._lock:
                    self.model = empty_model(self.deployment)
                self._events = EventLog(self.market.contract, self.deployment.deploy_block)
        self._checked_anchor = True

    def _time_of(self, block: int) -> int:
        if block not in self._block_times:
            self._block_times[block] = int(self.market.w3.eth.get_block(block)["timestamp"])
        return self._block_times[block]

    # ------------------------------------------------------------------ the fold

    def _fold(self, e: Event) -> dict[str, Any]:
        """Apply one event to the model; returns its feed entry."""
        m, a = self.model, e.args
        at = self._time_of(e.block)
        if m["anchor"] is None:
            m["anchor"] = [e.block, _hex(self.market.w3.eth.get_block(e.block)["hash"])]
        job = m["jobs"].get(str(a.get("jobId"))) if "jobId" in a else None
        dispute = m["disputes"].get(str(a.get("disputeId"))) if "disputeId" in a else None
        if dispute is not None and job is None:
            job = m["jobs"].get(str(dispute["job_id"]))
        n = e.name
        if n == "JobPosted":
            job = m["jobs"][str(a["jobId"])] = {
                "id": a["jobId"],
                "requester": a["requester"],
                "reward": str(a["reward"]),
                "spec_cid": digest_to_cid(bytes(a["specCid"])),
                "stake": str(a["stake"]),
                "bond": str(a["bond"]),
                "interval": a["interval"],
                "total_steps": a["totalSteps"],
                "duration": a["duration"],
                "challenge_window": a["challengeWindow"],
                "refund_on_expiry": a["refundOnExpiry"],
                "params_version": a["paramsVersion"],
                "posted_at": at,
                "status": "OPEN",
                "provider": None,
                "claim_deadline": None,
                "window_end": None,
                "result": None,
                "disputes": [],
                "paid": None,
                "slash": None,
                "history": [],
                "spec": None,
                "manifest": None,
            }
        elif n == "JobClaimed" and job is not None:
            job.update(provider=a["provider"], claim_deadline=a["deadline"], claimed_at=at)
            self._provider(a["provider"])["jobs"].append(a["jobId"])
        elif n == "ResultSubmitted" and job is not None:
            job["window_end"] = a["windowEnd"]
            job["result"] = {
                "trace_root": _hex(a["traceRoot"]),
                "final_state_hash": _hex(a["finalStateHash"]),
                "manifest_cid": digest_to_cid(bytes(a["manifestCid"])),
                "final_model_cid": digest_to_cid(bytes(a["finalModelCid"])),
                "submitted_at": at,
            }
        elif n == "JobResumed" and job is not None:
            job["window_end"] = a["windowEnd"]
        elif n == "JobFinalized" and job is not None:
            job["paid"] = str(a["reward"])
            p = self._provider(a["provider"])
            p["earnings"] = str(int(p["earnings"]) + a["reward"])
        elif n == "StakeDeposited" or n == "StakeWithdrawn":
            self._provider(a["provider"])
        elif n == "Credited":
            m["credits"][a["account"]] = str(int(m["credits"].get(a["account"], "0")) + a["amount"])
        elif n == "CreditWithdrawn":
            m["credits"][a["account"]] = "0"
        elif n == "DisputeOpened":
            dispute = m["disputes"][str(a["disputeId"])] = {
                "id": a["disputeId"],
                "job_id": a["jobId"],
                "challenger": a["challenger"],
                "kind": _enum_name("DisputeKind", a["kind"]),
                "status": "BISECTING",
                "a": a["a"],
                "b": a["b"],
                "hash_a": _hex(a["hashA"]),
                "hash_b": _hex(a["hashB"]),
                "opened_at": at,
                "rounds": [{"at": at, "a": a["a"], "b": a["b"], "move": "opened"}],
                "pending_mid": None,
                "awaiting_response": False,
                "deadline": None,
                "ready": None,
                "votes": [],
                "outcome": None,
                "timed_out": None,
                "bond_forfeited": None,
                "challenger_reward": None,
            }
            if job is not None:
                job["disputes"].append(a["disputeId"])
            self._challenger(a["challenger"])["disputes"].append(a["disputeId"])
        elif n == "DisputeBisected" and dispute is not None:
            dispute["pending_mid"] = {"m": a["m"], "hash": _hex(a["midHash"]), "state_cid": _cid(a["midStateCid"])}
            dispute["rounds"][-1]["mid"] = a["m"]
        elif n == "DisputeResponded" and dispute is not None:
            dispute.update(a=a["a"], b=a["b"], pending_mid=None)
            move = "agreed" if a["agree"] else "disagreed"
            dispute["rounds"].append({"at": at, "a": a["a"], "b": a["b"], "move": move})
        elif n == "DisputeReadyForOracle" and dispute is not None:
            dispute["ready"] = {
                "a": a["a"],
                "hash_a": _hex(a["hashA"]),
                "hash_b": _hex(a["hashB"]),
                "state_cid_a": _cid(a["stateCidA"]),
                "at": at,
            }
        elif n == "VerdictSubmitted" and dispute is not None:
            dispute["votes"].append({"oracle": a["oracle"], "verdict": _enum_name("Verdict", a["verdict"]), "at": at})
            m["oracles"].setdefault(a["oracle"], {"votes": 0})["votes"] += 1
        elif n == "DisputeTimedOut" and dispute is not None:
            dispute["timed_out"] = a["loser"]
        elif n == "DisputeResolved" and dispute is not None:
            outcome = _enum_name("DisputeStatus", a["outcome"])
            dispute.update(outcome=outcome, status=outcome, resolved_at=at)
            c = self._challenger(dispute["challenger"])
            key = {"CHALLENGER_WON": "won", "PROVIDER_WON": "lost"}.get(outcome, "voided")
            c[key] += 1
        elif n == "ProviderSlashed" and job is not None:
            job["slash"] = {k: str(a[k]) for k in ("amount", "toChallenger", "toRequester", "burned")}
            p = self._provider(a["provider"])
            p["slashes"].append({"job_id": a["jobId"], "amount": str(a["amount"]), "at": at})
            for d in (m["disputes"][str(i)] for i in job["disputes"]):
                if d["status"] in LIVE_DISPUTE or d.get("outcome") in (None, "CHALLENGER_WON"):
                    d["challenger_reward"] = str(a["toChallenger"])
                    c = self._challenger(d["challenger"])
                    c["rewards"] = str(int(c["rewards"]) + a["toChallenger"])
                    break
        elif n == "BondForfeited" and dispute is not None:
            dispute["bond_forfeited"] = str(a["amount"])
            c = self._challenger(a["challenger"])
            c["bonds_forfeited"] = str(int(c["bonds_forfeited"]) + a["amount"])
            if job is not None and job.get("provider"):
                p = self._provider(job["provider"])
                p["earnings"] = str(int(p["earnings"]) + a["toProvider"])
        elif n == "OracleAdded":
            m["oracles"].setdefault(a["oracle"], {"votes": 0})
        elif n == "OracleRemoved":
            m["oracles"].pop(a["oracle"], None)
        if n == "DisputeOpened" and job is not None:
            c = self._challenger(a["challenger"])
            c["bonds_posted"] = str(int(c["bonds_posted"]) + int(job["bond"]))
        if job is not None:
            job["history"].append({"at": at, "event": n, "block": e.block})
        return {
            "event": n,
            "block": e.block,
            "log_index": e.log_index,
            "tx": e.tx_hash,
            "at": at,
            "job_id": job["id"] if job is not None else None,
            "dispute_id": a.get("disputeId"),
            "args": _jsonable(a),
        }

    def _provider(self, address: str) -> dict[str, Any]:
        p: dict[str, Any] = self.model["providers"].setdefault(
            address,
            {"address": address, "free": "0", "locked": "0", "finalized": 0, "slashed": 0, "expired": 0}
            | {"jobs": [], "earnings": "0", "slashes": []},
        )
        return p

    def _challenger(self, address: str) -> dict[str, Any]:
        c: dict[str, Any] = self.model["challengers"].setdefault(
            address,
            {"address": address, "disputes": [], "won": 0, "lost": 0, "voided": 0}
            | {"bonds_posted": "0", "bonds_forfeited": "0", "rewards": "0"},
        )
        return c

    # ------------------------------------------------------------------ views

    def _refresh(self) -> None:
        """Re-read the views that change without an event of their own (a window passing makes a job
        Accepted) for every unsettled job, live dispute and known provider, and the market's totals."""
        mk = self.market
        with self._lock:
            jobs = [int(j["id"]) for j in self.model["jobs"].values() if j["status"] not in SETTLED_JOB]
            disputes = [int(d["id"]) for d in self.model["disputes"].values() if d["status"] in LIVE_DISPUTE]
            providers = list(self.model["providers"])
        job_views = {j: mk.job(j) for j in jobs}
        dispute_views = {d: mk.dispute(d) for d in disputes}
        status_views = {j: mk.job_status(j) for j in jobs}
        infos = {p: mk.provider_info(p) for p in providers}
        liabilities = int(mk.call("totalLiabilities"))
        burned = int(mk.call("totalBurned"))
        balance = int(mk.w3.eth.get_balance(mk.address))
        head = mk.w3.eth.get_block("latest")
        with self._lock:
            m = self.model
            for j, view in job_views.items():
                job = m["jobs"][str(j)]
                job["status"] = status_views[j].name
                job["deadline"] = view.deadline
            for d, dv in dispute_views.items():
                dispute = m["disputes"][str(d)]
                dispute.update(
                    status=dv.status.name,
                    a=dv.a,
                    b=dv.b,
                    deadline=dv.deadline,
                    awaiting_response=dv.awaiting_response,
                    turn=_turn(dv.status, dv.awaiting_response),
                )
            for p, info in infos.items():
                m["providers"][p].update(
                    free=str(info.free),
                    locked=str(info.locked),
                    finalized=info.finalized,
                    slashed=info.slashed,
                    expired=info.expired,
                )
            escrow = sum(int(j["reward"]) for j in m["jobs"].values() if j["status"] in ESCROWED)
            stakes = sum(int(p["free"]) + int(p["locked"]) for p in m["providers"].values())
            bonds = sum(
                int(m["jobs"][str(d["job_id"])]["bond"]) for d in m["disputes"].values() if d["status"] in LIVE_DISPUTE
            )
            credits = sum(int(c) for c in m["credits"].values())
            by_status: dict[str, int] = {}
            for j in m["jobs"].values():
                by_status[j["status"]] = by_status.get(j["status"], 0) + 1
            m["totals"] = {
                "escrow": str(escrow),
                "stakes": str(stakes),
                "bonds": str(bonds),
                "credits": str(credits),
                "sum": str(escrow + stakes + bonds + credits),
                "liabilities": str(liabilities),
                "balance": str(balance),
                "burned": str(burned),
                "jobs_by_status": by_status,
            }
            m["head"] = int(head["number"])
            m["chain_time"] = int(head["timestamp"])

    def _fetch_artifacts(self) -> None:
        """Spec and manifest of each job, from IPFS, once (content-addressed: never changes)."""
        if self.store is None:
            return
        with self._lock:
            wanted = [
                (j["id"], j["spec_cid"], (j["result"] or {}).get("manifest_cid"))
                for j in self.model["jobs"].values()
                if j["spec"] is None or (j["result"] and j["manifest"] is None)
            ]
        try:
            for job_id, spec_cid, manifest_cid in wanted:
                spec = self.store.fetch_spec(spec_cid).model_dump(mode="json")
                manifest = None
                if manifest_cid:
                    manifest = self.store.fetch_manifest(manifest_cid).model_dump(mode="json")
                with self._lock:
                    job = self.model["jobs"][str(job_id)]
                    job["spec"] = spec
                    if manifest is not None:
                        job["manifest"] = manifest
        except CrucibleError as exc:
            self.ipfs_error = str(exc)
            return
        self.ipfs_error = None

    # ------------------------------------------------------------------ cache

    def _load_cache(self) -> dict[str, Any] | None:
        if self.cache_path is None or not self.cache_path.exists():
            return None
        try:
            model: dict[str, Any] = json.loads(self.cache_path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache %s: %s", self.cache_path, exc)
            return None
        same = (model.get("version"), model.get("chain_id"), model.get("market")) == (
            CACHE_VERSION,
            self.deployment.chain_id,
            self.deployment.market,
        )
        return model if same else None

    def _save_cache(self) -> None:
        if self.cache_path is None:
            return
        with self._lock:
            data = json.dumps(self.model)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.replace(self.cache_path)


def _enum_name(kind: str, value: int) -> str:
    from crucible import market

    enum = getattr(market, kind)
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def _turn(status: DisputeStatus, awaiting_response: bool) -> str | None:
    """Whose move the dispute's clock is running for."""
    if status == DisputeStatus.BISECTING:
        return "challenger" if awaiting_response else "provider"
    if status == DisputeStatus.AWAITING_ORACLE:
        return "oracle"
    return None
