"""`JsonApi`: the one request loop every provider client uses (auth, pacing, retries, JSON, typed
errors). A provider module keeps only what is its own: paths, envelopes and error wording."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.providers.base import ProviderError, Unavailable
from bot.providers.http.errors import response_error
from bot.providers.http.pacing import Pacer, ServerBudget
from bot.providers.http.retries import RETRYABLE, RetryPolicy, call_with_retries

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

class JsonApi:
    """The HTTP side of a provider client: auth headers on each request (never on the shared
    httpx client, which serves many keys), a fixed-rate `Pacer` and optionally the server's own
    `ServerBudget`, retries within a `RetryPolicy`, JSON bodies, and typed errors. The provider
    module keeps only what is its own: paths, envelopes and the wording of its errors.

    `error` maps a failed response to a typed error (default `response_error`); the key is
    redacted from whatever the server echoes. The key itself is never logged. `body_error` reads
    a 2xx body for an error the API wraps in a success status (Hedy's `{success:false,error}`);
    it runs inside the attempt, so such an error is retried like the status it stands for.
    """

    def __init__(self, *, provider: str, base_url: str, secret: str, auth_headers: dict[str, str],
                 client: httpx.AsyncClient | None, pacer: Pacer, budget: ServerBudget | None = None,
                 policy: RetryPolicy | None = None, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 max_pacing_wait: float = 10.0, logger: logging.Logger | None = None,
                 costs: dict[str, int] | None = None,
                 body_error: Callable[[Any], ProviderError | None] | None = None) -> None:
        self.provider = provider
        self._body_error = body_error
        self.costs = {m.upper(): c for m, c in (costs or {}).items()}  # pacer units per method (default 1)
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._headers = {**auth_headers, "Accept": "application/json"}
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self.pacer = pacer
        self.budget = budget
        self.policy = policy or RetryPolicy()
        self._timeout = timeout
        self._max_pacing_wait = max_pacing_wait
        self._log = logger or logging.getLogger(__name__)

    def default_error(self, response: httpx.Response) -> ProviderError:
        return response_error(response, provider=self.provider, redact=(self._secret,))

    async def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                      retry_on: tuple[type[BaseException], ...] = RETRYABLE,
                      error: Callable[[httpx.Response], ProviderError] | None = None) -> Any:
        url = self.base_url + path
        to_error = error or self.default_error

        async def attempt(remaining: float) -> Any:
            started = time.monotonic()
            await self.pacer.acquire(max_wait=min(self._max_pacing_wait, remaining),
                                     cost=self.costs.get(method.upper(), 1))
            if self.budget is not None:
                left = remaining - (time.monotonic() - started)
                await self.budget.acquire(max_wait=max(0.0, min(self._max_pacing_wait, left)))
            sent = time.monotonic()
            response = await self._client.request(method, url, params=params, json=json, timeout=self._timeout,
                                                  headers=self._headers)
            self._log.debug("%s %s %s -> %s in %.0f ms", self.provider, method, path, response.status_code,
                            (time.monotonic() - sent) * 1000)
            failure = to_error(response) if response.status_code >= 400 else None
            if self.budget is not None:
                hinted = getattr(failure, "retry_after", None) if response.status_code in (429, 503) else None
                self.budget.observe(response.headers, retry_after=hinted)
            if failure is not None:
                raise failure
            if not response.content:
                return None
            try:
                body = response.json()
            except ValueError:
                # A 2xx that is not JSON is a proxy or maintenance page: treat it as an outage.
                raise Unavailable(f"{self.provider}: answered with something that is not JSON",
                                  provider=self.provider, code="invalid_response",
                                  status=response.status_code) from None
            wrapped = self._body_error(body) if self._body_error is not None else None
            if wrapped is not None:
                raise wrapped
            return body

        return await call_with_retries(attempt, policy=self.policy, provider=self.provider, retry_on=retry_on,
                                       logger=self._log, what=f"{method} {path}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
