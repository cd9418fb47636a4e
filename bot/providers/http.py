"""HTTP plumbing every provider client shares: pacing, retries and error mapping.

Nothing here knows about a particular provider. A client paces its requests with a `Pacer`
from `get_pacer`, wraps each call in `call_with_retries`, and turns responses and httpx
failures into the typed errors of `bot.providers.base`.

Nothing here stores loop-bound asyncio objects: the bot, its CLI and the tests run several
event loops in one process, and a lock or event created on one loop breaks on another.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay

from bot.providers.base import (
    AuthError,
    BadRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Unavailable,
)

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def fingerprint(secret: str, namespace: str = "") -> str:
    """A stable, non-reversible name for a credential (pacer keys, log correlation)."""
    return hashlib.sha256(f"{namespace}\0{secret}".encode()).hexdigest()


# --------------------------------------------------------------------------- pacing


class PacingLimited(RateLimited):
    """Our own pacer would have to wait longer than allowed; the provider was not called."""


class Pacer:
    """A reservation-based token bucket (GCRA): `rate` requests per `period`, `burst` at once.

    Each caller reserves the next free slot under a thread lock and then sleeps until it, so
    concurrent callers on any loop or thread are spaced without a queue. The refill interval is
    `period / (rate - burst + 1)`, which keeps even a full burst followed by steady traffic at
    or under `rate` in any window of `period`, so a sliding-window limit upstream is never hit.
    """

    def __init__(self, rate: int, period: float = 60.0, *, burst: int | None = None, name: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate must be >= 1 and period > 0")
        self.rate = rate
        self.period = period
        self.burst = min(max(1, burst if burst is not None else rate // 2), rate)
        self.name = name
        self.interval = period / (rate - self.burst + 1)
        self._tolerance = (self.burst - 1) * self.interval
        self._clock = clock
        self._tat = float("-inf")  # "theoretical arrival time" of the next request, on `clock`
        self._lock = threading.Lock()

    def reserve(self, max_wait: float | None = None, cost: int = 1) -> float:
        """Take a slot; return how long to wait for it. Raises PacingLimited (taking nothing)
        if that would be longer than `max_wait`. A request worth `cost` units (Whereby's points:
        a POST costs 3) takes that many slots at once."""
        cost = max(1, int(cost))
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            wait = tat + (cost - 1) * self.interval - self._tolerance - now
            wait = wait if wait > 1e-9 else 0.0  # float noise in a burst is not a wait
            if max_wait is not None and wait > max_wait:
                raise PacingLimited(
                    f"{self.name or 'provider'}: too many requests right now, try again in {wait:.0f}s",
                    provider=self.name, code="paced", retry_after=wait,
                )
            self._tat = tat + cost * self.interval
            return wait

    async def acquire(self, max_wait: float | None = None, cost: int = 1) -> None:
        wait = self.reserve(max_wait, cost)
        if wait > 0:
            await asyncio.sleep(wait)

    @property
    def idle(self) -> bool:
        """True once the bucket is full again, so forgetting this pacer loses nothing."""
        return self._tat <= self._clock()


class Pacers:
    """The pacers and server budgets, by credential, of everything that uses `PACERS`: every client
    instance using the same key shares one budget. A test makes its own, so that one test's traffic
    does not pace the next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pacers: dict[tuple[str, int, float, int | None], Pacer] = {}
        self._budgets: dict[str, ServerBudget] = {}

    def pacer(self, key: str, *, rate: int, period: float = 60.0, burst: int | None = None, name: str = "") -> Pacer:
        with self._lock:
            ident = (key, rate, period, burst)
            pacer = self._pacers.get(ident)
            if pacer is None:
                if len(self._pacers) > 1000:  # many keys over a long uptime: drop the ones that are idle
                    for k in [k for k, p in self._pacers.items() if p.idle]:
                        del self._pacers[k]
                pacer = self._pacers[ident] = Pacer(rate, period, burst=burst, name=name)
            return pacer

    def server_budget(self, key: str, *, name: str = "", low_water: int = 5) -> ServerBudget:
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                if len(self._budgets) > 1000:
                    now = time.time()
                    for k in [k for k, b in self._budgets.items() if (b.reset_at or 0) < now and b._hold_until < now]:
                        del self._budgets[k]
                budget = self._budgets[key] = ServerBudget(name=name, low_water=low_water)
            return budget


