"""Everything the explorer knows about the contract: folds the market's event log into a read model
of jobs, providers, challengers and disputes, kept in memory and in a local cache file.

This is the one module that knows the contract's events and views; the pages and the JSON API read
only :class:`ReadModel`. A new dispute game (new events, clocks, several disputes per job) changes
its ``_on_<EventName>`` handlers and :meth:`Indexer._refresh`, nothing else. The model is plain JSON so it can be
cached as is: with ``cache_path`` a restarted explorer continues from its block cursor, and while the
chain does not answer the last model keeps being served, marked stale.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from enum import IntEnum
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from crucible.chain.deployment import Deployment
from crucible.chain.events import Event, EventLog
from crucible.chain.market import Dispute, DisputeKind, DisputeStatus, Market, Verdict
from crucible.chain.rpc import RetryingHTTPProvider
from crucible.errors import CrucibleError
from crucible.store.artifacts import ArtifactStore
from crucible.store.ipfs import digest_to_cid

log = logging.getLogger("crucible.explorer")

#: Version 2: the v2 dispute game (several disputes per job, k-ary dissection, chess clocks, epochs).
#: Version 3: each dispute's own bond (the job's bond doubles per level of failed disputes).
CACHE_VERSION = 3
FEED_LENGTH = 200
#: Job statuses whose reward is still held by the contract (escrow).
ESCROWED = {"OPEN", "CLAIMED", "EXPIRED", "SUBMITTED", "DISPUTED", "ACCEPTED"}
SETTLED_JOB = {"FINALIZED", "SLASHED", "CANCELLED", "REFUNDED"}
LIVE_DISPUTE = {"DISSECTING", "AWAITING_ORACLE"}
#: Events folded even when they name no job the model knows (or no job at all).
GLOBAL_EVENTS = {"JobPosted", "StakeDeposited", "StakeWithdrawn", "Credited", "CreditWithdrawn", "OracleSetScheduled"}

Args = dict[str, Any]
Row = dict[str, Any] | None


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray | HexBytes) else str(value)


def _cid(digest: bytes) -> str | None:
    return digest_to_cid(bytes(digest)) if any(bytes(digest)) else None


def _json_value(v: Any) -> Any:
    """An event argument for JSON: bytes as hex, big integers as decimal strings (JS numbers are
    doubles), structs and arrays element by element."""
    if isinstance(v, bool | str):
        return v
    if isinstance(v, int):
        return v if abs(v) < 2**53 else str(v)
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    return _hex(v)


def _jsonable(args: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in args.items()}


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
        "oracle_epochs": {},
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
        """Apply one event to the model (through its ``_on_<EventName>`` handler); returns its feed entry."""
        m, a = self.model, e.args
        at = self._time_of(e.block)
        if m["anchor"] is None:
            m["anchor"] = [e.block, _hex(self.market.w3.eth.get_block(e.block)["hash"])]
        job = m["jobs"].get(str(a.get("jobId"))) if "jobId" in a else None
        dispute = m["disputes"].get(str(a.get("disputeId"))) if "disputeId" in a else None
        if dispute is not None and job is None:
            job = m["jobs"].get(str(dispute["job_id"]))
        handler = getattr(self, f"_on_{e.name}", None)
        if handler is not None and (e.name in GLOBAL_EVENTS or job is not None):
            handler(a, job, dispute, at)
            job = m["jobs"].get(str(a["jobId"])) if e.name == "JobPosted" else job
        if job is not None:
            job["history"].append({"at": at, "event": e.name, "block": e.block})
        return {
            "event": e.name,
            "block": e.block,
            "log_index": e.log_index,
            "tx": e.tx_hash,
            "at": at,
            "job_id": job["id"] if job is not None else None,
            "dispute_id": a.get("disputeId"),
            "args": _jsonable(a),
        }

    # Jobs ----------------------------------------------------------------------------------------

    def _on_JobPosted(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        terms = a["terms"]
        self.model["jobs"][str(a["jobId"])] = {
            "id": a["jobId"],
            "requester": a["requester"],
            "reward": str(a["reward"]),
            "spec_cid": digest_to_cid(bytes(terms["specCid"])),
            "stake": str(terms["stake"]),
            "bond": str(terms["bond"]),
            "interval": terms["interval"],
            "total_steps": terms["totalSteps"],
            "arity": terms["arity"],
            "duration": terms["duration"],
            "challenge_window": terms["challengeWindow"],
            "refund_on_expiry": terms["refundOnExpiry"],
            "params_version": a["paramsVersion"],
            "posted_at": at,
            "status": "OPEN",
            "provider": None,
            "claim_deadline": None,
            "progress_deadline": None,
            "reported": [],  # ProgressReported on chain: [{step, at}]
            "window_end": None,
            "payout_bound": None,
            "live_disputes": 0,
            "result": None,
            "disputes": [],
            "paid": None,
            "slash": None,
            "released": None,
            "history": [],
            "spec": None,
            "manifest": None,
        }

    def _on_JobClaimed(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job.update(
            provider=a["provider"],
            claim_deadline=a["deadline"],
            progress_deadline=a["progressDeadline"],
            claimed_at=at,
            stake=str(a["stake"]),
        )
        self._provider(a["provider"])["jobs"].append(a["jobId"])

    def _on_ProgressReported(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job["reported"].append({"step": a["step"], "at": at})
        job["progress_deadline"] = a["progressDeadline"]

    def _on_JobReleased(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job["released"] = {"how": "released", "to_requester": str(a["toRequester"]), "refunded": a["refunded"]}

    def _on_JobExpired(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job["released"] = {"how": "expired", "to_requester": str(a["toRequester"]), "refunded": a["refunded"]}

    def _on_ResultSubmitted(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job["window_end"] = a["windowEnd"]
        job["result"] = {
            "trace_root": _hex(a["traceRoot"]),
            "final_state_hash": _hex(a["finalStateHash"]),
            "manifest_cid": digest_to_cid(bytes(a["manifestCid"])),
            "final_model_cid": digest_to_cid(bytes(a["finalModelCid"])),
            "submitted_at": at,
        }

    def _on_JobResumed(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job["window_end"] = a["windowEnd"]

    def _on_JobFinalized(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        job["paid"] = str(a["reward"])
        p = self._provider(a["provider"])
        p["earnings"] = str(int(p["earnings"]) + a["reward"])

    # Money ---------------------------------------------------------------------------------------

    def _on_StakeDeposited(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        self._provider(a["provider"])

    _on_StakeWithdrawn = _on_StakeDeposited

    def _on_Credited(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        credits = self.model["credits"]
        credits[a["account"]] = str(int(credits.get(a["account"], "0")) + a["amount"])

    def _on_CreditWithdrawn(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        self.model["credits"][a["account"]] = "0"

    # Disputes ------------------------------------------------------------------------------------

    def _on_DisputeOpened(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        assert job is not None
        self.model["disputes"][str(a["disputeId"])] = {
            "id": a["disputeId"],
            "job_id": a["jobId"],
            "challenger": a["challenger"],
            "kind": _enum_name(DisputeKind, a["kind"]),
            "status": "DISSECTING" if a["b"] - a["a"] > 1 else "AWAITING_ORACLE",
            "epoch": a["epoch"],
            "bond": str(a["bond"]),  # what this challenger posted: bondFor(jobId) at opening
            "a": a["a"],
            "b": a["b"],
            "hash_a": _hex(a["hashA"]),
            "hash_b": _hex(a["hashB"]),
            "opened_at": at,
            # one row per round: the interval, then the provider's points in it (DisputeDissected)
            "rounds": [{"at": at, "a": a["a"], "b": a["b"], "move": "opened"}],
            "deadline": a["deadline"],
            "turn": "provider",
            "clocks": None,
            "ready": None,
            "votes": [],
            "outcome": None,
            "timed_out": None,
            "bond_forfeited": None,
            "voided": None,
            "challenger_reward": None,
            "settled_by_slash": None,  # True once settleDispute paid it after another dispute's slash
        }
        job["disputes"].append(a["disputeId"])
        c = self._challenger(a["challenger"])
        c["disputes"].append(a["disputeId"])
        c["bonds_posted"] = str(int(c["bonds_posted"]) + int(a["bond"]))

    def _on_DisputeDissected(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is None:
            return
        lo, hi = a["a"], a["b"]
        parts = len(a["hashes"]) + 1
        points = [lo + (i * (hi - lo)) // parts for i in range(parts + 1)]
        dispute["rounds"][-1].update(points=points, dissected_at=at)
        dispute.update(deadline=a["deadline"], turn="challenger")

    def _on_DisputeNarrowed(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is None:
            return
        points = dispute["rounds"][-1].get("points") or [a["a"], a["b"]]
        move = f"picked part {a['index'] + 1} of {len(points) - 1}"
        dispute["rounds"].append({"at": at, "a": a["a"], "b": a["b"], "move": move})
        dispute.update(a=a["a"], b=a["b"], hash_a=_hex(a["hashA"]), hash_b=_hex(a["hashB"]))
        dispute.update(deadline=a["deadline"], turn="provider")

    def _on_DisputeReadyForOracle(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is None:
            return
        dispute["ready"] = {
            "a": a["a"],
            "hash_a": _hex(a["hashA"]),
            "hash_b": _hex(a["hashB"]),
            "state_cid_a": _cid(a["stateCidA"]),
            "epoch": a["epoch"],
            "at": at,
        }
        dispute.update(status="AWAITING_ORACLE", deadline=a["deadline"], turn="oracle")

    def _on_VerdictSubmitted(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is None:
            return
        dispute["votes"].append({"oracle": a["oracle"], "verdict": _enum_name(Verdict, a["verdict"]), "at": at})
        dispute["deadline"] = a["deadline"]
        self._oracle(a["oracle"])["votes"] += 1

    def _on_OracleFeePaid(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        oracle = self._oracle(a["oracle"])
        oracle["fees"] = str(int(oracle["fees"]) + a["amount"])

    def _on_DisputeTimedOut(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is not None:
            dispute["timed_out"] = a["loser"]

    def _on_DisputeVoided(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is not None:
            dispute["voided"] = {"refund": str(a["refund"]), "void_fee": str(a["voidFee"])}

    def _on_DisputeResolved(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is None:
            return
        outcome = _enum_name(DisputeStatus, a["outcome"])
        dispute.update(outcome=outcome, status=outcome, resolved_at=at, deadline=None, turn=None)
        if dispute["settled_by_slash"] is False:
            dispute["settled_by_slash"] = True
        elif job is not None and job["status"] != "SLASHED":
            job["window_end"] = a["windowEnd"]
        c = self._challenger(dispute["challenger"])
        key = {"CHALLENGER_WON": "won", "PROVIDER_WON": "lost"}.get(outcome, "voided")
        c[key] += 1

    def _on_ProviderSlashed(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        """The stake is slashed once; every dispute live at that moment wins an equal share of the pool
        (the deciding one is paid now, the others when someone calls ``settleDispute``)."""
        assert job is not None
        job["status"] = "SLASHED"
        job["slash"] = {k: str(a[k]) for k in ("amount", "oracleFee", "pool", "toRequester", "burned")}
        job["slash"].update(winners=a["winners"], dispute_id=a["disputeId"])
        p = self._provider(a["provider"])
        p["slashes"].append({"job_id": a["jobId"], "amount": str(a["amount"]), "at": at})
        share = a["pool"] // max(1, a["winners"])
        for d in (self.model["disputes"][str(i)] for i in job["disputes"]):
            if d["outcome"] is not None:
                continue
            d["challenger_reward"] = str(share)
            d["settled_by_slash"] = None if d["id"] == a["disputeId"] else False
            c = self._challenger(d["challenger"])
            c["rewards"] = str(int(c["rewards"]) + share)

    def _on_BondForfeited(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        if dispute is None:
            return
        dispute["bond_forfeited"] = str(a["amount"])
        c = self._challenger(a["challenger"])
        c["bonds_forfeited"] = str(int(c["bonds_forfeited"]) + a["amount"])
        if job is not None and job.get("provider"):
            p = self._provider(job["provider"])
            p["earnings"] = str(int(p["earnings"]) + a["toProvider"])

    # Oracles -------------------------------------------------------------------------------------

    def _on_OracleSetScheduled(self, a: Args, job: Row, dispute: Row, at: int) -> None:
        members = list(a["members"])
        self.model["oracle_epochs"][str(a["epoch"])] = {
            "epoch": a["epoch"],
            "members": members,
            "quorum": a["quorum"],
            "effective_at": a["effectiveAt"],
        }
        for member in members:
            self._oracle(member)

    def _oracle(self, address: str) -> dict[str, Any]:
        o: dict[str, Any] = self.model["oracles"].setdefault(address, {"votes": 0, "fees": "0"})
        return o

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
        Accepted; a clock runs) for every unsettled job, live dispute and known provider, and the totals."""
        mk = self.market
        with self._lock:
            jobs = [int(j["id"]) for j in self.model["jobs"].values() if j["status"] not in SETTLED_JOB]
            disputes = [int(d["id"]) for d in self.model["disputes"].values() if d["status"] in LIVE_DISPUTE]
            providers = list(self.model["providers"])
        job_views = {j: mk.job(j) for j in jobs}
        dispute_views = {d: mk.dispute(d) for d in disputes}
        infos = {p: mk.provider_info(p) for p in providers}
        money = {"liabilities": mk.total_liabilities(), "burned": mk.total_burned(), "balance": mk.balance()}
        head = mk.w3.eth.get_block("latest")
        with self._lock:
            m = self.model
            for j, view in job_views.items():
                m["jobs"][str(j)].update(
                    status=view.status.name,
                    deadline=view.deadline,
                    live_disputes=view.live_disputes,
                    payout_bound=max(view.window_end, view.payout_bound) or None,
                )
            for d, dv in dispute_views.items():
                m["disputes"][str(d)].update(
                    status=dv.status.name,
                    a=dv.a,
                    b=dv.b,
                    deadline=dv.deadline or None,  # 0: resolved, or waiting for settleDispute after a slash
                    turn=_turn(dv.status, dv.awaiting_response) if dv.deadline else None,
                    clocks=_clocks(dv),
                )
            for p, info in infos.items():
                m["providers"][p].update(
                    free=str(info.free),
                    locked=str(info.locked),
                    finalized=info.finalized,
                    slashed=info.slashed,
                    expired=info.expired,
                )
            m["totals"] = _totals(m, money)
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


