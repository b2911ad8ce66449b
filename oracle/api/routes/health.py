"""``GET /health``: can this oracle do its job (chain, IPFS, key registered, profiles)?"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from crucible.settings import CoreSettings
from oracle.api.deps import ServiceDep
from oracle.profiles import runnable_profiles

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str  # "ok" or "degraded"
    oracle: str
    market: str
    chain_reachable: bool
    chain_id: int | None
    block: int | None
    ipfs_reachable: bool
    ipfs_version: str | None
    registered: bool | None
    quorum: int | None
    profiles: dict[str, str]  # profile -> "ok" or why this process cannot run it
    watching: bool
    last_error: str | None
    disputes_judged: int
    problems: list[str]


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(service: ServiceDep, response: Response) -> Health:
    problems: list[str] = []
    chain_id = block = quorum = None
    registered = None
    try:  # within the one-shot budget (5 s): a probe must answer, not wait out the daemon's retries
        market = service.market.read_only_within(CoreSettings().rpc_command_timeout)
        chain_id = int(market.w3.eth.chain_id)
        block = int(market.w3.eth.block_number)
        registered = bool(market.call("isOracle", service.address))
        quorum = int(market.call("quorum"))
    except Exception as exc:  # noqa: BLE001 - any failure means the chain cannot be used
        problems.append(f"chain unreachable: {type(exc).__name__}: {exc}")
    ipfs_version = None
    try:
        ipfs_version = service.judge.store.blobs.version()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001
        problems.append(f"IPFS node unreachable: {exc}")
    if registered is False:
        problems.append(f"{service.address} is not a registered oracle of market {service.market.address}")
    profiles = runnable_profiles()
    if not any(v == "ok" for v in profiles.values()):
        problems.append("this process can run no determinism profile")
    ok = block is not None and ipfs_version is not None and registered is True and not problems
    if not ok:
        response.status_code = 503
    return Health(
        status="ok" if ok else "degraded",
        oracle=service.address,
        market=service.market.address,
        chain_reachable=block is not None,
        chain_id=chain_id,
        block=block,
        ipfs_reachable=ipfs_version is not None,
        ipfs_version=ipfs_version,
        registered=registered,
        quorum=quorum,
        profiles=profiles,
        watching=service.watching,
        last_error=service.last_error,
        disputes_judged=len(service.evidence.all()),
        problems=problems,
    )
