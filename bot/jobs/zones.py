"""Members' stored time zones, read again from Slack once a day (people travel and move; the
`user_change` event catches most of it at once, this catches the rest). Hourly, on one replica,
a bounded number of the oldest rows, so the users.info calls are spread over the day."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.jobs.leader import ZONES_LOCK, leader
from bot.services import timezones
from bot.slack import members
from bot.store.models import utcnow

REFRESH_AFTER = timedelta(days=1)
PER_RUN = 500


async def refresh_zones(deps, now: datetime | None = None, *, limit: int = PER_RUN) -> int:
    now = now or utcnow()
    async with leader(deps.db, ZONES_LOCK) as is_leader:
        if not is_leader:
            return 0
        stale = await timezones.stale(deps.db, before=now - REFRESH_AFTER, limit=limit)
        return await members.learn_missing(deps, stale, now=now)
