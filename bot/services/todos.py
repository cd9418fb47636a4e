"""Todo state kept by the bot: done or open, owner, snooze. No Slack here.

Every function that changes a todo takes the acting user's team and finds the todo only within
it, so a crafted button value naming another workspace's todo finds nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.providers.base import Meeting
from bot.services.owner_hints import name_key
from bot.store.db import Database
from bot.store.models import Connection, OwnerRejection, TodoState, utcnow
from bot.store.states import TodoStatus

ACTIONS = ("done", "reopen", "assign", "unassign", "snooze_tomorrow", "snooze_week", "accept", "not_me")
OPEN, DONE, REMOVED = TodoStatus.OPEN, TodoStatus.DONE, TodoStatus.REMOVED


class TodoGone(Exception):
    """The todo (or its meeting or connection) no longer exists, or is not this team's."""


class NotSuggestedToYou(Exception):
    """Accept or Not me from someone the todo is not (or no longer) suggested to."""

    def __init__(self, state: TodoState):
        super().__init__(state.id)
        # plain values: the row is gone with its session once this is raised
        self.confidence, self.suggested_owner = state.owner_confidence, state.suggested_owner


_REF = re.compile(r"t1\.(\d{1,12})\.(\d{1,12})\.([0-9a-f]{8})")


@dataclass(frozen=True)
class TodoRef:
    """What a todo's buttons carry (value, or block_id for the user picker): `t1.<state id>.
    <connection id>.<check>`, under 40 characters. The check is a hash of the meeting id and the
    provider's todo id, so a button whose todo was deleted never acts on a row that later reuses
    its number; the clicking user's team is checked separately, on every click."""

    state_id: int
    connection_id: int
    check: str

    @staticmethod
    def checksum(meeting_id: str, key: str) -> str:
        return hashlib.sha256(f"{meeting_id}\x00{key}".encode()).hexdigest()[:8]

    @classmethod
    def of(cls, state: TodoState) -> TodoRef:
        assert state.id is not None, "a stored todo state"
        return cls(state.id, state.connection_id, cls.checksum(state.meeting_id, state.todo_key))

    @classmethod
    def parse(cls, text: str | None) -> TodoRef | None:
        match = _REF.fullmatch((text or "").strip())
        return cls(int(match.group(1)), int(match.group(2)), match.group(3)) if match else None

    def encode(self) -> str:
        return f"t1.{self.state_id}.{self.connection_id}.{self.check}"

    def names(self, state: TodoState) -> bool:
        return (state.id == self.state_id and state.connection_id == self.connection_id
                and self.check == self.checksum(state.meeting_id, state.todo_key))


@dataclass(frozen=True)
class Change:
    state: TodoState  # as it is after the change
    action: str  # one of ACTIONS: what was done (the Slack layer words it for the person who clicked)


def todo_key(todo_id: str | None, text: str) -> str:
    if todo_id:
        return todo_id[:255]
    return "text:" + hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()[:40]


