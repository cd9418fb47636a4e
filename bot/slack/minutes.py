"""The *Full minutes* button on a channel digest: a modal with the meeting's whole minutes.

A trigger_id is good for 3 seconds and Slack wants the click acked within 3 seconds too, so
the listener acks at once and this runs after: the modal opens straight away with a loading
view (views.open, retried after Retry-After on a 429) and is filled with views.update once the
provider has answered, however long that takes.
"""

from __future__ import annotations

import asyncio

from bot.deps import Deps
from bot.slack.blocks.digest import (
    minutes_loading_modal,
    minutes_modal,
    minutes_unavailable_modal,
)
from bot.slack.blocks.message import Message
from bot.slack.errors import describe


async def minutes_view(*, team_id: str, meeting_id: str, deps: Deps, user_id: str = "") -> dict:
    """The Full minutes modal, or a modal that says why not (a held or another member's private
    meeting is for its approver and admins only: bot/slack/visibility.py)."""
    from bot.slack.visibility import PRIVATE, Visibility

    try:
        async with asyncio.timeout(deps.settings.provider_timeout_seconds):
            async with deps.provider_for(team_id) as (connection, provider, name):
                meeting = await provider.get_meeting(meeting_id)
                if await Visibility(deps, connection, user_id).hidden([(meeting.id, meeting.title)]):
                    return minutes_unavailable_modal(PRIVATE)
                return minutes_modal(meeting, provider_name=name)
    except Exception as exc:
        return minutes_unavailable_modal(describe(exc, team_id=team_id).text)


async def open_minutes(deps: Deps, *, team_id: str, trigger_id: str, meeting_id: str,
                       user_id: str = "") -> Message | None:
    """Open the modal, then fill it. A failure to open it propagates (the caller tells the user)."""
    client = deps.slack_client(team_id, interactive=True)
    opened = await client.views_open(trigger_id=trigger_id, view=minutes_loading_modal())
    view = await minutes_view(team_id=team_id, meeting_id=meeting_id, deps=deps, user_id=user_id)
    await client.views_update(view_id=opened["view"]["id"], view=view)
    return None
