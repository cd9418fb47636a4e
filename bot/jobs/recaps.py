"""Weekly recaps: Mondays at 9:00 in the workspace's time zone, each channel that got digests
that week gets the week's meetings (linked to their digests), the todos opened and closed, and
the open todos by owner.

A tick costs nothing unless it is Monday 9:00 somewhere on Earth; then the workspaces at Monday
9:00 are picked first, and only their digests of the week are read.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta, tzinfo

from sqlalchemy import and_
from sqlmodel import col, select

from bot.delivery import outbox
from bot.jobs.runs import claim_run, mark_queued
from bot.services import timezones
from bot.services import todos as todo_service
from bot.slack import members
from bot.slack.blocks.followups import RecapMeeting, recap_message
from bot.store.db import Database
from bot.store.models import (
    ChannelPrefs,
    Connection,
    MemberZone,
    SlackMessage,
    TodoState,
    Workspace,
)
from bot.store.states import ConnectionStatus, MessageKind, RunKind

log = logging.getLogger(__name__)

HOUR = 9
PRIORITY_FOLLOWUP = 50  # after digests and their threads
KIND = MessageKind.RECAP
# Every UTC offset in use, in quarter hours (UTC-12:00 to UTC+14:00).
_OFFSETS = [timedelta(minutes=15 * q) for q in range(-12 * 4, 14 * 4 + 1)]


def monday_nine_somewhere(now: datetime) -> bool:
    """Whether it can be Monday 9:xx in any time zone at `now`: most ticks of a week it is not,
    and they read nothing at all."""
    return any((local := now.astimezone(UTC) + offset).weekday() == 0 and local.hour == HOUR
               for offset in _OFFSETS)


def recap_week(local: datetime) -> tuple[datetime, datetime]:
    """The week a Monday recap covers: the seven days before this Monday 00:00, local time (in UTC)."""
    monday = local.date() - timedelta(days=local.weekday())
    end = datetime.combine(monday, time(0), tzinfo=local.tzinfo)
    start = datetime.combine(monday - timedelta(days=7), time(0), tzinfo=local.tzinfo)
    return start.astimezone(UTC), end.astimezone(UTC)


async def _workspaces_at_monday_nine(deps, now: datetime) -> dict[str, datetime]:
    """Team → its local time now, for the workspaces where it is Monday 9:xx. A workspace's zone
    is its own setting, else its installer's (read from Slack once), else UTC."""
    query = (select(Workspace.team_id, Workspace.timezone, Workspace.installed_by, MemberZone.zone)
             .outerjoin(MemberZone, and_(col(MemberZone.team_id) == col(Workspace.team_id),
                                         col(MemberZone.user_id) == col(Workspace.installed_by))))
    async with deps.db.session() as session:
        rows = (await session.exec(query)).all()
    found: dict[str, datetime] = {}
    for team_id, setting, installer, installer_zone in rows:
        try:
            zone: tzinfo | None = timezones.zone_of(setting) if setting else None
            if zone is None and installer:
                key = installer_zone or await members.learn_zone(deps, team_id, installer, now=now)
                zone = timezones.zone_of(key)
                if zone is None:
                    continue  # Slack does not know the installer any more: set the workspace's zone
            local = now.astimezone(zone or UTC)
        except Exception:
            log.exception("could not work out the time zone of team %s", team_id)
            continue
        if local.weekday() == 0 and local.hour == HOUR:
            found[team_id] = local
    return found


async def _week_digests(db: Database, weeks: dict[str, tuple[datetime, datetime]]) -> list[SlackMessage]:
    """The digests these workspaces' channels got in each one's week, in active connections."""
    start = min(s for s, _ in weeks.values())
    end = max(e for _, e in weeks.values())
    async with db.session() as session:
        rows = list((await session.exec(select(SlackMessage).join(
            Connection, col(Connection.id) == col(SlackMessage.connection_id)).where(
            col(SlackMessage.team_id).in_(sorted(weeks)), col(SlackMessage.kind) == MessageKind.DIGEST,
            col(SlackMessage.sent_at) >= start, col(SlackMessage.sent_at) < end,
            col(Connection.status) == ConnectionStatus.ACTIVE))).all())
    return [d for d in rows if (at := d.sent_at) is not None and weeks[d.team_id][0] <= at < weeks[d.team_id][1]]


async def _recaps_off(db: Database, teams: list[str]) -> set[tuple[str, str]]:
    async with db.session() as session:
        return {(p.team_id, p.channel) for p in (await session.exec(select(ChannelPrefs).where(
            col(ChannelPrefs.team_id).in_(teams), col(ChannelPrefs.weekly_recap).is_(False)))).all()}


