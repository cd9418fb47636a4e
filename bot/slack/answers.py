"""Turns a parsed `/meetings` request into the message to show, by way of the services.

Answers are cached for a few seconds per connection (deps.answers): when a team types the same
command together, one provider call serves everyone; what each member may see of it is decided
per asker (bot/slack/visibility.py), so rendered answers are cached per asker. Status is never cached:
it must say what the key does now. Errors propagate to the one place that words them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.delivery import inbox, outbox
from bot.deps import Deps
from bot.providers.base import MeetingProvider, Page
from bot.services import audit
from bot.services import meetings as meeting_service
from bot.services import todos as todo_service
from bot.services.connections import NotConnected, active_connection
from bot.slack.blocks import meetings as meeting_blocks
from bot.slack.blocks import replies
from bot.slack.blocks.message import Message
from bot.slack.blocks.text import escape
from bot.slack.blocks.todos import owner_todos, todo_groups
from bot.slack.commands import Parsed
from bot.slack.visibility import PRIVATE, Visibility, visible_todos
from bot.store.models import utcnow

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
    """The answer as rendered for one asker: `key` names the asker (what they may see decides it),
    so one member is never served another's answer. `from_cache` reads it back inside the ack."""
    async def build() -> Message:
        return render()
    return await deps.answers.get(((connection.id, connection.updated_at), "message", *key), build)


def _private_note(count: int, notice: str | None) -> str | None:
    if not count:
        return notice
    line = (f"{count} private meeting{'s are' if count != 1 else ' is'} not shown "
            "(held, kept private or skipped, or another member's).")
    return f"{notice} {line}" if notice else line


def question_key(parsed: Parsed, user_id: str) -> tuple | None:
    """What makes two commands the same question (the cache key of the rendered answer, and the key
    identical questions in flight wait on); None for uncached ones. What a member may see of the
    meetings depends on who they are (bot/slack/visibility.py), so the asker is part of every key:
    one member is never served another member's answer."""
    if parsed.name == "list":
        return ("list", parsed.limit, parsed.notice, user_id)
    if parsed.name == "show":
        return ("show", parsed.meeting_id or "", user_id)
    if parsed.name == "todos" and not parsed.owner:
        return ("todos", parsed.include_done, user_id)
    if parsed.name == "topics":
        return ("topics", user_id)
    return None


def shared_question(parsed: Parsed, team_id: str, user_id: str) -> tuple | None:
    key = question_key(parsed, user_id)
    return (team_id, *key) if key is not None else None


def from_cache(parsed: Parsed, *, team_id: str, user_id: str, deps: Deps) -> Message | None:
    """A fresh cached answer to the same question from the same asker, given inside the ack: no
    task, no provider call, no response_url post. Never loads anything (the ack must not wait)."""
    key = question_key(parsed, user_id)
    if key is None:
        return None
    connection = deps.connections.peek(("connection", team_id))
    if connection is None:
        return None
    return deps.answers.peek(((connection.id, connection.updated_at), "message", *key))


def ack_reply(parsed: Parsed, *, team_id: str, user_id: str, deps: Deps) -> Message | None:
    """What the ack itself can say: an instant answer, a fresh cached one, or, past the bound of
    pending work, that the bot is busy. None: ack empty and answer later."""
    reply = instant(parsed) or from_cache(parsed, team_id=team_id, user_id=user_id, deps=deps)
    if reply is None and parsed.name not in ("setup", "disconnect", "reminders", "recap", "connect", "routes",
                                                 "alias") and \
            deps.background.full and not deps.background.waiting_on(shared_question(parsed, team_id, user_id)):
        reply = replies.sentence("I'm answering a lot of questions right now: try again in a moment.")
    return reply


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
        return await _rendered(deps, connection, ("todos", parsed.include_done, user_id),
                               lambda: todo_groups(shown, provider_name=name, include_done=parsed.include_done))
    if parsed.name == "topics":
        async def build(provider, name):
            return replies.topic_list(await provider.list_topics(), provider_name=name)
        return await _cached(deps, team_id, ("message", "topics", user_id), build)
    if parsed.name == "status":
        try:
            await deps.connections.get(("connection", team_id), lambda: active_connection(deps.db, team_id))
        except NotConnected:
            # After a disconnect (or before any setup) the audit log still says who did what.
            return replies.not_connected_status(team_id, await audit.recent(deps.db, team_id, limit=3))
        async with asyncio.timeout(deps.settings.provider_timeout_seconds):
            async with deps.provider_for(team_id) as (connection, provider, name):
                key = await meeting_service.check_key(provider)
                dead_events = await inbox.dead_count(deps.db, team_id=team_id)
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


