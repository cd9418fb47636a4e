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
