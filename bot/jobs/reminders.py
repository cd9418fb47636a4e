"""Morning reminders: at 9:00 in each owner's own time zone, a DM with their open todos that are
due, overdue, or undated for over a week (snoozed ones wait), with the same buttons as threads.

A tick costs what is due, not what is stored: the zones where it is 9:00 now are worked out from
the few hundred distinct zones members are in (stored, bot/services/timezones.py), and only the
open todos of people in those zones are read. Slack is asked only about owners whose zone was
never read. Each person's run key (bot/jobs/runs.py) makes the DM go out once a day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, literal_column, or_, update
from sqlmodel import col, select

from bot.delivery import outbox
from bot.delivery.digests import todo_view
from bot.jobs.runs import claim_run, mark_queued
from bot.services import decisions, timezones
from bot.services import todos as todo_service
from bot.services.due_dates import parse_due
from bot.slack import members
from bot.slack.blocks.followups import reminder_message
from bot.store.db import Database
from bot.store.models import (
    Connection,
    MemberPrefs,
    MemberZone,
    RoutingDecision,
    SlackMessage,
    TodoState,
)
from bot.store.states import ConnectionStatus, MessageKind, RunKind, TodoStatus

log = logging.getLogger(__name__)

HOUR = 9
UNDATED_AFTER = timedelta(days=7)
ASK_AGAIN_AFTER = timedelta(hours=12)  # a suggestion made since yesterday's 9:00 DM waits for tomorrow's
PRIORITY_FOLLOWUP = 50  # after digests and their threads
KIND = MessageKind.REMINDER


def wants_reminder(state: TodoState, today: date, now: datetime) -> bool:
    if state.status != todo_service.OPEN or (state.snoozed_until and state.snoozed_until > now):
        return False
    anchor = (state.meeting_started_at or state.first_seen_at).date()
    due = parse_due(state.due, anchor, state.language)
    if due is not None:
        return due <= today
    return now - state.first_seen_at >= UNDATED_AFTER  # undated, or a date nobody can read


async def _open_todos_in(db: Database, zones: list[str]) -> list[tuple[TodoState, str]]:
    """Open todos of the people in these zones who want reminders, in active connections."""
    muted = exists().where(col(MemberPrefs.team_id) == col(TodoState.team_id),
                           col(MemberPrefs.user_id) == col(TodoState.assignee),
                           col(MemberPrefs.reminders).is_(False))
    query = (select(TodoState, col(MemberZone.zone))
             .join(MemberZone, and_(col(MemberZone.team_id) == col(TodoState.team_id),
                                    col(MemberZone.user_id) == col(TodoState.assignee)))
             .join(Connection, col(Connection.id) == col(TodoState.connection_id))
             # A literal, so the partial index of open owned todos serves it (see models.py).
             .where(col(TodoState.status) == literal_column(f"'{TodoStatus.OPEN}'"), col(MemberZone.zone).in_(zones),
                    Connection.status == ConnectionStatus.ACTIVE, ~muted))
    async with db.session() as session:
        return [(state, zone) for state, zone in (await session.exec(query)).all()]


async def _unanswered_in(db: Database, zones: list[str], now: datetime) -> list[tuple[TodoState, str]]:
    """Open todos suggested to people in these zones that they have not answered since their owner
    DM, and were not asked about in a morning DM yet: asked once more, then left to the thread."""
    query = (select(TodoState, MemberZone.zone)
             .join(MemberZone, and_(col(MemberZone.team_id) == col(TodoState.team_id),
                                    col(MemberZone.user_id) == col(TodoState.suggested_owner)))
             .join(Connection, col(Connection.id) == col(TodoState.connection_id))
             # A held, kept-private or skipped meeting's suggestions are asked of its approver only
             # (docs/routing.md); other people are asked once it is approved.
             .outerjoin(RoutingDecision, and_(col(RoutingDecision.connection_id) == col(TodoState.connection_id),
                                              col(RoutingDecision.meeting_id) == col(TodoState.meeting_id)))
             .where(col(TodoState.status) == literal_column(f"'{TodoStatus.OPEN}'"),
                    col(TodoState.owner_confidence) == "suggested", col(TodoState.owner_asked_at).is_(None),
                    col(TodoState.first_seen_at) <= now - ASK_AGAIN_AFTER, col(MemberZone.zone).in_(zones),
                    col(Connection.status) == ConnectionStatus.ACTIVE,
                    or_(col(RoutingDecision.id).is_(None), col(RoutingDecision.state).not_in(decisions.PRIVATE_STATES),
                        col(RoutingDecision.approver) == col(TodoState.suggested_owner))))
    async with db.session() as session:
        return [(state, zone) for state, zone in (await session.exec(query)).all()]


async def _suggested_without_zone(db: Database, *, limit: int = 500) -> list[tuple[str, str]]:
    """People a todo waits on (suggested, not asked again yet) whose zone was never read."""
    query = (select(TodoState.team_id, TodoState.suggested_owner).distinct()
             .outerjoin(MemberZone, and_(col(MemberZone.team_id) == col(TodoState.team_id),
                                         col(MemberZone.user_id) == col(TodoState.suggested_owner)))
             .where(col(TodoState.status) == literal_column(f"'{TodoStatus.OPEN}'"),
                    col(TodoState.owner_confidence) == "suggested", col(TodoState.owner_asked_at).is_(None),
                    col(TodoState.suggested_owner).is_not(None), col(MemberZone.user_id).is_(None))
             .limit(limit))
    async with db.session() as session:
        return [(team, user) for team, user in (await session.exec(query)).all() if user]


async def _mark_asked(db: Database, states: list[TodoState], now: datetime) -> None:
    async with db.session() as session:
        await session.exec(update(TodoState).where(col(TodoState.id).in_([s.id for s in states]))
                           .values(owner_asked_at=now))


def _message(states: list[TodoState]) -> tuple[dict, list[str]]:
    """The DM for these todos, and the refs of the ones it shows (stored with it)."""
    ordered = sorted(states, key=lambda s: (s.meeting_title, s.meeting_id, s.position, s.id))
    message, shown = reminder_message([(s.meeting_title, todo_view(s)) for s in ordered])
    return message.to_slack(), [todo_service.TodoRef.of(s).encode() for s in ordered[:shown]]


async def run_reminders(deps, now: datetime) -> int:
    """Queue today's reminder DM for everyone whose local time is in the 9 o'clock hour."""
    missing = await timezones.owners_without_zone(deps.db) + await _suggested_without_zone(deps.db)
    if missing:
        await members.learn_missing(deps, missing, now=now)
    zones = timezones.at_hour(await timezones.known_zones(deps.db), now, HOUR)
    if not zones:
        return 0
    by_person: dict[tuple[str, str], list[TodoState]] = defaultdict(list)
    zone_of_person: dict[tuple[str, str], str] = {}
    for state, zone in await _open_todos_in(deps.db, zones):
        person = (state.team_id, state.assignee or "")
        by_person[person].append(state)
        zone_of_person[person] = zone
    asks: dict[tuple[str, str], list[TodoState]] = defaultdict(list)
    for state, zone in await _unanswered_in(deps.db, zones, now):
        person = (state.team_id, state.suggested_owner or "")
        asks[person].append(state)
        zone_of_person[person] = zone
        by_person.setdefault(person, [])
    queued = 0
    for (team_id, user_id), owned in sorted(by_person.items()):
        try:
            local = now.astimezone(timezones.zone_of(zone_of_person[(team_id, user_id)]))
            asked = asks.get((team_id, user_id), [])
            due = [s for s in owned if wants_reminder(s, local.date(), now)] + asked
            if not due:
                continue
            run = await claim_run(deps.db, kind=RunKind.REMINDER, team_id=team_id, subject=user_id,
                                  period=local.date().isoformat(), connection_id=min(s.connection_id for s in due))
            if run is None:
                continue  # already sent (or being sent) today
            payload, refs = _message(due)
            message = await outbox.want(deps.db, connection_id=run.connection_id, team_id=team_id,
                                        meeting_id=f"reminder:{run.period}", channel=user_id, kind=KIND,
                                        payload=payload, priority=PRIORITY_FOLLOWUP, todo_refs=refs)
            await mark_queued(deps.db, run, message)
            if asked:
                await _mark_asked(deps.db, asked, now)
            queued += 1
        except Exception:
            log.exception("could not prepare the reminder for a user of team %s", team_id)
    return queued


async def find_posted(db: Database, *, team_id: str, channel: str, ts: str) -> SlackMessage | None:
    """The team's message Slack knows as (channel, ts), whatever its kind; None for a message the
    bot does not know, or a reminder the retention job has expired."""
    async with db.session() as session:
        return (await session.exec(select(SlackMessage).where(
            SlackMessage.team_id == team_id, SlackMessage.ts == ts,
            or_(col(SlackMessage.sent_channel) == channel, col(SlackMessage.channel) == channel)))).first()


async def refresh_reminder(deps, message: SlackMessage) -> None:
    """After a click in a reminder DM: the same todos, rendered again from their stored state
    (a done one shows who did it), edited in place by the sender."""
    states = await todo_service.shown_in(deps.db, team_id=message.team_id, todo_refs=message.todo_refs)
    # The order stays the morning's: by_refs keeps the stored order.
    message_payload, shown = reminder_message([(s.meeting_title, todo_view(s)) for s in states])
    await outbox.want(deps.db, connection_id=message.connection_id, team_id=message.team_id,
                      meeting_id=message.meeting_id, channel=message.channel, kind=KIND,
                      payload=message_payload.to_slack(), priority=PRIORITY_FOLLOWUP,
                      todo_refs=[todo_service.TodoRef.of(s).encode() for s in states[:shown]])
