"""Forgetting what is no longer needed, so storage (and every scan of it) follows the work in
flight, not the history kept. On one replica at a time (a leader lock), every few minutes:

- processed webhook events are deleted after INBOX_RETENTION_DAYS (their bodies were already
  emptied when they were processed: bot/delivery/inbox.py `finish`); dead ones are kept until an
  operator retries or purges them;
- reminder DMs are forgotten after REMINDER_RETENTION_DAYS (a click on one answers that it has
  expired) and recaps after RECAP_RETENTION_DAYS;
- audit entries older than AUDIT_RETENTION_DAYS, and follow-up run keys long past their period.

Deletes go in small batches, each its own short transaction, so webhooks and the sender are
never held up behind a big one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, literal_column
from sqlmodel import col, select

from bot.jobs.leader import RETENTION_LOCK, leader
from bot.store.db import Database
from bot.store.models import AuditEntry, FollowupRun, InboxEvent, SlackMessage, utcnow
from bot.store.states import InboxStatus, MessageKind

BATCH = 1000
KEEP_RUN_KEYS = timedelta(days=60)  # far past any period a run key guards (a day, a week)


@dataclass
class Deleted:
    inbox_events: int = 0
    reminders: int = 0
    recaps: int = 0
    audit_entries: int = 0
    run_keys: int = 0


async def _delete_in_batches(db: Database, table, where, order_by, *, batch: int = BATCH) -> int:
    """Delete the rows `where` holds for, `batch` at a time (oldest first), each batch committed
    on its own."""
    deleted = 0
    while True:
        ids = select(table.id).where(*where).order_by(order_by).limit(batch).scalar_subquery()
        async with db.session() as session:
            result = await session.exec(delete(table).where(table.id.in_(ids)).execution_options(
                synchronize_session=False))
            count = result.rowcount or 0
        deleted += count
        if count < batch:
            return deleted
        await asyncio.sleep(0)  # let the rest of the server have the database between batches


async def purge(db: Database, *, now: datetime, inbox_days: int, reminder_days: int, recap_days: int,
                audit_days: int, batch: int = BATCH) -> Deleted:
    done = Deleted()
    # Literals, so the partial indexes of models.py (processed events, follow-up messages) serve these.
    done.inbox_events = await _delete_in_batches(
        db, InboxEvent, (col(InboxEvent.status).in_([literal_column(f"'{InboxStatus.DONE}'"),
                                                      literal_column(f"'{InboxStatus.IGNORED}'")]),
                         col(InboxEvent.received_at) < now - timedelta(days=inbox_days)),
        col(InboxEvent.received_at), batch=batch)
    done.reminders = await _delete_in_batches(
        db, SlackMessage, (SlackMessage.kind == literal_column(f"'{MessageKind.REMINDER}'"),
                           SlackMessage.created_at < now - timedelta(days=reminder_days)),
        SlackMessage.created_at, batch=batch)
    done.recaps = await _delete_in_batches(
        db, SlackMessage, (SlackMessage.kind == literal_column(f"'{MessageKind.RECAP}'"),
                           SlackMessage.created_at < now - timedelta(days=recap_days)),
        SlackMessage.created_at, batch=batch)
    done.audit_entries = await _delete_in_batches(
        db, AuditEntry, (AuditEntry.at < now - timedelta(days=audit_days),), AuditEntry.at, batch=batch)
    done.run_keys = await _delete_in_batches(
        db, FollowupRun, (FollowupRun.created_at < now - KEEP_RUN_KEYS,), FollowupRun.id, batch=batch)
    return done


async def run_retention(deps, now: datetime | None = None) -> Deleted | None:
    """The scheduled job; None when another replica holds the lock."""
    settings = deps.settings
    async with leader(deps.db, RETENTION_LOCK) as is_leader:
        if not is_leader:
            return None
        return await purge(deps.db, now=now or utcnow(), inbox_days=settings.inbox_retention_days,
                           reminder_days=settings.reminder_retention_days,
                           recap_days=settings.recap_retention_days, audit_days=settings.audit_retention_days)
