"""A click on a todo's button, as a change to the bot's todo state. No Slack here: the Slack
layer (bot/slack/todo_clicks.py) says who clicked, in which workspace, and shows the result.

The change is made for the clicking user's workspace only, and only to the todo the button
names (see TodoRef): a value this version never made, or a todo that is gone, is TodoGone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from bot.services import todos as todo_service
from bot.services.todos import Change, TodoGone, TodoRef
from bot.store.db import Database
from bot.store.models import Connection, utcnow

log = logging.getLogger(__name__)

# The overflow menu's choices (value "<choice>:<todo ref>") → the action they stand for.
MORE_ACTIONS = {"tomorrow": "snooze_tomorrow", "week": "snooze_week", "unassign": "unassign"}

ZoneLookup = Callable[[], Awaitable[tzinfo]]


@dataclass(frozen=True)
class Click:
    team_id: str  # the workspace the clicked message belongs to
    user_id: str  # who clicked
    target: str | None  # the button's value (or block id): a TodoRef, maybe "@<owner>" for an owner's list
    action: str  # one of todo_service.ACTIONS ("" for a choice this version never offered)
    assignee: str | None = None  # for "assign" from the user picker: a Slack user id, already checked


def parse_target(text: str | None) -> tuple[TodoRef | None, str | None]:
    """A button value or an actions block id (without its prefix) → the todo, and the owner whose
    list it was clicked in (`@U123` at the end), if any."""
    ref, _, owner = (text or "").partition("@")
    owner_ok = owner[:1] in ("U", "W") and owner.isascii() and owner.isalnum() and len(owner) < 24
    return TodoRef.parse(ref), (owner if owner_ok else None)


def snooze_end(zone: tzinfo, *, action: str, now: datetime) -> datetime:
    """The start of tomorrow, or of next Monday, in the clicking user's own time zone, so a
    snoozed todo is back in that morning's reminder."""
    today = now.astimezone(zone).date()
    day = today + timedelta(days=1) if action == "snooze_tomorrow" else today + timedelta(days=7 - today.weekday())
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


async def handle_click(db: Database, click: Click, *, zone: ZoneLookup, now: datetime | None = None) -> Change:
    """Apply the click; TodoGone when the todo is not (or no longer) this workspace's.
    `zone` is asked only for a snooze, after the todo was found (it may cost a Slack call)."""
    ref, _owner = parse_target(click.target)
    now = now or utcnow()
    if ref is None or click.action not in todo_service.ACTIONS:
        raise TodoGone(click.target)  # a value this version never made
    until = None
    if click.action.startswith("snooze"):
        await todo_service.check(db, team_id=click.team_id, ref=ref)
        try:
            user_zone = await zone()
        except Exception as exc:
            log.warning("no time zone for a user of team %s (%s); snoozing in UTC", click.team_id,
                        type(exc).__name__)
            user_zone = UTC
        until = snooze_end(user_zone, action=click.action, now=now)
    return await todo_service.apply(db, team_id=click.team_id, ref=ref, action=click.action, user_id=click.user_id,
                                    assignee=click.assignee, snooze_until=until, now=now)


async def connection_of(db: Database, change: Change) -> Connection | None:
    """The connection the changed todo's meeting came through (its thread pages are drawn from it)."""
    async with db.session() as session:
        connection = await session.get(Connection, change.state.connection_id)
    return connection if connection is not None and connection.team_id == change.state.team_id else None
