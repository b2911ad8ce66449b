"""The FastAPI application: the watcher runs in a background thread for the app's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from oracle.api.docs import add_offline_redoc
from oracle.api.routes import disputes, health, metrics
from oracle.service import OracleService


def create_app(service: OracleService, *, watch: bool = True) -> FastAPI:
    """The oracle's HTTP API over ``service``; with ``watch`` the lifespan runs its watcher loop."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if watch:
            service.start()
        try:
            yield
        finally:
            if watch:
                service.stop()

    # /docs and /redoc with swagger-ui and redoc served from the installed package: they render offline.
    app = FastAPIOffline(
        title="Crucible oracle",
        summary="Replays the one disputed training step and publishes the evidence behind each verdict.",
        version="1",
        lifespan=lifespan,
        redoc_url=None,  # added below, without the bundle's one CDN image
    )
    add_offline_redoc(app)
    app.state.service = service
    app.include_router(health.router)
    app.include_router(disputes.router)
    app.include_router(metrics.router)
    return app
