"""``GET /health``: can this oracle do its job (chain, IPFS, member of the current epoch, profiles)?
Also shows its epoch and the fee it is paid per verdict."""

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
    registered: bool | None  # a member of the current oracle epoch
    epoch: int | None  # the oracle epoch a dispute opened now would record
    quorum: int | None  # that epoch's quorum
    latest_epoch: int | None  # the latest scheduled epoch (may not be effective yet)
    member_of_latest: bool | None
    oracle_fee_wei: int | None  # per verdict, split among the quorum that voted for the outcome
    fees_earned_wei: int  # oracle fees credited to this oracle since it started watching
    profiles: dict[str, str]  # profile -> "ok" or why this process cannot run it
    watching: bool
    last_error: str | None
    disputes_judged: int
    problems: list[str]


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(service: ServiceDep, response: Response) -> Health:
    problems: list[str] = []
    chain_id = block = quorum = epoch = latest = fee = None
    registered = member_of_latest = None
    try:  # within the one-shot budget (5 s): a probe must answer, not wait out the daemon's retries
        market = service.market.read_only_within(CoreSettings().rpc_command_timeout)
        chain_id = int(market.w3.eth.chain_id)
        block = int(market.w3.eth.block_number)
        epoch = market.current_oracle_epoch()
        registered = market.is_oracle(epoch, service.address)
        quorum = market.oracle_epoch(epoch).quorum
        latest = market.latest_oracle_epoch()
        member_of_latest = market.is_oracle(latest, service.address)
        fee = market.params()["oracle_fee"]
    except Exception as exc:  # noqa: BLE001 - any failure means the chain cannot be used
        problems.append(f"chain unreachable: {type(exc).__name__}: {exc}")
    ipfs_version = None
    try:
        ipfs_version = service.judge.store.blobs.version()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001
        problems.append(f"IPFS node unreachable: {exc}")
    if registered is False:
        problems.append(f"{service.address} is not a member of oracle epoch {epoch} of market {service.market.address}")
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
        epoch=epoch,
        quorum=quorum,
        latest_epoch=latest,
        member_of_latest=member_of_latest,
        oracle_fee_wei=fee,
        fees_earned_wei=service.fees_earned,
        profiles=profiles,
        watching=service.watching,
        last_error=service.last_error,
        disputes_judged=len(service.evidence.all()),
        problems=problems,
    )