def _enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def _turn(status: DisputeStatus, awaiting_response: bool) -> str | None:
    """Whose move the dispute's clock is running for."""
    if status == DisputeStatus.DISSECTING:
        return "challenger" if awaiting_response else "provider"
    if status == DisputeStatus.AWAITING_ORACLE:
        return "oracle"
    return None


def _clocks(dv: Dispute) -> dict[str, int]:
    """Each party's chess clock: seconds used (as of its last turn change) and the budget; a turn's
    deadline is its start + max(budget - used, move extension)."""
    return {
        "provider_used": dv.provider_clock_used,
        "challenger_used": dv.challenger_clock_used,
        "budget": dv.clock_budget,
        "move_extension": dv.move_extension,
        "turn_started_at": dv.turn_started_at,
    }


def _totals(m: dict[str, Any], money: dict[str, int]) -> dict[str, Any]:
    """What the contract owes, summed from the model, beside what it says it owes and holds: job
    rewards in escrow, stakes, bonds of live disputes (plus the pool share owed to each dispute
    that waits for ``settleDispute``), and credits not withdrawn."""
    escrow = sum(int(j["reward"]) for j in m["jobs"].values() if j["status"] in ESCROWED)
    stakes = sum(int(p["free"]) + int(p["locked"]) for p in m["providers"].values())
    bonds = 0
    for d in m["disputes"].values():
        if d["status"] in LIVE_DISPUTE:
            bonds += int(d["bond"])
            bonds += int(d["challenger_reward"] or 0) if d["settled_by_slash"] is False else 0
    credits = sum(int(c) for c in m["credits"].values())
    by_status: dict[str, int] = {}
    for j in m["jobs"].values():
        by_status[j["status"]] = by_status.get(j["status"], 0) + 1
    return {
        "escrow": str(escrow),
        "stakes": str(stakes),
        "bonds": str(bonds),
        "credits": str(credits),
        "sum": str(escrow + stakes + bonds + credits),
        "liabilities": str(money["liabilities"]),
        "balance": str(money["balance"]),
        "burned": str(money["burned"]),
        "jobs_by_status": by_status,
    }
