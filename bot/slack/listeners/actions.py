"""Buttons on `/meetings` answers. Every click is answered for the clicking user's own team."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.answers import minutes_view, more_meetings, show_meeting
from bot.slack.blocks.digest import minutes_loading_modal
from bot.slack.blocks.meetings import parse_more_value
from bot.slack.blocks.message import Message
from bot.slack.blocks.replies import sentence
from bot.deps import Deps
from bot.slack.ids import ActionId


def clicking_team(body: dict) -> str:
    # The clicking user's team, never a team named in the button value.
    return (body.get("user") or {}).get("team_id") or (body.get("team") or {}).get("id") or ""


async def _stale_button() -> Message:
    return sentence("That button is out of date. Type `/meetings list` again.")


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(ActionId.SHOW_MEETING.value)
    async def show_clicked(ack, body, action):
        await ack()
        team_id = clicking_team(body)
        work = show_meeting(team_id=team_id, meeting_id=action.get("value") or "", deps=deps,
                            user_id=(body.get("user") or {}).get("id") or "")
        deps.background.answer(work, response_url=body["response_url"], team_id=team_id)

    @app.action(ActionId.MORE_MEETINGS.value)
    async def more_clicked(ack, body, action):
        await ack()
        team_id = clicking_team(body)
        try:
            cursor, limit, after_id = parse_more_value(action.get("value") or "")
        except (ValueError, TypeError, AttributeError):
            deps.background.answer(_stale_button(), response_url=body["response_url"], team_id=team_id)
            return
        work = more_meetings(team_id=team_id, cursor=cursor, limit=max(1, min(limit, 30)), after_id=after_id,
                             deps=deps, user_id=(body.get("user") or {}).get("id") or "")
        deps.background.answer(work, response_url=body["response_url"], team_id=team_id)

    @app.action(ActionId.FULL_MINUTES.value)
    async def full_minutes_clicked(ack, body, action, client):
        await ack()
        team_id = clicking_team(body)
        # trigger_id is only good for 3 s: open a loading modal now, fill it once the provider answers.
        opened = await client.views_open(trigger_id=body["trigger_id"], view=minutes_loading_modal())
        view_id = opened["view"]["id"]

        async def fill() -> None:
            view = await minutes_view(team_id=team_id, meeting_id=action.get("value") or "", deps=deps)
            await deps.slack_client(team_id).views_update(view_id=view_id, view=view)

        deps.background.run(fill(), what="filling the minutes modal")
