"""The durable webhook inbox: store before the 2xx, claim with a lease, retry with backoff,
dead-letter after the last attempt, and let an operator retry dead events.

Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas never take the same event; SQLite
runs one process. A lease (`locked_until`) means an event claimed by a process that died is
taken again once the lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, func, literal_column, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import col, select

from bot.providers.webhooks import WebhookEvent
from bot.store.db import Database
from bot.store.models import Connection, InboxEvent, utcnow
from bot.store.states import InboxStatus

log = logging.getLogger(__name__)

# How long a claim holds without renewal: the worker renews it every third of this while it works
# (bot/delivery/workers.py), so this is how long a crashed replica's events wait for another one.
LEASE = timedelta(seconds=15)
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


class Unstorable(ValueError):
    """An event holding text the database cannot keep. Refused on its own, before it joins a batch
    (or, if the database still refuses it, after its batch was retried row by row)."""


# NUL is refused by PostgreSQL's text types; a lone surrogate (U+D800..U+DFFF) cannot be encoded
# as UTF-8 by either driver. The same rule on both databases, so a webhook's fate never depends
# on which one an operator runs.
_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
_INBOX_COLUMNS = InboxEvent.__table__.columns  # type: ignore[attr-defined]
_COLUMN_LENGTHS = {column.name: column.type.length for column in _INBOX_COLUMNS
                   if isinstance(column.type, String) and column.type.length}


def check_storable(row: dict) -> None:
    """Raise Unstorable unless every string in the row fits its column on SQLite and PostgreSQL."""
    for name, value in row.items():
        if not isinstance(value, str):
            continue
        what = "body" if name == "payload" else name.replace("_", " ")
        if _UNSTORABLE_CHARACTERS.search(value):
            raise Unstorable(f"the event's {what} holds a NUL character or a lone UTF-16 surrogate")
        limit = _COLUMN_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            raise Unstorable(f"the event's {what} is longer than {limit} characters")


def _refusal(exc: Exception) -> Exception:
    """What to tell the one caller whose row failed alone: a refusal where the row itself is at fault
    (its text, its length, its connection gone), the error as it is otherwise (the database is down)."""
    if isinstance(exc, (UnicodeError, DataError, IntegrityError)):
        refused = Unstorable(f"the database refused the event ({type(getattr(exc, 'orig', None) or exc).__name__})")
        refused.__cause__ = exc
        return refused
    return exc


def _insert(db: Database):
    return postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert


def _row(*, connection_id: int, team_id: str, provider: str, event: WebhookEvent, raw_body: bytes, known: bool,
         now: datetime, request_id: str | None) -> dict:
    """The inbox row for an event; raises Unstorable for text the database cannot keep. An event the
    bot does not act on keeps its ids and type (what `inbox list` shows) but not its body: nothing
    will read it, and a sender of unknown events must not fill the disk."""
    row = {"connection_id": connection_id, "team_id": team_id, "provider": provider,
           "event_type": event.event_type, "dedupe_key": event.dedupe_key, "meeting_id": event.meeting_id,
           "payload": raw_body.decode("utf-8", "replace") if known else "",
           "status": InboxStatus.PENDING if known else InboxStatus.IGNORED, "attempts": 0, "next_attempt_at": now,
           "received_at": now, "request_id": request_id}
    check_storable(row)
    return row


async def _insert_rows(db: Database, rows: list[dict], *, note_webhook_for: set[int]) -> list[int | None]:
    """Insert in one transaction; each row's new id, or None where its dedupe key was already stored
    (or came earlier in the same batch)."""
    now = utcnow()
    first: dict[tuple[int, str], int] = {}
    for index, row in enumerate(rows):
        first.setdefault((row["connection_id"], row["dedupe_key"]), index)
    unique = [rows[index] for index in sorted(first.values())]
    statement = (_insert(db)(InboxEvent).values(unique)
                 .on_conflict_do_nothing(index_elements=["connection_id", "dedupe_key"])
                 .returning(InboxEvent.id, InboxEvent.connection_id, InboxEvent.dedupe_key))
    async with db.engine.begin() as connection:
        inserted = {(c, k): i for i, c, k in (await connection.execute(statement)).all()}
        if note_webhook_for:
            # The "last webhook" shown in /meetings status, written at most every few seconds.
            await connection.execute(
                update(Connection)
                .where(col(Connection.id).in_(sorted(note_webhook_for)),
                       or_(col(Connection.last_webhook_at).is_(None),
                           col(Connection.last_webhook_at) < now - timedelta(seconds=5)))
                .values(last_webhook_at=now))
    ids: list[int | None] = []
    for index, row in enumerate(rows):
        key = (row["connection_id"], row["dedupe_key"])
        ids.append(inserted.get(key) if first[key] == index else None)
    return ids


async def store(db: Database, *, connection_id: int, team_id: str, provider: str, event: WebhookEvent,
                raw_body: bytes, known: bool, request_id: str | None, from_webhook: bool = True) -> Stored:
    """Write a verified event; a dedupe key seen before stores nothing and reports a duplicate."""
    row = _row(connection_id=connection_id, team_id=team_id, provider=provider, event=event, raw_body=raw_body,
               known=known, now=utcnow(), request_id=request_id)
    (inserted,) = await _insert_rows(db, [row], note_webhook_for={connection_id} if from_webhook else set())
    return Stored(id=inserted, duplicate=inserted is None)


class InboxWriter:
    """Group commit for webhooks: requests that arrive while a write is in flight go together in
    the next transaction. One webhook alone is written at once; under a burst, one INSERT and one
    commit serve dozens of requests instead of one each (each statement costs several round trips
    to the database, the SQLite thread above all). Every caller still gets its answer only after
    its row is committed."""

    MAX_BATCH = 200  # 12 columns a row stays far below SQLite's limit on bound variables

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[dict, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self._noted: dict[int, float] = {}  # connection id → when last_webhook_at was last written

    async def store(self, *, connection_id: int, team_id: str, provider: str, event: WebhookEvent,
                    raw_body: bytes, known: bool, request_id: str | None) -> Stored:
        row = _row(connection_id=connection_id, team_id=team_id, provider=provider, event=event,
                   raw_body=raw_body, known=known, now=utcnow(), request_id=request_id)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        inserted = await asyncio.shield(future)  # a client that hangs up does not cancel its batch
        return Stored(id=inserted, duplicate=inserted is None)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.MAX_BATCH], self._pending[self.MAX_BATCH:]
            now = time.monotonic()
            note = {row["connection_id"] for row, _ in batch if self._noted.get(row["connection_id"], -1e9) < now - 5}
            try:
                ids = await _insert_rows(self.db, [row for row, _ in batch], note_webhook_for=note)
            except Exception as exc:
                if len(batch) > 1:
                    # One bad row fails the whole statement: never let it fail the other requests
                    # (other workspaces' among them). Each row alone, each caller its own answer.
                    log.warning("storing %d webhooks together failed (%s); storing them one by one",
                                len(batch), type(exc).__name__)
                    await self._insert_one_by_one(batch, note)
                elif not batch[0][1].done():
                    batch[0][1].set_exception(_refusal(exc))
                continue
            self._noted.update(dict.fromkeys(note, now))
            for (_, future), inserted in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(inserted)

    async def _insert_one_by_one(self, batch: list[tuple[dict, asyncio.Future]], note: set[int]) -> None:
        for row, future in batch:
            try:
                (inserted,) = await _insert_rows(self.db, [row], note_webhook_for=note & {row["connection_id"]})
            except Exception as exc:
                if not future.done():
                    future.set_exception(_refusal(exc))
                continue
            if not future.done():
                future.set_result(inserted)


def _due(now: datetime):
    """Pending and due, or claimed by a process whose lease ran out."""
    return or_(and_(col(InboxEvent.status) == InboxStatus.PENDING, col(InboxEvent.next_attempt_at) <= now),
               and_(col(InboxEvent.status) == InboxStatus.PROCESSING, col(InboxEvent.locked_until) < now))


async def has_due(db: Database) -> bool:
    """Whether an event is waiting for a worker right now."""
    async with db.session() as session:
        return (await session.exec(select(col(InboxEvent.id)).where(_due(utcnow())).limit(1))).first() is not None


async def claim(db: Database, *, limit: int = 10, lease: timedelta = LEASE) -> list[InboxEvent]:
    """Take up to `limit` due events (pending and due, or claimed by a process whose lease ran out)."""
    now = utcnow()
    candidates = select(col(InboxEvent.id)).where(_due(now)).order_by(col(InboxEvent.id)).limit(limit)
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (update(InboxEvent).where(col(InboxEvent.id).in_(candidates.scalar_subquery()))
                 .values(status=InboxStatus.PROCESSING, locked_until=now + lease, attempts=InboxEvent.attempts + 1)
                 .returning(InboxEvent))
    async with db.session() as session:
        result = await session.scalars(statement.execution_options(synchronize_session=False))
        return sorted(result.all(), key=lambda e: e.id or 0)  # stored rows: never 0


async def extend_claims(db: Database, event_ids: list[int], *, lease: timedelta = LEASE) -> int:
    """Renew the claims this process still works on; returns how many it still held."""
    async with db.session() as session:
        result = await session.exec(update(InboxEvent).where(col(InboxEvent.id).in_(event_ids),
                                                             col(InboxEvent.status) == InboxStatus.PROCESSING)
                                    .values(locked_until=utcnow() + lease))
        return result.rowcount or 0


async def finish(db: Database, event_id: int, *, note: str | None = None) -> None:
    async with db.session() as session:
        # The body (a whole transcript, for some providers) has served its purpose: only the
        # dedupe key must stay, to recognise a redelivery. The retention job deletes the row later.
        await session.exec(update(InboxEvent).where(col(InboxEvent.id) == event_id).values(
            status=InboxStatus.DONE, processed_at=utcnow(), locked_until=None, last_error=note, payload=""))


async def fail(db: Database, event: InboxEvent, error: str, *, permanent: bool = False) -> str:
    """Schedule a retry, or dead-letter the event; returns the new status."""
    dead = permanent or event.attempts >= MAX_ATTEMPTS
    status = InboxStatus.DEAD if dead else InboxStatus.PENDING
    values: dict[str, object] = dict(status=status, locked_until=None, last_error=error[:2000])
    if not dead:
        values["next_attempt_at"] = utcnow() + backoff_delay(event.attempts)
    async with db.session() as session:
        await session.exec(update(InboxEvent).where(col(InboxEvent.id) == event.id).values(**values))
    return status


MAX_NOT_READY = timedelta(hours=6)


async def later(db: Database, event: InboxEvent, *, delay: timedelta, note: str) -> str:
    """Ask again later without using up an attempt (notes still being made); dead-letter once the
    event has waited MAX_NOT_READY. Returns the new status."""
    if utcnow() - event.received_at > MAX_NOT_READY:
        return await fail(db, event, f"still not ready after {MAX_NOT_READY}: {note}", permanent=True)
    async with db.session() as session:
        await session.exec(update(InboxEvent).where(col(InboxEvent.id) == event.id).values(
            status=InboxStatus.PENDING, locked_until=None, last_error=note[:2000], next_attempt_at=utcnow() + delay,
            attempts=InboxEvent.attempts - 1))
    return "waiting"


async def release_all_claims(db: Database) -> int:
    """At start-up of the only process (SQLite): events it held when it died are due again now."""
    async with db.session() as session:
        result = await session.exec(update(InboxEvent).where(col(InboxEvent.status) == InboxStatus.PROCESSING)
                                    .values(status=InboxStatus.PENDING, locked_until=None, next_attempt_at=utcnow()))
        return result.rowcount or 0


async def retry(db: Database, *, event_ids: list[int] | None = None, team_id: str | None = None) -> int:
    """Put dead events back in the queue (all of them, or the ones named); returns how many."""
    query = update(InboxEvent).where(col(InboxEvent.status) == InboxStatus.DEAD)
    if event_ids:
        query = query.where(col(InboxEvent.id).in_(event_ids))
    if team_id:
        query = query.where(col(InboxEvent.team_id) == team_id)
    async with db.session() as session:
        result = await session.exec(query.values(status=InboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                                                 locked_until=None))
        return result.rowcount or 0


async def list_events(db: Database, *, status: str | None = None, team_id: str | None = None,
                      request_id: str | None = None, limit: int = 50) -> list[InboxEvent]:
    query = select(InboxEvent).order_by(col(InboxEvent.id).desc()).limit(limit)
    if status:
        query = query.where(InboxEvent.status == status)
    if team_id:
        query = query.where(InboxEvent.team_id == team_id)
    if request_id:
        # No index: an operator's lookup from a log line, rare enough for a scan of the inbox.
        query = query.where(InboxEvent.request_id == request_id)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def counts(db: Database, *, team_id: str | None = None) -> dict[str, int]:
    query = select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
    if team_id:
        query = query.where(InboxEvent.team_id == team_id)
    async with db.session() as session:
        return {status: count for status, count in (await session.exec(query)).all()}


async def dead_count(db: Database, *, team_id: str) -> int:
    """How many of the team's events are dead-lettered (for /meetings status)."""
    # A literal 'dead', so the partial index ix_inbox_events_dead serves it (see models.py).
    query = select(func.count()).select_from(InboxEvent).where(
        InboxEvent.team_id == team_id, InboxEvent.status == literal_column(f"'{InboxStatus.DEAD}'"))
    async with db.session() as session:
        return (await session.exec(query)).one()
