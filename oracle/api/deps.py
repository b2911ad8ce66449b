"""Request dependencies, as ``Annotated`` aliases (FastAPI's recommended style)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oracle.service import OracleService


def get_service(request: Request) -> OracleService:
    service: OracleService = request.app.state.service
    return service


ServiceDep = Annotated[OracleService, Depends(get_service)]
