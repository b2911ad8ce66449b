"""``GET /metrics``: the oracle's metrics, in the exposition every role serves (crucible.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from oracle.api.deps import ServiceDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
