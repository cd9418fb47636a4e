"""The follow-ups job, run by the scheduler every few minutes with a clock the caller passes in
(tests control it): morning reminders (bot/jobs/reminders.py) and Monday recaps
(bot/jobs/recaps.py), on one replica at a time (a PostgreSQL advisory lock, bot/jobs/leader.py).
A failure in one workspace, person or channel is logged and the others go on; the sender paces
and retries the messages like digests."""

from __future__ import annotations

from datetime import datetime

from bot.jobs.leader import FOLLOWUPS_LOCK, leader
from bot.jobs.recaps import run_recaps
from bot.jobs.reminders import run_reminders
from bot.store.models import utcnow

LEADER_LOCK = FOLLOWUPS_LOCK


async def run_followups(deps, now: datetime | None = None) -> tuple[int, int]:
    """The scheduled job: reminders and recaps queued, on one replica at a time."""
    now = now or utcnow()
    async with leader(deps.db, LEADER_LOCK) as is_leader:
        if not is_leader:
            return 0, 0  # another replica is on it
        reminders = await run_reminders(deps, now)
        recaps = await run_recaps(deps, now)
    if reminders or recaps:
        deps.outbox_wakeup.set()
    return reminders, recaps
