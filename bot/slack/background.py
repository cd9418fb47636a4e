"""Work that runs after Slack has its ack: provider calls and the answer via response_url.

Bolt's own "run after ack" mode polls for the ack every 10 ms and, when a listener acks and then
fails quickly, can lose the ack and answer Slack 404. So listeners ack inline and hand the
slow part here. Tasks are kept referenced until they finish (asyncio holds only weak
references), failures become the same sentences as everywhere else, and shutdown waits for
answers already under way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Hashable

from bot.metrics import ERRORS
from bot.slack.blocks.message import Message
from bot.slack.errors import describe, log_failure
from bot.slack.responder import Responder

log = logging.getLogger(__name__)


class Background:
    def __init__(self, responder: Responder | None = None, *, max_sending: int = 8,
                 max_pending: int = 2_000) -> None:
        self._tasks: set[asyncio.Task] = set()
        self.responder = responder or Responder()
        # Identical questions in flight (same workspace, same command): one task answers them all.
        # Under a burst that is the difference between one task and thousands, each holding
        # objects the garbage collector scans at every ack.
        self._shared: dict[Hashable, list[str]] = {}
        # Past this many answers waiting to be sent, new questions are told to try again in a
        # moment (in the ack) instead of queueing work the bot cannot finish in good time.
        self.max_pending = max_pending
        self._pending = 0
        # Many answers can become ready at once (they share one cached provider call). Sending
        # a few at a time lets the event loop keep acking new commands in between: Slack's 3 s
        # ack is a hard rule, an answer a few hundred milliseconds later is not.
        self._sending = asyncio.Semaphore(max_sending)

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def full(self) -> bool:
        return self._pending >= self.max_pending

    def waiting_on(self, share: Hashable | None) -> bool:
        """Is this question already being answered? (Then one more asker costs almost nothing.)"""
        return share is not None and share in self._shared

    def answer(self, work: Awaitable[Message | None], *, response_url: str, team_id: str | None,
               share: Hashable | None = None) -> asyncio.Task | None:
        """Run `work` and send its message (or the sentence for its failure) to the user. Work that
        answered another way (it opened a modal, say) returns None and nothing is sent. With
        `share`, a question already in flight under that key gets this asker added to its list,
        and `work` is dropped unstarted."""
        self._pending += 1
        if share is not None and share in self._shared:
            self._shared[share].append(response_url)
            close = getattr(work, "close", None)
            if close is not None:
                close()  # a coroutine never started: nothing ran, nothing to clean up
            return None
        askers = [response_url]
        if share is not None:
            self._shared[share] = askers
        task = asyncio.get_running_loop().create_task(self._answer(work, askers, team_id, share))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _answer(self, work: Awaitable[Message | None], askers: list[str], team_id: str | None,
                      share: Hashable | None) -> None:
        try:
            try:
                message = await work
            except Exception as exc:
                ERRORS.labels(kind=type(exc).__name__).inc()
                message = describe(exc, team_id=team_id)
            finally:
                if share is not None:
                    self._shared.pop(share, None)  # later askers start afresh (or hit the cache)
            if message is None:
                return
            for start in range(0, len(askers), 64):
                await asyncio.gather(*(self._send(url, message, team_id) for url in askers[start:start + 64]))
        finally:
            self._pending -= len(askers)

    async def _send(self, response_url: str, message: Message, team_id: str | None) -> None:
        try:
            async with self._sending:
                await self.responder.send(response_url, message)
        except Exception as exc:
            # The response_url may have expired (30 minutes) or Slack may be down; nothing to tell the user.
            log_failure(exc, what="delivering an answer to Slack", team_id=team_id)

    def run(self, work: Awaitable[object], *, what: str) -> asyncio.Task:
        """Run `work` after the ack; a failure is logged (the work itself tells the user)."""

        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                log_failure(exc, what=what)  # Slack's own outages as a WARNING line, bugs with a traceback

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float = 10.0) -> None:
        """On shutdown: let answers under way finish, then cancel what is left."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
        await self.responder.aclose()
