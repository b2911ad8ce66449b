"""What a provider is told about disputes against it: loudly, from the market's own events.

A provider leaves the daemon running with its stake in it, so every turn of a dispute against it is
one log line with the amounts: challenged (stake at risk), each dissection and the part the
challenger picked, the hand-over to the oracle, a timeout, the outcome, and the slash, the bond it
won or the void fee (docs/dispute-game.md). Driven by events only (not by the worker's own moves),
so a restarted worker tells the same story and no move goes unreported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crucible.chain.events import Event
from crucible.chain.market import DisputeKind, DisputeStatus
from crucible.chain.units import eth
from crucible.logs import short_address

if TYPE_CHECKING:
    from worker.provider import Worker


def announce_dispute_event(worker: Worker, event: Event) -> None:
    """Log ``event`` if it concerns a dispute against ``worker`` (or its stake)."""
    args, log = event.args, worker.log
    if event.name == "ProviderSlashed":
        if args["provider"] == worker.address:
            worker.metrics.jobs_slashed.inc()
            log.error(
                "SLASHED on job %d by dispute %d: lost %s of stake (%s to %d challenger(s), %s to the oracles, "
                "%s to the requester, %s burned)",
                args["jobId"], args["disputeId"], eth(args["amount"]), eth(args["pool"]), args["winners"],
                eth(args["oracleFee"]), eth(args["toRequester"]), eth(args["burned"]),
            )  # fmt: skip
        return
    dispute_id = int(args.get("disputeId", 0))
    if event.name == "DisputeOpened":
        if int(args["jobId"]) not in worker.held:
            return
        worker._my_disputes[dispute_id] = int(args["jobId"])
        job = worker.market.job(int(args["jobId"]))
        log.warning(
            "CHALLENGED: job %d, dispute %d by %s (%s, steps [%d, %d]); stake at risk %s, challenger's bond %s",
            args["jobId"], dispute_id, short_address(args["challenger"]), DisputeKind(args["kind"]).name.lower(),
            args["a"], args["b"], eth(job.stake), eth(args["bond"]),
        )  # fmt: skip
        return
    job_id = worker._my_disputes.get(dispute_id)
    if job_id is None:
        return
    if event.name == "DisputeDissected":
        log.warning("dispute %d: steps [%d, %d] split into %d parts; the challenger picks one",
                    dispute_id, args["a"], args["b"], len(args["hashes"]) + 1)  # fmt: skip
    elif event.name == "DisputeNarrowed":
        log.warning("dispute %d: the challenger disputed part %d; steps [%d, %d] remain",
                    dispute_id, args["index"], args["a"], args["b"])  # fmt: skip
    elif event.name == "DisputeReadyForOracle":
        log.warning("dispute %d: narrowed to step %d; the oracle replays it now", dispute_id, args["a"])
    elif event.name == "DisputeTimedOut":
        who = "this provider" if args["loser"] == worker.address else "the challenger"
        log.warning("dispute %d: %s missed its move deadline and loses", dispute_id, who)
    elif event.name == "BondForfeited":
        log.warning("dispute %d: the challenger's bond of %s is forfeited, %s credited to this provider "
                    "(%s to the oracles, %s burned)", dispute_id, eth(args["amount"]), eth(args["toProvider"]),
                    eth(args["oracleFee"]), eth(args["burned"]))  # fmt: skip
    elif event.name == "DisputeResolved":
        outcome = DisputeStatus(args["outcome"])
        if outcome == DisputeStatus.PROVIDER_WON:
            log.warning("dispute %d on job %d: WON; the stake stays, the result stands", dispute_id, job_id)
        elif outcome == DisputeStatus.CHALLENGER_WON:
            log.error("dispute %d on job %d: LOST; the stake is slashed", dispute_id, job_id)
        else:
            log.warning("dispute %d on job %d ended: %s", dispute_id, job_id, outcome.name.lower())
    elif event.name == "DisputeVoided":
        log.warning("dispute %d on job %d voided (no oracle quorum): void fee of %s to this provider",
                    dispute_id, job_id, eth(args["voidFee"]))  # fmt: skip
