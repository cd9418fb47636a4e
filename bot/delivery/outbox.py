"""The Slack message outbox. A message's wanted content is stored first; the sender then posts
it (no `ts` yet) or edits it with chat.update (content changed), at Slack's pace.

The unique (connection, meeting, channel, kind) key is what keeps a meeting from being posted
twice: a re-export or late data only changes the stored content, and the same row is edited.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from bot.store.db import Database
from bot.store.models import SlackMessage, utcnow

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8


def content_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def want(db: Database, *, connection_id: int, team_id: str, meeting_id: str, channel: str, kind: str,
               payload: dict, priority: int = 0, parent_id: int | None = None) -> SlackMessage:
    """Record what a message should say. Unchanged content changes nothing; changed content is
    queued for posting or editing, a dead message gets another chance."""
    digest = content_hash(payload)
    body = json.dumps(payload)
    now = utcnow()
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    identity = dict(connection_id=connection_id, meeting_id=meeting_id, channel=channel, kind=kind)
    async with db.session() as session:
        await session.exec(insert(SlackMessage).values(
            **identity, team_id=team_id, priority=priority, parent_id=parent_id, payload=body,
            content_hash=digest, state="active", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=list(identity)))
        await session.exec(
            update(SlackMessage)
            .where(*(getattr(SlackMessage, k) == v for k, v in identity.items()), SlackMessage.content_hash != digest)
            .values(payload=body, content_hash=digest, state="active", attempts=0, next_attempt_at=now,
                    updated_at=now, last_error=None, priority=priority))
        row = (await session.exec(select(SlackMessage).where(
            *(getattr(SlackMessage, k) == v for k, v in identity.items())))).one()
    return row


async def find(db: Database, *, connection_id: int, meeting_id: str, channel: str, kind: str) -> SlackMessage | None:
    async with db.session() as session:
        return (await session.exec(select(SlackMessage).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            SlackMessage.channel == channel, SlackMessage.kind == kind))).first()


async def has_digest(db: Database, *, connection_id: int, meeting_id: str) -> bool:
    async with db.session() as session:
        return (await session.exec(select(SlackMessage.id).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            SlackMessage.kind == "digest"))).first() is not None


def _due_condition(now):
    parent = aliased(SlackMessage)
    stale = or_(SlackMessage.sent_hash.is_(None), SlackMessage.sent_hash != SlackMessage.content_hash)
    unlocked = or_(SlackMessage.locked_until.is_(None), SlackMessage.locked_until < now)
    # A thread reply waits until its parent (the digest) has a ts to thread under.
    parent_ready = or_(SlackMessage.parent_id.is_(None),
                       select(parent.id).where(parent.id == SlackMessage.parent_id, parent.ts.is_not(None)).exists())
    return and_(SlackMessage.state == "active", stale, unlocked, SlackMessage.next_attempt_at <= now, parent_ready)


async def due(db: Database, *, limit: int = 200, skip_channels: set[str] = frozenset()) -> list[SlackMessage]:
    """Messages waiting to be sent, most important first (digests before thread replies)."""
    now = utcnow()
    query = select(SlackMessage).where(_due_condition(now))
    if skip_channels:
        query = query.where(SlackMessage.channel.not_in(skip_channels))
    query = query.order_by(SlackMessage.priority, SlackMessage.id).limit(limit)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def claim(db: Database, message_id: int, *, lease: timedelta = LEASE) -> SlackMessage | None:
    """Take one message for sending, unless another worker or replica already has it."""
    now = utcnow()
    statement = (update(SlackMessage).where(SlackMessage.id == message_id, _due_condition(now))
                 .values(locked_until=now + lease, attempts=SlackMessage.attempts + 1)
                 .returning(SlackMessage))
    async with db.session() as session:
        return (await session.scalars(statement.execution_options(synchronize_session=False))).first()


async def parent_ts(db: Database, message: SlackMessage) -> str | None:
    if message.parent_id is None:
        return None
    async with db.session() as session:
        return (await session.exec(select(SlackMessage.ts).where(SlackMessage.id == message.parent_id))).first()


async def sent(db: Database, message: SlackMessage, *, ts: str, thread_ts: str | None, sent_hash: str,
               sent_channel: str | None = None) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(SlackMessage.id == message.id).values(
            ts=ts, thread_ts=thread_ts, sent_hash=sent_hash, sent_at=utcnow(), attempts=0, locked_until=None,
            last_error=None, sent_channel=sent_channel or message.sent_channel or message.channel))


async def retry_later(db: Database, message: SlackMessage, *, delay: timedelta, error: str,
                      count_attempt: bool = True) -> str:
    dead = count_attempt and message.attempts >= MAX_ATTEMPTS
    values = dict(locked_until=None, last_error=error[:2000], next_attempt_at=utcnow() + delay)
    if dead:
        values["state"] = "dead"
    if not count_attempt:
        values["attempts"] = max(message.attempts - 1, 0)  # Slack's pacing is not the message's fault
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(SlackMessage.id == message.id).values(**values))
    return "dead" if dead else "active"


async def give_up(db: Database, message: SlackMessage, *, error: str) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(SlackMessage.id == message.id).values(
            state="dead", locked_until=None, last_error=error[:2000]))


async def release_all_claims(db: Database) -> None:
    async with db.session() as session:
        await session.exec(update(SlackMessage).where(SlackMessage.locked_until.is_not(None))
                           .values(locked_until=None))


async def dead_messages(db: Database, *, team_id: str | None = None, limit: int = 20) -> list[SlackMessage]:
    query = select(SlackMessage).where(SlackMessage.state == "dead").order_by(SlackMessage.id.desc()).limit(limit)
    if team_id:
        query = query.where(SlackMessage.team_id == team_id)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def recent_digests(db: Database, *, team_id: str, limit: int = 5) -> list[SlackMessage]:
    """The workspace's latest digests that reached Slack, newest first."""
    query = (select(SlackMessage)
             .where(SlackMessage.team_id == team_id, SlackMessage.kind == "digest", SlackMessage.ts.is_not(None))
             .order_by(SlackMessage.sent_at.desc(), SlackMessage.id.desc()).limit(limit))
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def digest_of(db: Database, *, connection_id: int, meeting_id: str) -> SlackMessage | None:
    """The meeting's digest record (the latest, if the channel changed since)."""
    async with db.session() as session:
        return (await session.exec(select(SlackMessage).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            SlackMessage.kind == "digest").order_by(SlackMessage.id.desc()))).first()


async def digests_of(db: Database, *, connection_id: int, meeting_id: str) -> list[SlackMessage]:
    """Every digest of the meeting, one per channel it went to, in the order they were stored."""
    async with db.session() as session:
        return list((await session.exec(select(SlackMessage).where(
            SlackMessage.connection_id == connection_id, SlackMessage.meeting_id == meeting_id,
            SlackMessage.kind == "digest").order_by(SlackMessage.id))).all())
