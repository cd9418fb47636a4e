"""Owners for a meeting's todos as its digest is published: the hints matched to members
(bot/services/owners.py, with the directory and email lookups of bot/slack/directory.py), then
one DM per meeting to each person a todo was suggested to (bot/slack/blocks/owners.py).

The DM is an outbox row keyed (connection, meeting, person, "owners"): processing the meeting
again never sends a second one, only edits the first when what it says changed.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select

from bot.delivery import outbox
from bot.providers.base import Meeting
from bot.services import carryover, directory, owners
from bot.services import todos as todo_service
from bot.slack.blocks.digest import TodoView
from bot.slack.blocks.owners import owner_request_message
from bot.slack.directory import lookup_email
from bot.store.models import Connection, SlackMessage, TodoState, utcnow
from bot.store.states import MessageKind

log = logging.getLogger(__name__)

KIND = MessageKind.OWNERS
PRIORITY_OWNERS = 30  # after the digest and its thread, before reminders


async def find_owners(deps, *, connection: Connection, meeting: Meeting,
                      states: list[TodoState], link: bool = True) -> list[TodoState]:
    """Match the undecided todos' hints to members, then (with `link`) link the ones that repeat an
    open todo of an earlier meeting of the series. Todos stay undecided when only a name can place
    them and the workspace's directory was never read (it is being read in the background), or
    when Slack cannot be asked now; see `undecided`."""
    team_id = connection.team_id
    states = await _match(deps, team_id=team_id, meeting=meeting, states=states)
    if not link:
        return states
    assert connection.id is not None, "a stored connection"
    # An undecided todo is not "nobody's": it is linked once its owner is known (carryover
    # compares owners).
    decided = [s for s in states if s.owner_confidence is not None]
    linked = {s.id: s for s in await carryover.link_carried(deps.db, team_id=team_id, connection_id=connection.id,
                                                             meeting=meeting, states=decided)}
    return [linked.get(s.id, s) for s in states]


def undecided(states: list[TodoState]) -> bool:
    """Todos left for later: bot/delivery/digests.py matches them again once the directory is read."""
    return any(s.owner_confidence is None for s in states)


async def _match(deps, *, team_id: str, meeting: Meeting, states: list[TodoState]) -> list[TodoState]:
    if not undecided(states):
        return states
    try:
        # Never read (a new workspace): read in the background (bot/jobs/directory.py), not here,
        # where the digest, its thread and the owner DMs would wait for it (5,000 members take
        # about 90 s). Until then only email addresses decide. The hourly job keeps it fresh after.
        by_name = await directory.directory_age(deps.db, team_id=team_id, now=utcnow()) is not None
        if not by_name:
            deps.directory_reads.start(deps, team_id)

        async def lookup(email: str) -> str | None:
            return await lookup_email(deps, team_id, email)

        states = await owners.assign_meeting(deps.db, team_id=team_id, meeting=meeting, states=states,
                                             lookup=lookup, by_name=by_name)
    except Exception:
        log.warning("owners of a meeting of team %s not matched this time", team_id, exc_info=True)
    return states


async def carried_from_meetings(deps, *, states: list[TodoState]) -> set[str]:
    """The earlier meetings these todos carry a commitment over from: their threads now say so."""
    earlier = [s.carried_from_id for s in states if s.carried_from_id is not None]
    if not earlier:
        return set()
    async with deps.db.session() as session:
        return set((await session.exec(select(TodoState.meeting_id).where(
            col(TodoState.id).in_(earlier)))).all())


def _message(person: str, title: str | None, views: list[TodoView]) -> dict:
    return owner_request_message(person, title, views).to_slack()


async def ask_owners(deps, *, connection: Connection, meeting_id: str, meeting_title: str | None,
                     states: list[TodoState], todo_view, only: frozenset[str] | None = None) -> int:
    """Queue (or bring up to date) the DM of everyone a todo of this meeting is suggested to (of
    `only` these people, for a meeting kept private to them: docs/routing.md)."""
    assert connection.id is not None, "a stored connection"
    asked = 0
    for person, suggested in owners.suggestions_by_person(states).items():
        if only is not None and person not in only:
            continue
        await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id, meeting_id=meeting_id,
                          channel=person, kind=KIND, priority=PRIORITY_OWNERS,
                          payload=_message(person, meeting_title, [todo_view(s) for s in suggested]),
                          todo_refs=[todo_service.TodoRef.of(s).encode() for s in suggested])
        asked += 1
    return asked


async def dm_of(deps, *, connection_id: int, meeting_id: str, person: str) -> SlackMessage | None:
    return await outbox.find(deps.db, connection_id=connection_id, meeting_id=meeting_id, channel=person, kind=KIND)


async def refresh_dm(deps, message: SlackMessage, *, todo_view) -> None:
    """After an answer: the DM's todos rendered again from their stored state (edited in place)."""
    states = await todo_service.shown_in(deps.db, team_id=message.team_id, todo_refs=message.todo_refs)
    if not states:
        return
    await outbox.want(deps.db, connection_id=message.connection_id, team_id=message.team_id,
                      meeting_id=message.meeting_id, channel=message.channel, kind=KIND, priority=PRIORITY_OWNERS,
                      payload=_message(message.channel, states[0].meeting_title, [todo_view(s) for s in states]),
                      todo_refs=[todo_service.TodoRef.of(s).encode() for s in states])
