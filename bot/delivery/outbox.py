"""The Slack message outbox. A message's wanted content is stored first; the sender then posts
it (no `ts` yet) or edits it with chat.update (content changed), at Slack's pace.

The unique (connection, meeting, channel, kind) key is what keeps a meeting from being posted
twice: a re-export or late data only changes the stored content, and the same row is edited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, literal_column, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from bot.store.db import Database
from bot.store.models import SlackMessage, utcnow
from bot.store.states import MessageKind, MessageState

# How long a claim holds without renewal; the server renews its claims every third of it while the
# Slack call is under way (bot/delivery/workers.py), so a crashed replica holds messages that long.
LEASE = timedelta(seconds=15)
MAX_ATTEMPTS = 8


def content_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def want(db: Database, *, connection_id: int, team_id: str, meeting_id: str, channel: str, kind: str,
               payload: dict, priority: int = 0, parent_id: int | None = None, title: str | None = None,
               todo_refs: list[str] | None = None) -> SlackMessage:
    """Record what a message should say. Unchanged content changes nothing; changed content is
    queued for posting or editing, a dead message gets another chance. `title` (a digest's
    meeting title) and `todo_refs` (the todos a reminder shows) are kept for the jobs that come
    back to the message later, so they never parse its rendered blocks."""
    digest = content_hash(payload)
    body = json.dumps(payload)
    now = utcnow()
    kept = {k: v for k, v in (("title", title and title[:500]),
                              ("todo_refs", None if todo_refs is None else json.dumps(todo_refs))) if v is not None}
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    identity = dict(connection_id=connection_id, meeting_id=meeting_id, channel=channel, kind=kind)
    async with db.session() as session:
        await session.exec(insert(SlackMessage).values(
            **identity, **kept, team_id=team_id, priority=priority, parent_id=parent_id, payload=body,
            content_hash=digest, state=MessageState.ACTIVE, attempts=0, next_attempt_at=now, created_at=now,
            updated_at=now,
        ).on_conflict_do_nothing(index_elements=list(identity)))
        await session.exec(
            update(SlackMessage)
            .where(*(getattr(SlackMessage, k) == v for k, v in identity.items()),
                   col(SlackMessage.content_hash) != digest)
            .values(payload=body, content_hash=digest, state=MessageState.ACTIVE, attempts=0, next_attempt_at=now,
                    updated_at=now, last_error=None, priority=priority, **kept))
        row = (await session.exec(select(SlackMessage).where(
            *(getattr(SlackMessage, k) == v for k, v in identity.items())))).one()
    return row


async def find(db: Database, *, connection_id: int, meeting_id: str, channel: str, kind: str) -> SlackMessage | None:
    async with db.session() as session:
        return (await session.exec(select(SlackMessage).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            SlackMessage.channel == channel, SlackMessage.kind == kind))).first()


async def digested_pairs(db: Database, listings: dict[int, list[str]]) -> set[tuple[int, str]]:
    """Which (connection, meeting) of these providers' listings have a digest: one query for
    many connections' listings (reconcile)."""
    meeting_ids = sorted({m for ids in listings.values() for m in ids})
    if not meeting_ids:
        return set()
    async with db.session() as session:
        rows = (await session.exec(select(SlackMessage.connection_id, SlackMessage.meeting_id).where(
            col(SlackMessage.connection_id).in_(sorted(listings)), col(SlackMessage.meeting_id).in_(meeting_ids),
            col(SlackMessage.kind) == MessageKind.DIGEST))).all()
    return {(c, m) for c, m in rows if m in listings.get(c, ())}


async def has_digest(db: Database, *, connection_id: int, meeting_id: str) -> bool:
    async with db.session() as session:
        return (await session.exec(select(SlackMessage.id).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            SlackMessage.kind == MessageKind.DIGEST))).first() is not None


def _unsent():
    # Literals, word for word the condition of the partial index ix_slack_messages_unsent
    # (models.UNSENT): PostgreSQL matches a partial index to a query by its text, and a bound
    # parameter for 'active' would make it read every message ever sent.
    return and_(SlackMessage.state == literal_column(f"'{MessageState.ACTIVE}'"),
                or_(SlackMessage.sent_hash.is_(None), SlackMessage.sent_hash != SlackMessage.content_hash))


def _parent_ready():
    # A thread reply waits until its parent (the digest) has a ts to thread under. Written as "no
    # parent without a ts" so PostgreSQL answers it from the small partial index of unposted
    # rows (ix_slack_messages_unposted) instead of hashing every message ever sent.
    parent = aliased(SlackMessage)
    return ~select(parent.id).where(parent.id == SlackMessage.parent_id,
                                    parent.ts.is_(None)).exists()


def _due_condition(now):
    unlocked = or_(SlackMessage.locked_until.is_(None), SlackMessage.locked_until < now)
    return and_(_unsent(), unlocked, SlackMessage.next_attempt_at <= now, _parent_ready())


