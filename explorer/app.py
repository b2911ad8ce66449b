"""The explorer's web app: read-only pages for the market, jobs, providers and challengers, a JSON
API they render from, and a server-sent event stream that tells open pages to update.

The pages are served from ``explorer/static`` only (no CDN, no web font): they work offline. All
chain knowledge comes from :class:`~explorer.indexer.Indexer`; progress from the signed records of
:class:`~crucible.store.pubsub.ProgressFeed`; verdict evidence from the oracle's HTTP API when given.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from eth_utils.address import is_address, to_checksum_address
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from crucible.protocol.progress import ProgressRecord, eta_seconds
from crucible.store.pubsub import ProgressFeed
from explorer.indexer import Indexer

log = logging.getLogger("crucible.explorer")
STATIC = Path(__file__).parent / "static"


class Hub:
    """Fan-out of live updates to every open page: a numbered log the SSE streams follow."""

    def __init__(self, keep: int = 500) -> None:
        self.keep = keep
        self.seq = 0
        self.items: list[tuple[int, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def push(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.seq += 1
            self.items = [*self.items[-self.keep + 1 :], (self.seq, kind, data)]

    def since(self, seq: int) -> list[tuple[int, str, dict[str, Any]]]:
        with self._lock:
            return [item for item in self.items if item[0] > seq]


class Explorer:
    """The indexer's poll loop and the progress feed, each on a thread, feeding the hub."""

    def __init__(
        self,
        indexer: Indexer,
        progress: ProgressFeed | None,
        *,
        oracle_url: str | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.indexer = indexer
        self.progress = progress
        self.oracle_url = oracle_url.rstrip("/") if oracle_url else None
        self.poll_interval = poll_interval
        self.hub = Hub()
        self.stop = threading.Event()
        self._evidence: dict[int, dict[str, Any]] = {}
        self._threads: list[threading.Thread] = []
        if progress is not None:
            progress.on_record = self._on_record

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._poll_loop, name="explorer-index", daemon=True)]
        if self.progress is not None:
            self._threads.append(
                threading.Thread(target=self.progress.run, args=(self.stop,), name="explorer-progress", daemon=True)
            )
        for t in self._threads:
            t.start()

    def close(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=5)

    def _poll_loop(self) -> None:
        last_status: tuple[Any, ...] | None = None
        while not self.stop.is_set():
            for entry in self.indexer.poll():
                self.hub.push("chain", entry)
            status = self.status()
            key = (status["chain_error"], status["ipfs_error"], status["progress_error"], status["head"])
            if key != last_status:
                self.hub.push("status", status)
                last_status = key
            self.stop.wait(self.poll_interval)

    def _on_record(self, record: ProgressRecord) -> None:
        self.hub.push("progress", {**_record_json(record), "job_id": record.job_id})

    def status(self) -> dict[str, Any]:
        m = self.indexer.model
        return {
            "head": m.get("head"),
            "updated_at": m.get("updated_at"),
            "chain_error": self.indexer.chain_error,
            "ipfs_error": self.indexer.ipfs_error,
            "progress_error": self.progress.error if self.progress is not None else "no progress channel configured",
        }

    def evidence(self, dispute_id: int) -> dict[str, Any] | None:
        """The oracle's evidence for a dispute (cached once it carries a verdict)."""
        if self.oracle_url is None:
            return None
        if dispute_id in self._evidence:
            return self._evidence[dispute_id]
        try:
            reply = httpx.get(f"{self.oracle_url}/disputes/{dispute_id}", timeout=2.0)
        except httpx.HTTPError as exc:
            return {"error": f"oracle at {self.oracle_url} did not answer: {exc}"}
        if reply.status_code != 200:
            return None
        evidence: dict[str, Any] = reply.json()
        if evidence.get("verdict"):
            self._evidence[dispute_id] = evidence
        return evidence

    def progress_of(self, job: dict[str, Any]) -> dict[str, Any]:
        records = self.progress.records(int(job["id"])) if self.progress is not None else []
        points = [_record_json(r) for r in records]
        return {"points": points, "eta_seconds": eta_seconds(records), "total_steps": job["total_steps"]}


def _record_json(r: ProgressRecord) -> dict[str, Any]:
    return {"step": r.step, "loss": r.loss, "cid": r.cid, "state_hash": r.state_hash, "time": r.time}


def _page(title: str, kind: str, key: str = "") -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)} · Crucible explorer</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/explorer.css"></head>
<body data-page="{kind}" data-key="{html.escape(key)}">
<header><a class="brand" href="/">Crucible explorer</a><span id="conn" class="conn">connecting…</span></header>
<div id="banner" class="banner" hidden></div>
<main id="main"><p class="muted">loading…</p></main>
<script src="/static/explorer.js"></script>
</body></html>"""


def _not_found(what: str) -> HTMLResponse:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found · Crucible explorer</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/explorer.css"></head>
<body><header><a class="brand" href="/">Crucible explorer</a></header>
<main><h1>Not found</h1><p id="not-found">{html.escape(what)}</p><p><a href="/">Back to the market</a></p></main>
</body></html>"""
    return HTMLResponse(body, status_code=404)


def _address(raw: str) -> str | None:
    return to_checksum_address(raw) if is_address(raw) else None


