"""Clicks on todos: in a digest's thread, a morning reminder or a `/meetings todos mine` list.
Each is acked at once; the rest runs after the ack (bot/slack/todo_clicks.py)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.services.todo_clicks import MORE_ACTIONS, Click
from bot.slack.blocks.text import is_user_id
from bot.slack.ids import ActionId, BlockId
from bot.slack.todo_clicks import Where, accepted_all, clicked, tell

NOT_A_PERSON = ("Slack sent something that isn't a person from this workspace, so nothing was changed. "
                "Pick someone again.")


def _owner_suffix(action: dict) -> str:
    # An owner's list adds "@owner" to its block ids, not to its values.
    owner = (action.get("block_id") or "").partition("@")[2]
    return f"@{owner}" if owner else ""


def register(app: AsyncApp, deps: Deps) -> None:
    def run(body: dict, context, *, target: str | None, action: str, assignee: str | None = None) -> None:
        click = Click(team_id=context["workspace"], user_id=context["user_id"], target=target, action=action,
                      assignee=assignee)
        where = Where.of(body)
        if where.response_url:  # a failure (Slack's or the database's) is told to the one who clicked
            deps.background.answer(clicked(deps, click, where), response_url=where.response_url,
                                   team_id=click.team_id)
        else:
            deps.background.run(clicked(deps, click, where), what=f"todo {action or 'click'}")

    def on(action_id: ActionId, action_name: str) -> None:
        @app.action(action_id.value)
        async def button(ack, body, action, context):
            await ack()
            run(body, context, target=(action.get("value") or "") + _owner_suffix(action), action=action_name)

    on(ActionId.TODO_DONE, "done")
    on(ActionId.TODO_REOPEN, "reopen")
    on(ActionId.TODO_ASSIGN_ME, "assign")
    on(ActionId.TODO_ACCEPT, "accept")
    on(ActionId.TODO_NOT_ME, "not_me")

    @app.action(ActionId.OWNERS_ACCEPT_ALL.value)
    async def accept_all(ack, body, action, context):
        await ack()
        click = Click(team_id=context["workspace"], user_id=context["user_id"], target=action.get("value") or "",
                      action="accept")
        deps.background.run(accepted_all(deps, click, Where.of(body)), what="owners accept all")

    @app.action(ActionId.TODO_ASSIGN.value)
    async def assigned(ack, body, action, context):
        await ack()
        block_id = action.get("block_id") or ""
        target = block_id.removeprefix(BlockId.TODO_ACTIONS_PREFIX) \
            if block_id.startswith(BlockId.TODO_ACTIONS_PREFIX) else None
        assignee = action.get("selected_user")
        if assignee is not None and not is_user_id(assignee):
            click = Click(team_id=context["workspace"], user_id=context["user_id"], target=target, action="assign")
            deps.background.run(tell(deps, click, Where.of(body), NOT_A_PERSON), what="todo assign refused")
            return
        run(body, context, target=target, action="assign" if assignee else "unassign", assignee=assignee)

    @app.action(ActionId.TODO_MORE.value)
    async def more(ack, body, action, context):
        await ack()
        choice, _, ref = ((action.get("selected_option") or {}).get("value") or "").partition(":")
        run(body, context, target=ref + _owner_suffix(action), action=MORE_ACTIONS.get(choice, ""))
