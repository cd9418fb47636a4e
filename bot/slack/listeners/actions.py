"""Buttons on `/meetings` answers and channel digests, answered for the workspace they belong to
(context["workspace"], bot/slack/context.py)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.slack.answers import more_meetings, show_meeting
from bot.slack.blocks.meetings import parse_more_value
from bot.slack.blocks.message import Message
from bot.slack.blocks.replies import sentence
from bot.slack.ids import ActionId
from bot.slack.minutes import open_minutes

MAX_MORE = 30  # as many as `/meetings list` shows at once


async def _stale_button() -> Message:
    return sentence("That button is out of date. Type `/meetings list` again.")


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(ActionId.SHOW_MEETING.value)
    async def show_clicked(ack, body, action, context):
        await ack()
        team_id = context["workspace"]
        work = show_meeting(team_id=team_id, meeting_id=action.get("value") or "", deps=deps,
                            user_id=context["user_id"])
        deps.background.answer(work, response_url=body["response_url"], team_id=team_id)

    @app.action(ActionId.MORE_MEETINGS.value)
    async def more_clicked(ack, body, action, context):
        await ack()
        team_id = context["workspace"]
        try:
            cursor, limit, after_id = parse_more_value(action.get("value") or "")
        except ValueError:
            deps.background.answer(_stale_button(), response_url=body["response_url"], team_id=team_id)
            return
        work = more_meetings(team_id=team_id, cursor=cursor, limit=min(limit, MAX_MORE), after_id=after_id,
                             deps=deps, user_id=context["user_id"])
        deps.background.answer(work, response_url=body["response_url"], team_id=team_id)

    @app.action(ActionId.FULL_MINUTES.value)
    async def full_minutes_clicked(ack, body, action, context):
        await ack()  # before views.open: Slack's 3 s are for the ack, and views.open may be slow or limited
        team_id = context["workspace"]
        work = open_minutes(deps, team_id=team_id, trigger_id=body.get("trigger_id") or "",
                            meeting_id=action.get("value") or "", user_id=context["user_id"])
        if body.get("response_url"):
            deps.background.answer(work, response_url=body["response_url"], team_id=team_id)
        else:
            deps.background.run(work, what="opening the minutes modal")
