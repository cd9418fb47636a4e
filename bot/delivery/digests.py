"""From an inbox event to the channel messages it should produce.

A webhook is a hint: the meeting is always fetched from the provider's API with the workspace's
own key, and the messages are rendered from what the API says (DESIGN principle 2). Rendering is
a pure function of the meeting, so processing an event twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
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
from bot.services import decisions, post_options, route_rules, routing
from bot.services import todos as todo_service
from bot.services.connections import open_provider
from bot.slack import directory
from bot.slack.blocks.digest import (
    TodoView,
    digest_message,
    highlights_message,
    meeting_ended_message,
    meeting_failed_message,
    meeting_started_message,
    todo_pages,
)
from bot.slack.blocks.routing import approval_message, why_here
from bot.store.models import Connection, InboxEvent, RoutingDecision, TodoState, utcnow
from bot.store.states import ConnectionStatus, MessageKind, TodoStatus

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
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        return "the connection is gone or paused"
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
        return await _note(deps, connection, event, known.title, MessageKind.STARTED, message)

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
        return await _note(deps, connection, event, known.title, MessageKind.FAILED, message)

    if action is Action.ENDED:
        if not post_options.enabled(connection.options, "ended"):
            return "meeting-ended notes are off for this connection"
        known = await _status_from_api(deps, connection, event, info)
        if isinstance(known, str):
            return known
        if known.ended_at and utcnow() - known.ended_at > ENDED_NOTE_MAX_AGE:
            return "too late for a meeting-ended note"  # delivered late or out of order: the digest may be out
        message = meeting_ended_message(title=known.title, ended_at=known.ended_at, provider_name=info.display_name)
        return await _note(deps, connection, event, known.title, MessageKind.ENDED, message)

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
    decision = await route(deps, connection=connection, meeting=meeting, provider_name=info.display_name)
    if decision is None:
        return "no channel to post to: connect again with --channel, or add a routing rule"
    await deliver(deps, connection=connection, decision=decision, meeting=meeting, provider_name=info.display_name)
    return None


async def _note(deps, connection: Connection, event: InboxEvent, title: str | None, kind: str, message) -> str | None:
    """A started/ended/failed note goes where the meeting's digest goes when that is a channel,
    and nowhere if it is held, private or skipped (a title alone can say "1:1"). Before the
    digest, the rules are tried on the title only, and nothing is stored."""
    assert connection.id is not None, "a stored connection"
    decision = await decisions.find(deps.db, connection_id=connection.id, meeting_id=event.meeting_id or "-")
    if decision is not None:
        channels = [d for d in decision.destinations if d[:1] not in ("U", "W")] \
            if decision.state in (decisions.POSTED, decisions.APPROVED) else []
    else:
        info = provider_info(connection.provider)
        rules = await route_rules.engine_rules(deps.db, connection.team_id)
        preview = decisions.evaluate(rules, connection, Meeting(id=event.meeting_id or "-", title=title or ""),
                                     provider_name=info.display_name, internal_domains=None)
        channels = list(preview.channels) if preview.action == routing.CHANNELS else []
    if not channels:
        return f"no {kind} note: the meeting does not go to a channel"
    for channel in channels:
        await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                          meeting_id=event.meeting_id or "-", channel=channel, kind=kind,
                          payload=message.to_slack(), priority=PRIORITY_STARTED)
    return None


async def route(deps, *, connection: Connection, meeting: Meeting, provider_name: str) -> RoutingDecision | None:
    """The meeting's routing decision: the stored one, or made now and stored (first delivery).
    None when no rule matched and the connection has nowhere to post."""
    assert connection.id is not None, "a stored connection"
    stored = await decisions.find(deps.db, connection_id=connection.id, meeting_id=meeting.id)
    if stored is not None:
        return stored
    rules = await route_rules.engine_rules(deps.db, connection.team_id)
    internal = (await directory.internal_domains(deps, connection.team_id)
                if decisions.needs_internal_domains(rules) else None)
    decision = decisions.evaluate(rules, connection, meeting, provider_name=provider_name, internal_domains=internal)
    if decision.action == routing.NONE:
        return None
    approver = None
    if decision.action == routing.HOLD:
        approver = (decision.approver or await directory.user_by_email(deps, connection.team_id, meeting.host_email)
                    or connection.owner_id or await decisions.fallback_approver(deps.db, connection.team_id))
    return await decisions.record(deps.db, connection=connection, meeting=meeting, decision=decision,
                                  approver=approver)


async def deliver(deps, *, connection: Connection, decision: RoutingDecision, meeting: Meeting,
                  provider_name: str) -> None:
    """Store the messages the decision calls for. Posted and approved meetings get a digest (and
    its thread) in each destination; a held one an approval DM; a kept-private one a DM to its
    approver; a skipped one nothing. Re-running it (a re-export) edits the same messages."""
    assert connection.id is not None, "a stored connection"
    why = why_here(decision)
    matched: list[TodoState] = []  # the todos as this run left them, in every destination
    if decision.state in (decisions.POSTED, decisions.APPROVED):
        for destination in decision.destinations:
            matched += await publish(deps, connection=connection, channel=destination, meeting=meeting,
                                   provider_name=provider_name, routed_by=why)
    elif decision.state == decisions.KEPT_PRIVATE and decision.approver:
        matched += await publish(deps, connection=connection, channel=decision.approver, meeting=meeting,
                               provider_name=provider_name, routed_by=why, private_to=decision.approver)
    elif decision.state == decisions.HELD:
        if post_options.enabled(connection.options, "todos"):
            # Owners' reminders still come (owners matched by email are confirmed); the channel
            # thread, the owner DMs and links to earlier meetings wait for the approval.
            states = await todo_service.sync_meeting(deps.db, connection, meeting)
            matched += await owner_flow.find_owners(deps, connection=connection, meeting=meeting, states=states,
                                                    link=False)
        if decision.approver:
            reason = next((line.split(": matched (", 1)[1][:-1] for line in decision.trace
                           if ": matched (" in line), "it matched")
            preview = digest_message(meeting, provider_name=provider_name, routed_by=why)
            await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                              meeting_id=meeting.id, channel=decision.approver, kind="approval",
                              priority=PRIORITY_DIGEST,
                              payload=approval_message(decision, preview, reason=reason).to_slack())
    if owner_flow.undecided(matched):
        # Todos only a name can place, in a workspace whose directory is still being read (or Slack
        # could not be asked just now): matched once it is read (owners_found). Asked for only now,
        # when everything above is stored, so what owners_found writes is never overwritten by
        # pages this run drew before.
        kept = dataclasses.replace(meeting, transcript=None, minutes=None, recap=None, highlights=[])
        deps.directory_reads.after(deps, connection.team_id, (connection.id, meeting.id),
                                   functools.partial(owners_found, deps, connection_id=connection.id, meeting=kept))


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
    return TodoView(text=state.text, due=state.due, done=state.status == TodoStatus.DONE,
                    ref=todo_service.TodoRef.of(state).encode(), done_by=state.done_by, done_at=state.done_at,
                    assignee=state.assignee, snoozed_until=state.snoozed_until, **owner_fields(state))


async def _want_todo_pages(deps, *, connection: Connection, digest, states: list[TodoState],
                           meeting_title: str | None, provider_name: str) -> None:
    assert connection.id is not None, "a stored connection"
    pages = todo_pages([todo_view(s) for s in states], meeting_title=meeting_title, provider_name=provider_name)
    first = 0
    for page, message in enumerate(pages, start=1):
        row = await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                                meeting_id=digest.meeting_id, channel=digest.channel, kind=MessageKind.todo_page(page),
                                priority=PRIORITY_THREAD + page, parent_id=digest.id, payload=message.to_slack())
        shown = sum(1 for b in message.blocks if (getattr(b, "block_id", "") or "").startswith("todo:"))
        assert row.id is not None, "a stored outbox row"
        await todo_service.set_message(deps.db, state_ids=[s.id for s in states[first:first + shown] if s.id],
                                       message_id=row.id)
        first += shown


async def refresh_todos(deps, *, connection: Connection, meeting_id: str) -> bool:
    """Re-render a meeting's todo pages from the stored state (after a click); the sender edits
    the thread messages whose content changed, in every channel the meeting went to. False when
    the meeting has no digest any more."""
    assert connection.id is not None, "a stored connection"
    digests = await outbox.digests_of(deps.db, connection_id=connection.id, meeting_id=meeting_id)
    if not digests:
        return False
    states = await todo_service.meeting_states(deps.db, connection_id=connection.id, meeting_id=meeting_id)
    title = states[0].meeting_title if states else None
    for digest in reversed(digests):  # the first channel last: its pages are the ones todos point at
        await _want_todo_pages(deps, connection=connection, digest=digest, states=states, meeting_title=title,
                               provider_name=provider_info(connection.provider).display_name)
    return True


async def publish(deps, *, connection: Connection, channel: str, meeting: Meeting, provider_name: str,
                  routed_by: str | None = None, private_to: str | None = None) -> list[TodoState]:
    """Store what the meeting's digest and thread should say in one channel (or DM); the sender
    does the rest. One living digest per channel, each with its own todo thread. `private_to`: a
    meeting kept private to this person, who alone may get its owner DM; its todos are not linked
    to earlier meetings' (whose threads would then mention them). Returns the todos as shown."""
    common: dict[str, Any] = dict(connection_id=connection.id, team_id=connection.team_id, meeting_id=meeting.id,
                                  channel=channel)
    digest = await outbox.want(deps.db, **common, kind=MessageKind.DIGEST, priority=PRIORITY_DIGEST,
                               title=meeting.title,
                               payload=digest_message(meeting, provider_name=provider_name,
                                                      routed_by=routed_by).to_slack())
    deps.outbox_wakeup.set()  # the digest may go while its thread and owner DMs are being worked out
    if post_options.enabled(connection.options, "todos"):
        states = await todo_service.sync_meeting(deps.db, connection, meeting)
        states = await owner_flow.find_owners(deps, connection=connection, meeting=meeting, states=states,
                                              link=private_to is None)
        await _want_todo_pages(deps, connection=connection, digest=digest, states=states,
                               meeting_title=meeting.title, provider_name=provider_name)
        await owner_flow.ask_owners(deps, connection=connection, meeting_id=meeting.id, meeting_title=meeting.title,
                                    states=states, todo_view=todo_view,
                                    only=frozenset({private_to}) if private_to else None)
        for earlier in await owner_flow.carried_from_meetings(deps, states=states):
            await refresh_todos(deps, connection=connection, meeting_id=earlier)
    else:
        states = []
    highlights = (highlights_message(meeting, provider_name=provider_name)
                  if post_options.enabled(connection.options, "highlights") else None)
    if highlights is not None:
        await outbox.want(deps.db, **common, kind=MessageKind.HIGHLIGHTS, priority=PRIORITY_THREAD + 1000,
                          parent_id=digest.id, payload=highlights.to_slack())
    return states


