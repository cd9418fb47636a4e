"""Follow-up run keys: ("reminder", team, user, local date) or ("recap", team, channel, ISO week),
stored under a unique constraint before the message goes to the outbox, so a second replica or a
restart at 9:00:30 never queues a second one."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.store.db import Database
from bot.store.models import FollowupRun, SlackMessage, utcnow


async def claim_run(db: Database, *, kind: str, team_id: str, subject: str, period: str,
                    connection_id: int) -> FollowupRun | None:
    """Store the run's key before its message is queued. None when that message was queued
    already (by another replica, or by this job before a restart); a key stored by a run that
    died before queueing is handed back, so the message is queued once after all. A new key
    (every one at a busy 9:00) costs one statement."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    key = dict(kind=kind, team_id=team_id, subject=subject, period=period)
    statement = (insert(FollowupRun).values(**key, connection_id=connection_id, created_at=utcnow())
                 .on_conflict_do_nothing(index_elements=list(key)).returning(FollowupRun))
    async with db.session() as session:
        run = (await session.scalars(statement.execution_options(synchronize_session=False))).first()
        if run is None:  # stored before: queued already, or by a run that died before queueing
            run = (await session.exec(select(FollowupRun).where(
                *(getattr(FollowupRun, k) == v for k, v in key.items())))).first()
    return run if run is not None and run.message_id is None else None


async def mark_queued(db: Database, run: FollowupRun, message: SlackMessage) -> None:
    async with db.session() as session:
        await session.exec(update(FollowupRun).where(col(FollowupRun.id) == run.id).values(message_id=message.id))
