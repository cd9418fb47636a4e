"""From an inbox event to the channel messages it should produce.

A webhook is a hint: the meeting is always fetched from the provider's API with the workspace's
own key, and the messages are rendered from what the API says (DESIGN principle 2). Rendering is
a pure function of the meeting, so processing an event twice changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import select

from bot.delivery import outbox
from bot.delivery import owners as owner_flow
from bot.delivery.owner_views import owner_fields
from bot.providers.base import Meeting, MeetingStatus, NotFound
from bot.providers.registry import provider_info
from bot.providers.webhooks import Action, BadWebhook
from bot.services import post_options
from bot.services import todos as todo_service
from bot.services.connections import open_provider
from bot.slack.blocks.digest import (
    TodoView,
    digest_message,
    highlights_message,
    meeting_ended_message,
    meeting_failed_message,
    meeting_started_message,
    todo_pages,
)
from bot.store.models import Connection, InboxEvent, TodoState, utcnow

log = logging.getLogger(__name__)

# Lower goes first: a new meeting's digest before the thread replies of earlier ones.
PRIORITY_DIGEST = 0
PRIORITY_STARTED = 5
PRIORITY_THREAD = 10  # todos pages count up from here; highlights come after them
# A "meeting ended" note delivered later than this says nothing new (the digest may be out already).
ENDED_NOTE_MAX_AGE = timedelta(minutes=30)


async def process(event: InboxEvent, deps) -> str | None:
    """Handle one inbox event. Returns a note for the inbox row, or raises for a retry."""
    async with deps.db.session() as session:
        connection = (await session.exec(select(Connection).where(Connection.id == event.connection_id))).first()
    if connection is None or connection.status != "active":
        return "the connection is gone or paused"
    channel = connection.default_channel
    if not channel:
        return "no channel to post to: connect again with --channel"
    info = provider_info(connection.provider)
    action = info.webhooks.actions.get(event.event_type)
    if action is None:
        return "not an event the bot acts on"

    if action is Action.STARTED:
        if not post_options.enabled(connection.options, "started"):
            return "meeting-started notes are off for this connection"
        known = await _status_from_api(deps, connection, event, info)
        if isinstance(known, str):
            return known
        message = meeting_started_message(title=known.title, started_at=known.started_at,
                                          provider_name=info.display_name)
        await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                          meeting_id=event.meeting_id or "-", channel=channel, kind="started",
                          payload=message.to_slack(), priority=PRIORITY_STARTED)
        return None

    if action is Action.FAILED:
        # The provider gave up on the meeting: say so where its digest would have gone.
        if not post_options.enabled(connection.options, "digest"):
            return "digests are off for this connection"
        known = await _status_from_api(deps, connection, event, info)
        if isinstance(known, str):
            return known
        if not known.failed:
            return f"{info.display_name} does not say this meeting failed: no notice"
        message = meeting_failed_message(title=known.title, started_at=known.started_at,
                                         provider_name=info.display_name, reason=known.failure_reason)
        await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                          meeting_id=event.meeting_id or "-", channel=channel, kind="failed",
                          payload=message.to_slack(), priority=PRIORITY_STARTED)
        return None

    if action is Action.ENDED:
        if not post_options.enabled(connection.options, "ended"):
            return "meeting-ended notes are off for this connection"
        known = await _status_from_api(deps, connection, event, info)
        if isinstance(known, str):
            return known
        if known.ended_at and utcnow() - known.ended_at > ENDED_NOTE_MAX_AGE:
            return "too late for a meeting-ended note"  # delivered late or out of order: the digest may be out
        message = meeting_ended_message(title=known.title, ended_at=known.ended_at, provider_name=info.display_name)
        await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                          meeting_id=event.meeting_id or "-", channel=channel, kind="ended",
                          payload=message.to_slack(), priority=PRIORITY_STARTED)
        return None

    if not event.meeting_id:
        return "the event names no meeting"
    if action is not Action.DIGEST and action is not Action.THREAD:
        return f"no {action.value} note for {info.display_name} yet"
    if action is Action.THREAD and not await outbox.has_digest(
            deps.db, connection_id=connection.id, meeting_id=event.meeting_id):
        # A highlight during a live meeting: the digest, when the meeting ends, will carry it.
        return "no digest yet; the meeting's digest will include this"

    if not post_options.enabled(connection.options, "digest"):
        return "digests are off for this connection"
    provider = open_provider(connection, deps.box, deps.factory)
    try:
        meeting = await provider.get_meeting(event.meeting_id)
    except NotFound:
        return _unknown_meeting(event, info.display_name)
    finally:
        await provider.aclose()
    await publish(deps, connection=connection, channel=channel, meeting=meeting, provider_name=info.display_name)
    return None


async def _status_from_api(deps, connection: Connection, event: InboxEvent, info) -> MeetingStatus | str:
    """What a short note may say, from the provider's API (never from the webhook body, which
    anyone holding the URL of a connection without a signing secret can write); a note for the
    inbox row instead when there is nothing to post."""
    if not event.meeting_id:
        return "the event names no meeting"
    try:
        hints = info.webhooks.parse(headers={}, body=(event.payload or "").encode()).hints  # look-up keys only
    except BadWebhook:  # a row kept without its body: the meeting id alone has to do
        hints = {}
    provider = open_provider(connection, deps.box, deps.factory)
    try:
        return await provider.meeting_status(event.meeting_id, hints=hints)
    except NotFound:
        return _unknown_meeting(event, info.display_name)
    finally:
        await provider.aclose()


def _unknown_meeting(event: InboxEvent, provider_name: str) -> str:
    # A forged event, or a meeting deleted since: either way there is nothing true to post.
    log.warning("%s does not know meeting %r of inbox event %s (%s): nothing posted", provider_name,
                (event.meeting_id or "")[:80], event.id, event.event_type)
    return f"{provider_name} does not know this meeting: nothing posted"


def todo_view(state: TodoState) -> TodoView:
    return TodoView(text=state.text, due=state.due, done=state.status == "done",
                    ref=todo_service.TodoRef.of(state).encode(), done_by=state.done_by, done_at=state.done_at,
                    assignee=state.assignee, snoozed_until=state.snoozed_until, **owner_fields(state))


async def _want_todo_pages(deps, *, connection: Connection, digest, states: list[TodoState],
                           meeting_title: str | None, provider_name: str) -> None:
    assert connection.id is not None, "a stored connection"
    pages = todo_pages([todo_view(s) for s in states], meeting_title=meeting_title, provider_name=provider_name)
    first = 0
    for page, message in enumerate(pages, start=1):
        row = await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                                meeting_id=digest.meeting_id, channel=digest.channel, kind=f"todos:{page}",
                                priority=PRIORITY_THREAD + page, parent_id=digest.id, payload=message.to_slack())
        shown = sum(1 for b in message.blocks if (getattr(b, "block_id", "") or "").startswith("todo:"))
        assert row.id is not None, "a stored outbox row"
        await todo_service.set_message(deps.db, state_ids=[s.id for s in states[first:first + shown] if s.id],
                                       message_id=row.id)
        first += shown


async def refresh_todos(deps, *, connection: Connection, meeting_id: str) -> bool:
    """Re-render a meeting's todo pages from the stored state (after a click); the sender edits
    the thread messages whose content changed. False when the meeting has no digest any more."""
    assert connection.id is not None, "a stored connection"
    digest = await outbox.digest_of(deps.db, connection_id=connection.id, meeting_id=meeting_id)
    if digest is None:
        return False
    states = await todo_service.meeting_states(deps.db, connection_id=connection.id, meeting_id=meeting_id)
    title = states[0].meeting_title if states else None
    await _want_todo_pages(deps, connection=connection, digest=digest, states=states, meeting_title=title,
                           provider_name=provider_info(connection.provider).display_name)
    return True


async def publish(deps, *, connection: Connection, channel: str, meeting: Meeting, provider_name: str) -> None:
    """Store what the meeting's digest and thread should say; the sender does the rest."""
    common: dict[str, Any] = dict(connection_id=connection.id, team_id=connection.team_id, meeting_id=meeting.id,
                                  channel=channel)
    digest = await outbox.want(deps.db, **common, kind="digest", priority=PRIORITY_DIGEST, title=meeting.title,
                               payload=digest_message(meeting, provider_name=provider_name).to_slack())
    if post_options.enabled(connection.options, "todos"):
        states = await todo_service.sync_meeting(deps.db, connection, meeting)
        states = await owner_flow.find_owners(deps, connection=connection, meeting=meeting, states=states)
        await _want_todo_pages(deps, connection=connection, digest=digest, states=states,
                               meeting_title=meeting.title, provider_name=provider_name)
        await owner_flow.ask_owners(deps, connection=connection, meeting_id=meeting.id, meeting_title=meeting.title,
                                    states=states, todo_view=todo_view)
        for earlier in await owner_flow.carried_from_meetings(deps, states=states):
            await refresh_todos(deps, connection=connection, meeting_id=earlier)
    highlights = (highlights_message(meeting, provider_name=provider_name)
                  if post_options.enabled(connection.options, "highlights") else None)
    if highlights is not None:
        await outbox.want(deps.db, **common, kind="highlights", priority=PRIORITY_THREAD + 1000,
                          parent_id=digest.id, payload=highlights.to_slack())