async def switch_followups(deps: Deps, parsed: Parsed, *, team_id: str, user_id: str, channel_id: str,
                           admin: Callable[[], Awaitable[bool]]) -> Message:
    """`/meetings reminders on|off` (for the one asking) and `/meetings recap on|off` (admins, this channel)."""
    from bot.services.preferences import set_recap, set_reminders

    if parsed.name == "reminders":
        await set_reminders(deps.db, team_id=team_id, user_id=user_id, on=bool(parsed.switch))
        return replies.sentence("Morning reminders are on: at 9:00 your time I'll DM you the todos you own that are "
                                "due." if parsed.switch else
                                "Morning reminders are off. `/meetings reminders on` brings them back.")
    if not await admin():
        return replies.sentence("Only workspace admins and owners can turn a channel's weekly recap on or off.")
    await set_recap(deps.db, team_id=team_id, channel=channel_id, on=bool(parsed.switch))
    return replies.sentence(f"The weekly recap for <#{channel_id}> is {'on' if parsed.switch else 'off'}.")


async def owner_list(deps: Deps, *, team_id: str, owner: str, asker: str, notice: str | None = None) -> Message:
    """Open todos `owner` owns in this workspace (the bot's own state: no provider call)."""
    from bot.delivery.digests import todo_view

    states = await todo_service.open_for_owner(deps.db, team_id=team_id, owner=owner)
    states = await visible_todos(deps, team_id=team_id, user_id=asker, states=states)
    return owner_todos([(s.meeting_title, todo_view(s)) for s in states], owner=owner, asker=asker, notice=notice)


async def list_meetings(*, team_id: str, limit: int, deps: Deps, notice: str | None = None,
                        user_id: str = "") -> Message:
    return await _meeting_page(deps, team_id=team_id, user_id=user_id, limit=limit, notice=notice,
                               key=("list", limit, notice, user_id))  # question_key: from_cache finds it


async def more_meetings(*, team_id: str, cursor: str | None, limit: int, after_id: str | None,
                        deps: Deps, user_id: str = "") -> Message:
    return await _meeting_page(deps, team_id=team_id, user_id=user_id, limit=limit, cursor=cursor,
                               after_id=after_id, continued=True, key=("more", limit, cursor, after_id, user_id))


async def _meeting_page(deps: Deps, *, team_id: str, user_id: str, limit: int, key: tuple, notice: str | None = None,
                        cursor: str | None = None, after_id: str | None = None, continued: bool = False) -> Message:
    connection, name, page = await _fetched(
        deps, team_id, ("page", limit, cursor, after_id),
        lambda provider: meeting_service.recent_meetings(provider, limit=limit, cursor=cursor, after_id=after_id))
    hidden = await Visibility(deps, connection, user_id).hidden((m.id, m.title) for m in page.items)
    if hidden:
        page = Page(items=[m for m in page.items if m.id not in hidden], next_cursor=page.next_cursor)
    note = _private_note(len(hidden), notice)
    return await _rendered(deps, connection, key, lambda: meeting_blocks.meeting_list(
        page, provider_name=name, limit=limit, notice=note, continued=continued))


async def show_meeting(*, team_id: str, meeting_id: str, deps: Deps, user_id: str = "") -> Message:
    connection, name, meeting = await _fetched(deps, team_id, ("show", meeting_id),
                                               lambda provider: provider.get_meeting(meeting_id))
    if await Visibility(deps, connection, user_id).hidden([(meeting.id, meeting.title)]):
        return replies.sentence(PRIVATE)
    return await _rendered(deps, connection, ("show", meeting_id, user_id),
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


async def set_alias(deps: Deps, parsed: Parsed, *, team_id: str, user_id: str,
                    admin: Callable[[], Awaitable[bool]]) -> Message:
    """`/meetings alias "Anna K" @anna`: members for themselves, admins for anyone (docs/owners.md)."""
    from bot.services import directory

    assert parsed.alias_name and parsed.owner, "parsed as an alias"
    if parsed.owner != user_id and not await admin():
        return replies.sentence("You can set an alias for yourself only; a workspace admin can set one for anyone. "
                                f'Try `/meetings alias "{escape(parsed.alias_name)}" @you`.')
    await directory.set_alias(deps.db, team_id=team_id, name=parsed.alias_name, user_id=parsed.owner,
                              created_by=user_id, now=utcnow())
    return replies.sentence(f"Done: todos that name “{escape(parsed.alias_name)}” will be suggested to "
                            f"<@{parsed.owner}>, starting with the next meeting.")
