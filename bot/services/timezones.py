"""Members' time zones, stored: reminders go out at 9:00 in each owner's own zone, and a tick
that finds nobody at 9:00 must cost a couple of queries, not a users.info call per owner.

A zone is stored as a key: an IANA name (`America/Los_Angeles`), `UTC+19800` (an offset in
seconds, when Slack gives no name) or `unknown` (Slack does not know the member: never 9:00).
Rows are written the first time someone owns a todo, refreshed daily (bot/jobs/zones.py) and on
Slack's `user_change` events. No Slack here: the callers ask Slack (bot/slack/members.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.store.db import Database
from bot.store.models import MemberZone, TodoState
from bot.store.states import TodoStatus

UNKNOWN = "unknown"
_OFFSET = "UTC"


def zone_key(name: str | None, offset: int | None = None) -> str:
    """The key to store for what users.info (or a user_change event) says."""
    if name:
        try:
            ZoneInfo(name)
            return name[:64]
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return f"{_OFFSET}{int(offset or 0):+d}"


@lru_cache(maxsize=1024)
def zone_of(key: str | None) -> tzinfo | None:
    """The tzinfo a stored key stands for; None for `unknown`."""
    if not key or key == UNKNOWN:
        return None
    if key.startswith(_OFFSET) and key[len(_OFFSET):][:1] in "+-":
        try:
            return timezone(timedelta(seconds=int(key[len(_OFFSET):])))
        except ValueError:
            return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def at_hour(keys: list[str], now: datetime, hour: int) -> list[str]:
    """The zones among `keys` where it is `hour` o'clock at `now`."""
    return [key for key in keys if (zone := zone_of(key)) is not None and now.astimezone(zone).hour == hour]


async def stored(db: Database, *, team_id: str, user_id: str) -> str | None:
    async with db.session() as session:
        row = await session.get(MemberZone, (team_id, user_id))
    return row.zone if row is not None else None


async def store(db: Database, *, team_id: str, user_id: str, key: str, now: datetime) -> None:
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(MemberZone).values(team_id=team_id, user_id=user_id, zone=key, refreshed_at=now)
    statement = statement.on_conflict_do_update(index_elements=["team_id", "user_id"],
                                                set_=dict(zone=key, refreshed_at=now))
    async with db.session() as session:
        await session.exec(statement)


async def known_zones(db: Database) -> list[str]:
    """Every zone some member is in: a few hundred at most, whatever the number of members."""
    async with db.session() as session:
        return list((await session.exec(select(MemberZone.zone).distinct())).all())


async def owners_without_zone(db: Database, *, limit: int = 500) -> list[tuple[str, str]]:
    """People who own an open todo and whose zone was never read (new owners)."""
    query = (select(TodoState.team_id, TodoState.assignee).distinct()
             .outerjoin(MemberZone, and_(col(MemberZone.team_id) == col(TodoState.team_id),
                                         col(MemberZone.user_id) == col(TodoState.assignee)))
             # A literal, so the partial index of open owned todos serves it (see models.py).
             .where(col(TodoState.status) == literal_column(f"'{TodoStatus.OPEN}'"),
                    col(TodoState.assignee).is_not(None),
                    col(MemberZone.user_id).is_(None))
             .limit(limit))
    async with db.session() as session:
        return [(team, user) for team, user in (await session.exec(query)).all() if user is not None]


async def stale(db: Database, *, before: datetime, limit: int) -> list[tuple[str, str]]:
    """Members whose zone was last read before `before`, oldest first."""
    query = (select(MemberZone.team_id, MemberZone.user_id).where(MemberZone.refreshed_at < before)
             .order_by(col(MemberZone.refreshed_at)).limit(limit))
    async with db.session() as session:
        return [(team, user) for team, user in (await session.exec(query)).all()]
