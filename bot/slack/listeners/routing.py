"""The held meeting's approval DM (Approve, Post to…, Keep private, Skip) and `/meetings explain`.
Thin: the choice is bot/delivery/approvals.py's, the decision's bot/services/decisions.py's."""

from __future__ import annotations

import json

from slack_bolt.async_app import AsyncApp

from bot.delivery import approvals
from bot.deps import Deps
from bot.services import decisions
from bot.slack.blocks.replies import sentence
from bot.slack.blocks.routing import parse_decision_ref, post_to_modal
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.listeners.actions import clicking_team
from bot.slack.listeners.setup import is_admin

STALE = "That button is out of date. Type `/meetings status` to see the meetings waiting for you."
CHOICES = {ActionId.ROUTE_APPROVE: "approve", ActionId.ROUTE_KEEP_PRIVATE: "keep_private",
           ActionId.ROUTE_SKIP: "skip"}


async def _choose(deps: Deps, *, team_id: str, user_id: str, value: str | None, choice: str,
                  channel: str | None = None):
    decision_id = parse_decision_ref(value)
    if decision_id is None:
        return sentence(STALE)
    outcome = await approvals.decide(deps, team_id=team_id, decision_id=decision_id, user_id=user_id, choice=choice,
                                     channel=channel, is_admin=lambda: is_admin(deps, team_id, user_id))
    return sentence(outcome.text)


async def open_personal_connect(deps: Deps, *, team_id: str, user_id: str, trigger_id: str) -> None:
    """`/meetings connect`: the setup modal's personal form, for any member."""
    from bot.services import setup as setup_service
    from bot.slack.blocks.setup import setup_modal
    from bot.slack.listeners.setup import provider_choices

    mine = None
    for name, _display in provider_choices():
        mine = mine or await setup_service.personal_connection(deps.db, team_id, name, user_id)
    url = deps.settings.webhook_url(mine.provider, mine.webhook_token) if mine else None
    await deps.slack_client(team_id).views_open(trigger_id=trigger_id, view=setup_modal(
        providers=provider_choices(), connection=mine, webhook_url=url, personal=True))


def register(app: AsyncApp, deps: Deps) -> None:
    def on(action_id: ActionId, choice: str):
        @app.action(action_id.value)
        async def clicked(ack, body, action):
            await ack()
            team_id = clicking_team(body)
            user_id = (body.get("user") or {}).get("id") or ""
            work = _choose(deps, team_id=team_id, user_id=user_id, value=action.get("value"), choice=choice)
            deps.background.answer(work, response_url=body.get("response_url") or "", team_id=team_id)

    for action_id, choice in CHOICES.items():
        on(action_id, choice)

    @app.view(CallbackId.CONNECT_MODAL.value)
    async def personal_connect_submitted(ack, body, view):
        import asyncio

        from bot.providers.base import ProviderError
        from bot.providers.registry import PROVIDERS
        from bot.services import setup as setup_service
        from bot.slack import directory
        from bot.slack.blocks.setup import submission_values
        from bot.slack.errors import describe
        from bot.slack.listeners.setup import SUBMIT_BUDGET_SECONDS, _confirm, _finish_late

        team_id = clicking_team(body)
        user_id = (body.get("user") or {}).get("id") or ""
        values = submission_values(view)
        if values["provider"] not in PROVIDERS:
            await ack(response_action="errors", errors={BlockId.SETUP_PROVIDER.value: "Choose a service."})
            return
        channel = values["channel"]
        if channel:
            try:
                mine = await asyncio.wait_for(directory.member_of(deps, team_id, user_id), timeout=1.0)
            except Exception:
                mine = None
            if mine is not None and channel not in mine:
                await ack(response_action="errors", errors={BlockId.SETUP_CHANNEL.value: (
                    "You are not in that channel: pick one you are in, or leave it empty to get your digests "
                    "by DM.")})
                return
        request = setup_service.SetupRequest(
            team_id=team_id, user_id=user_id, provider=values["provider"], api_key=values["api_key"],
            channel=channel, webhook_secret=values["webhook_secret"],
            posts=frozenset(p for p in values["posts"] if p), register_webhook=values["register_webhook"],
            personal=True)
        task = asyncio.get_running_loop().create_task(setup_service.save_setup(deps, request))
        done, _ = await asyncio.wait({task}, timeout=SUBMIT_BUDGET_SECONDS)
        if task not in done:
            await ack()
            deps.background.run(_finish_late(deps, request, task), what="finishing a slow personal connect")
            return
        try:
            outcome = task.result()
        except setup_service.KeyRejected as exc:
            await ack(response_action="errors", errors={BlockId.SETUP_API_KEY.value: str(exc)[:500]})
            return
        except ProviderError as exc:
            await ack(response_action="errors",
                      errors={BlockId.SETUP_API_KEY.value: describe(exc, team_id=team_id).text[:500]})
            return
        await ack()
        deps.background.run(_confirm(deps, request, outcome), what="confirming a personal connect")

    @app.action(ActionId.ROUTE_POST_TO.value)
    async def post_to_clicked(ack, body, action, client):
        await ack()
        team_id = clicking_team(body)
        decision_id = parse_decision_ref(action.get("value"))
        decision = await decisions.get(deps.db, team_id=team_id, decision_id=decision_id) if decision_id else None
        if decision is None:
            deps.background.answer(_stale(), response_url=body.get("response_url") or "", team_id=team_id)
            return
        await client.views_open(trigger_id=body["trigger_id"],
                                view=post_to_modal(decision.id, title=decision.meeting_title))

    @app.view(CallbackId.ROUTE_POST_TO_MODAL.value)
    async def post_to_submitted(ack, body, view):
        team_id = (body.get("team") or {}).get("id") or (view.get("team_id") or "")
        user_id = (body.get("user") or {}).get("id") or ""
        values = (view.get("state") or {}).get("values") or {}
        channel = ((values.get(BlockId.ROUTE_POST_TO_CHANNEL.value) or {})
                   .get(ActionId.ROUTE_POST_TO_CHANNEL.value) or {}).get("selected_conversation")
        if not channel:
            await ack(response_action="errors", errors={BlockId.ROUTE_POST_TO_CHANNEL.value: "Pick a channel."})
            return
        await ack()
        try:
            ref = json.loads(view.get("private_metadata") or "{}").get("ref")
        except ValueError:
            ref = None

        async def work() -> None:
            message = await _choose(deps, team_id=team_id, user_id=user_id, value=ref, choice="post_to",
                                    channel=channel)
            await deps.slack_client(team_id).chat_postMessage(channel=user_id, **message.to_slack())

        deps.background.run(work(), what="post to a chosen channel")


async def _stale():
    return sentence(STALE)
