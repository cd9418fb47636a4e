"""Turns a parsed `/meetings` request into the message to show, by way of the services.

Answers are cached for a few seconds per connection (deps.answers): when a team types the same
command together, one provider call and one rendering serve everyone. Status is never cached:
it must say what the key does now. Errors propagate to the one place that words them.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from bot.delivery import inbox, outbox
from bot.deps import Deps
from bot.providers.base import MeetingProvider
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


def question_key(parsed: Parsed) -> tuple | None:
    """What makes two commands the same question, for the answers every asker may share (the cache
    key, and the key identical questions in flight wait on); None for personal or uncached ones."""
    if parsed.name == "list":
        return ("list", parsed.limit, parsed.notice)
    if parsed.name == "show":
        return ("show", parsed.meeting_id or "")
    if parsed.name == "todos" and not parsed.owner:
        return ("todos", parsed.include_done)
    if parsed.name == "topics":
        return ("topics",)
    return None


def shared_question(parsed: Parsed, team_id: str) -> tuple | None:
    key = question_key(parsed)
    return (team_id, *key) if key is not None else None


def from_cache(parsed: Parsed, *, team_id: str, deps: Deps) -> Message | None:
    """A fresh cached answer to the same question, given inside the ack: no task, no provider call,
    no response_url post. Never loads anything (the ack must not wait)."""
    key = question_key(parsed)
    if key is None:
        return None
    connection = deps.connections.peek(("connection", team_id))
    if connection is None:
        return None
    return deps.answers.peek(((connection.id, connection.updated_at), *key))


def ack_reply(parsed: Parsed, *, team_id: str, deps: Deps) -> Message | None:
    """What the ack itself can say: an instant answer, a fresh cached one, or, past the bound of
    pending work, that the bot is busy. None: ack empty and answer later."""
    reply = instant(parsed) or from_cache(parsed, team_id=team_id, deps=deps)
    if reply is None and parsed.name not in ("setup", "disconnect", "reminders", "recap", "alias") and \
            deps.background.full and not deps.background.waiting_on(shared_question(parsed, team_id)):
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
        # (the cache key is question_key(parsed): from_cache finds it there)
        return await list_meetings(team_id=team_id, limit=parsed.limit, notice=parsed.notice, deps=deps)
    if parsed.name == "show":
        return await show_meeting(team_id=team_id, meeting_id=parsed.meeting_id or "", deps=deps)
    if parsed.name == "todos" and parsed.owner:
        owner = user_id if parsed.owner == "me" else parsed.owner
        return await owner_list(deps, team_id=team_id, owner=owner, asker=user_id)
    if parsed.name == "todos":
        async def build(provider, name):
            groups = await meeting_service.todos_by_meeting(provider, include_done=parsed.include_done)
            return todo_groups(groups, provider_name=name, include_done=parsed.include_done)
        return await _cached(deps, team_id, question_key(parsed), build)
    if parsed.name == "topics":
        async def build(provider, name):
            return replies.topic_list(await provider.list_topics(), provider_name=name)
        return await _cached(deps, team_id, question_key(parsed), build)
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
                return replies.status_message(connection, key, provider_name=name, dead_events=dead_events,
                                              dead_messages=dead, changes=changes)
    raise ValueError(f"unhandled command {parsed.name!r}")


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
    return owner_todos([(s.meeting_title, todo_view(s)) for s in states], owner=owner, asker=asker, notice=notice)


async def list_meetings(*, team_id: str, limit: int, deps: Deps, notice: str | None = None) -> Message:
    async def build(provider, name):
        page = await meeting_service.recent_meetings(provider, limit=limit)
        return meeting_blocks.meeting_list(page, provider_name=name, limit=limit, notice=notice)
    return await _cached(deps, team_id, ("list", limit, notice), build)


async def more_meetings(*, team_id: str, cursor: str | None, limit: int, after_id: str | None,
                        deps: Deps) -> Message:
    async def build(provider, name):
        page = await meeting_service.recent_meetings(provider, limit=limit, cursor=cursor, after_id=after_id)
        return meeting_blocks.meeting_list(page, provider_name=name, limit=limit, continued=True)
    return await _cached(deps, team_id, ("more", cursor, limit, after_id), build)


async def show_meeting(*, team_id: str, meeting_id: str, deps: Deps) -> Message:
    async def build(provider, name):
        return meeting_blocks.meeting_detail(await provider.get_meeting(meeting_id), provider_name=name)
    return await _cached(deps, team_id, ("show", meeting_id), build)


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
