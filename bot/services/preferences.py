"""Who wants follow-ups: a member's morning reminders, a channel's weekly recap (on by default)."""

from __future__ import annotations

from bot.store.db import Database
from bot.store.models import ChannelPrefs, MemberPrefs


async def set_reminders(db: Database, *, team_id: str, user_id: str, on: bool) -> None:
    async with db.session() as session:
        prefs = await session.get(MemberPrefs, (team_id, user_id)) or MemberPrefs(team_id=team_id, user_id=user_id)
        prefs.reminders = on
        session.add(prefs)


async def set_recap(db: Database, *, team_id: str, channel: str, on: bool) -> None:
    async with db.session() as session:
        prefs = await session.get(ChannelPrefs, (team_id, channel)) or ChannelPrefs(team_id=team_id, channel=channel)
        prefs.weekly_recap = on
        session.add(prefs)