async def due(db: Database, *, limit: int = 200,
              skip_channels: set[str] | frozenset[str] = frozenset()) -> list[SlackMessage]:
    """Messages waiting to be sent, most important first (digests before thread replies)."""
    now = utcnow()
    query = select(SlackMessage).where(_due_condition(now))
    if skip_channels:
        query = query.where(col(SlackMessage.channel).not_in(skip_channels))
    query = query.order_by(col(SlackMessage.priority), col(SlackMessage.id)).limit(limit)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def next_due_at(db: Database, *, skip_channels: AbstractSet[str] = frozenset(),
                      look_at: int = 1000) -> datetime | None:
    """When the earliest message that could be sent comes due (its retry time, or the end of
    another worker's claim), leaving out channels the sender is pacing or busy with; None when
    nothing waits. The sender sleeps until then, or until something wakes it.

    Only the first `look_at` unsent messages (in sending order) are looked at: read in the
    order of the partial index, the query costs what is waiting, never a scan of every message
    (PostgreSQL cannot tell how few rows `sent_hash <> content_hash` leaves, and without the
    order and limit it reads the whole table). With more than that waiting the sender is busy
    anyway, and each finished send wakes it."""
    lease_end = func.coalesce(SlackMessage.locked_until, SlackMessage.next_attempt_at)
    later = (func.greatest if db.engine.dialect.name == "postgresql" else func.max)(
        SlackMessage.next_attempt_at, lease_end)
    waiting = select(later.label("due_at")).where(_unsent(), _parent_ready())
    if skip_channels:
        waiting = waiting.where(col(SlackMessage.channel).not_in(skip_channels))
    first = waiting.order_by(col(SlackMessage.priority), col(SlackMessage.id)).limit(look_at).subquery()
    async with db.session() as session:
        value = (await session.exec(select(func.min(first.c.due_at)))).first()
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def has_due(db: Database) -> bool:
    """Whether a message is waiting to be sent right now."""
    async with db.session() as session:
        query = select(col(SlackMessage.id)).where(_due_condition(utcnow())).limit(1)
        return (await session.exec(query)).first() is not None


async def claim(db: Database, message_id: int, *, lease: timedelta = LEASE) -> SlackMessage | None:
    """Take one message for sending, unless another worker or replica already has it."""
    now = utcnow()
    statement = (update(SlackMessage).where(col(SlackMessage.id) == message_id, _due_condition(now))
                 .values(locked_until=now + lease, attempts=SlackMessage.attempts + 1)
                 .returning(SlackMessage))
    async with db.session() as session:
        return (await session.scalars(statement.execution_options(synchronize_session=False))).first()


async def extend_claims(db: Database, message_ids: list[int], *, lease: timedelta = LEASE) -> int:
    """Renew the claims of messages this process is still sending."""
    async with db.session() as session:
        result = await session.exec(update(SlackMessage).where(col(SlackMessage.id).in_(message_ids),
                                                               col(SlackMessage.locked_until).is_not(None))
                                    .values(locked_until=utcnow() + lease))
        return result.rowcount or 0


async def parent_ts(db: Database, message: SlackMessage) -> str | None:
    if message.parent_id is None:
        return None
    async with db.session() as session:
        return (await session.exec(select(SlackMessage.ts).where(SlackMessage.id == message.parent_id))).first()


async def sent(db: Database, message: SlackMessage, *, ts: str | None, thread_ts: str | None, sent_hash: str,
               sent_channel: str | None = None) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(col(SlackMessage.id) == message.id).values(
            ts=ts, thread_ts=thread_ts, sent_hash=sent_hash, sent_at=utcnow(), attempts=0, locked_until=None,
            last_error=None, sent_channel=sent_channel or message.sent_channel or message.channel))


async def retry_later(db: Database, message: SlackMessage, *, delay: timedelta, error: str,
                      count_attempt: bool = True) -> str:
    dead = count_attempt and message.attempts >= MAX_ATTEMPTS
    values: dict[str, object] = dict(locked_until=None, last_error=error[:2000], next_attempt_at=utcnow() + delay)
    if dead:
        values["state"] = MessageState.DEAD
    if not count_attempt:
        values["attempts"] = max(message.attempts - 1, 0)  # Slack's pacing is not the message's fault
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(col(SlackMessage.id) == message.id).values(**values))
    return MessageState.DEAD if dead else MessageState.ACTIVE


async def give_up(db: Database, message: SlackMessage, *, error: str) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(col(SlackMessage.id) == message.id).values(
            state=MessageState.DEAD, locked_until=None, last_error=error[:2000]))


async def release_all_claims(db: Database) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(col(SlackMessage.locked_until).is_not(None))
                           .values(locked_until=None))


async def dead_messages(db: Database, *, team_id: str | None = None, limit: int = 20) -> list[SlackMessage]:
    query = (select(SlackMessage).where(col(SlackMessage.state) == MessageState.DEAD)
             .order_by(col(SlackMessage.id).desc()).limit(limit))
    if team_id:
        query = query.where(SlackMessage.team_id == team_id)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def store_permalink(db: Database, *, message_id: int, team_id: str, permalink: str) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage)
                           .where(col(SlackMessage.id) == message_id, col(SlackMessage.team_id) == team_id)
                           .values(permalink=permalink[:500]))


async def recent_digests(db: Database, *, team_id: str, limit: int = 5) -> list[SlackMessage]:
    """The workspace's latest digests that reached Slack, newest first."""
    query = (select(SlackMessage)
             .where(col(SlackMessage.team_id) == team_id, col(SlackMessage.kind) == MessageKind.DIGEST,
                    col(SlackMessage.ts).is_not(None))
             .order_by(col(SlackMessage.sent_at).desc(), col(SlackMessage.id).desc()).limit(limit))
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def digest_of(db: Database, *, connection_id: int, meeting_id: str) -> SlackMessage | None:
    """The meeting's digest record (the latest, if the channel changed since)."""
    async with db.session() as session:
        return (await session.exec(select(SlackMessage).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            col(SlackMessage.kind) == MessageKind.DIGEST).order_by(col(SlackMessage.id).desc()))).first()


async def digests_of(db: Database, *, connection_id: int, meeting_id: str) -> list[SlackMessage]:
    """Every digest of the meeting, one per channel it went to, in the order they were stored."""
    async with db.session() as session:
        return list((await session.exec(select(SlackMessage).where(
            col(SlackMessage.connection_id) == connection_id, col(SlackMessage.meeting_id) == meeting_id,
            col(SlackMessage.kind) == MessageKind.DIGEST).order_by(col(SlackMessage.id)))).all())
