"""Pacing requests to a provider: a fixed-rate token bucket per API key (`Pacer`) and, on top of
it, what the server says about its own limits (`ServerBudget`). Both are shared process-wide per
key (`get_pacer`, `get_server_budget`), so every client for one key spends one budget.

Nothing here stores loop-bound asyncio objects: the bot, its CLI and the tests run several
event loops in one process, and a lock or event created on one loop breaks on another.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.providers.base import RateLimited


def fingerprint(secret: str, namespace: str = "") -> str:
    """A stable, non-reversible name for a credential (pacer keys, log correlation)."""
    return hashlib.sha256(f"{namespace}\0{secret}".encode()).hexdigest()


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
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
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


def _int(value: Any) -> int | None:
    try:
        return int(float(value)) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None
