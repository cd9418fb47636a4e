"""The setup modal's submission and the disconnect question's buttons (bot/slack/setup_flow.py)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.providers.registry import PROVIDERS
from bot.services import setup as setup_service
from bot.slack import setup_flow
from bot.slack.blocks import setup as blocks
from bot.slack.ids import ActionId, BlockId, CallbackId


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(CallbackId.SETUP_MODAL.value)
    async def setup_submitted(ack, view, context):
        values = blocks.submission_values(view)
        if values["provider"] not in PROVIDERS:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: "Choose a service."})
            return
        request = setup_service.SetupRequest(
            team_id=context["workspace"], user_id=context["user_id"], provider=values["provider"],
            api_key=values["api_key"], channel=values["channel"], webhook_secret=values["webhook_secret"],
            posts=frozenset(p for p in values["posts"] if p), register_webhook=values["register_webhook"])
        await ack(**await setup_flow.submission(deps, request, context["is_admin"]))

    @app.action(ActionId.DISCONNECT_CONFIRM.value)
    async def disconnect_confirmed(ack, body, context):
        await ack()
        work = setup_flow.disconnect(deps, team_id=context["workspace"], user_id=context["user_id"],
                                     admin=context["is_admin"])
        deps.background.answer(work, response_url=body["response_url"], team_id=context["workspace"])

    @app.action(ActionId.DISCONNECT_CANCEL.value)
    async def disconnect_cancelled(ack, body, context):
        await ack()

        async def work():
            return blocks.refused("OK, nothing was disconnected.")

        deps.background.answer(work(), response_url=body["response_url"], team_id=context["workspace"])
