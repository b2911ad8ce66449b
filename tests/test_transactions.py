"""Transactions under faults injected for real: threads and processes sharing a key, stuck and dropped
transactions, an RPC endpoint that is down, slow, flaky or loses an answer, and reverts decoded by name.

Every fault is made on the real anvil (automine off, ``anvil_dropAllTransactions``) or by a real HTTP
proxy in front of it; each test says what the user sees and checks what the chain shows afterwards.
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import TransactionNotFound

from crucible.chain.abi import Artifact, market_artifact
from crucible.chain.contract import ContractClient
from crucible.chain.keys import dev_account
from crucible.chain.market import JobStatus, JobTerms, Market
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
from crucible.chain.units import parse_eth
from crucible.devnet.nodes import RunningNode, rpc_call
from crucible.errors import ChainError, ChainUnavailable
from crucible.store.ipfs import digest_to_cid

pytestmark = pytest.mark.integration

GWEI = 10**9
VALUE = 12_345  # wei per test transfer: small and recognisable


# ------------------------------------------------------------------------------------------ helpers


def signer(url: str, name: str = "requester", **kwargs: Any) -> Signer:
    return Signer(
        connect(url, retry_for=kwargs.pop("retry_for", None), timeout=kwargs.pop("timeout", 10.0)),
        dev_account(name),
        **kwargs,
    )


def transfer(s: Signer, to: str, value: int = VALUE) -> dict[str, Any]:
    return dict(s.send({"to": to, "value": value}, what=f"transfer of {value} wei"))


def nonce(w3: Web3, address: str, block: str = "latest") -> int:
    return int(w3.eth.get_transaction_count(address, block))  # type: ignore[arg-type]


def pool(url: str, address: str) -> dict[int, dict[str, Any]]:
    """The mempool's transactions from ``address`` by nonce (pending and queued)."""
    content = rpc_call(url, "txpool_content")
    assert isinstance(content, dict)
    out: dict[int, dict[str, Any]] = {}
    for part in ("pending", "queued"):
        for sender, txs in content.get(part, {}).items():
            if sender.lower() == address.lower():
                out.update({int(n): tx for n, tx in txs.items()})
    return out


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def manual_mining(node: RunningNode) -> Iterator[None]:
    """Automine off for the block: transactions wait in the mempool until ``evm_mine``."""
    rpc_call(node.url, "evm_setAutomine", [False])
    try:
        yield
    finally:
        rpc_call(node.url, "anvil_dropAllTransactions")
        rpc_call(node.url, "evm_setAutomine", [True])


class Background:
    """Run ``fn`` in a thread and keep its result or exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def join(self, timeout: float = 30.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the send did not return"
        if self.error is not None:
            raise self.error
        return self.result


class RpcProxy:
    """A real HTTP proxy in front of anvil that can be made to fail, stall, or lose answers.

    ``fail_next`` requests get HTTP 503; every request waits ``delay`` seconds; the first
    ``eth_sendRawTransaction`` is forwarded but its answer is lost when ``lose_send_answer``;
    ``stale_pending`` makes ``eth_getTransactionCount(…, "pending")`` answer the mined count, as a
    lagging load-balanced endpoint does.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.fail_next = 0
        self.delay = 0.0
        self.lose_send_answer = False
        self.stale_pending = False
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                method = json.loads(body).get("method", "?")
                proxy.seen.append(method)
                if proxy.fail_next > 0:
                    proxy.fail_next -= 1
                    self.send_error(503, "upstream overloaded")
                    return
                time.sleep(proxy.delay)
                if proxy.stale_pending and method == "eth_getTransactionCount":
                    request = json.loads(body)
                    request["params"][1] = "latest"
                    body = json.dumps(request).encode()
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                conn.request("POST", "/", body, {"Content-Type": "application/json"})
                answer = conn.getresponse().read()
                if method == "eth_sendRawTransaction" and proxy.lose_send_answer:
                    proxy.lose_send_answer = False
                    self.close_connection = True
                    self.connection.shutdown(2)  # the node has it, the client never hears back
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the point of some tests) is not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(chain: RunningNode) -> Iterator[RpcProxy]:
    p = RpcProxy(chain.url)
    try:
        yield p
    finally:
        p.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- nonces


