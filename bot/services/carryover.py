"""The same commitment said again in a later meeting of the same series: linked, not counted twice.

A series is a connection's meetings with the same title ("Weekly sync"). A todo of a later
meeting is the same commitment as an open one of an earlier meeting when their texts are
similar and they have the same owner (or both none). The later todo carries the link and the
date it was first said; the earlier one becomes `carried` (no longer open, so reminders,
`todos mine` and recaps count the commitment once). No Slack here.
"""

from __future__ import annotations

from datetime import datetime
from difflib import SequenceMatcher

from sqlmodel import col, select

from bot.providers.base import Meeting
from bot.services.owner_hints import name_key
from bot.services.todos import OPEN
from bot.store.db import Database
from bot.store.models import TodoState, utcnow

CARRIED = "carried"  # a todo status: said again in a later meeting, which now tracks it
SIMILAR = 0.8  # difflib's ratio of the two texts, compared in name_key form
EARLIER_MAX = 500  # open todos of a connection's earlier meetings looked at


def similar(first: str, second: str) -> bool:
    a, b = name_key(first), name_key(second)
    return bool(a and b) and (a == b or SequenceMatcher(None, a, b).ratio() >= SIMILAR)


def _owner(state: TodoState) -> str | None:
    return state.assignee or state.suggested_owner


def _since(state: TodoState) -> datetime:
    return state.carried_since or state.meeting_started_at or state.first_seen_at


async def link_carried(db: Database, *, team_id: str, connection_id: int, meeting: Meeting,
                       states: list[TodoState], now: datetime | None = None) -> list[TodoState]:
    """Link the meeting's new open todos to the commitments they repeat. Returns the states as stored."""
    fresh = [s for s in states if s.carried_from_id is None and s.status == OPEN]
    if not fresh or meeting.started_at is None:
        return states
    now = now or utcnow()
    series = name_key(meeting.title or "")
    async with db.session() as session:
        earlier = [s for s in (await session.exec(
            select(TodoState).where(
                col(TodoState.team_id) == team_id, col(TodoState.connection_id) == connection_id,
                col(TodoState.status) == OPEN, col(TodoState.meeting_id) != meeting.id,
                col(TodoState.meeting_started_at) < meeting.started_at)
            .order_by(col(TodoState.meeting_started_at).desc()).limit(EARLIER_MAX))).all()
            if name_key(s.meeting_title) == series]
        used: set[int] = set()
        linked: dict[int, TodoState] = {}
        for state in fresh:
            match = next((e for e in earlier if e.id not in used and _owner(e) == _owner(state)
                          and similar(e.text, state.text)), None)
            if match is None or match.id is None or state.id is None:
                continue
            used.add(match.id)
            row = await session.get(TodoState, state.id)
            if row is None:
                continue
            row.carried_from_id, row.carried_since = match.id, _since(match)
            row.carried_from_title = match.meeting_title[:500]
            if match.assignee and not row.assignee:  # already confirmed: not asked again
                row.assignee, row.assigned_by = match.assignee, match.assigned_by
                row.owner_confidence, row.suggested_owner = "confirmed", None
            row.updated_at = now
            match.status, match.updated_at = CARRIED, now
            session.add_all([row, match])
            linked[state.id] = row
        await session.flush()
        for row in linked.values():
            await session.refresh(row)
    return [linked.get(s.id or 0, s) for s in states]
