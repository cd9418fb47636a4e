"""Todo owners: a todo's hints (bot/services/owner_hints.py) matched to one Slack member, with a
confidence people can trust, and the answers they give.

- confirmed: an email the provider gave is a member's (users.lookupByEmail), the member
  accepted, or someone picked them with Assign. Only confirmed owners are in `assignee`, so
  reminders and `todos mine` reach confirmed owners only.
- suggested: a name matched one member (an alias, then real name, then display name, then a
  first name unique among the meeting's participants). Waits in `suggested_owner` for Accept or
  Not me; Not me is remembered per name, so that name never suggests that member again.
- needs owner: nothing matched, or the hints point at more than one member.

No Slack here: the email lookup is passed in (bot/slack/directory.py makes it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from bot.providers.base import Meeting, Person, Todo
from bot.services import directory
from bot.services.owner_hints import Hint, hints, name_key
from bot.services.todos import OPEN, todo_key
from bot.store.db import Database
from bot.store.models import TodoState, utcnow

CONFIRMED, SUGGESTED, NEEDS_OWNER = "confirmed", "suggested", "needs_owner"

EmailLookup = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class Resolution:
    confidence: str  # CONFIRMED | SUGGESTED | NEEDS_OWNER
    user_id: str | None = None
    hint: str | None = None  # the name as the provider wrote it (addresses are not kept)
    quote: str | None = None  # where it was read, for "Suggested: @anna (from "Anna will…")"


@dataclass
class _Found:
    users: set[str]
    by_email: bool


async def _by_name(db: Database, *, team_id: str, name: str, participants: Sequence[Person],
                   lookup: EmailLookup) -> set[str]:
    """Members a name stands for: an alias, else real names, else display names, else a first
    name that only one of the meeting's participants has (that participant, by email or name)."""
    alias = await directory.alias_of(db, team_id=team_id, name=name)
    if alias is not None:
        return {alias.user_id}
    found = set(await directory.by_real_name(db, team_id=team_id, name=name))
    if not found:
        found = set(await directory.by_display_name(db, team_id=team_id, name=name))
    key = name_key(name)
    if found or not key or " " in key:
        return found
    namesakes = [p for p in participants if p.name and name_key(p.name).split()[:1] == [key]]
    if len(namesakes) != 1:
        return set()
    participant = namesakes[0]
    if participant.email and (user_id := await lookup(participant.email)):
        return {user_id}
    if participant.name and " " in name_key(participant.name):
        return set(await directory.by_real_name(db, team_id=team_id, name=participant.name))
    return set()


async def resolve(db: Database, *, team_id: str, todo_hints: list[Hint], participants: Sequence[Person],
                  lookup: EmailLookup, by_name: bool = True) -> Resolution | None:
    """Who owns a todo with these hints, and how sure that is. With `by_name` False (the member
    directory is not read yet), only an email match decides: None when a name would have to."""
    if not todo_hints:
        return Resolution(NEEDS_OWNER)
    first = todo_hints[0]
    said = next((h.name for h in todo_hints if h.name), None)  # a name, for Not me; never an address
    refused = await directory.rejected(db, team_id=team_id, names=[h.name for h in todo_hints if h.name])
    results: list[_Found] = []
    names_wait = False
    for hint in todo_hints:
        if hint.email and (user_id := await lookup(hint.email)):
            results.append(_Found({user_id}, by_email=True))
            continue
        if hint.name and not by_name:
            names_wait = True
            continue
        if hint.name:
            key = name_key(hint.name)
            users = {u for u in await _by_name(db, team_id=team_id, name=hint.name, participants=participants,
                                               lookup=lookup) if (key, u) not in refused}
            if users:
                results.append(_Found(users, by_email=False))
    everyone = set().union(*(r.users for r in results)) if results else set()
    if names_wait and not everyone:
        return None  # no email matched: a name decides, once the directory is read
    if len(everyone) != 1:  # nobody, or two people: a person has to decide
        return Resolution(NEEDS_OWNER, hint=said, quote=first.quote)
    (user_id,) = everyone
    confidence = CONFIRMED if any(r.by_email for r in results) else SUGGESTED
    return Resolution(confidence, user_id=user_id, hint=said, quote=first.quote)


async def assign_meeting(db: Database, *, team_id: str, meeting: Meeting, states: list[TodoState],
                         lookup: EmailLookup, now: datetime | None = None, by_name: bool = True) -> list[TodoState]:
    """Give the meeting's todos that nobody decided on yet an owner from their hints. A todo a
    person already assigned, accepted or said Not me to keeps what they decided. Without
    `by_name` (the directory is not read yet), a todo only a name can decide stays undecided.
    Returns the meeting's states as stored after."""
    now = now or utcnow()
    todos: dict[str, Todo] = {todo_key(t.id, t.text): t for t in meeting.todos}
    undecided = [s for s in states if s.owner_confidence is None]
    if not undecided:
        return states
    decided: dict[int, Resolution] = {}
    for state in undecided:
        todo = todos.get(state.todo_key)
        if state.assignee:
            decided[state.id or 0] = Resolution(CONFIRMED, user_id=state.assignee)
        elif todo is not None:
            resolution = await resolve(db, team_id=team_id, todo_hints=hints(todo),
                                       participants=meeting.participants or (), lookup=lookup, by_name=by_name)
            if resolution is not None:
                decided[state.id or 0] = resolution
    async with db.session() as session:
        rows = {s.id: s for s in (await session.exec(select(TodoState).where(
            TodoState.team_id == team_id, TodoState.id.in_(list(decided))))).all()}  # type: ignore[union-attr]
        for state_id, resolution in decided.items():
            row = rows.get(state_id)
            if row is None or row.owner_confidence is not None:
                continue  # decided by a click in the meantime
            _set(row, resolution, now=now)
            session.add(row)
    by_id = {s.id: s for s in states}
    async with db.session() as session:
        fresh = (await session.exec(select(TodoState).where(
            TodoState.team_id == team_id, TodoState.id.in_(list(by_id))))).all()  # type: ignore[union-attr]
    by_id.update({s.id: s for s in fresh})
    return [by_id[s.id] for s in states]


def _set(row: TodoState, resolution: Resolution, *, now: datetime) -> None:
    row.owner_confidence = resolution.confidence
    row.owner_hint = resolution.hint and resolution.hint[:120]
    row.owner_quote = resolution.quote and resolution.quote[:200]
    if resolution.confidence == CONFIRMED:
        row.assignee, row.suggested_owner = resolution.user_id, None
    elif resolution.confidence == SUGGESTED:
        row.suggested_owner = resolution.user_id
    else:
        row.suggested_owner = None
    row.updated_at = now


def suggestions_by_person(states: list[TodoState]) -> dict[str, list[TodoState]]:
    """The open todos suggested to each member, in the meeting's order: one DM each."""
    out: dict[str, list[TodoState]] = {}
    for state in states:
        if state.owner_confidence == SUGGESTED and state.suggested_owner and state.status == OPEN:
            out.setdefault(state.suggested_owner, []).append(state)
    return out
