"""Morning reminders and weekly recaps, run by the scheduler every few minutes with a clock the
caller passes in (tests control it).

- Reminders: at 9:00 in each assignee's own Slack time zone, a DM with their open todos that are
  due, overdue, or undated for over a week (snoozed ones wait), with the same buttons as threads.
- Recaps: Mondays at 9:00 in the workspace's time zone, each channel that got digests that week
  gets the week's meetings, todos opened and closed, and open todos by owner.

Both are written to the outbox under a key of their day or week (one message per user and day,
per channel and week; the table's unique key), so a second replica or a restart at 9:00:30 edits
at most the same message and never sends a second one. The sender paces and retries them like
digests. A failure in one workspace is logged and the others go on.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.models.blocks import HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock
from sqlalchemy import text
from sqlmodel import select

from bot import outbox
from bot.services.due_dates import parse_due
from bot.slack.blocks.message import Message, note
from bot.slack.blocks.text import escape, truncate
from bot.store.models import ChannelPrefs, MemberPrefs, SlackMessage, TodoState, Workspace, utcnow

log = logging.getLogger(__name__)

HOUR = 9
UNDATED_AFTER = timedelta(days=7)
PRIORITY_FOLLOWUP = 50  # after digests and their threads
LEADER_LOCK = 0x6D656574  # "meet": one replica runs the follow-ups at a time (PostgreSQL)


# --------------------------------------------------------------------------- time zones


async def user_zone(deps, team_id: str, user_id: str) -> tzinfo:
    async def load() -> tzinfo:
        info = await deps.slack_client(team_id).users_info(user=user_id)
        user = info.get("user") or {}
        return zone_of(user.get("tz"), user.get("tz_offset"))
    return await deps.user_zones.get((team_id, user_id), load)


def zone_of(name: str | None, offset: int | None = None) -> tzinfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone(timedelta(seconds=offset or 0))


def wants_reminder(state: TodoState, today: date, now: datetime) -> bool:
    if state.status != "open" or (state.snoozed_until and state.snoozed_until > now):
        return False
    anchor = (state.meeting_started_at or state.first_seen_at).date()
    due = parse_due(state.due, anchor)
    if due is not None:
        return due <= today
    return now - state.first_seen_at >= UNDATED_AFTER  # undated, or a date nobody can read


# --------------------------------------------------------------------------- reminders


async def run_reminders(deps, now: datetime) -> int:
    """Queue today's reminder DM for everyone whose local time is in the 9 o'clock hour."""
    async with deps.db.session() as session:
        states = list((await session.exec(select(TodoState).where(
            TodoState.status == "open", TodoState.assignee.is_not(None)))).all())
        muted = {(p.team_id, p.user_id) for p in (await session.exec(
            select(MemberPrefs).where(MemberPrefs.reminders.is_(False)))).all()}
    by_person: dict[tuple[str, str], list[TodoState]] = defaultdict(list)
    for state in states:
        by_person[(state.team_id, state.assignee)].append(state)
    queued = 0
    for (team_id, user_id), owned in sorted(by_person.items()):
        if (team_id, user_id) in muted:
            continue
        try:
            local = now.astimezone(await user_zone(deps, team_id, user_id))
            if local.hour != HOUR:
                continue
            due = [s for s in owned if wants_reminder(s, local.date(), now)]
            if not due:
                continue
            await outbox.want(deps.db, connection_id=due[0].connection_id, team_id=team_id,
                              meeting_id=f"reminder:{local.date().isoformat()}", channel=user_id, kind="reminder",
                              payload=reminder_message(due, today=local.date()).to_slack(),
                              priority=PRIORITY_FOLLOWUP)
            queued += 1
        except Exception:
            log.exception("could not prepare the reminder for a user of team %s", team_id)
    return queued


def reminder_message(states: list[TodoState], *, today: date) -> Message:
    from bot.slack.blocks.todos import titled_todo_list
    from bot.slack.digests import todo_view

    heading = f"Your open todos ({len(states)})"
    ordered = sorted(states, key=lambda s: (s.meeting_title, s.position))
    budget, shown = titled_todo_list(heading, [(s.meeting_title, todo_view(s)) for s in ordered])
    budget.force(note(("" if shown == len(states) else f"{len(states) - shown} more not shown. ")
                      + "Due, overdue, or without a date for over a week. Snooze one to skip it for a while; "
                        "`/meetings reminders off` stops these messages."))
    return Message(text=f"{heading}: good morning, here is what is on your plate.", blocks=budget.blocks)


# --------------------------------------------------------------------------- recaps


async def workspace_zone(deps, team_id: str) -> tzinfo:
    async with deps.db.session() as session:
        workspace = await session.get(Workspace, team_id)
    if workspace is not None and workspace.timezone:
        return zone_of(workspace.timezone)
    if workspace is not None and workspace.installed_by:
        return await user_zone(deps, team_id, workspace.installed_by)
    return timezone.utc


async def run_recaps(deps, now: datetime) -> int:
    """Queue the weekly recap of every channel that got digests in the last week, on Mondays at 9."""
    week_ago = now - timedelta(days=7)
    async with deps.db.session() as session:
        digests = list((await session.exec(select(SlackMessage).where(
            SlackMessage.kind == "digest", SlackMessage.sent_at >= week_ago))).all())
        off = {(p.team_id, p.channel) for p in (await session.exec(
            select(ChannelPrefs).where(ChannelPrefs.weekly_recap.is_(False)))).all()}
    by_channel: dict[tuple[str, str], list[SlackMessage]] = defaultdict(list)
    for digest in digests:
        by_channel[(digest.team_id, digest.channel)].append(digest)
    queued = 0
    for (team_id, channel), posted in sorted(by_channel.items()):
        if (team_id, channel) in off:
            continue
        try:
            local = now.astimezone(await workspace_zone(deps, team_id))
            if local.weekday() != 0 or local.hour != HOUR:
                continue
            year, week, _ = local.isocalendar()
            async with deps.db.session() as session:
                # Every meeting this channel ever got a digest for: its open todos still count.
                meetings = {(d.connection_id, d.meeting_id) for d in (await session.exec(select(SlackMessage).where(
                    SlackMessage.team_id == team_id, SlackMessage.channel == channel,
                    SlackMessage.kind == "digest"))).all()}
                states = [s for s in (await session.exec(select(TodoState).where(TodoState.team_id == team_id))).all()
                          if (s.connection_id, s.meeting_id) in meetings]
            message = recap_message(posted, states, week_ago=week_ago)
            await outbox.want(deps.db, connection_id=posted[0].connection_id, team_id=team_id,
                              meeting_id=f"recap:{year}-W{week:02d}", channel=channel, kind="recap",
                              payload=message.to_slack(), priority=PRIORITY_FOLLOWUP)
            queued += 1
        except Exception:
            log.exception("could not prepare the weekly recap for a channel of team %s", team_id)
    return queued


def _title(digest: SlackMessage) -> str:
    import json

    try:
        return (json.loads(digest.payload).get("text") or "A meeting").removeprefix("Meeting notes: ")
    except ValueError:
        return "A meeting"


def recap_message(digests: list[SlackMessage], states: list[TodoState], *, week_ago: datetime) -> Message:
    opened = sum(1 for s in states if s.first_seen_at >= week_ago)
    closed = sum(1 for s in states if s.status == "done" and s.done_at and s.done_at >= week_ago)
    owners = Counter(s.assignee or "" for s in states if s.status == "open")
    lines = [f"• {truncate(_title(d).replace('|', '¦'), 150)}" for d in
             sorted(digests, key=lambda d: d.sent_at or d.created_at)][:20]
    if len(digests) > 20:
        lines.append(f"…and {len(digests) - 20} more")
    owner_lines = [f"• <@{escape(owner)}>: {count}" if owner else f"• no owner: {count}"
                   for owner, count in owners.most_common(15)]
    blocks = [
        HeaderBlock(text=PlainTextObject(text=f"Your week in meetings ({len(digests)})")),
        SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 2900))),
        SectionBlock(fields=[MarkdownTextObject(text=f"*Todos opened:*\n{opened}"),
                             MarkdownTextObject(text=f"*Todos closed:*\n{closed}")]),
        SectionBlock(text=MarkdownTextObject(text=truncate(
            "*Open todos by owner*\n" + ("\n".join(owner_lines) or "None. Nice work!"), 2900))),
        note("`/meetings recap off` in this channel stops the weekly recap (admins)."),
    ]
    return Message(text=f"Your week in meetings: {len(digests)} meetings, {opened} todos opened, {closed} closed",
                   blocks=blocks)


# --------------------------------------------------------------------------- the job


async def run_followups(deps, now: datetime | None = None) -> tuple[int, int]:
    """The scheduled job: reminders and recaps, on one replica at a time."""
    now = now or utcnow()
    if deps.db.engine.dialect.name == "postgresql":
        async with deps.db.engine.connect() as connection:
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK})).scalar()
            if not got:
                return 0, 0  # another replica is on it
            try:
                return await _run(deps, now)
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
    return await _run(deps, now)


async def _run(deps, now: datetime) -> tuple[int, int]:
    reminders = await run_reminders(deps, now)
    recaps = await run_recaps(deps, now)
    if reminders or recaps:
        deps.outbox_wakeup.set()
    return reminders, recaps


async def set_reminders(db, *, team_id: str, user_id: str, on: bool) -> None:
    async with db.session() as session:
        prefs = await session.get(MemberPrefs, (team_id, user_id)) or MemberPrefs(team_id=team_id, user_id=user_id)
        prefs.reminders = on
        session.add(prefs)


async def set_recap(db, *, team_id: str, channel: str, on: bool) -> None:
    async with db.session() as session:
        prefs = await session.get(ChannelPrefs, (team_id, channel)) or ChannelPrefs(team_id=team_id, channel=channel)
        prefs.weekly_recap = on
        session.add(prefs)