def test_threads_sharing_one_signer_never_reuse_a_nonce(chain: RunningNode) -> None:
    # Prepare
    s = signer(chain.url)
    to = dev_account("verifier").address
    w3 = s.w3
    first, before = nonce(w3, s.address), w3.eth.get_balance(to)

    # Execute: 8 threads, 5 transfers each, through one Signer
    with ThreadPoolExecutor(8) as pool_:
        receipts = list(pool_.map(lambda _: transfer(s, to), range(40)))

    # Assert
    used = sorted(int(w3.eth.get_transaction(r["transactionHash"])["nonce"]) for r in receipts)
    assert used == list(range(first, first + 40)), "every nonce used exactly once, no gap"
    assert all(r["status"] == 1 for r in receipts)
    assert w3.eth.get_balance(to) - before == 40 * VALUE, "each transfer applied once"


def test_two_signers_of_one_key_in_one_process_share_the_nonce_counter(chain: RunningNode) -> None:
    a, b = signer(chain.url), signer(chain.url)
    to = dev_account("verifier").address
    first = nonce(a.w3, a.address)

    with ThreadPoolExecutor(6) as ex:
        receipts = list(ex.map(lambda i: transfer(a if i % 2 else b, to), range(24)))

    assert a.nonces is b.nonces
    assert sorted(int(a.w3.eth.get_transaction(r["transactionHash"])["nonce"]) for r in receipts) == list(
        range(first, first + 24)
    )


RESTARTED = """
import sys
from crucible.chain.keys import dev_account
from crucible.chain.rpc import connect
from crucible.chain.signer import Signer
s = Signer(connect(sys.argv[1]), dev_account("requester"))
r = s.send({"to": sys.argv[2], "value": int(sys.argv[3])}, what="transfer after restart")
print(r["transactionHash"].hex(), flush=True)
"""


