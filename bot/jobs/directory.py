"""Member directories read from Slack (bot/slack/directory.py) outside any meeting's processing.

- Once a day: hourly, on one replica, the workspaces whose copy is over a day old, a few per run,
  so the users.list pages of many workspaces are spread over the day instead of landing on a
  digest that waits for them (`refresh_directories`).
- The first read of a new workspace, in the background (`DirectoryReads`): its first meetings'
  digests, threads and owner DMs go out without waiting for it, and the todos only a name can
  place are matched once it is done (bot/delivery/digests.py `owners_found`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime

import aiohttp
from slack_sdk.errors import SlackApiError
from sqlmodel import col, select

from bot.jobs.leader import DIRECTORY_LOCK, leader
from bot.logging_setup import REQUEST_ID, TEAM
from bot.services import directory
from bot.services.directory import REFRESH_AFTER
from bot.slack.directory import StillRateLimited, read_members, refresh_directory
from bot.slack.installations import NotInstalled
from bot.store.models import MemberDirectory, utcnow

log = logging.getLogger(__name__)

PER_RUN = 20

Work = Callable[[], Awaitable[None]]


async def refresh_directories(deps, now: datetime | None = None, *, limit: int = PER_RUN) -> int:
    now = now or utcnow()
    async with leader(deps.db, DIRECTORY_LOCK) as is_leader:
        if not is_leader:
            return 0
        async with deps.db.session() as session:
            stale = list((await session.exec(select(MemberDirectory.team_id).where(
                col(MemberDirectory.refreshed_at) <= now - REFRESH_AFTER)
                .order_by(col(MemberDirectory.refreshed_at)).limit(limit))).all())
        refreshed = 0
        for team_id in stale:
            try:
                await refresh_directory(deps, team_id, now=now)
                refreshed += 1
            except Exception:
                log.warning("could not read the member directory of team %s", team_id, exc_info=True)
        return refreshed


class DirectoryReads:
    """First reads of new workspaces' member directories, each in a task of its own: 5,000 members
    take about 90 s of paced users.list pages (docs/owners.md), which no inbox event should hold
    its claim for. One read per workspace at a time in this process; the work waiting for it
    (`after`) runs once it is done. Another replica may read the same workspace meanwhile: the
    copy is stored whole either way (bot/services/directory.py replace_members)."""

    # Meetings per workspace kept for after its read: a new workspace's first day, not its history.
    MAX_WAITING = 50

    def __init__(self) -> None:
        self._reads: dict[str, asyncio.Task] = {}
        self._waiting: dict[str, dict[Hashable, tuple[str | None, Work]]] = {}
        self._in_slack: set[str] = set()  # reads now asking Slack for pages: safe to cancel
        self._stopping = False

    def busy(self) -> bool:
        """A read, or the work waiting for it, is under way."""
        return bool(self._reads)

    def start(self, deps, team_id: str) -> None:
        """Read the workspace's directory in the background, unless a read of it is under way."""
        if self._stopping or team_id in self._reads:
            return
        # A context of its own: started from one meeting's processing, the read must not log (nor
        # run other meetings' waiting work) under that meeting's webhook request id.
        self._reads[team_id] = asyncio.get_running_loop().create_task(
            self._read(deps, team_id), name=f"directory-read-{team_id}", context=contextvars.Context())

    def after(self, deps, team_id: str, key: Hashable, work: Work) -> None:
        """Run `work` once the workspace's directory has been read (soon, if it is fresh already).
        Kept in memory only; a later `work` under the same key replaces one still waiting. A read
        that fails keeps it for the next read of that workspace."""
        if self._stopping:
            return
        waiting = self._waiting.setdefault(team_id, {})
        waiting.pop(key, None)  # the newest goes last, so the oldest is the one dropped
        waiting[key] = (REQUEST_ID.get(), work)  # run under the request id of the meeting it is for
        while len(waiting) > self.MAX_WAITING:
            del waiting[next(iter(waiting))]
        self.start(deps, team_id)

    async def _read(self, deps, team_id: str) -> None:
        TEAM.set(team_id)
        REQUEST_ID.set(f"directory-{team_id}")
        try:
            now = utcnow()
            if await directory.needs_refresh(deps.db, team_id=team_id, now=now):
                self._in_slack.add(team_id)
                try:
                    members = await read_members(deps, team_id)
                finally:
                    self._in_slack.discard(team_id)
                await directory.replace_members(deps.db, team_id=team_id, members=members, now=now)
                log.info("slack: member directory of team %s read: %d people", team_id, len(members))
            # Work that arrives while earlier work runs is taken in the next round.
            while not self._stopping and (waiting := self._waiting.pop(team_id, None)):
                for request_id, work in waiting.values():
                    if self._stopping:
                        break
                    own = REQUEST_ID.set(request_id)
                    try:
                        await work()
                    except Exception:
                        log.warning("work waiting for the member directory of team %s failed", team_id,
                                    exc_info=True)
                    finally:
                        REQUEST_ID.reset(own)
        except Exception as exc:
            detail = _why(exc)
            log.warning("could not read the member directory of team %s (%s); the next meeting that needs it "
                        "tries again", team_id, detail, exc_info=detail is None)
        finally:
            # Here, not in a done callback: `after` must never find a finished read still listed.
            if self._reads.get(team_id) is asyncio.current_task():
                del self._reads[team_id]

    async def stop(self, timeout: float = 10.0) -> None:
        """With the workers (bot/delivery/workers.py): reads still asking Slack are cancelled; one
        storing what it read, or running the work after it, finishes that (cancelling mid-query can
        leave a database connection stuck) and is cancelled only after `timeout`. Work still waiting
        is dropped: those todos stay undecided until their meeting is processed again."""
        self._stopping = True
        try:
            reads = dict(self._reads)
            for team_id, task in reads.items():
                if team_id in self._in_slack:
                    task.cancel()
            if reads:
                _done, pending = await asyncio.wait(reads.values(), timeout=timeout)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*reads.values(), return_exceptions=True)
            self._waiting.clear()
        finally:
            self._stopping = False  # a read asked for later (deps still in use) starts afresh


def _why(exc: Exception) -> str | None:
    """What went wrong in words that carry no secret; None for a bug (then the traceback is logged)."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        return f"Slack answered {data.get('error') or getattr(exc.response, 'status_code', '?')}"
    if isinstance(exc, (aiohttp.ClientError, TimeoutError, StillRateLimited, NotInstalled)):
        return type(exc).__name__
    return None
