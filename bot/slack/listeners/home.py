"""The App Home tab, published whenever someone opens it, and its Set up button."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.delivery import outbox
from bot.providers.registry import provider_info
from bot.services import decisions
from bot.services import setup as setup_service
from bot.services import todos as todo_service
from bot.slack.blocks import setup as setup_blocks
from bot.slack.blocks.home import home_view
from bot.deps import Deps
from bot.slack.ids import ActionId
from bot.slack.listeners.actions import clicking_team
from bot.slack.listeners.setup import NOT_ADMIN, is_admin, open_setup
from bot.slack.visibility import visible_todos


async def publish_home(deps: Deps, *, team_id: str, user_id: str) -> None:
    connection = await setup_service.saved_connection(deps.db, team_id)
    view = home_view(
        connection=connection,
        provider_name=provider_info(connection.provider).display_name if connection else None,
        # A digest in someone's DM (kept private, or a personal connection's) is theirs alone.
        digests=[m for m in await outbox.recent_digests(deps.db, team_id=team_id, limit=20)
                 if m.channel[:1] not in ("U", "W", "D") or m.channel == user_id][:5],
        viewer_is_admin=await is_admin(deps, team_id, user_id),
        my_todos=await visible_todos(deps, team_id=team_id, user_id=user_id, states=await
                                     todo_service.open_for_owner(deps.db, team_id=team_id, owner=user_id, limit=50)),
        waiting=len(await decisions.held_for(deps.db, team_id=team_id, user_id=user_id)),
    )
    await deps.slack_client(team_id).views_publish(user_id=user_id, view=view)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def home_opened(event, body):
        if event.get("tab", "home") != "home":
            return  # the Messages tab needs nothing
        team_id = body.get("team_id") or ""
        deps.background.run(publish_home(deps, team_id=team_id, user_id=event.get("user") or ""),
                            what="publishing the App Home")

    @app.action(ActionId.OPEN_SETUP.value)
    async def setup_button(ack, body):
        await ack()
        team_id = clicking_team(body)
        user_id = (body.get("user") or {}).get("id") or ""

        async def work() -> None:
            refusal = await open_setup(deps, team_id=team_id, user_id=user_id, trigger_id=body.get("trigger_id") or "")
            if refusal is not None:
                await deps.slack_client(team_id).chat_postMessage(channel=user_id, **setup_blocks.refused(
                    NOT_ADMIN).to_slack())

        deps.background.run(work(), what="opening the setup modal from the App Home")
