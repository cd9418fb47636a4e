"""Member directories read again from Slack once a day (bot/slack/directory.py): hourly, on one
replica, the workspaces whose copy is over a day old, a few per run, so the users.list pages of
many workspaces are spread over the day instead of landing on a digest that waits for them."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import col, select

from bot.jobs.leader import DIRECTORY_LOCK, leader
from bot.services.directory import REFRESH_AFTER
from bot.slack.directory import refresh_directory
from bot.store.models import MemberDirectory, utcnow

log = logging.getLogger(__name__)

PER_RUN = 20


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
