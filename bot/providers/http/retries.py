"""Retrying a provider call: bounded attempts, backoff with jitter or the server's Retry-After, and
one deadline for the whole call (pacing, attempts and sleeps)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from bot.providers.base import ProviderError, QuotaExceeded, RateLimited, Unavailable
from bot.providers.http.errors import transport_error
from bot.providers.http.pacing import PacingLimited

T = TypeVar("T")

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