def create_app(explorer: Explorer, *, run: bool = True) -> FastAPI:
    """The web app over ``explorer``; with ``run`` the lifespan starts and stops its threads."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run:
            explorer.start()
        try:
            yield
        finally:
            if run:
                explorer.close()

    app = FastAPI(title="Crucible explorer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_pages(app, explorer)
    _add_api(app, explorer)
    _add_stream(app, explorer)
    return app


def _job_json(explorer: Explorer, job_id: int) -> dict[str, Any] | None:
    m = explorer.indexer.snapshot()
    job = m["jobs"].get(str(job_id))
    if job is None:
        return None
    disputes = []
    for d in (m["disputes"][str(i)] for i in job["disputes"]):
        disputes.append({**d, "evidence": explorer.evidence(int(d["id"]))})
    return {
        "job": job,
        "disputes": disputes,
        "progress": explorer.progress_of(job),
        "status": explorer.status(),
        "chain_time": m["chain_time"],
    }


def _add_pages(app: FastAPI, explorer: Explorer) -> None:
    model = explorer.indexer.snapshot

    @app.get("/", response_class=HTMLResponse)
    def market_page() -> str:
        return _page("Market", "market")

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(job_id: str) -> Response:
        if not job_id.isdigit() or str(int(job_id)) not in model()["jobs"]:
            return _not_found(f"There is no job {job_id} on this market (yet).")
        return HTMLResponse(_page(f"Job {int(job_id)}", "job", str(int(job_id))))

    @app.get("/disputes/{dispute_id}")
    def dispute_page(dispute_id: str) -> Response:
        dispute = model()["disputes"].get(dispute_id) if dispute_id.isdigit() else None
        if dispute is None:
            return _not_found(f"There is no dispute {dispute_id} on this market.")
        return RedirectResponse(f"/jobs/{dispute['job_id']}#dispute-{int(dispute_id)}", status_code=307)

    @app.get("/providers/{address}", response_class=HTMLResponse)
    def provider_page(address: str) -> Response:
        checksummed = _address(address)
        if checksummed is None or checksummed not in model()["providers"]:
            return _not_found(f"{address} has never staked on or claimed a job of this market.")
        return HTMLResponse(_page(f"Provider {checksummed[:10]}…", "provider", checksummed))

    @app.get("/challengers/{address}", response_class=HTMLResponse)
    def challenger_page(address: str) -> Response:
        checksummed = _address(address)
        if checksummed is None or checksummed not in model()["challengers"]:
            return _not_found(f"{address} has never challenged a result on this market.")
        return HTMLResponse(_page(f"Challenger {checksummed[:10]}…", "challenger", checksummed))


def _add_api(app: FastAPI, explorer: Explorer) -> None:
    model = explorer.indexer.snapshot

    @app.get("/api/market")
    def api_market() -> dict[str, Any]:
        m = model()
        jobs = sorted(m["jobs"].values(), key=lambda j: -int(j["id"]))
        return {
            "market": m["market"],
            "chain_id": m["chain_id"],
            "head": m["head"],
            "chain_time": m["chain_time"],
            "totals": m["totals"],
            "jobs": [
                {k: j[k] for k in ("id", "status", "requester", "provider", "reward", "total_steps", "disputes")}
                for j in jobs
            ],
            "providers": list(m["providers"].values()),
            "challengers": list(m["challengers"].values()),
            "oracles": m["oracles"],
            "feed": m["feed"][-50:][::-1],
            "status": explorer.status(),
        }

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: int) -> Response:
        data = _job_json(explorer, job_id)
        if data is None:
            return JSONResponse({"detail": f"no job {job_id}"}, status_code=404)
        return JSONResponse(data)

    def party(kind: str, address: str) -> Response:
        m = model()
        checksummed = _address(address)
        entry = m[kind].get(checksummed) if checksummed else None
        if entry is None:
            return JSONResponse({"detail": f"unknown {kind[:-1]} {address}"}, status_code=404)
        if kind == "providers":
            ids = entry["jobs"]
        else:
            ids = sorted({m["disputes"][str(d)]["job_id"] for d in entry["disputes"]})
        jobs = [m["jobs"][str(j)] for j in ids]
        disputes = [m["disputes"][str(d)] for d in entry.get("disputes", [])]
        summary = [{k: j[k] for k in ("id", "status", "reward", "stake", "bond", "paid", "slash")} for j in jobs]
        return JSONResponse({kind[:-1]: entry, "jobs": summary, "disputes": disputes, "status": explorer.status()})

    @app.get("/api/providers/{address}")
    def api_provider(address: str) -> Response:
        return party("providers", address)

    @app.get("/api/challengers/{address}")
    def api_challenger(address: str) -> Response:
        return party("challengers", address)


def _add_stream(app: FastAPI, explorer: Explorer) -> None:
    @app.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            seen = explorer.hub.seq
            yield f"event: status\ndata: {json.dumps(explorer.status())}\n\n"
            last_beat = time.monotonic()
            while not await request.is_disconnected():
                for seen, kind, data in explorer.hub.since(seen):  # noqa: B020 (the cursor advances)
                    yield f"id: {seen}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"
                if time.monotonic() - last_beat > 10:
                    yield ": keep-alive\n\n"
                    last_beat = time.monotonic()
                await asyncio.sleep(0.1)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(("/api/", "/static/")):
            return JSONResponse({"detail": "not found"}, status_code=404)
        return _not_found(f"Nothing at {request.url.path}.")
