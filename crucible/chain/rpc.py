"""RPC access that survives a node that is down or slow: retries with backoff within a budget,
then :class:`~crucible.errors.ChainUnavailable` saying what to check."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, cast

import requests
from eth_typing import URI
from pydantic import ValidationError
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from crucible.errors import ChainUnavailable, ConfigError
from crucible.settings import DEFAULT_RPC_TIMEOUT, CoreSettings

log = logging.getLogger("crucible.chain")


class RetryingHTTPProvider(HTTPProvider):
    """An HTTP provider that retries transport failures with exponential backoff, within a budget.

    Retried: connection refused/reset, timeouts, HTTP 429 and 5xx. Every method is retried, including
    ``eth_sendRawTransaction``: re-sending the same signed bytes is idempotent (the node answers
    "already known", which :class:`Signer` recognises as its own transaction). JSON-RPC errors are not
    transport failures and pass straight through. After ``retry_for`` seconds the request raises
    :class:`ChainUnavailable`; one attempt never outlives the remaining budget.
    """

    def __init__(
        self,
        endpoint_uri: str,
        *,
        timeout: float = DEFAULT_RPC_TIMEOUT,
        retry_for: float | None = None,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
    ) -> None:
        super().__init__(endpoint_uri, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        self.timeout = timeout
        self.retry_for = timeout if retry_for is None else retry_for
        self.backoff = backoff
        self.max_backoff = max_backoff
        #: Requests sent to the node, by method (what :meth:`make_request` did not answer itself).
        self.calls: Counter[str] = Counter()
        self._chain_id: Any = None

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Answers ``eth_chainId`` from the first answer: web3 asks for it before every call and
        transaction (half of all requests), and a connection's chain id never changes."""
        if method == "eth_chainId" and self._chain_id is not None:
            return cast(RPCResponse, {"jsonrpc": "2.0", "id": 0, "result": self._chain_id})
        response = super().make_request(method, params)
        if method == "eth_chainId" and "result" in response:
            self._chain_id = response["result"]
        return response

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        start = time.monotonic()
        deadline = start + self.retry_for
        attempt = 0
        self.calls[str(method)] += 1
        while True:
            attempt += 1
            kwargs = self.get_request_kwargs()
            kwargs["timeout"] = max(0.2, min(self.timeout, deadline - time.monotonic()))
            # HTTPProvider declares endpoint_uri Optional, but __init__ always sets it (we pass one).
            uri = cast(URI, self.endpoint_uri)
            try:
                return self._request_session_manager.make_post_request(uri, request_data, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
                reason = _transport_reason(exc)
                if isinstance(exc, requests.HTTPError) and not _retryable_status(exc):
                    raise ChainUnavailable(
                        f"the chain RPC at {self.endpoint_uri} refused {method} ({reason}): check the rpc_url "
                        "(and any API key in it) in the deployment file"
                    ) from None
                remaining = deadline - time.monotonic()
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1), remaining)
                if remaining <= 0.05:
                    elapsed = time.monotonic() - start
                    raise ChainUnavailable(
                        f"cannot reach the chain RPC at {self.endpoint_uri}: {method} got no answer in "
                        f"{elapsed:.1f}s ({attempt} attempt{'s' if attempt > 1 else ''}, last: {reason}); check "
                        "that the node is running and reachable (`crucible devnet status`, or the rpc_url in "
                        "the deployment file) and try again"
                    ) from None
                log.warning(
                    "chain RPC at %s: %s failed (%s); retry %d in %.2fs, giving up after %.1fs",
                    self.endpoint_uri,
                    method,
                    reason,
                    attempt,
                    delay,
                    self.retry_for,
                )
                time.sleep(delay)


def _transport_reason(exc: Exception) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return "connection refused or reset" if isinstance(exc, requests.ConnectionError) else type(exc).__name__


def _retryable_status(exc: requests.HTTPError) -> bool:
    status = exc.response.status_code if exc.response is not None else 0
    return status == 429 or status >= 500


def rpc_timeout() -> float:
    """Default RPC budget in seconds: ``CRUCIBLE_RPC_TIMEOUT`` (default 30)."""
    try:
        return CoreSettings().rpc_timeout
    except ValidationError:
        raise ConfigError("CRUCIBLE_RPC_TIMEOUT is not a number of seconds between 0 and 3600") from None


def connect(
    rpc_url: str, *, expected_chain_id: int | None = None, timeout: float | None = None, retry_for: float | None = None
) -> Web3:
    """A Web3 on ``rpc_url`` whose every request is retried for up to ``retry_for`` seconds (default:
    ``timeout``, default :func:`rpc_timeout`) before :class:`ChainUnavailable`; checks the chain id
    when one is expected."""
    timeout = rpc_timeout() if timeout is None else timeout
    w3 = Web3(RetryingHTTPProvider(rpc_url, timeout=timeout, retry_for=retry_for))
    try:
        chain_id = w3.eth.chain_id
    except ChainUnavailable:
        raise
    except Exception as exc:  # a non-JSON answer, an HTML error page...: not a chain RPC
        raise ChainUnavailable(
            f"cannot reach the chain RPC at {rpc_url}: it answered but not as an Ethereum JSON-RPC node "
            f"({exc.__class__.__name__}); check the rpc_url in the deployment file"
        ) from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ConfigError(
            f"the RPC at {rpc_url} serves chain id {chain_id}, but the deployment file is for chain id "
            f"{expected_chain_id}: use the deployment file of this chain"
        )
    return w3
