"""Turns a parsed `/meetings` request into the message to show, by way of the services.

Answers are cached for a few seconds per connection (deps.answers): when a team types the same
command together, one provider call and one rendering serve everyone. Status is never cached:
it must say what the key does now. Errors propagate to the one place that words them.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from bot.delivery import inbox, outbox
from bot.providers.base import MeetingProvider
from bot.services import audit
from bot.services.connections import NotConnected, active_connection
from bot.services import todos as todo_service
from bot.services import meetings as meeting_service
from bot.slack.blocks import meetings as meeting_blocks
from bot.slack.blocks import replies
from bot.slack.blocks.message import Message
from bot.slack.blocks.todos import owner_todos, todo_groups
from bot.slack.commands import Parsed
from bot.slack.visibility import PRIVATE, Visibility, visible_todos
from bot.providers.base import Page
from bot.deps import Deps

Build = Callable[[MeetingProvider, str], Awaitable[Message]]


async def _cached(deps: Deps, team_id: str, key: tuple, build: Build, *, cache: bool = True) -> Message:
    async with asyncio.timeout(deps.settings.provider_timeout_seconds):
        async with deps.provider_for(team_id) as (connection, provider, name):
            if not cache:
                return await build(provider, name)
            # updated_at changes when the key is replaced, so answers made with an old key die with it.
            scope = (connection.id, connection.updated_at)
            return await deps.answers.get((scope, *key), lambda: build(provider, name))


async def _fetched(deps: Deps, team_id: str, key: tuple, fetch) -> tuple:
    """(connection, provider name, what `fetch(provider)` returned), the provider's answer cached
    like `_cached` does: what each asker may see of it is decided afterwards (bot/slack/visibility.py)."""
    async with asyncio.timeout(deps.settings.provider_timeout_seconds):
        async with deps.provider_for(team_id) as (connection, provider, name):
            scope = (connection.id, connection.updated_at)
            data = await deps.answers.get((scope, "data", *key), lambda: fetch(provider))
            return connection, name, data


async def _rendered(deps: Deps, connection, key: tuple, render: Callable[[], Message]) -> Message:
    async def build() -> Message:
        return render()
    return await deps.answers.get(((connection.id, connection.updated_at), "message", *key), build)


def _private_note(count: int, notice: str | None) -> str | None:
    if not count:
        return notice
    line = (f"{count} private meeting{'s are' if count != 1 else ' is'} not shown "
            "(held, kept private or skipped, or another member's).")
    return f"{notice} {line}" if notice else line


def instant(parsed: Parsed) -> Message | None:
    """Answers that need no provider (help, usage errors): given in the ack itself."""
    if parsed.name == "help":
        return replies.help_message()
    if parsed.name == "unknown":
        return replies.unknown_command(parsed.raw)
    if parsed.name == "usage":
        return replies.sentence(parsed.message or "Type `/meetings help` to see what I can do.")
    return None


async def answer(parsed: Parsed, *, team_id: str, deps: Deps, user_id: str = "") -> Message:
    quick = instant(parsed)
    if quick is not None:
        return quick
    if parsed.name == "list":
        return await list_meetings(team_id=team_id, limit=parsed.limit, notice=parsed.notice, deps=deps,
                                   user_id=user_id)
    if parsed.name == "show":
        return await show_meeting(team_id=team_id, meeting_id=parsed.meeting_id or "", deps=deps, user_id=user_id)
    if parsed.name == "explain":
        return await explain(deps, team_id=team_id, user_id=user_id, meeting_id=parsed.meeting_id)
    if parsed.name == "todos" and parsed.owner:
        owner = user_id if parsed.owner == "me" else parsed.owner
        return await owner_list(deps, team_id=team_id, owner=owner, asker=user_id)
    if parsed.name == "todos":
        connection, name, groups = await _fetched(
            deps, team_id, ("todos", parsed.include_done),
            lambda provider: meeting_service.todos_by_meeting(provider, include_done=parsed.include_done))
        hidden = await Visibility(deps, connection, user_id).hidden(
            (g.meeting_id or "", g.meeting_title) for g in groups)
        shown = [g for g in groups if g.meeting_id not in hidden]
        return await _rendered(deps, connection, ("todos", parsed.include_done, frozenset(hidden)),
                               lambda: todo_groups(shown, provider_name=name, include_done=parsed.include_done))
    if parsed.name == "topics":
        async def build(provider, name):
            return replies.topic_list(await provider.list_topics(), provider_name=name)
        return await _cached(deps, team_id, ("topics",), build)
    if parsed.name == "status":
        try:
            await deps.connections.get(("connection", team_id), lambda: active_connection(deps.db, team_id))
        except NotConnected:
            # After a disconnect (or before any setup) the audit log still says who did what.
            return replies.not_connected_status(team_id, await audit.recent(deps.db, team_id, limit=3))
        async with asyncio.timeout(deps.settings.provider_timeout_seconds):
            async with deps.provider_for(team_id) as (connection, provider, name):
                key = await meeting_service.check_key(provider)
                dead_events = (await inbox.counts(deps.db, team_id=team_id)).get("dead", 0)
                dead = [(m.channel, m.last_error or "unknown") for m in
                        await outbox.dead_messages(deps.db, team_id=team_id)]
                changes = await audit.recent(deps.db, team_id, limit=3)
                message = replies.status_message(connection, key, provider_name=name, dead_events=dead_events,
                                                 dead_messages=dead, changes=changes)
        message.blocks[1:1] = await _routing_status(deps, team_id=team_id, user_id=user_id)
        return message
    raise ValueError(f"unhandled command {parsed.name!r}")


async def _routing_status(deps: Deps, *, team_id: str, user_id: str) -> list:
    """Held meetings the asker approves (all of them for an admin), and the connections they may see."""
    from bot.providers.registry import provider_info
    from bot.services import decisions
    from bot.services.connections import list_connections
    from bot.slack.blocks.routing import status_blocks
    from bot.slack.visibility import viewer_is_admin

    everyone_held = await decisions.held_for(deps.db, team_id=team_id)
    connections = await list_connections(deps.db, team_id)
    needs_admin = any(d.approver != user_id for d in everyone_held) or any(
        c.personal and not c.visible_to_all and c.owner_id != user_id for c in connections)
    admin = needs_admin and await viewer_is_admin(deps, team_id, user_id)
    held = [d for d in everyone_held if admin or d.approver == user_id]
    visible = [(c, provider_info(c.provider).display_name) for c in connections
               if admin or not c.personal or c.visible_to_all or c.owner_id == user_id]
    return status_blocks(held=held, connections=visible, viewer=user_id)


async def owner_list(deps: Deps, *, team_id: str, owner: str, asker: str, notice: str | None = None) -> Message:
    """Open todos `owner` owns in this workspace (the bot's own state: no provider call)."""
    from bot.delivery.digests import todo_view

    states = await todo_service.open_for_owner(deps.db, team_id=team_id, owner=owner)
    states = await visible_todos(deps, team_id=team_id, user_id=asker, states=states)
    return owner_todos([(s.meeting_title, todo_view(s)) for s in states], owner=owner, asker=asker, notice=notice)


async def list_meetings(*, team_id: str, limit: int, deps: Deps, notice: str | None = None,
                        user_id: str = "") -> Message:
    return await _meeting_page(deps, team_id=team_id, user_id=user_id, limit=limit, notice=notice)


async def more_meetings(*, team_id: str, cursor: str | None, limit: int, after_id: str | None,
                        deps: Deps, user_id: str = "") -> Message:
    return await _meeting_page(deps, team_id=team_id, user_id=user_id, limit=limit, cursor=cursor,
                               after_id=after_id, continued=True)


async def _meeting_page(deps: Deps, *, team_id: str, user_id: str, limit: int, notice: str | None = None,
                        cursor: str | None = None, after_id: str | None = None, continued: bool = False) -> Message:
    connection, name, page = await _fetched(
        deps, team_id, ("page", limit, cursor, after_id),
        lambda provider: meeting_service.recent_meetings(provider, limit=limit, cursor=cursor, after_id=after_id))
    hidden = await Visibility(deps, connection, user_id).hidden((m.id, m.title) for m in page.items)
    if hidden:
        page = Page(items=[m for m in page.items if m.id not in hidden], next_cursor=page.next_cursor)
    note = _private_note(len(hidden), notice)
    key = ("list", limit, cursor, after_id, notice, continued, frozenset(hidden))
    return await _rendered(deps, connection, key, lambda: meeting_blocks.meeting_list(
        page, provider_name=name, limit=limit, notice=note, continued=continued))


async def show_meeting(*, team_id: str, meeting_id: str, deps: Deps, user_id: str = "") -> Message:
    connection, name, meeting = await _fetched(deps, team_id, ("show", meeting_id),
                                               lambda provider: provider.get_meeting(meeting_id))
    if await Visibility(deps, connection, user_id).hidden([(meeting.id, meeting.title)]):
        return replies.sentence(PRIVATE)
    return await _rendered(deps, connection, ("show", meeting_id),
                           lambda: meeting_blocks.meeting_detail(meeting, provider_name=name))


async def explain(deps: Deps, *, team_id: str, user_id: str, meeting_id: str | None) -> Message:
    """`/meetings explain [id]`: one meeting's decision with every rule, or the last 10 decisions
    the asker may see."""
    from bot.services import decisions
    from bot.slack.blocks import routing as routing_blocks
    from bot.store.models import Connection

    rows = await decisions.recent(deps.db, team_id=team_id, limit=200 if meeting_id is None else 500)
    if meeting_id is not None:
        rows = [r for r in rows if r.meeting_id == meeting_id]
    visible = []
    for row in rows:
        async with deps.db.session() as session:
            connection = await session.get(Connection, row.connection_id)
        if connection is not None and not await Visibility(deps, connection, user_id).hidden(
                [(row.meeting_id, row.meeting_title)]):
            visible.append(row)
        if meeting_id is None and len(visible) == 10:
            break
    if meeting_id is None:
        return routing_blocks.recent_decisions(visible)
    if visible:
        return routing_blocks.explain_message(visible[0])
    if rows:
        return replies.sentence(PRIVATE)
    return replies.sentence(f"I have not routed a meeting with the id `{meeting_id[:100]}` yet: its decision is made "
                            "when its digest is first delivered. `/meetings explain` lists the latest decisions.")


async def minutes_view(*, team_id: str, meeting_id: str, deps: Deps) -> dict:
    """The Full minutes modal for a digest's button, or a modal that says why not."""
    from bot.slack.blocks.digest import minutes_modal, minutes_unavailable_modal
    from bot.slack.errors import describe

    try:
        async with asyncio.timeout(deps.settings.provider_timeout_seconds):
            async with deps.provider_for(team_id) as (_connection, provider, name):
                return minutes_modal(await provider.get_meeting(meeting_id), provider_name=name)
    except Exception as exc:
        return minutes_unavailable_modal(describe(exc, team_id=team_id).text)
