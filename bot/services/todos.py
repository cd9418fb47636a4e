"""Todo state kept by the bot: done or open, owner, snooze. No Slack here.

Every function that changes a todo takes the acting user's team and finds the todo only within
it, so a crafted button value naming another workspace's todo finds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select

from bot.providers.base import Meeting
from bot.store.db import Database
from bot.store.models import Connection, TodoState, utcnow

ACTIONS = ("done", "reopen", "assign", "unassign", "snooze_tomorrow", "snooze_week")


class TodoGone(Exception):
    """The todo (or its meeting or connection) no longer exists, or is not this team's."""


@dataclass(frozen=True)
class Change:
    state: TodoState
    summary: str  # what happened, for the person who clicked


def todo_key(todo_id: str | None, text: str) -> str:
    if todo_id:
        return todo_id[:255]
    return "text:" + hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()[:40]


async def sync_meeting(db: Database, connection: Connection, meeting: Meeting) -> list[TodoState]:
    """Record the meeting's todos as the provider lists them now; what users did is kept.
    Returns the meeting's todo states in the provider's order."""
    now = utcnow()
    async with db.session() as session:
        existing = {s.todo_key: s for s in (await session.exec(select(TodoState).where(
            TodoState.connection_id == connection.id, TodoState.meeting_id == meeting.id))).all()}
        states = []
        for position, todo in enumerate(meeting.todos):
            key = todo_key(todo.id, todo.text)
            if key in {s.todo_key for s in states}:
                continue  # the same todo twice in one listing
            state = existing.get(key) or TodoState(connection_id=connection.id, team_id=connection.team_id,
                                                   meeting_id=meeting.id, todo_key=key)
            state.meeting_title = (meeting.title or "")[:500]
            state.position = position
            state.text = todo.text
            state.due = (todo.due or None) and todo.due[:255]
            state.meeting_started_at = meeting.started_at
            if todo.completed and state.status == "open" and state.done_by is None and state.id is None:
                state.status = "done"  # done in the provider before the bot ever saw it
            state.updated_at = now
            session.add(state)
            states.append(state)
        await session.flush()
        for state in states:
            await session.refresh(state)
    return states


async def meeting_states(db: Database, *, connection_id: int, meeting_id: str) -> list[TodoState]:
    async with db.session() as session:
        return list((await session.exec(select(TodoState).where(
            TodoState.connection_id == connection_id, TodoState.meeting_id == meeting_id)
            .order_by(TodoState.position, TodoState.id))).all())


async def apply(db: Database, *, team_id: str, state_id: int, action: str, user_id: str,
                assignee: str | None = None, now: datetime | None = None) -> Change:
    """Change one todo for a user of `team_id`. TodoGone when it is not there (for this team)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown todo action {action!r}")
    now = now or utcnow()
    async with db.session() as session:
        state = (await session.exec(select(TodoState).where(TodoState.id == state_id,
                                                            TodoState.team_id == team_id))).first()
        if state is None:
            raise TodoGone(state_id)
        connection = await session.get(Connection, state.connection_id)
        if connection is None or connection.team_id != team_id:
            raise TodoGone(state_id)
        if action == "done":
            state.status, state.done_by, state.done_at = "done", user_id, now
            summary = "Marked done."
        elif action == "reopen":
            state.status, state.done_by, state.done_at = "open", None, None
            summary = "Reopened."
        elif action == "assign":
            state.assignee, state.assigned_by = assignee or user_id, user_id
            summary = f"Assigned to <@{state.assignee}>."
        elif action == "unassign":
            state.assignee, state.assigned_by = None, user_id
            summary = "No owner now."
        else:
            days = 1 if action == "snooze_tomorrow" else 7
            state.snoozed_until = now + timedelta(days=days)
            summary = "Snoozed until tomorrow." if days == 1 else "Snoozed for a week."
        state.updated_at = now
        session.add(state)
        await session.flush()
        await session.refresh(state)
    return Change(state=state, summary=summary)


async def open_for_owner(db: Database, *, team_id: str, owner: str, limit: int = 100) -> list[TodoState]:
    async with db.session() as session:
        return list((await session.exec(select(TodoState).where(
            TodoState.team_id == team_id, TodoState.assignee == owner, TodoState.status == "open")
            .order_by(TodoState.updated_at.desc(), TodoState.id).limit(limit))).all())
