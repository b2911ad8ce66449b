"""``GET /disputes`` and ``GET /disputes/{id}``: the published replay evidence."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Path

from oracle.api.deps import ServiceDep
from oracle.judge import Evidence

router = APIRouter(prefix="/disputes", tags=["disputes"])


@router.get("", summary="Every dispute this oracle judged or refused, newest last")
def list_disputes(service: ServiceDep) -> list[dict[str, Any]]:
    return [ev.summary() for ev in service.evidence.all()]


@router.get(
    "/{dispute_id}",
    response_model=Evidence,
    responses={404: {"description": "not judged by this oracle"}},
    summary="The full evidence for one dispute: hashes compared, replay time, verdict, transaction",
)
def get_dispute(service: ServiceDep, dispute_id: int = Path(ge=0)) -> Evidence:
    ev = service.evidence.get(dispute_id)
    if ev is None:
        raise HTTPException(
            status_code=404,
            detail=f"no evidence for dispute {dispute_id} on market {service.market.address}: this oracle has not "
            "judged it (it may not exist, may still be bisecting, or may belong to another market)",
        )
    return ev
