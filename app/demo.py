"""`crucible demo`: the whole marketplace on a local devnet, each role a separate process with its
own IPFS node (artifacts move between the nodes by bitswap, as between hosts), on a chain that mines
a block every second (transactions wait for inclusion and events for confirmations).

Act 1: a requester posts a classification job on the handwritten digits, an honest worker trains
it, the challenge window passes, the worker is paid and the requester fetches the model and
measures its accuracy. Act 2: a cheating worker forges one training step of a second job; two
independent verifiers catch it and both challenge (any number of disputes may be live on a job),
the disputes are narrowed by k-ary dissection until the first reaches that step, the oracle replays
it, the cheater is slashed once and both challengers share the reward (docs/dispute-game.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from eth_typing import ChecksumAddress
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.types import TxData

from crucible.chain.deployment import Deployment
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, Market
from crucible.chain.rpc import connect
from crucible.chain.units import format_eth
from crucible.devnet.manage import Devnet
from crucible.devnet.processes import free_port
from crucible.devnet.tools import REPO_ROOT
from crucible.errors import CrucibleError
from crucible.protocol import dissection

ROLES = ("requester", "provider", "cheater", "verifier", "verifier-2", "oracle")
SPEC = REPO_ROOT / "examples" / "digits-mlp.yaml"
POISONED_STEP = 237  # the step the cheater forges in act 2 (segment 11 of 20)
WINDOW = 30  # seconds of challenge window: two verifiers see the submission 2 blocks late, audit 400 steps each
BLOCK_TIME = 1.0  # seconds between blocks: interval mining, as on a public chain (not one block per transaction)


@dataclass
class Phases:
    started: float = field(default_factory=time.monotonic)
    times: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.times[name] = time.monotonic() - self.started - sum(self.times.values())


class Demo:
    def __init__(self, home: Path, console: Console) -> None:
        self.home = home
        self.console = console
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.phases = Phases()

    # ------------------------------------------------------------------ processes

    def _env(self) -> dict[str, str]:
        return {**os.environ, "CRUCIBLE_DEPLOYMENT": str(self.home / "deployment.json"), "PYTHONUNBUFFERED": "1"}

    def crucible(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self._env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        if out.returncode != 0:
            raise CrucibleError(f"`crucible {' '.join(args)}` failed:\n{out.stderr}{out.stdout}")
        return out.stdout

    def start(self, name: str, *args: str) -> None:
        log = open(self.home / "logs" / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        with self.console.status(what):
            while not done():
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise CrucibleError(
                            f"the {name} process exited (code {proc.returncode}); "
                            f"see {self.home / 'logs' / (name + '.log')}"
                        )
                if time.monotonic() > deadline:
                    raise CrucibleError(f"timed out: {what}")
                time.sleep(0.3)

    # ------------------------------------------------------------------ the show

    def run(self) -> None:
        self.console.rule("[bold]Crucible demo")
        deployment = Devnet(self.home).up(block_time=BLOCK_TIME, hosts=ROLES)
        (self.home / "logs").mkdir(exist_ok=True)
        w3 = connect(deployment.rpc_url)
        market = Market(w3, deployment.market)
        accounts = {r: dev_account(r).address for r in ROLES}
        balances_before = {r: w3.eth.get_balance(a) for r, a in accounts.items()}
        self.console.print(
            f"devnet up: chain {deployment.chain_id} at {deployment.rpc_url} ({BLOCK_TIME:g} s blocks, "
            f"{deployment.confirmations} confirmations), one IPFS node per role "
            f"({', '.join(f'{r} {u}' for r, u in deployment.ipfs_nodes.items())}), market {deployment.market}"
        )
        self.phases.mark("devnet up")
        self._start_roles()
        accuracy = self._act_honest(market, accounts)
        disputes, dispute_wall = self._act_cheater(market, accounts)
        self.stop_all()
        self.summary(w3, market, deployment, accounts, balances_before, accuracy, disputes, dispute_wall)

    def _start_roles(self) -> None:
        self.crucible("data", "digits", str(self.home / "data"))
        self.crucible("worker", "stake", "1", "--dev-account", "provider")
        self.crucible("worker", "stake", "1", "--dev-account", "cheater")
        oracle_port = free_port()
        self.start(
            "oracle",
            "oracle",
            "serve",
            "--port",
            str(oracle_port),
            "--dev-account",
            "oracle",
            "--state-dir",
            str(self.home / "oracle"),
        )
        self.start("verifier", "verifier", "run", "--state-dir", str(self.home / "verifier"))
        self.start(
            "worker",
            "worker",
            "run",
            "--dev-account",
            "provider",
            "--max-jobs",
            "1",
            "--state-dir",
            str(self.home / "worker"),
        )
        self.phases.mark("roles started")

    def _act_honest(self, market: Market, accounts: Mapping[str, str]) -> float:
        """Act 1: an honest provider trains a job, is paid; the requester fetches the model."""
        c = self.console
        c.rule("Act 1: an honest provider trains a job and is paid")
        job1 = self.post()
        c.print(f"requester posted job {job1}: MLP on handwritten digits, 400 steps, reward 0.5 ETH")
        self.wait(
            "provider claims and trains", lambda: market.job_status(job1) not in (JobStatus.OPEN, JobStatus.CLAIMED)
        )
        c.print(f"job {job1} submitted by the provider; the verifier replays it during the {WINDOW}s window")
        self.phases.mark("act 1: train + submit")
        self.wait(
            "challenge window, then finalization and payout",
            lambda: market.job_status(job1) == JobStatus.FINALIZED and market.credits(accounts["provider"]) == 0,
        )
        self.phases.mark("act 1: window + payout")
        fetched = self.crucible("requester", "fetch", str(job1), str(self.home / "model.safetensors"), "--json")
        accuracy = json.loads(fetched)["value"]
        c.print(
            f"requester fetched the model (checked against the committed final state): "
            f"test accuracy [bold]{accuracy:.1%}[/bold]"
        )
        self.phases.mark("act 1: fetch + eval")
        self.stop("worker")
        return float(accuracy)

    def _act_cheater(self, market: Market, accounts: Mapping[str, str]) -> tuple[list[int], float]:
        """Act 2: a cheater forges one step; two verifiers challenge, dissection and the oracle slash
        it, and both share the reward. Returns the disputes and their wall time to the verdict."""
        c = self.console
        c.rule("Act 2: a cheating provider forges one step and is slashed")
        self.start(
            "cheater",
            "worker",
            "run",
            "--dev-account",
            "cheater",
            "--max-jobs",
            "1",
            "--behaviour",
            f"poison-step:{POISONED_STEP}",
            "--state-dir",
            str(self.home / "cheater"),
        )
        self.start(
            "verifier-2", "verifier", "run", "--dev-account", "verifier-2", "--state-dir", str(self.home / "verifier-2")
        )
        job2 = self.post()
        dispute_started = [0.0]

        def disputed() -> bool:
            if market.job_status(job2) in (JobStatus.DISPUTED, JobStatus.SLASHED):
                dispute_started[0] = dispute_started[0] or time.monotonic()
                return True
            return False

        c.print(f"requester posted job {job2}; the cheater claims it and plants a backdoor at step {POISONED_STEP}")
        self.wait("cheater trains, the verifiers audit and challenge", disputed)
        self.phases.mark("act 2: train + audit")
        self.wait(
            "k-ary dissection, then the oracle replays the one disputed step",
            lambda: (
                market.job_status(job2) == JobStatus.SLASHED
                and not any(market.dispute(d).live for d in market.disputes_of(job2))
            ),
        )
        dispute_wall = time.monotonic() - dispute_started[0]
        self.wait(
            "the verifiers withdraw their winnings",
            lambda: market.credits(accounts["verifier"]) == 0 and market.credits(accounts["verifier-2"]) == 0,
        )
        self.crucible("requester", "withdraw")
        self.phases.mark("act 2: dispute + slash")
        disputes = market.disputes_of(job2)
        self.show_game(market, job2, disputes)
        return disputes, dispute_wall

    def show_game(self, market: Market, job_id: int, disputes: list[int]) -> None:
        """Each dispute's dissection rounds, its end, and how the slashed stake was shared."""
        c = self.console
        arity = market.job(job_id).arity
        for dispute_id in disputes:
            d = market.dispute(dispute_id)
            names: dict[str, str] = {str(dev_account(r).address): r for r in ROLES}
            who = names.get(d.challenger, d.challenger)
            c.print(f"dispute {dispute_id} opened by the {who} ({arity}-ary dissection):")
            moves = _logs(market, "DisputeDissected", disputeId=dispute_id)
            picks = _logs(market, "DisputeNarrowed", disputeId=dispute_id)
            for move, pick in zip(moves, picks, strict=False):
                points = dissection.points(move["a"], move["b"], arity)
                c.print(
                    f"  provider split [{move['a']}, {move['b']}] at {points[1:-1]}; "
                    f"challenger disputed part {pick['index']}: [{pick['a']}, {pick['b']}]"
                )
            c.print(
                f"  dispute {dispute_id} ended [bold]{d.status.name.lower()}[/bold] on [{d.a}, {d.b}]; "
                f"job {job_id} is {market.job_status(job_id).name.lower()}"
            )
        (slash,) = _logs(market, "ProviderSlashed", jobId=job_id)
        share = slash["pool"] // slash["winners"]
        c.print(
            f"stake of {format_eth(slash['amount'])} ETH slashed: {format_eth(slash['oracleFee'])} ETH oracle fee, "
            f"{format_eth(slash['pool'])} ETH shared by {slash['winners']} challengers ({format_eth(share)} ETH "
            f"each, with their bonds back), {format_eth(slash['toRequester'])} ETH to the requester, "
            f"{format_eth(slash['burned'])} ETH burned"
        )

    def post(self) -> int:
        out = self.crucible(
            "requester",
            "post",
            str(SPEC),
            "--reward",
            "0.5",
            "--bond",
            "0.05",
            "--duration",
            "300",
            "--window",
            str(WINDOW),
            "--dataset",
            str(self.home / "data" / "digits-train.safetensors"),
            "--eval",
            str(self.home / "data" / "digits-test.safetensors"),
            "--json",
        )
        return int(json.loads(out)["job_id"])

    # ------------------------------------------------------------------ the report

    def summary(
        self,
        w3: Web3,
        market: Market,
        deployment: Deployment,
        accounts: Mapping[str, ChecksumAddress],
        before: Mapping[str, int],
        accuracy: float,
        disputes: list[int],
        dispute_wall: float,
    ) -> None:
        gas, dispute_gas, dispute_txs = _gas_by_sender(w3, deployment.deploy_block, market, set(disputes))
        table = Table(title="Crucible demo: who holds what")
        for col in ("role", "balance before (ETH)", "after (ETH)", "change", "free stake", "reputation", "gas used"):
            table.add_column(col, justify="right" if col != "role" else "left")
        for role, address in accounts.items():
            after = w3.eth.get_balance(address)
            info = market.provider_info(address)
            rep = f"{info.finalized} ok / {info.slashed} slashed" if role in ("provider", "cheater") else "-"
            stake = format_eth(info.free) if role in ("provider", "cheater") else "-"
            table.add_row(
                role,
                f"{before[role] / 1e18:.4f}",
                f"{after / 1e18:.4f}",
                f"{(after - before[role]) / 1e18:+.4f}",
                stake,
                rep,
                f"{gas.get(address, 0):,}",
            )
        self.console.print(table)
        facts = Table(title="figures", show_header=False)
        facts.add_row("test accuracy of the honest job's model", f"{accuracy:.1%}")
        for dispute_id in disputes:
            d = market.dispute(dispute_id)
            facts.add_row(
                f"dispute {dispute_id} outcome",
                f"{d.status.name.lower()} on [{d.a}, {d.b}] (forged step {POISONED_STEP})",
            )
        facts.add_row(f"transactions / gas of {len(disputes)} disputes", f"{dispute_txs} / {dispute_gas:,}")
        facts.add_row("dispute wall time (challenge to verdict)", f"{dispute_wall:.1f}s")
        facts.add_row(
            "market balance = liabilities",
            f"{format_eth(market.balance())} ETH = {format_eth(market.total_liabilities())} ETH",
        )
        for name, seconds in self.phases.times.items():
            facts.add_row(f"time: {name}", f"{seconds:.1f}s")
        facts.add_row("total", f"{sum(self.phases.times.values()):.1f}s")
        self.console.print(facts)


