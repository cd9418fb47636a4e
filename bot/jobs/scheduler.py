"""The scheduled jobs of a running server (APScheduler in the event loop). Every replica runs a
scheduler; each job body takes its own leader lock (leader.py), so only one replica does the work."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery.approvals import auto_approve
from bot.jobs.followups import run_followups
from bot.jobs.reconcile import reconcile_all

RECONCILE_EVERY = timedelta(minutes=15)
FOLLOWUPS_EVERY = timedelta(minutes=5)
AUTO_APPROVE_EVERY = timedelta(minutes=5)


def start_scheduler(deps, *, reconcile_every: timedelta = RECONCILE_EVERY) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(reconcile_all, "interval", seconds=reconcile_every.total_seconds(),
                      args=[deps], id="reconcile", replace_existing=True, coalesce=True,
                      max_instances=1, misfire_grace_time=300)
    # Reminders and recaps check every five minutes whose 9 o'clock it is (each in their own zone).
    scheduler.add_job(run_followups, "interval", seconds=FOLLOWUPS_EVERY.total_seconds(), args=[deps],
                      id="followups", replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=240)
    # Held meetings whose rule approves them after N hours. Each approval is one conditional UPDATE,
    # so replicas running this together still approve a meeting once; no leader lock needed.
    scheduler.add_job(auto_approve, "interval", seconds=AUTO_APPROVE_EVERY.total_seconds(), args=[deps],
                      id="auto_approve", replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=240)
    scheduler.start()
    return scheduler