async def sync_meeting(db: Database, connection: Connection, meeting: Meeting) -> list[TodoState]:
    """Record the meeting's todos as the provider lists them now; what users did is kept.
    Returns the meeting's todo states in the provider's order.

    One INSERT … ON CONFLICT DO UPDATE: two events of one meeting processed at once (a session
    webhook and its export, two replicas) both write the same rows without either failing on
    the unique key and waiting for a retry."""
    assert connection.id is not None, "a stored connection"
    now = utcnow()
    rows: dict[str, dict] = {}
    for position, todo in enumerate(meeting.todos):
        key = todo_key(todo.id, todo.text)
        if key in rows:
            continue  # the same todo twice in one listing
        rows[key] = dict(connection_id=connection.id, team_id=connection.team_id, meeting_id=meeting.id,
                         todo_key=key, meeting_title=(meeting.title or "")[:500], position=position, text=todo.text,
                         due=(todo.due or None) and todo.due[:255], meeting_started_at=meeting.started_at,
                         language=(meeting.language or None) and meeting.language[:16],
                         # Done in the provider before the bot ever saw it; a known todo keeps its status.
                         status=DONE if todo.completed else OPEN, first_seen_at=now, updated_at=now)
    table = TodoState.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    async with db.session() as session:
        for chunk in _chunks(list(rows.values()), 200):
            statement = insert(TodoState).values(chunk)
            listed_again = case(  # removed, then listed again: back as it was
                (table.c.status != REMOVED, table.c.status),
                (or_(table.c.done_by.is_not(None), table.c.done_at.is_not(None)), DONE),
                else_=OPEN)
            await session.exec(statement.on_conflict_do_update(
                index_elements=["connection_id", "meeting_id", "todo_key"],
                set_=dict(meeting_title=statement.excluded.meeting_title, position=statement.excluded.position,
                          text=statement.excluded.text, due=statement.excluded.due,
                          meeting_started_at=statement.excluded.meeting_started_at,
                          language=statement.excluded.language,
                          updated_at=statement.excluded.updated_at, status=listed_again)))
        # Gone from the provider's listing: kept (with what people did) but no longer shown,
        # reminded of or counted; its buttons say it is no longer tracked.
        await session.exec(update(TodoState).where(
            col(TodoState.connection_id) == connection.id, col(TodoState.meeting_id) == meeting.id,
            col(TodoState.todo_key).not_in(list(rows)), col(TodoState.status) != REMOVED)
            .values(status=REMOVED, updated_at=now))
        stored = {s.todo_key: s for s in (await session.exec(select(TodoState).where(
            col(TodoState.connection_id) == connection.id, col(TodoState.meeting_id) == meeting.id)
            .execution_options(populate_existing=True))).all()}
    return [stored[key] for key in rows if key in stored]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def meeting_states(db: Database, *, connection_id: int, meeting_id: str) -> list[TodoState]:
    async with db.session() as session:
        return list((await session.exec(select(TodoState).where(
            TodoState.connection_id == connection_id, TodoState.meeting_id == meeting_id,
            col(TodoState.status) != REMOVED).order_by(col(TodoState.position), col(TodoState.id)))).all())


async def by_refs(db: Database, *, team_id: str, refs: list[TodoRef]) -> list[TodoState]:
    """The team's todos named by these refs, in their order; missing or removed ones are left out."""
    if not refs:
        return []
    async with db.session() as session:
        found = {s.id: s for s in (await session.exec(select(TodoState).where(
            col(TodoState.team_id) == team_id, col(TodoState.id).in_([r.state_id for r in refs])))).all()}
    return [found[r.state_id] for r in refs
            if r.state_id in found and r.names(found[r.state_id]) and found[r.state_id].status != REMOVED]


async def shown_in(db: Database, *, team_id: str, todo_refs: str | None) -> list[TodoState]:
    """The todos an outbox message (a reminder, an owner DM) was drawn with, from the refs stored
    on it, in their order: what a click on it re-renders."""
    try:
        stored = json.loads(todo_refs or "[]")
    except ValueError:
        stored = []
    refs = [ref for ref in map(TodoRef.parse, stored if isinstance(stored, list) else []) if ref is not None]
    return await by_refs(db, team_id=team_id, refs=refs)


async def set_message(db: Database, *, state_ids: list[int], message_id: int) -> None:
    """Record which thread message (outbox row) these todos are shown in."""
    if not state_ids:
        return
    async with db.session() as session:
        await session.exec(update(TodoState).where(col(TodoState.id).in_(state_ids),
                                                   col(TodoState.message_id).is_distinct_from(message_id))
                           .values(message_id=message_id))


