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

    def reserve(self, max_wait: float | None = None) -> float:
        """Take a slot; return how long to wait for it. Raises PacingLimited (taking nothing)
        if that would be longer than `max_wait`."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            wait = tat - self._tolerance - now
            wait = wait if wait > 1e-9 else 0.0  # float noise in a burst is not a wait
            if max_wait is not None and wait > max_wait:
                raise PacingLimited(
                    f"{self.name or 'provider'}: too many requests right now, try again in {wait:.0f}s",
                    provider=self.name, code="paced", retry_after=wait,
                )
            self._tat = tat + self.interval
            return wait

    async def acquire(self, max_wait: float | None = None) -> None:
        wait = self.reserve(max_wait)
        if wait > 0:
            await asyncio.sleep(wait)

    @property
    def idle(self) -> bool:
        """True once the bucket is full again, so forgetting this pacer loses nothing."""
        return self._tat <= self._clock()


_pacers: dict[tuple[str, int, float, int | None], Pacer] = {}
_pacers_lock = threading.Lock()


def get_pacer(key: str, *, rate: int, period: float = 60.0, burst: int | None = None, name: str = "") -> Pacer:
    """The process-wide pacer for `key` (e.g. a `fingerprint` of an API key), so every client
    instance using the same key shares one budget."""
    with _pacers_lock:
        ident = (key, rate, period, burst)
        pacer = _pacers.get(ident)
        if pacer is None:
            if len(_pacers) > 1000:  # many keys over a long uptime: drop the ones that are idle
                for k in [k for k, p in _pacers.items() if p.idle]:
                    del _pacers[k]
            pacer = _pacers[ident] = Pacer(rate, period, burst=burst, name=name)
        return pacer


def reset_pacers() -> None:
    """Forget all pacing state (tests: one test's traffic should not slow the next)."""
    with _pacers_lock:
        _pacers.clear()


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
    # Our own pacer already decided the wait is too long; retrying would just wait anyway.
    return lambda exc: isinstance(exc, kinds) and not isinstance(exc, PacingLimited)


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
    kwargs = {"provider": provider, "code": code, "status": status}
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
        # Some APIs (Meetric) put it in the body: {"statusCode":429,"message":…,"retryAfter":60}.
        retry_after = parse_retry_after(_str(body.get("retryAfter") or body.get("retry_after")))
    return error_for_status(response.status_code, provider=provider, code=code, message=message,
                            retry_after=retry_after)