PACERS = Pacers()  # the process's own


def get_pacer(key: str, *, rate: int, period: float = 60.0, burst: int | None = None, name: str = "") -> Pacer:
    """The process-wide pacer for `key` (e.g. a `fingerprint` of an API key), so every client
    instance using the same key shares one budget."""
    return PACERS.pacer(key, rate=rate, period=period, burst=burst, name=name)


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """An `X-RateLimit-Reset` value as a wall-clock time (epoch seconds). APIs write it as epoch
    seconds (Harmony's page: `1706803200`), epoch milliseconds, seconds from now (small
    numbers), or a date (Whereby); each is recognised by its size or form."""
    if not value or not value.strip():
        return None
    now = time.time() if now is None else now
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number < 0:
            return None
        if number > 1e12:
            return number / 1000
        if number > 1e9:
            return number
        return now + number
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


class ServerBudget:
    """Pacing by what the server says, on top of a `Pacer`'s fixed rate.

    Two kinds of news: `X-RateLimit-Remaining` with `X-RateLimit-Reset` (requests left in the
    current window and when it ends), and a 429's Retry-After (hold off entirely until then).
    While plenty is left nothing waits. From `low_water` requests left (at most a quarter of the
    limit), the rest are spread evenly over what is left of the window; at zero, callers wait for
    the reset. A hold from a 429 is honoured by every caller sharing the key, not only the one
    that got it.

    Times are wall-clock (`time.time`) because the reset header is an epoch. Thread-safe, and
    like `Pacer` it keeps no loop-bound asyncio objects.
    """

    def __init__(self, *, name: str = "", low_water: int = 5, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.low_water = max(0, low_water)
        self._clock = clock
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self._hold_until = 0.0
        self._next_at = 0.0  # the next free slot while spreading or after a reset

    def observe(self, headers: Any, *, retry_after: float | None = None) -> None:
        """Record a response's rate-limit headers (any case) and a 429's retry-after."""
        now = self._clock()
        limit = _int(headers.get("X-RateLimit-Limit") or headers.get("x-ratelimit-limit"))
        remaining = _int(headers.get("X-RateLimit-Remaining") or headers.get("x-ratelimit-remaining"))
        reset_at = parse_reset(headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset"), now=now)
        with self._lock:
            if limit is not None and limit > 0:
                self.limit = limit
            if remaining is not None:
                new_window = (reset_at is not None and (self.reset_at is None or reset_at > self.reset_at + 1))
                if new_window or self.remaining is None:
                    self.remaining = remaining
                else:
                    # An older response arriving late must not give back requests already spent.
                    self.remaining = min(self.remaining, remaining)
                if reset_at is not None:
                    self.reset_at = reset_at
            if retry_after is not None and retry_after > 0:
                self._hold_until = max(self._hold_until, now + retry_after)

    def reserve(self, max_wait: float | None = None) -> float:
        """Take a request from the budget; return how long to wait first. Raises PacingLimited
        (taking nothing) when that would be longer than `max_wait`."""
        with self._lock:
            now = self._clock()
            start = max(now, self._hold_until)
            remaining = self.remaining
            if self.reset_at is not None and self.reset_at <= start:
                remaining = None  # that window is over; the next response says how the new one looks
            if remaining is not None and self.reset_at is not None:
                if remaining <= 0:  # wait for the reset; then go one by one if the limit is known
                    start = max(start, self.reset_at, self._next_at)
                    spacing = 60.0 / self.limit if self.limit else 0.0
                elif remaining <= (min(self.low_water, self.limit // 4) if self.limit else self.low_water):
                    start = max(start, self._next_at)
                    spacing = (self.reset_at - start) / remaining
                    remaining -= 1
                else:
                    spacing = 0.0
                    remaining -= 1
            else:
                spacing = 0.0
            wait = start - now
            wait = wait if wait > 1e-6 else 0.0
            if max_wait is not None and wait > max_wait:
                raise PacingLimited(
                    f"{self.name or 'provider'}: its rate limit is used up right now, try again in {wait:.0f}s",
                    provider=self.name, code="paced", retry_after=wait,
                )
            if self.remaining is not None:
                self.remaining = remaining
            if spacing:
                self._next_at = start + spacing
            return wait

    async def acquire(self, max_wait: float | None = None) -> None:
        wait = self.reserve(max_wait)
        if wait > 0:
            await asyncio.sleep(wait)


def get_server_budget(key: str, *, name: str = "", low_water: int = 5) -> ServerBudget:
    """The process-wide server budget for `key` (a `fingerprint` of an API key)."""
    return PACERS.server_budget(key, name=name, low_water=low_water)


def _int(value: Any) -> int | None:
    try:
        return int(float(value)) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a call tries. `deadline` bounds the whole call: pacing, attempts and sleeps,
    so an interactive command still gets an answer in time."""

    max_attempts: int = 3
    deadline: float = 10.0
    backoff: float = 0.5  # first delay; doubles per attempt
    max_backoff: float = 4.0


RETRYABLE: tuple[type[ProviderError], ...] = (Unavailable, RateLimited)


def _retryable(kinds: tuple[type[BaseException], ...]) -> Callable[[BaseException], bool]:
    # Our own pacer already decided the wait is too long; retrying would just wait anyway. A used-up
    # daily quota does not come back within any call's deadline either.
    return lambda exc: isinstance(exc, kinds) and not isinstance(exc, (PacingLimited, QuotaExceeded))


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return hinted + random.uniform(0, 0.1 * hinted)  # honour it, spread the herd a little
        delay = min(policy.max_backoff, policy.backoff * 2 ** (state.attempt_number - 1))
        return delay / 2 + random.uniform(0, delay / 2)  # "equal jitter": never near zero

    return wait


async def call_with_retries(
    attempt: Callable[[float], Awaitable[T]],
    *,
    policy: RetryPolicy,
    provider: str,
    retry_on: tuple[type[BaseException], ...] = RETRYABLE,
    logger: logging.Logger | None = None,
    what: str = "request",
) -> T:
    """Run `attempt(remaining_seconds)` until it succeeds, retrying `retry_on` errors with
    backoff and jitter (or the server's Retry-After), within `policy` bounds; then re-raise the
    last typed error. Each attempt is cut off when the deadline passes."""
    deadline = time.monotonic() + policy.deadline

    async def one() -> T:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable(f"{provider}: no answer within {policy.deadline:g}s", provider=provider, code="timeout")
        try:
            async with asyncio.timeout(remaining):
                return await attempt(remaining)
        except (TimeoutError, httpx.TransportError) as exc:
            raise transport_error(exc, provider=provider) from None

    def log_retry(state: RetryCallState) -> None:
        if logger is not None:
            exc = state.outcome.exception() if state.outcome else None
            logger.info("%s: %s failed (%s), retry %d in %.2fs", provider, what, exc,
                        state.attempt_number, state.upcoming_sleep)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.deadline),
        wait=_wait(policy),
        retry=retry_if_exception(_retryable(retry_on)),
        before_sleep=log_retry,
        reraise=True,
    )
    return await retrying(one)


# --------------------------------------------------------------------------- error mapping


def transport_error(exc: BaseException, *, provider: str) -> Unavailable:
    """An httpx (or asyncio) failure as `Unavailable`. Only the exception's type is kept: its
    text can carry URLs and the details are of no use to a Slack user."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return Unavailable(f"{provider} did not answer in time", provider=provider, code="timeout")
    if isinstance(exc, httpx.ConnectError):
        return Unavailable(f"could not connect to {provider}", provider=provider, code="connect_error")
    return Unavailable(f"network error talking to {provider} ({type(exc).__name__})", provider=provider,
                       code="network_error")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def extract_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from the error bodies APIs commonly send:
    `{error:{code,message}}`, `{error:"code", message}`, `{code, message}`, `{detail}`, `{errors:[...]}`."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        return _str(error.get("code") or error.get("type")), _str(error.get("message") or error.get("detail"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return _str(errors[0].get("code")), _str(errors[0].get("message") or errors[0].get("detail"))
    message = body.get("message") or body.get("error_description") or body.get("detail")
    code = body.get("code") or (error if isinstance(error, str) else None)
    return _str(code), _str(message)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def error_for_status(status: int, *, provider: str, code: str | None, message: str | None,
                     retry_after: float | None = None) -> ProviderError:
    """The typed error for an HTTP failure status."""
    text = f"{provider}: {message or f'HTTP {status}'}"
    kwargs: dict[str, Any] = {"provider": provider, "code": code, "status": status}
    if status == 401:
        return AuthError(text, **kwargs)
    if status == 403:
        return PermissionDenied(text, **kwargs)
    if status in (404, 410):
        return NotFound(text, **kwargs)
    if status == 429:
        return RateLimited(text, retry_after=retry_after, **kwargs)
    if status >= 500 or status == 408:
        error = Unavailable(text, **kwargs)
        error.retry_after = retry_after  # a 503's Retry-After is honoured by the retry wait too
        return error
    return BadRequest(text, **kwargs)


def response_error(response: httpx.Response, *, provider: str, redact: tuple[str, ...] = ()) -> ProviderError:
    """The typed error for a failed response, whatever its body (JSON envelope, HTML, empty).
    Strings in `redact` (API keys) are scrubbed from the message in case a server echoes them."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message = extract_error(body)
    if message is None and body is None and response.content:
        message = f"HTTP {response.status_code} with a non-JSON body"
    if message:
        message = message[:300]
        for secret in redact:
            if secret:
                message = message.replace(secret, "[redacted]")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is None and isinstance(body, dict):
        # Some APIs (Meetric) put it in the body: {"statusCode":429,"message":…,"retryAfter":60},
        # or {"code":"rate_limit_exceeded","details":{"retry_after_seconds":60}}.
        details = body["details"] if isinstance(body.get("details"), dict) else {}
        retry_after = parse_retry_after(_str(body.get("retryAfter") or body.get("retry_after")
                                             or details.get("retry_after_seconds") or details.get("retryAfter")))
    return error_for_status(response.status_code, provider=provider, code=code, message=message,
                            retry_after=retry_after)


# --------------------------------------------------------------------------- a JSON API client


class JsonApi:
    """The HTTP side of a provider client: auth headers on each request (never on the shared
    httpx client, which serves many keys), a fixed-rate `Pacer` and optionally the server's own
    `ServerBudget`, retries within a `RetryPolicy`, JSON bodies, and typed errors. The provider
    module keeps only what is its own: paths, envelopes and the wording of its errors.

    `error` maps a failed response to a typed error (default `response_error`); the key is
    redacted from whatever the server echoes. The key itself is never logged.
    """

    def __init__(self, *, provider: str, base_url: str, secret: str, auth_headers: dict[str, str],
                 client: httpx.AsyncClient | None, pacer: Pacer, budget: ServerBudget | None = None,
                 policy: RetryPolicy | None = None, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 max_pacing_wait: float = 10.0, logger: logging.Logger | None = None,
                 costs: dict[str, int] | None = None) -> None:
        self.provider = provider
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
                return response.json()
            except ValueError:
                # A 2xx that is not JSON is a proxy or maintenance page: treat it as an outage.
                raise Unavailable(f"{self.provider}: answered with something that is not JSON",
                                  provider=self.provider, code="invalid_response",
                                  status=response.status_code) from None

        return await call_with_retries(attempt, policy=self.policy, provider=self.provider, retry_on=retry_on,
                                       logger=self._log, what=f"{method} {path}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
