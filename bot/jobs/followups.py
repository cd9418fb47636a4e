"""Morning reminders and weekly recaps, run by the scheduler every few minutes with a clock the
caller passes in (tests control it).

- Reminders: at 9:00 in each assignee's own Slack time zone, a DM with their open todos that are
  due, overdue, or undated for over a week (snoozed ones wait), with the same buttons as threads.
- Recaps: Mondays at 9:00 in the workspace's time zone, each channel that got digests that week
  gets the week's meetings, todos opened and closed, and open todos by owner.

Each run's key, ("reminder", team, user, local date) or ("recap", team, channel, ISO week), is
stored under a unique constraint before its message goes to the outbox, so a second replica or
a restart at 9:00:30 never queues a second one; after that the message changes only when someone
clicks its buttons (it is rendered again from the stored state). The sender paces and retries
them like digests. On PostgreSQL one replica at a time runs the job (an advisory lock). A failure
in one workspace, person or channel is logged and the others go on.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.models.blocks import HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.delivery import outbox
from bot.jobs.leader import FOLLOWUPS_LOCK, leader
from bot.services import todos as todo_service
from bot.services.due_dates import parse_due
from bot.slack.blocks.message import Message, note
from bot.slack.blocks.text import escape, truncate
from bot.slack.ids import BlockId
from bot.store.models import (
    ChannelPrefs,
    Connection,
    FollowupRun,
    MemberPrefs,
    SlackMessage,
    TodoState,
    Workspace,
    utcnow,
)

log = logging.getLogger(__name__)

HOUR = 9
UNDATED_AFTER = timedelta(days=7)
PRIORITY_FOLLOWUP = 50  # after digests and their threads
KEEP_RUNS = timedelta(days=60)
LEADER_LOCK = FOLLOWUPS_LOCK  # one replica runs the follow-ups at a time (PostgreSQL)


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


# --------------------------------------------------------------------------- run keys


async def claim_run(db, *, kind: str, team_id: str, subject: str, period: str,
                    connection_id: int) -> FollowupRun | None:
    """Store the run's key before its message is queued. None when that message was queued
    already (by another replica, or by this job before a restart); a key stored by a run that
    died before queueing is handed back, so the message is queued once after all."""
    where = (FollowupRun.kind == kind, FollowupRun.team_id == team_id, FollowupRun.subject == subject,
             FollowupRun.period == period)
    async with db.session() as session:
        run = (await session.exec(select(FollowupRun).where(*where))).first()
    if run is None:
        try:
            async with db.session() as session:
                run = FollowupRun(kind=kind, team_id=team_id, subject=subject, period=period,
                                  connection_id=connection_id)
                session.add(run)
                await session.flush()
                await session.refresh(run)
        except IntegrityError:
            return None  # another process stored it a moment ago and queues it
    return run if run.message_id is None else None


async def _queued(db, run: FollowupRun, message: SlackMessage) -> None:
    async with db.session() as session:
        await session.exec(update(FollowupRun).where(col(FollowupRun.id) == run.id).values(message_id=message.id))


# --------------------------------------------------------------------------- reminders


async def run_reminders(deps, now: datetime) -> int:
    """Queue today's reminder DM for everyone whose local time is in the 9 o'clock hour."""
    async with deps.db.session() as session:
        states = list((await session.exec(select(TodoState).join(
            Connection, col(Connection.id) == TodoState.connection_id).where(
            col(TodoState.status) == todo_service.OPEN, col(TodoState.assignee).is_not(None),
            Connection.status == "active"))).all())
        muted = {(p.team_id, p.user_id) for p in (await session.exec(
            select(MemberPrefs).where(col(MemberPrefs.reminders).is_(False)))).all()}
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
            run = await claim_run(deps.db, kind="reminder", team_id=team_id, subject=user_id,
                                  period=local.date().isoformat(), connection_id=min(s.connection_id for s in due))
            if run is None:
                continue  # already sent (or being sent) today
            message = await outbox.want(deps.db, connection_id=run.connection_id, team_id=team_id,
                                        meeting_id=f"reminder:{run.period}", channel=user_id, kind="reminder",
                                        payload=reminder_message(due).to_slack(), priority=PRIORITY_FOLLOWUP)
            await _queued(deps.db, run, message)
            queued += 1
        except Exception:
            log.exception("could not prepare the reminder for a user of team %s", team_id)
    return queued


def reminder_message(states: list[TodoState]) -> Message:
    from bot.slack.blocks.todos import titled_todo_list
    from bot.delivery.digests import todo_view

    heading = f"Your todos for today ({len(states)})"
    ordered = sorted(states, key=lambda s: (s.meeting_title, s.meeting_id, s.position, s.id))
    budget, shown = titled_todo_list(heading, [(s.meeting_title, todo_view(s)) for s in ordered])
    budget.force(note(("" if shown == len(states) else f"{len(states) - shown} more not shown. ")
                      + "Due, overdue, or without a date for over a week. Snooze one to skip it for a while; "
                        "`/meetings reminders off` stops these messages."))
    return Message(text=f"{heading}: good morning, here is what is on your plate.", blocks=budget.blocks)


def refs_in(payload: str) -> list[todo_service.TodoRef]:
    """The todos a stored message shows, in order (from its actions blocks' ids)."""
    try:
        blocks = json.loads(payload).get("blocks") or []
    except (ValueError, AttributeError):
        return []
    refs = []
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        block_id = block.get("block_id") or ""
        if block_id.startswith(BlockId.TODO_ACTIONS_PREFIX):
            ref = todo_service.TodoRef.parse(block_id.removeprefix(BlockId.TODO_ACTIONS_PREFIX).partition("@")[0])
            if ref is not None:
                refs.append(ref)
    return refs


async def refresh_reminder(deps, *, team_id: str, channel: str, ts: str) -> bool:
    """After a click in a reminder DM: the same todos, rendered again from their stored state
    (a done one shows who did it), edited in place by the sender. False when the clicked message
    is not one of the team's reminders."""
    async with deps.db.session() as session:
        message = (await session.exec(select(SlackMessage).where(
            SlackMessage.team_id == team_id, SlackMessage.kind == "reminder", SlackMessage.ts == ts,
            or_(col(SlackMessage.sent_channel) == channel, col(SlackMessage.channel) == channel)))).first()
    if message is None:
        return False
    states = await todo_service.by_refs(deps.db, team_id=team_id, refs=refs_in(message.payload))
    await outbox.want(deps.db, connection_id=message.connection_id, team_id=team_id, meeting_id=message.meeting_id,
                      channel=message.channel, kind="reminder", payload=reminder_message(states).to_slack(),
                      priority=PRIORITY_FOLLOWUP)
    return True


# --------------------------------------------------------------------------- recaps


async def workspace_zone(deps, team_id: str) -> tzinfo:
    async with deps.db.session() as session:
        workspace = await session.get(Workspace, team_id)
    if workspace is not None and workspace.timezone:
        return zone_of(workspace.timezone)
    if workspace is not None and workspace.installed_by:
        return await user_zone(deps, team_id, workspace.installed_by)
    return timezone.utc


def recap_week(local: datetime) -> tuple[datetime, datetime]:
    """The week a Monday recap covers: the seven days before this Monday 00:00, local time (in UTC)."""
    monday = local.date() - timedelta(days=local.weekday())
    end = datetime.combine(monday, time(0), tzinfo=local.tzinfo)
    start = datetime.combine(monday - timedelta(days=7), time(0), tzinfo=local.tzinfo)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


async def run_recaps(deps, now: datetime) -> int:
    """Queue the weekly recap of every channel that got digests last week, on Mondays at 9 in the
    workspace's time zone."""
    async with deps.db.session() as session:
        # Wide enough for every time zone's last week; each channel's own week is cut below.
        digests = list((await session.exec(select(SlackMessage).join(
            Connection, col(Connection.id) == SlackMessage.connection_id).where(
            col(SlackMessage.kind) == "digest", col(SlackMessage.sent_at) >= now - timedelta(days=9),
            Connection.status == "active"))).all())
        off = {(p.team_id, p.channel) for p in (await session.exec(
            select(ChannelPrefs).where(col(ChannelPrefs.weekly_recap).is_(False)))).all()}
    by_channel: dict[tuple[str, str], list[SlackMessage]] = defaultdict(list)
    for digest in digests:
        by_channel[(digest.team_id, digest.channel)].append(digest)
    queued = 0
    for (team_id, channel), candidates in sorted(by_channel.items()):
        if (team_id, channel) in off:
            continue
        try:
            local = now.astimezone(await workspace_zone(deps, team_id))
            if local.weekday() != 0 or local.hour != HOUR:
                continue
            start, end = recap_week(local)
            posted = [d for d in candidates if d.sent_at and start <= d.sent_at < end]
            if not posted:
                continue
            year, week, _ = local.isocalendar()
            run = await claim_run(deps.db, kind="recap", team_id=team_id, subject=channel,
                                  period=f"{year}-W{week:02d}", connection_id=min(d.connection_id for d in posted))
            if run is None:
                continue
            async with deps.db.session() as session:
                # Every meeting this channel ever got a digest for: its open todos still count.
                meetings = {(d.connection_id, d.meeting_id) for d in (await session.exec(select(SlackMessage).where(
                    SlackMessage.team_id == team_id, SlackMessage.channel == channel,
                    SlackMessage.kind == "digest"))).all()}
                states = [s for s in (await session.exec(select(TodoState).where(
                    TodoState.team_id == team_id, TodoState.status != todo_service.REMOVED))).all()
                    if (s.connection_id, s.meeting_id) in meetings]
            message = await outbox.want(deps.db, connection_id=run.connection_id, team_id=team_id,
                                        meeting_id=f"recap:{run.period}", channel=channel, kind="recap",
                                        payload=recap_message(posted, states, start=start, end=end).to_slack(),
                                        priority=PRIORITY_FOLLOWUP)
            await _queued(deps.db, run, message)
            queued += 1
        except Exception:
            log.exception("could not prepare the weekly recap for a channel of team %s", team_id)
    return queued


def _title(digest: SlackMessage) -> str:
    try:
        return (json.loads(digest.payload).get("text") or "A meeting").removeprefix("Meeting notes: ")
    except ValueError:
        return "A meeting"


def _recap_line(digest: SlackMessage) -> str:
    # The fallback text was escaped when the digest was built; only keep it clear of link syntax.
    title = truncate(_title(digest).replace("|", "¦"), 150)
    if not digest.ts:
        return f"• {title}"
    channel = digest.sent_channel or digest.channel
    return f"• <https://slack.com/archives/{channel}/p{digest.ts.replace('.', '')}|{title}>"


def recap_message(digests: list[SlackMessage], states: list[TodoState], *, start: datetime, end: datetime) -> Message:
    opened = sum(1 for s in states if start <= s.first_seen_at < end)
    closed = sum(1 for s in states if s.status == "done" and s.done_at and start <= s.done_at < end)
    owners = Counter(s.assignee or "" for s in states if s.status == "open")
    lines = [_recap_line(d) for d in sorted(digests, key=lambda d: d.sent_at or d.created_at)][:20]
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
    async with leader(deps.db, LEADER_LOCK) as is_leader:
        if not is_leader:
            return 0, 0  # another replica is on it
        return await _run(deps, now)


async def _run(deps, now: datetime) -> tuple[int, int]:
    reminders = await run_reminders(deps, now)
    recaps = await run_recaps(deps, now)
    async with deps.db.session() as session:
        await session.exec(delete(FollowupRun).where(col(FollowupRun.created_at) < utcnow() - KEEP_RUNS))
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
