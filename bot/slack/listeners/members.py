"""`user_change`: a member's profile changed (a move to another time zone among other things);
their stored zone follows at once, so the next 9:00 reminder is at their new 9:00."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.services import timezones
from bot.store.models import utcnow


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("user_change")
    async def user_changed(body, event):
        user = event.get("user")
        if not isinstance(user, dict):
            return
        user_id = user.get("id")
        # The workspace the event was delivered for (a Grid member's home team may differ).
        team_id = body.get("team_id") or user.get("team_id")
        if not isinstance(user_id, str) or not isinstance(team_id, str) or not user_id or not team_id:
            return
        key = timezones.UNKNOWN if user.get("deleted") else timezones.zone_key(user.get("tz"), user.get("tz_offset"))
        await timezones.store(deps.db, team_id=team_id, user_id=user_id[:32], key=key, now=utcnow())