async def _week_todos(db: Database, team_id: str, digests: list[SlackMessage]) -> list[TodoState]:
    """The todos of the week's meetings (not every meeting the channel ever had)."""
    meetings = {(d.connection_id, d.meeting_id) for d in digests}
    async with db.session() as session:
        states = (await session.exec(select(TodoState).where(
            col(TodoState.team_id) == team_id,
            col(TodoState.connection_id).in_({c for c, _ in meetings}),
            col(TodoState.meeting_id).in_({m for _, m in meetings}),
            col(TodoState.status) != todo_service.REMOVED))).all()
    return [s for s in states if (s.connection_id, s.meeting_id) in meetings]


async def _needs_owner(db: Database, team_id: str, connections: set[int],
                       now: datetime) -> list[tuple[str, int]]:
    """(text, days open) of the channel's open todos nobody owns, any week's, oldest first."""
    async with db.session() as session:
        states = (await session.exec(select(TodoState).where(
            TodoState.team_id == team_id, TodoState.connection_id.in_(connections),  # type: ignore[attr-defined]
            TodoState.status == todo_service.OPEN, TodoState.owner_confidence == "needs_owner",
            TodoState.assignee.is_(None)).limit(500))).all()  # type: ignore[union-attr]
    aged = sorted(((s.text, (now - (s.carried_since or s.first_seen_at)).days) for s in states),
                  key=lambda item: -item[1])
    return aged


async def _permalink(deps, digest: SlackMessage) -> str | None:
    """The digest's permalink: stored, or asked of Slack once (chat.getPermalink) and stored."""
    if digest.permalink or not digest.ts:
        return digest.permalink
    try:
        answer = await deps.slack_client(digest.team_id).chat_getPermalink(
            channel=digest.sent_channel or digest.channel, message_ts=digest.ts)
    except Exception:
        log.warning("no permalink for a digest of team %s; the recap names it without a link", digest.team_id,
                    exc_info=True)
        return None
    link = answer.get("permalink")
    if isinstance(link, str) and link.startswith("https://"):
        assert digest.id is not None, "read from the outbox"
        await outbox.store_permalink(deps.db, message_id=digest.id, team_id=digest.team_id, permalink=link)
        return link
    return None


async def run_recaps(deps, now: datetime) -> int:
    """Queue the weekly recap of every channel that got digests last week, on Mondays at 9 in the
    workspace's time zone."""
    if not monday_nine_somewhere(now):
        return 0
    locals_now = await _workspaces_at_monday_nine(deps, now)
    if not locals_now:
        return 0
    weeks = {team: recap_week(local) for team, local in locals_now.items()}
    by_channel: dict[tuple[str, str], list[SlackMessage]] = defaultdict(list)
    for digest in await _week_digests(deps.db, weeks):
        by_channel[(digest.team_id, digest.channel)].append(digest)
    if not by_channel:
        return 0
    off = await _recaps_off(deps.db, sorted({team for team, _ in by_channel}))
    queued = 0
    for (team_id, channel), posted in sorted(by_channel.items()):
        if (team_id, channel) in off:
            continue
        try:
            year, week, _ = locals_now[team_id].isocalendar()
            run = await claim_run(deps.db, kind=RunKind.RECAP, team_id=team_id, subject=channel,
                                  period=f"{year}-W{week:02d}", connection_id=min(d.connection_id for d in posted))
            if run is None:
                continue
            start, end = weeks[team_id]
            states = await _week_todos(deps.db, team_id, posted)
            posted.sort(key=lambda d: (d.sent_at or d.created_at, d.id))
            meetings = [RecapMeeting(title=d.title, link=await _permalink(deps, d)) for d in posted]
            message = recap_message(
                meetings,
                opened=sum(1 for s in states if start <= s.first_seen_at < end),
                closed=sum(1 for s in states
                           if s.status == todo_service.DONE and s.done_at and start <= s.done_at < end),
                open_by_owner=Counter(s.assignee for s in states if s.status == todo_service.OPEN),
                needs_owner=await _needs_owner(deps.db, team_id, {d.connection_id for d in posted}, now))
            row = await outbox.want(deps.db, connection_id=run.connection_id, team_id=team_id,
                                    meeting_id=f"recap:{run.period}", channel=channel, kind=KIND,
                                    payload=message.to_slack(), priority=PRIORITY_FOLLOWUP)
            await mark_queued(deps.db, run, row)
            queued += 1
        except Exception:
            log.exception("could not prepare the weekly recap for a channel of team %s", team_id)
    return queued