async def check(db: Database, *, team_id: str, ref: TodoRef) -> TodoState:
    """The todo `ref` names, if it is this team's and still tracked; TodoGone otherwise."""
    async with db.session() as session:
        state = (await session.exec(select(TodoState).where(TodoState.id == ref.state_id,
                                                            TodoState.team_id == team_id))).first()
    if state is None or not ref.names(state) or state.status == REMOVED:
        raise TodoGone(ref.state_id)
    return state


async def apply(db: Database, *, team_id: str, ref: TodoRef, action: str, user_id: str,
                assignee: str | None = None, snooze_until: datetime | None = None,
                now: datetime | None = None) -> Change:
    """Change one todo for a user of `team_id`. TodoGone when it is not there (for this team).
    `snooze_until`: when a snooze ends (the caller knows the user's time zone); a day or a week
    from now when not given."""
    if action not in ACTIONS:
        raise ValueError(f"unknown todo action {action!r}")
    now = now or utcnow()
    async with db.session() as session:
        state = (await session.exec(select(TodoState).where(TodoState.id == ref.state_id,
                                                            TodoState.team_id == team_id))).first()
        if state is None or not ref.names(state) or state.status == REMOVED:
            raise TodoGone(ref.state_id)
        connection = await session.get(Connection, state.connection_id)
        if connection is None or connection.team_id != team_id:
            raise TodoGone(ref.state_id)
        if action == "done":
            state.status, state.done_by, state.done_at = DONE, user_id, now
        elif action == "reopen":
            state.status, state.done_by, state.done_at = OPEN, None, None
        elif action == "assign":
            state.assignee, state.assigned_by = assignee or user_id, user_id
            state.owner_confidence, state.suggested_owner = "confirmed", None  # a person picked them
        elif action == "unassign":
            state.assignee, state.assigned_by = None, user_id
            state.owner_confidence, state.suggested_owner = "needs_owner", None
        elif action in ("accept", "not_me"):
            if state.owner_confidence != "suggested" or state.suggested_owner != user_id:
                raise NotSuggestedToYou(state)
            if action == "accept":
                state.assignee, state.assigned_by = user_id, user_id
                state.owner_confidence, state.suggested_owner = "confirmed", None
            else:
                state.owner_confidence, state.suggested_owner = "needs_owner", None
                if state.owner_hint:  # never suggest them for this name again
                    await session.merge(OwnerRejection(team_id=team_id, name_key=name_key(state.owner_hint),
                                                       user_id=user_id, created_at=now))
        else:
            days = 1 if action == "snooze_tomorrow" else 7
            state.snoozed_until = snooze_until or now + timedelta(days=days)
        state.updated_at = now
        session.add(state)
        await session.flush()
        await session.refresh(state)
    return Change(state=state, action=action)


async def open_for_owner(db: Database, *, team_id: str, owner: str, limit: int = 100) -> list[TodoState]:
    async with db.session() as session:
        return list((await session.exec(select(TodoState).where(
            TodoState.team_id == team_id, TodoState.assignee == owner, TodoState.status == OPEN)
            .order_by(col(TodoState.updated_at).desc(), col(TodoState.id)).limit(limit))).all())


async def accept_all(db: Database, *, team_id: str, ref: TodoRef, user_id: str,
                     now: datetime | None = None) -> list[TodoState]:
    """Accept every todo of `ref`'s meeting that is suggested to `user_id` (the owner DM's
    Accept all). Returns the ones accepted; TodoGone when `ref` names nothing of this team."""
    state = await check(db, team_id=team_id, ref=ref)
    now = now or utcnow()
    async with db.session() as session:
        rows = list((await session.exec(select(TodoState).where(
            TodoState.team_id == team_id, TodoState.connection_id == state.connection_id,
            TodoState.meeting_id == state.meeting_id, TodoState.owner_confidence == "suggested",
            TodoState.suggested_owner == user_id, TodoState.status != REMOVED))).all())
        for row in rows:
            row.assignee, row.assigned_by = user_id, user_id
            row.owner_confidence, row.suggested_owner, row.updated_at = "confirmed", None, now
            session.add(row)
    return rows
