"""Follow-up run keys: ("reminder", team, user, local date) or ("recap", team, channel, ISO week),
stored under a unique constraint before the message goes to the outbox, so a second replica or a
restart at 9:00:30 never queues a second one."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.store.db import Database
from bot.store.models import FollowupRun, SlackMessage


async def claim_run(db: Database, *, kind: str, team_id: str, subject: str, period: str,
                    connection_id: int) -> FollowupRun | None:
    """Store the run's key before its message is queued. None when that message was queued
    already (by another replica, or by this job before a restart); a key stored by a run that
    died before queueing is handed back, so the message is queued once after all."""
    where = (FollowupRun.kind == kind, FollowupRun.team_id == team_id, FollowupRun.subject == subject,
             FollowupRun.period == period)
    async with db.session() as session:
        run = (await session.exec(select(FollowupRun).where(*where))).first()
    if run is None:
        try:
            async with db.session() as session:
                run = FollowupRun(kind=kind, team_id=team_id, subject=subject, period=period,
                                  connection_id=connection_id)
                session.add(run)
                await session.flush()
                await session.refresh(run)
        except IntegrityError:
            return None  # another process stored it a moment ago and queues it
    return run if run.message_id is None else None


async def mark_queued(db: Database, run: FollowupRun, message: SlackMessage) -> None:
    async with db.session() as session:
        await session.exec(update(FollowupRun).where(FollowupRun.id == run.id).values(message_id=message.id))
