"""A short-lived, single-flight cache.

When a team types `/meetings list` together (a standup starting, say), one provider request
serves them all: concurrent identical loads share one in-flight call, and its result is reused
for a few seconds. That keeps the bot inside the provider's rate limit (Hedy: 200 a minute per
key) and answers faster. Errors are never cached. Callers put the connection (and its key
version) into the key, so workspaces never share entries.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class ReadCache:
    def __init__(self, *, ttl: float = 15.0, max_entries: int = 2_000, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._values: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._values.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(value)
            self._values[key] = (self.clock() + self.ttl, value)
            self._values.move_to_end(key)
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
            return value
        finally:
            self._inflight.pop(key, None)

    def peek(self, key: Hashable) -> Any | None:
        """The value if it is cached and fresh, else None; never loads (for answering inside an ack)."""
        hit = self._values.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        return None

    def clear(self) -> None:
        self._values.clear()
