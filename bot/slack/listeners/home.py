"""The App Home tab, published whenever someone opens it, and its Set up button."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.slack import setup_flow
from bot.slack.errors import describe
from bot.slack.home_tab import publish_home
from bot.slack.ids import ActionId


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def home_opened(event, context):
        if event.get("tab", "home") != "home":
            return  # the Messages tab needs nothing
        deps.background.run(publish_home(deps, team_id=context["workspace"], user_id=context["user_id"],
                                         admin=context["is_admin"]), what="publishing the App Home")

    @app.action(ActionId.OPEN_SETUP.value)
    async def setup_button(ack, body, context):
        await ack()
        team_id, user_id = context["workspace"], context["user_id"]

        async def work() -> None:
            try:
                answer = await setup_flow.open_setup(deps, team_id=team_id, trigger_id=body.get("trigger_id") or "",
                                                     admin=context["is_admin"])
            except Exception as exc:  # Slack refused (an expired trigger, a missing scope…): say what to do
                answer = describe(exc, team_id=team_id)
            if answer is not None:  # the App Home has no response_url: the answer comes as a DM
                await deps.slack_client(team_id, interactive=True).chat_postMessage(channel=user_id,
                                                                                    **answer.to_slack())

        deps.background.run(work(), what="opening the setup modal from the App Home")
