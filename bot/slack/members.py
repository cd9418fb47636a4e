"""Members' time zones as Slack tells them (users.info), stored through bot/services/timezones.py
so each member is asked about once a day at most, never on every scheduler tick."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo

from slack_sdk.errors import SlackApiError

from bot.services import timezones
from bot.store.models import utcnow

log = logging.getLogger(__name__)

# users.info answers these for a member who left or whom the bot cannot see: stored as "unknown"
# (never 9:00 there) until the next daily refresh, instead of being asked again every tick.
GONE = frozenset({"user_not_found", "user_not_visible", "account_inactive"})


async def learn_zone(deps, team_id: str, user_id: str, *, now: datetime | None = None) -> str:
    """Ask Slack for the member's zone and store it; returns the stored key. Errors other than
    "no such member" propagate (nothing stored, so the next tick asks again)."""
    try:
        info = await deps.slack_client(team_id).users_info(user=user_id)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        if data.get("error") not in GONE:
            raise
        key = timezones.UNKNOWN
    else:
        user = info.get("user") or {}
        key = timezones.zone_key(user.get("tz"), user.get("tz_offset"))
    await timezones.store(deps.db, team_id=team_id, user_id=user_id, key=key, now=now or utcnow())
    return key


async def member_zone(deps, team_id: str, user_id: str) -> tzinfo:
    """The member's zone: stored, or read from Slack once. UTC when Slack does not know them."""
    key = await timezones.stored(deps.db, team_id=team_id, user_id=user_id)
    if key is None:
        key = await learn_zone(deps, team_id, user_id)
    return timezones.zone_of(key) or UTC


async def learn_missing(deps, members: list[tuple[str, str]], *, now: datetime) -> int:
    """Read and store the zones of these members; one failing is logged and the others go on."""
    learned = 0
    for team_id, user_id in members:
        try:
            await learn_zone(deps, team_id, user_id, now=now)
            learned += 1
        except Exception:
            log.warning("could not read the time zone of a member of team %s", team_id, exc_info=True)
    return learned
