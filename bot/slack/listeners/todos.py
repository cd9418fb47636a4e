"""Clicks on todos in a digest's thread. Each click is acked at once; the change is made for the
clicking user's own team only, then the meeting's todo pages are re-rendered from the stored
state and the sender edits the thread messages (chat.update, paced and retried like any post)."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.services import todos as todo_service
from bot.slack import digests
from bot.slack.deps import Deps
from bot.slack.ids import ActionId, BlockId
from bot.slack.listeners.actions import clicking_team
from bot.store.models import Connection

log = logging.getLogger(__name__)

STALE = ("That todo is no longer tracked here: its meeting or the workspace's connection was removed. "
         "Type `/meetings todos` to see the current ones.")
MORE_ACTIONS = {"tomorrow": "snooze_tomorrow", "week": "snooze_week", "unassign": "unassign"}


def _state_id(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


async def handle_click(deps: Deps, body: dict, *, state_id: int | None, action: str,
                       assignee: str | None = None) -> None:
    team_id = clicking_team(body)
    user_id = (body.get("user") or {}).get("id") or ""
    try:
        if state_id is None or action not in todo_service.ACTIONS:
            raise todo_service.TodoGone(state_id)  # a value this version never made
        change = await todo_service.apply(deps.db, team_id=team_id, state_id=state_id, action=action,
                                          user_id=user_id, assignee=assignee)
        async with deps.db.session() as session:
            connection = await session.get(Connection, change.state.connection_id)
        if connection is None or not await digests.refresh_todos(deps, connection=connection,
                                                                 meeting_id=change.state.meeting_id):
            raise todo_service.TodoGone(state_id)
        deps.outbox_wakeup.set()  # edit the thread now, not at the sender's next poll
    except todo_service.TodoGone:
        await _tell(deps, body, team_id, user_id, STALE)


async def _tell(deps: Deps, body: dict, team_id: str, user_id: str, text: str) -> None:
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
            deps.background.run(handle_click(deps, body, state_id=_state_id(action.get("value")),
                                             action=action_name), what=f"todo {action_name}")

    on(ActionId.TODO_DONE, "done")
    on(ActionId.TODO_REOPEN, "reopen")
    on(ActionId.TODO_ASSIGN_ME, "assign")

    @app.action(ActionId.TODO_ASSIGN.value)
    async def assigned(ack, body, action):
        await ack()
        block_id = action.get("block_id") or ""
        state_id = _state_id(block_id.removeprefix(BlockId.TODO_ACTIONS_PREFIX)) \
            if block_id.startswith(BlockId.TODO_ACTIONS_PREFIX) else None
        assignee = action.get("selected_user")
        deps.background.run(handle_click(deps, body, state_id=state_id, action="assign" if assignee else "unassign",
                                         assignee=assignee), what="todo assign")

    @app.action(ActionId.TODO_MORE.value)
    async def more(ack, body, action):
        await ack()
        choice, _, raw_id = ((action.get("selected_option") or {}).get("value") or "").partition(":")
        deps.background.run(handle_click(deps, body, state_id=_state_id(raw_id),
                                         action=MORE_ACTIONS.get(choice, "")), what="todo menu")
