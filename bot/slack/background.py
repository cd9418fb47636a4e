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
from typing import Awaitable

from bot.slack.blocks.message import Message
from bot.slack.errors import describe, log_failure
from bot.metrics import ERRORS
from bot.slack.responder import Responder

log = logging.getLogger(__name__)


class Background:
    def __init__(self, responder: Responder | None = None, *, max_sending: int = 8) -> None:
        self._tasks: set[asyncio.Task] = set()
        self.responder = responder or Responder()
        # Many answers can become ready at once (they share one cached provider call). Sending
        # a few at a time lets the event loop keep acking new commands in between: Slack's 3 s
        # ack is a hard rule, an answer a few hundred milliseconds later is not.
        self._sending = asyncio.Semaphore(max_sending)

    def __len__(self) -> int:
        return len(self._tasks)

    def answer(self, work: Awaitable[Message | None], *, response_url: str, team_id: str | None) -> asyncio.Task:
        """Run `work` and send its message (or the sentence for its failure) to the user. Work that
        answered another way (it opened a modal, say) returns None and nothing is sent."""
        task = asyncio.get_running_loop().create_task(self._answer(work, response_url, team_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _answer(self, work: Awaitable[Message], response_url: str, team_id: str | None) -> None:
        try:
            message = await work
        except Exception as exc:
            ERRORS.labels(kind=type(exc).__name__).inc()
            message = describe(exc, team_id=team_id)
        if message is None:
            return
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