async def owners_found(deps, *, connection_id: int, meeting: Meeting) -> None:
    """After a new workspace's member directory was first read (bot/jobs/directory.py): the
    meeting's todos left undecided while it was read are matched, and wherever the meeting went
    its todo threads and owner DMs are brought up to date through the outbox, as after a click
    (edited in place; a DM is sent once). Owners already decided are left as they are. A held
    meeting's todos are only matched: its thread and DMs come with the approval (deliver)."""
    async with deps.db.session() as session:
        connection = (await session.exec(select(Connection).where(Connection.id == connection_id))).first()
    if connection is None or connection.status != ConnectionStatus.ACTIVE \
            or not post_options.enabled(connection.options, "todos"):
        return
    decision = await decisions.find(deps.db, connection_id=connection_id, meeting_id=meeting.id)
    if decision is None or decision.state == decisions.SKIPPED:
        return
    shown = decision.state in (decisions.POSTED, decisions.APPROVED)
    private_to = decision.approver if decision.state == decisions.KEPT_PRIVATE else None
    states = await todo_service.meeting_states(deps.db, connection_id=connection_id, meeting_id=meeting.id)
    states = await owner_flow.find_owners(deps, connection=connection, meeting=meeting, states=states, link=shown)
    if not shown and private_to is None:
        return
    await refresh_todos(deps, connection=connection, meeting_id=meeting.id)
    await owner_flow.ask_owners(deps, connection=connection, meeting_id=meeting.id, meeting_title=meeting.title,
                                states=states, todo_view=todo_view,
                                only=frozenset({private_to}) if private_to else None)
    for earlier in await owner_flow.carried_from_meetings(deps, states=states):
        await refresh_todos(deps, connection=connection, meeting_id=earlier)
    deps.outbox_wakeup.set()

