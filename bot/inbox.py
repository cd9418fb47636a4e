"""The durable webhook inbox: store before the 2xx, claim with a lease, retry with backoff,
dead-letter after the last attempt, and let an operator retry dead events.

Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas never take the same event; SQLite
runs one process. A lease (`locked_until`) means an event claimed by a process that died is
taken again once the lease runs out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlmodel import select
from sqlalchemy.dialects import postgresql, sqlite

from bot.providers.webhooks import WebhookEvent
from bot.store.db import Database
from bot.store.models import Connection, InboxEvent, utcnow

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
# Attempt n waits BASE * FACTOR**(n-1): 10 s, 40 s, 2.7 min, 11 min, 43 min, 2.8 h, 3 h (capped).
BACKOFF_BASE = 10.0
BACKOFF_FACTOR = 4.0
BACKOFF_CAP = 3 * 3600.0


def backoff_delay(attempts: int) -> timedelta:
    delay = min(BACKOFF_BASE * BACKOFF_FACTOR ** max(attempts - 1, 0), BACKOFF_CAP)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class Stored:
    id: int | None
    duplicate: bool


def _insert(db: Database):
    return postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert


async def store(db: Database, *, connection_id: int, team_id: str, provider: str, event: WebhookEvent,
                raw_body: bytes, known: bool, from_webhook: bool = True) -> Stored:
    """Write a verified event; a dedupe key seen before stores nothing and reports a duplicate."""
    now = utcnow()
    values = dict(connection_id=connection_id, team_id=team_id, provider=provider, event_type=event.event_type,
                  dedupe_key=event.dedupe_key, meeting_id=event.meeting_id,
                  payload=raw_body.decode("utf-8", "replace"), status="pending" if known else "ignored",
                  attempts=0, next_attempt_at=now, received_at=now)
    statement = (_insert(db)(InboxEvent).values(**values)
                 .on_conflict_do_nothing(index_elements=["connection_id", "dedupe_key"])
                 .returning(InboxEvent.id))
    async with db.engine.begin() as connection:
        inserted = (await connection.execute(statement)).scalar_one_or_none()
        if not from_webhook:
            return Stored(id=inserted, duplicate=inserted is None)
        # The "last webhook" shown in /meetings status; written at most every few seconds.
        await connection.execute(
            update(Connection)
            .where(Connection.id == connection_id,
                   or_(Connection.last_webhook_at.is_(None), Connection.last_webhook_at < now - timedelta(seconds=5)))
            .values(last_webhook_at=now))
    return Stored(id=inserted, duplicate=inserted is None)


async def claim(db: Database, *, limit: int = 10, lease: timedelta = LEASE) -> list[InboxEvent]:
    """Take up to `limit` due events (pending and due, or claimed by a process whose lease ran out)."""
    now = utcnow()
    due = or_(and_(InboxEvent.status == "pending", InboxEvent.next_attempt_at <= now),
              and_(InboxEvent.status == "processing", InboxEvent.locked_until < now))
    candidates = select(InboxEvent.id).where(due).order_by(InboxEvent.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (update(InboxEvent).where(InboxEvent.id.in_(candidates.scalar_subquery()))
                 .values(status="processing", locked_until=now + lease, attempts=InboxEvent.attempts + 1)
                 .returning(InboxEvent))
    async with db.session() as session:
        result = await session.scalars(statement.execution_options(synchronize_session=False))
        return sorted(result.all(), key=lambda e: e.id)


async def finish(db: Database, event_id: int, *, note: str | None = None) -> None:
    async with db.session() as session:
        await session.exec(update(InboxEvent).where(InboxEvent.id == event_id).values(
            status="done", processed_at=utcnow(), locked_until=None, last_error=note))


async def fail(db: Database, event: InboxEvent, error: str, *, permanent: bool = False) -> str:
    """Schedule a retry, or dead-letter the event; returns the new status."""
    dead = permanent or event.attempts >= MAX_ATTEMPTS
    values = dict(status="dead" if dead else "pending", locked_until=None, last_error=error[:2000])
    if not dead:
        values["next_attempt_at"] = utcnow() + backoff_delay(event.attempts)
    async with db.session() as session:
        await session.exec(update(InboxEvent).where(InboxEvent.id == event.id).values(**values))
    return values["status"]


async def release_all_claims(db: Database) -> int:
    """At start-up of the only process (SQLite): events it held when it died are due again now."""
    async with db.session() as session:
        result = await session.exec(update(InboxEvent).where(InboxEvent.status == "processing")
                                    .values(status="pending", locked_until=None, next_attempt_at=utcnow()))
        return result.rowcount or 0


async def retry(db: Database, *, event_ids: list[int] | None = None, team_id: str | None = None) -> int:
    """Put dead events back in the queue (all of them, or the ones named); returns how many."""
    query = update(InboxEvent).where(InboxEvent.status == "dead")
    if event_ids:
        query = query.where(InboxEvent.id.in_(event_ids))
    if team_id:
        query = query.where(InboxEvent.team_id == team_id)
    async with db.session() as session:
        result = await session.exec(query.values(status="pending", attempts=0, next_attempt_at=utcnow(),
                                                 locked_until=None))
        return result.rowcount or 0


async def list_events(db: Database, *, status: str | None = None, team_id: str | None = None,
                      limit: int = 50) -> list[InboxEvent]:
    query = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
    if status:
        query = query.where(InboxEvent.status == status)
    if team_id:
        query = query.where(InboxEvent.team_id == team_id)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def counts(db: Database, *, team_id: str | None = None) -> dict[str, int]:
    query = select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
    if team_id:
        query = query.where(InboxEvent.team_id == team_id)
    async with db.session() as session:
        return {status: count for status, count in (await session.exec(query)).all()}


