"""The workspace's member directory as the bot keeps it, for matching owner names: members' real
and display names (read with users.list, at most once a day, by bot/slack/directory.py),
users.lookupByEmail answers (kept a day, the address only as a hash), aliases people set, and
the names members said Not me to. No Slack here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.services.owner_hints import name_key
from bot.store.db import Database
from bot.store.models import EmailLookup, MemberDirectory, OwnerAlias, OwnerRejection, SlackMember

REFRESH_AFTER = timedelta(days=1)
CHUNK = 500


@dataclass(frozen=True)
class Member:
    user_id: str
    real_name: str
    display_name: str


def member_from_slack(user: dict) -> Member | None:
    """A users.list member worth matching names against: people, not bots, deleted accounts or Slackbot."""
    if not isinstance(user, dict) or user.get("deleted") or user.get("is_bot") or user.get("id") == "USLACKBOT":
        return None
    user_id = str(user.get("id") or "")
    if not user_id:
        return None
    profile: dict = user["profile"] if isinstance(user.get("profile"), dict) else {}
    real = str(profile.get("real_name") or user.get("real_name") or "")[:255]
    display = str(profile.get("display_name") or "")[:255]
    return Member(user_id=user_id[:32], real_name=real, display_name=display)


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _insert(db: Database):
    return postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert


# --------------------------------------------------------------------------- the directory

async def directory_age(db: Database, *, team_id: str, now: datetime) -> timedelta | None:
    """How long ago the directory was read in full; None when never."""
    async with db.session() as session:
        row = await session.get(MemberDirectory, team_id)
    return None if row is None else now - row.refreshed_at


async def needs_refresh(db: Database, *, team_id: str, now: datetime) -> bool:
    age = await directory_age(db, team_id=team_id, now=now)
    return age is None or age >= REFRESH_AFTER


async def replace_members(db: Database, *, team_id: str, members: list[Member], now: datetime) -> None:
    """Store a full read of the directory: members upserted, the ones no longer listed dropped."""
    insert = _insert(db)
    async with db.session() as session:
        for start in range(0, len(members), CHUNK):
            rows = [dict(team_id=team_id, user_id=m.user_id, real_name=m.real_name, display_name=m.display_name,
                         real_key=name_key(m.real_name)[:255], display_key=name_key(m.display_name)[:255],
                         refreshed_at=now) for m in members[start:start + CHUNK]]
            statement = insert(SlackMember).values(rows)
            await session.exec(statement.on_conflict_do_update(
                index_elements=["team_id", "user_id"],
                set_=dict(real_name=statement.excluded.real_name, display_name=statement.excluded.display_name,
                          real_key=statement.excluded.real_key, display_key=statement.excluded.display_key,
                          refreshed_at=statement.excluded.refreshed_at)))
        await session.exec(delete(SlackMember).where(col(SlackMember.team_id) == team_id,
                                                     col(SlackMember.refreshed_at) < now))
        statement = insert(MemberDirectory).values(team_id=team_id, refreshed_at=now, members=len(members))
        await session.exec(statement.on_conflict_do_update(
            index_elements=["team_id"], set_=dict(refreshed_at=now, members=len(members))))


async def by_real_name(db: Database, *, team_id: str, name: str) -> list[str]:
    key = name_key(name)
    if not key:
        return []
    async with db.session() as session:
        return list((await session.exec(select(SlackMember.user_id).where(
            SlackMember.team_id == team_id, SlackMember.real_key == key).limit(5))).all())


async def by_display_name(db: Database, *, team_id: str, name: str) -> list[str]:
    key = name_key(name.lstrip("@"))
    if not key:
        return []
    async with db.session() as session:
        return list((await session.exec(select(SlackMember.user_id).where(
            SlackMember.team_id == team_id, SlackMember.display_key == key).limit(5))).all())


async def member_names(db: Database, *, team_id: str, user_ids: list[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    async with db.session() as session:
        rows = (await session.exec(select(SlackMember).where(
            SlackMember.team_id == team_id, col(SlackMember.user_id).in_(user_ids)))).all()
    return {r.user_id: r.real_name or r.display_name for r in rows}


async def is_member(db: Database, *, team_id: str, user_id: str) -> bool:
    async with db.session() as session:
        return await session.get(SlackMember, (team_id, user_id)) is not None


# --------------------------------------------------------------------------- email lookups

async def cached_email(db: Database, *, team_id: str, email: str, now: datetime) -> tuple[bool, str | None]:
    """(known, user id): known is False when the address was not looked up in the last day."""
    async with db.session() as session:
        row = await session.get(EmailLookup, (team_id, email_hash(email)))
    if row is None or now - row.looked_up_at >= REFRESH_AFTER:
        return False, None
    return True, row.user_id


async def store_email(db: Database, *, team_id: str, email: str, user_id: str | None, now: datetime) -> None:
    statement = _insert(db)(EmailLookup).values(team_id=team_id, email_hash=email_hash(email), user_id=user_id,
                                                looked_up_at=now)
    async with db.session() as session:
        await session.exec(statement.on_conflict_do_update(index_elements=["team_id", "email_hash"],
                                                           set_=dict(user_id=user_id, looked_up_at=now)))


# --------------------------------------------------------------------------- aliases and Not me

async def set_alias(db: Database, *, team_id: str, name: str, user_id: str, created_by: str,
                    now: datetime) -> str:
    """`name` means `user_id` from now on (replacing an earlier alias of that name); returns the
    key the name is matched by. A Not me the member gave for that name is forgotten."""
    key = name_key(name)
    if not key:
        raise ValueError("an alias needs a name with letters or digits")
    statement = _insert(db)(OwnerAlias).values(team_id=team_id, name_key=key, name=name[:120], user_id=user_id,
                                               created_by=created_by, created_at=now)
    async with db.session() as session:
        await session.exec(statement.on_conflict_do_update(
            index_elements=["team_id", "name_key"],
            set_=dict(name=name[:120], user_id=user_id, created_by=created_by, created_at=now)))
        await session.exec(delete(OwnerRejection).where(col(OwnerRejection.team_id) == team_id,
                                                        col(OwnerRejection.name_key) == key,
                                                        col(OwnerRejection.user_id) == user_id))
    return key


async def alias_of(db: Database, *, team_id: str, name: str) -> OwnerAlias | None:
    key = name_key(name)
    if not key:
        return None
    async with db.session() as session:
        return await session.get(OwnerAlias, (team_id, key))


async def reject(db: Database, *, team_id: str, name: str, user_id: str, now: datetime) -> None:
    """The member said Not me to a todo suggested to them from `name`."""
    key = name_key(name)
    if not key:
        return
    statement = _insert(db)(OwnerRejection).values(team_id=team_id, name_key=key, user_id=user_id, created_at=now)
    async with db.session() as session:
        await session.exec(statement.on_conflict_do_nothing(index_elements=["team_id", "name_key", "user_id"]))
        # An alias pointing the name at them is wrong too.
        await session.exec(delete(OwnerAlias).where(col(OwnerAlias.team_id) == team_id,
                                                    col(OwnerAlias.name_key) == key,
                                                    col(OwnerAlias.user_id) == user_id))


async def rejected(db: Database, *, team_id: str, names: list[str]) -> set[tuple[str, str]]:
    """(name key, user id) pairs members said Not me to, among these names."""
    keys = [k for k in {name_key(n) for n in names} if k]
    if not keys:
        return set()
    async with db.session() as session:
        rows = (await session.exec(select(OwnerRejection).where(
            OwnerRejection.team_id == team_id, or_(*(col(OwnerRejection.name_key) == k for k in keys))))).all()
    return {(r.name_key, r.user_id) for r in rows}
