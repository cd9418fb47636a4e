"""The setup modal's submission and the disconnect question's buttons (bot/slack/setup_flow.py)."""

from __future__ import annotations

import asyncio

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.providers.registry import PROVIDERS
from bot.services import setup as setup_service
from bot.slack import setup_flow
from bot.slack.blocks import setup as blocks
from bot.slack.errors import describe
from bot.slack.ids import ActionId, BlockId, CallbackId


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(CallbackId.SETUP_MODAL.value)
    async def setup_submitted(ack, view, context):
        team_id = context["workspace"]
        values = blocks.submission_values(view)
        if values["provider"] not in PROVIDERS:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: "Choose a service."})
            return
        request = setup_service.SetupRequest(
            team_id=team_id, user_id=context["user_id"], provider=values["provider"], api_key=values["api_key"],
            channel=values["channel"], webhook_secret=values["webhook_secret"],
            posts=frozenset(p for p in values["posts"] if p), register_webhook=values["register_webhook"])
        task = asyncio.get_running_loop().create_task(setup_flow.save(deps, request, context["is_admin"]))
        done, _ = await asyncio.wait({task}, timeout=setup_flow.SUBMIT_BUDGET_SECONDS)
        if task not in done:
            await ack()  # close the modal; the result follows as a message
            deps.background.run(setup_flow.finish_late(deps, request, task), what="finishing a slow setup")
            return
        try:
            outcome = task.result()
        except setup_flow.NotAdmin:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: setup_flow.NOT_ADMIN})
            return
        except setup_service.KeyRejected as exc:
            await ack(response_action="errors", errors={BlockId.SETUP_API_KEY.value: str(exc)[:500]})
            return
        except Exception as exc:  # the provider or Slack failing: its sentence, on the key field
            sentence = describe(exc, team_id=team_id).text
            await ack(response_action="errors", errors={BlockId.SETUP_API_KEY.value: sentence[:500]})
            return
        await ack()
        deps.background.run(setup_flow.confirm(deps, request, outcome), what="confirming the setup")

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