def test_restarted_process_with_the_same_key_continues_after_its_pending_transaction(chain: RunningNode) -> None:
    # Prepare: the first process's transfer is still in the mempool when the "restarted" one starts
    s = signer(chain.url)
    to = dev_account("verifier").address
    w3 = s.w3
    first, before = nonce(w3, s.address), w3.eth.get_balance(to)
    with manual_mining(chain):
        old = Background(lambda: transfer(s, to))
        wait_until(lambda: first in pool(chain.url, s.address), "the first transfer in the mempool")

        # Execute: a new process with the same key sends too
        restarted = subprocess.Popen(
            [sys.executable, "-c", RESTARTED, chain.url, to, str(2 * VALUE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(lambda: first + 1 in pool(chain.url, s.address), "the restarted process's transfer")
            assert pool(chain.url, s.address)[first]["value"] == hex(VALUE), "the pending one was not replaced"
            rpc_call(chain.url, "evm_mine")
            out, err = restarted.communicate(timeout=60)
        finally:
            if restarted.poll() is None:
                restarted.kill()
        old_receipt = old.join()

    # Assert: both applied, no collision, no replacement of the other's transaction
    assert restarted.returncode == 0, err
    assert old_receipt["status"] == 1
    assert w3.eth.get_balance(to) - before == 3 * VALUE
    assert nonce(w3, s.address) == first + 2
    assert int(w3.eth.get_transaction(out.strip())["nonce"]) == first + 1


def test_nonce_taken_by_another_process_is_skipped_not_overwritten(chain: RunningNode, proxy: RpcProxy) -> None:
    # Prepare: another process with the same key has nonce n in the mempool, paying high fees, and our
    # endpoint lags (its "pending" count does not show that transaction yet)
    s = signer(proxy.url)
    to, other = dev_account("verifier").address, dev_account("oracle").address
    w3 = s.w3
    n = nonce(w3, s.address)
    proxy.stale_pending = True
    with manual_mining(chain):
        theirs = dev_account("requester").sign_transaction(
            {
                "to": other,
                "value": 777,
                "gas": 21_000,
                "nonce": n,
                "chainId": 31337,
                "maxPriorityFeePerGas": 50 * GWEI,
                "maxFeePerGas": 100 * GWEI,
            }
        )
        w3.eth.send_raw_transaction(theirs.raw_transaction)

        # Execute
        ours = Background(lambda: transfer(s, to))
        wait_until(lambda: n + 1 in pool(chain.url, s.address), "our transfer, on the next nonce")
        rpc_call(chain.url, "evm_mine")
        receipt = ours.join()

    # Assert: both transactions were mined, each with its own nonce
    assert receipt["status"] == 1
    assert int(w3.eth.get_transaction(receipt["transactionHash"])["nonce"]) == n + 1
    assert w3.eth.get_transaction_receipt(theirs.hash)["status"] == 1, "the other process's transaction survived"


# ------------------------------------------------------------------------------------ stuck and lost


def test_stuck_transaction_is_replaced_with_fees_raised_by_at_least_12_5_percent(chain: RunningNode) -> None:
    # Prepare
    s = signer(chain.url, replace_after=0.3, receipt_timeout=30)
    to = dev_account("verifier").address
    w3 = s.w3
    n, before = nonce(w3, s.address), w3.eth.get_balance(to)
    with manual_mining(chain):
        sending = Background(lambda: transfer(s, to))
        wait_until(lambda: n in pool(chain.url, s.address), "the transfer in the mempool")
        original = pool(chain.url, s.address)[n]

        # Execute: nothing is mined until a replacement shows up
        wait_until(lambda: pool(chain.url, s.address)[n]["hash"] != original["hash"], "a replacement")
        replacement = pool(chain.url, s.address)[n]
        rpc_call(chain.url, "evm_mine")
        receipt = sending.join()

    # Assert
    for fee in ("maxPriorityFeePerGas", "maxFeePerGas"):
        assert int(replacement[fee], 16) * 8 >= int(original[fee], 16) * 9, f"{fee} raised by >= 12.5%"
    assert receipt["transactionHash"].hex().removeprefix("0x") == replacement["hash"].removeprefix("0x")
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(original["hash"])
    assert nonce(w3, s.address) == n + 1
    assert w3.eth.get_balance(to) - before == VALUE, "paid once, not once per version"


def test_transaction_dropped_from_the_mempool_is_sent_again(chain: RunningNode) -> None:
    s = signer(chain.url, replace_after=0.3, receipt_timeout=30)
    to = dev_account("verifier").address
    w3 = s.w3
    n, before = nonce(w3, s.address), w3.eth.get_balance(to)
    with manual_mining(chain):
        sending = Background(lambda: transfer(s, to))
        wait_until(lambda: n in pool(chain.url, s.address), "the transfer in the mempool")

        rpc_call(chain.url, "anvil_dropAllTransactions")  # the node forgets it
        wait_until(lambda: n in pool(chain.url, s.address), "the transfer sent again")
        rpc_call(chain.url, "evm_mine")
        receipt = sending.join()

    assert receipt["status"] == 1
    assert nonce(w3, s.address) == n + 1
    assert w3.eth.get_balance(to) - before == VALUE


def test_transaction_never_mined_fails_within_the_receipt_timeout(chain: RunningNode) -> None:
    # Prepare: a chain that stopped producing blocks
    s = signer(chain.url, replace_after=0.2, receipt_timeout=1.5, max_replacements=2)
    to = dev_account("verifier").address
    w3 = s.w3
    n = nonce(w3, s.address)
    with manual_mining(chain):
        # Execute
        start = time.monotonic()
        with pytest.raises(ChainError) as info:
            transfer(s, to)
        elapsed = time.monotonic() - start
        left_in_pool = pool(chain.url, s.address)

    # Assert: a bounded wait, a message that says what to check, and the nonce manager not wedged
    assert elapsed < 6, f"gave up after {elapsed:.1f}s"
    assert f"nonce {n}" in str(info.value) and "not mined within 2s" in str(info.value)
    assert "produces blocks" in str(info.value)
    assert list(left_in_pool) == [n], "one version of it, still waiting in the mempool"
    assert transfer(s, to)["status"] == 1, "the next send works (the stale one was dropped)"
    assert nonce(w3, s.address) == n + 1


# ---------------------------------------------------------------------------------------------- RPC


def test_rpc_endpoint_down_fails_within_the_retry_budget_saying_what_to_check(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    caplog.set_level(logging.WARNING, logger="crucible.chain")

    start = time.monotonic()
    with pytest.raises(ChainUnavailable) as info:
        connect(url, timeout=1.5)
    elapsed = time.monotonic() - start

    assert 1.0 < elapsed < 4, f"retried for {elapsed:.1f}s"
    message = str(info.value)
    assert f"cannot reach the chain RPC at {url}" in message
    assert "attempts" in message and "connection refused" in message
    assert "crucible devnet status" in message
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) >= 2 and all("retry" in m and url in m for m in retries), "each retry is reported"


def test_flaky_rpc_is_retried_with_backoff_and_the_transaction_goes_through(
    chain: RunningNode, proxy: RpcProxy, caplog: pytest.LogCaptureFixture
) -> None:
    s = signer(proxy.url, retry_for=20)
    to = dev_account("verifier").address
    before = s.w3.eth.get_balance(to)
    caplog.set_level(logging.WARNING, logger="crucible.chain")

    proxy.fail_next = 4
    receipt = transfer(s, to)

    assert receipt["status"] == 1
    assert s.w3.eth.get_balance(to) - before == VALUE
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 4 and all("HTTP 503" in w for w in warnings)


def test_slow_rpc_gives_up_in_bounded_time(chain: RunningNode, proxy: RpcProxy) -> None:
    proxy.delay = 5.0

    start = time.monotonic()
    with pytest.raises(ChainUnavailable, match="timed out"):
        connect(proxy.url, timeout=1.0)
    elapsed = time.monotonic() - start

    assert elapsed < 3.0, f"waited {elapsed:.1f}s for a 1s budget"


def test_lost_answer_to_a_send_is_not_a_double_spend(chain: RunningNode, proxy: RpcProxy) -> None:
    # Prepare: the node accepts the transaction but its answer never reaches us
    s = signer(proxy.url, retry_for=20)
    to = dev_account("verifier").address
    w3 = s.w3
    n, before = nonce(w3, s.address), w3.eth.get_balance(to)
    proxy.lose_send_answer = True

    receipt = transfer(s, to)

    assert proxy.seen.count("eth_sendRawTransaction") == 2, "re-sent after the lost answer"
    assert receipt["status"] == 1
    assert nonce(w3, s.address) == n + 1
    assert w3.eth.get_balance(to) - before == VALUE, "paid once"


def test_rpc_down_during_a_daemon_call_raises_chain_error_not_a_crash(chain: RunningNode) -> None:
    proxy = RpcProxy(chain.url)
    try:
        w3 = connect(proxy.url, timeout=1.0)
        market = Market(w3, "0x" + "11" * 20)
    finally:
        proxy.close()  # the endpoint goes away after the daemon started

    with pytest.raises(ChainError, match="cannot reach the chain RPC"):
        market.job_count()


# ------------------------------------------------------------------------------------------ reverts


#: postJob's one argument, the JobTerms tuple (spec CID, stake, bond, duration, window, k, T, arity, refund).
POST_ARGS = ((b"\x01" * 32, parse_eth("0.1"), parse_eth("0.01"), 600, 60, 10, 100, 2, True),)


def test_gas_estimation_failure_names_the_custom_error(chain: RunningNode, market_address: str) -> None:
    market = Market(connect(chain.url), market_address, signer(chain.url))
    n = nonce(market.w3, market.signer.address)  # type: ignore[union-attr]

    with pytest.raises(ChainError) as info:
        market.transact("postJob", *POST_ARGS, value=0)

    assert info.value.error_name == "InvalidReward"
    assert info.value.error_args == (0,)
    assert str(info.value) == "CrucibleMarket.postJob would revert (not sent): InvalidReward(reward=0)"
    assert nonce(market.w3, market.signer.address) == n, "nothing was sent"  # type: ignore[union-attr]
    assert market.job_count() == 0


def test_mined_revert_is_decoded_too(chain: RunningNode, market_address: str) -> None:
    """Simulated fine, then beaten to the block: the requester cancels the job with a higher tip while the
    provider's claim waits in the mempool, so the claim is mined and reverts. The provider sees the
    custom error and the block, paid gas for it, and its stake is untouched."""
    requester = Market(connect(chain.url), market_address, signer(chain.url))
    provider = Market(connect(chain.url), market_address, signer(chain.url, "provider"))
    provider.deposit_stake(parse_eth("1"))
    job_id = requester.post_job(JobTerms(digest_to_cid(POST_ARGS[0][0]), *POST_ARGS[0][1:]), reward=parse_eth("0.1"))
    n = nonce(provider.w3, provider.signer.address)  # type: ignore[union-attr]

    with manual_mining(chain):
        claim = Background(lambda: provider.claim_job(job_id))
        wait_until(lambda: n in pool(chain.url, provider.signer.address), "the claim in the mempool")  # type: ignore[union-attr]
        cancel = requester.contract.encode_abi("cancelJob", args=[job_id])
        requester.w3.eth.send_transaction(
            {
                "from": requester.signer.address,
                "to": market_address,
                "data": cancel,
                "gas": 200_000,  # type: ignore[union-attr]
                "maxPriorityFeePerGas": 50 * GWEI,
                "maxFeePerGas": 100 * GWEI,
            }
        )
        rpc_call(chain.url, "evm_mine")
        with pytest.raises(ChainError) as info:
            claim.join()

    assert info.value.error_name == "JobNotInStatus"
    assert "reverted in block" in str(info.value) and f"JobNotInStatus(jobId={job_id}" in str(info.value)
    assert nonce(provider.w3, provider.signer.address) == n + 1, "mined (and paid gas), but changed nothing"  # type: ignore[union-attr]
    assert requester.job_status(job_id) == JobStatus.CANCELLED
    info = provider.provider_info(provider.signer.address)  # type: ignore[union-attr]
    assert (info.free, info.locked) == (parse_eth("1"), 0), "the stake was never locked"


def test_call_decodes_the_custom_error(chain: RunningNode, market_address: str) -> None:
    market = Market(connect(chain.url), market_address)

    with pytest.raises(ChainError) as info:
        market.call("claimJob", 42)  # simulated: there is no job 42 to claim

    assert info.value.error_name is not None and info.value.error_args[0] == 42
    assert str(info.value).startswith(f"CrucibleMarket.claimJob reverted: {info.value.error_name}(jobId=42")


def test_unknown_revert_data_is_shown_in_hex(chain: RunningNode, market_address: str) -> None:
    full = market_artifact()
    no_errors = Artifact(**{**full.__dict__, "abi": [i for i in full.abi if i.get("type") != "error"]})
    client = ContractClient(connect(chain.url), market_address, no_errors, signer(chain.url))
    selector = "0x" + function_signature_to_4byte_selector("InvalidReward(uint256)").hex()

    with pytest.raises(ChainError) as info:
        client.transact("postJob", *POST_ARGS, value=0)

    message = str(info.value)
    assert f"selector {selector}" in message and f"data {selector}{'0' * 64}" in message
    assert "ABI snapshot" in message


def test_insufficient_funds_says_which_account_to_fund(chain: RunningNode) -> None:
    s = signer(chain.url)
    balance = s.w3.eth.get_balance(s.address)

    with pytest.raises(ChainError) as info:
        transfer(s, dev_account("verifier").address, balance + 1)

    assert s.address in str(info.value) and "fund it" in str(info.value)


def test_call_to_an_address_without_a_contract_says_the_deployment_is_wrong(chain: RunningNode) -> None:
    market = Market(connect(chain.url), "0x" + "11" * 20)

    with pytest.raises(ChainError, match="there is no contract at .* deployment file is for another chain"):
        market.job_count()
