"""Clicks on todos: in a digest's thread, a morning reminder or a `/meetings todos mine` list.

Each click is acked at once; the rest runs after the ack. The change is made for the clicking
user's own team only (and only to the todo the button names: see TodoRef), then every surface
that shows the todo is rendered again from the stored state: the meeting's thread pages and a
reminder DM through the outbox (the sender edits them with chat.update, paced and retried like
any post, and several quick clicks collapse into one edit), an ephemeral list through its
response_url (Slack cannot chat.update an ephemeral message).
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, timezone

from slack_bolt.async_app import AsyncApp

from bot.services import todos as todo_service
from bot.services.todos import TodoRef
from bot.delivery import digests
from bot.jobs import reminders
from bot.slack.members import member_zone
from bot.slack.blocks.replies import sentence
from bot.slack.blocks.text import escape
from bot.deps import Deps
from bot.slack.ids import ActionId, BlockId
from bot.slack.listeners.actions import clicking_team
from bot.store.models import Connection, utcnow

log = logging.getLogger(__name__)

STALE = ("That todo is no longer tracked here: it was removed from its meeting, or the workspace's connection "
         "was removed. Nothing was changed. Type `/meetings todos mine` to see your current ones.")
EXPIRED = ("That reminder is from an earlier day and its buttons have expired. Nothing was changed. "
           "Type `/meetings todos mine` to see your current todos.")
MORE_ACTIONS = {"tomorrow": "snooze_tomorrow", "week": "snooze_week", "unassign": "unassign"}


def parse_target(text: str | None) -> tuple[TodoRef | None, str | None]:
    """A button value or an actions block id (without its prefix) → the todo, and the owner whose
    list it was clicked in (`@U123` at the end), if any."""
    ref, _, owner = (text or "").partition("@")
    return TodoRef.parse(ref), (owner if owner[:1] in ("U", "W") and owner.isalnum() and len(owner) < 24 else None)


async def snooze_end(deps: Deps, *, team_id: str, user_id: str, action: str, now: datetime) -> datetime:
    """The start of tomorrow, or of next Monday, in the clicking user's own time zone, so a
    snoozed todo is back in that morning's reminder."""
    try:
        zone = await member_zone(deps, team_id, user_id)
    except Exception:
        log.warning("no time zone for a user of team %s; snoozing in UTC", team_id, exc_info=True)
        zone = timezone.utc
    today = now.astimezone(zone).date()
    day = today + timedelta(days=1) if action == "snooze_tomorrow" else today + timedelta(days=7 - today.weekday())
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


async def handle_click(deps: Deps, body: dict, *, target: str | None, action: str,
                       assignee: str | None = None, now: datetime | None = None) -> None:
    team_id = clicking_team(body)
    user_id = (body.get("user") or {}).get("id") or ""
    ref, list_owner = parse_target(target)
    now = now or utcnow()
    container = body.get("container") or {}
    reminder = None
    if container.get("message_ts") and not container.get("is_ephemeral"):
        clicked = await reminders.find_posted(deps.db, team_id=team_id, channel=container.get("channel_id") or "",
                                              ts=container["message_ts"])
        if clicked is None and (container.get("channel_id") or "").startswith("D"):
            # A DM with todo buttons the bot no longer knows: a reminder the retention job expired.
            await _tell(deps, body, team_id, user_id, EXPIRED)
            return
        reminder = clicked if clicked is not None and clicked.kind == reminders.KIND else None
    try:
        if ref is None or action not in todo_service.ACTIONS:
            raise todo_service.TodoGone(target)  # a value this version never made
        until = None
        if action.startswith("snooze"):
            await todo_service.check(deps.db, team_id=team_id, ref=ref)  # before asking Slack anything
            until = await snooze_end(deps, team_id=team_id, user_id=user_id, action=action, now=now)
        change = await todo_service.apply(deps.db, team_id=team_id, ref=ref, action=action, user_id=user_id,
                                          assignee=assignee, snooze_until=until, now=now)
    except todo_service.TodoGone:
        await _tell(deps, body, team_id, user_id, STALE)
        return
    state = change.state
    async with deps.db.session() as session:
        connection = await session.get(Connection, state.connection_id)
    if connection is not None:
        await digests.refresh_todos(deps, connection=connection, meeting_id=state.meeting_id)
    if reminder is not None:
        await reminders.refresh_reminder(deps, reminder)
    deps.outbox_wakeup.set()  # edit now, not at the sender's next poll
    if container.get("is_ephemeral") and list_owner and body.get("response_url"):
        await _list_again(deps, body, team_id=team_id, user_id=user_id, owner=list_owner,
                          notice=f"{change.summary} ({escape(_short(state.text))})")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"


async def _list_again(deps: Deps, body: dict, *, team_id: str, user_id: str, owner: str, notice: str) -> None:
    """The ephemeral `/meetings todos mine|@someone` list, rendered again from the stored state."""
    from bot.slack.answers import owner_list

    message = await owner_list(deps, team_id=team_id, owner=owner, asker=user_id, notice=notice)
    try:
        await deps.background.responder.send(body["response_url"], message, replace_original=True)
    except Exception:
        log.warning("could not render a todo list again (team %s)", team_id, exc_info=True)


async def _tell(deps: Deps, body: dict, team_id: str, user_id: str, text: str) -> None:
    """A sentence only the clicking user sees, next to what they clicked."""
    if body.get("response_url"):
        try:
            await deps.background.responder.send(body["response_url"], sentence(text))
            return
        except Exception:
            log.warning("could not answer a todo click through its response_url (team %s)", team_id, exc_info=True)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    client = deps.slack_client(team_id)
    if channel:
        await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
    else:
        await client.chat_postMessage(channel=user_id, text=text)


def register(app: AsyncApp, deps: Deps) -> None:
    def on(action_id: ActionId, action_name: str):
        @app.action(action_id.value)
        async def clicked(ack, body, action):
            await ack()
            # The value is the todo; an owner's list adds "@owner" to its block ids, not its values.
            block_owner = (action.get("block_id") or "").partition("@")[2]
            target = (action.get("value") or "") + (f"@{block_owner}" if block_owner else "")
            deps.background.run(handle_click(deps, body, target=target, action=action_name),
                                what=f"todo {action_name}")

    on(ActionId.TODO_DONE, "done")
    on(ActionId.TODO_REOPEN, "reopen")
    on(ActionId.TODO_ASSIGN_ME, "assign")

    @app.action(ActionId.TODO_ASSIGN.value)
    async def assigned(ack, body, action):
        await ack()
        block_id = action.get("block_id") or ""
        target = block_id.removeprefix(BlockId.TODO_ACTIONS_PREFIX) \
            if block_id.startswith(BlockId.TODO_ACTIONS_PREFIX) else None
        assignee = action.get("selected_user")
        deps.background.run(handle_click(deps, body, target=target, action="assign" if assignee else "unassign",
                                         assignee=assignee), what="todo assign")

    @app.action(ActionId.TODO_MORE.value)
    async def more(ack, body, action):
        await ack()
        choice, _, ref = ((action.get("selected_option") or {}).get("value") or "").partition(":")
        block_owner = (action.get("block_id") or "").partition("@")[2]
        deps.background.run(handle_click(deps, body, target=ref + (f"@{block_owner}" if block_owner else ""),
                                         action=MORE_ACTIONS.get(choice, "")), what="todo menu")
