"""The scheduled jobs of a running server (APScheduler in the event loop). Every replica runs a
scheduler; each job body takes its own leader lock (leader.py), so only one replica does the work."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery.approvals import auto_approve
from bot.jobs.directory import refresh_directories
from bot.jobs.followups import run_followups
from bot.jobs.reconcile import RECONCILE_EVERY, SLICES, reconcile_slice
from bot.jobs.retention import run_retention
from bot.jobs.zones import refresh_zones

FOLLOWUPS_EVERY = timedelta(minutes=5)
AUTO_APPROVE_EVERY = timedelta(minutes=5)
RETENTION_EVERY = timedelta(minutes=10)
ZONES_EVERY = timedelta(hours=1)

__all__ = ["RECONCILE_EVERY", "start_scheduler"]


def start_scheduler(deps, *, reconcile_every: timedelta = RECONCILE_EVERY) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    common = dict(replace_existing=True, coalesce=True, max_instances=1)
    # Each run takes one slice of the connections: every connection comes round once per
    # `reconcile_every`, and the provider calls are spread over it instead of bunched.
    scheduler.add_job(reconcile_slice, "interval", seconds=reconcile_every.total_seconds() / SLICES,
                      args=[deps], kwargs={"every": reconcile_every}, id="reconcile", misfire_grace_time=60,
                      **common)
    # Reminders and recaps check every five minutes whose 9 o'clock it is (each in their own zone).
    scheduler.add_job(run_followups, "interval", seconds=FOLLOWUPS_EVERY.total_seconds(), args=[deps],
                      id="followups", misfire_grace_time=240, **common)
    scheduler.add_job(run_retention, "interval", seconds=RETENTION_EVERY.total_seconds(), args=[deps],
                      id="retention", misfire_grace_time=300, **common)
    scheduler.add_job(refresh_zones, "interval", seconds=ZONES_EVERY.total_seconds(), args=[deps],
                      id="member-zones", misfire_grace_time=600, **common)
    scheduler.add_job(refresh_directories, "interval", seconds=ZONES_EVERY.total_seconds(), args=[deps],
                      id="member-directories", misfire_grace_time=600, **common)
    # Held meetings whose rule approves them after N hours. Each approval is one conditional UPDATE,
    # so replicas running this together still approve a meeting once; no leader lock needed.
    scheduler.add_job(auto_approve, "interval", seconds=AUTO_APPROVE_EVERY.total_seconds(), args=[deps],
                      id="auto_approve", misfire_grace_time=240, **common)
    scheduler.start()
    return scheduler