def _logs(market: Market, event: str, **filters: int) -> list[dict[str, int]]:
    found = getattr(market.contract.events, event)().get_logs(from_block=0, argument_filters=filters)
    return [dict(e["args"]) for e in found]


def _gas_by_sender(w3: Web3, first_block: int, market: Market, disputes: set[int]) -> tuple[dict[str, int], int, int]:
    """Gas used per sending address since ``first_block``, and the disputes' own gas and tx count."""
    per_sender: dict[str, int] = {}
    dispute_gas = dispute_txs = 0
    dispute_fns = {"challenge", "dissect", "respond", "submitVerdict", "timeout", "settleDispute", "claimOracleFee"}
    for number in range(first_block, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        # web3 types the list as hashes or transactions whatever full_transactions says.
        for tx in cast(Sequence[TxData], block["transactions"]):
            used = int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
            per_sender[tx["from"]] = per_sender.get(tx["from"], 0) + used
            if tx["to"] == market.address:
                try:
                    fn, args = market.contract.decode_function_input(tx["input"])
                except ValueError:
                    continue
                if fn.fn_name in dispute_fns and (fn.fn_name == "challenge" or args.get("disputeId") in disputes):
                    dispute_gas += used
                    dispute_txs += 1
    return per_sender, dispute_gas, dispute_txs


def run_demo(home: Path, console: Console, keep: bool = False) -> None:
    devnet = Devnet(home)
    if devnet.status().daemons:
        devnet.down()
    shutil.rmtree(home, ignore_errors=True)
    demo = Demo(home, console)
    try:
        demo.run()
    finally:
        demo.stop_all()
        if not keep:
            devnet.down()
