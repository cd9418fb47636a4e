"""Morning reminders and weekly recaps, with a clock the test controls (no sleeping until 9:00)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from bot.slack.followups import run_followups, set_recap, set_reminders
from bot.store.models import SlackMessage, TodoState, Workspace
from tests.conftest import CHANNEL, TEAM

UTC = timezone.utc
LA = "U0LA"  # America/Los_Angeles: UTC-8 in November
AKL = "U0AKL"  # Pacific/Auckland: UTC+13 in November


@pytest.fixture(autouse=True)
def people(fake_slack):
    fake_slack.add_user(LA, tz="America/Los_Angeles", tz_offset=-28800)
    fake_slack.add_user(AKL, tz="Pacific/Auckland", tz_offset=46800)


async def add_todo(db, connection, *, owner: str | None, text: str, due: str | None = None, status: str = "open",
                   meeting: str = "sess_r1", started: datetime = datetime(2026, 11, 19, 17, tzinfo=UTC),
                   first_seen: datetime | None = None, snoozed_until: datetime | None = None,
                   done_at: datetime | None = None) -> TodoState:
    async with db.session() as session:
        state = TodoState(connection_id=connection.id, team_id=TEAM, meeting_id=meeting, meeting_title="Planning",
                          todo_key=text, text=text, due=due, status=status, assignee=owner,
                          meeting_started_at=started, first_seen_at=first_seen or started,
                          snoozed_until=snoozed_until, done_at=done_at)
        session.add(state)
        await session.flush()
        await session.refresh(state)
        return state


async def reminders_for(db, user: str) -> list[SlackMessage]:
    async with db.session() as session:
        return list((await session.exec(select(SlackMessage).where(
            SlackMessage.kind == "reminder", SlackMessage.channel == user))).all())


def texts(rows: list[SlackMessage]) -> str:
    return " ".join(row.payload for row in rows)


async def test_a_dm_at_nine_in_los_angeles(deps, db, connected):
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")  # due Nov 23
    await add_todo(db, connected, owner=LA, text="Plan Q1", due="December 15")  # not due yet
    await run_followups(deps, datetime(2026, 11, 24, 16, 59, tzinfo=UTC))  # 08:59 in LA
    assert await reminders_for(db, LA) == []
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))  # 09:00 in LA
    [dm] = await reminders_for(db, LA)
    assert dm.meeting_id == "reminder:2026-11-24"
    assert "Send the contract" in dm.payload and "Plan Q1" not in dm.payload


async def test_a_dm_at_nine_in_auckland_is_the_next_day_in_utc_terms(deps, db, connected):
    await add_todo(db, connected, owner=AKL, text="Book the venue", due="Tomorrow")  # due Nov 20
    await run_followups(deps, datetime(2026, 11, 24, 19, 59, tzinfo=UTC))  # 08:59 Nov 25 in Auckland
    assert await reminders_for(db, AKL) == []
    await run_followups(deps, datetime(2026, 11, 24, 20, 0, tzinfo=UTC))  # 09:00 Nov 25
    [dm] = await reminders_for(db, AKL)
    assert dm.meeting_id == "reminder:2026-11-25"


async def test_nine_follows_daylight_saving_time(deps, db, connected):
    await add_todo(db, connected, owner=LA, text="File taxes", due="2026-10-01",
                   started=datetime(2026, 9, 1, tzinfo=UTC))
    await run_followups(deps, datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 09:00 PDT (UTC-7)
    await run_followups(deps, datetime(2026, 11, 2, 16, 0, tzinfo=UTC))  # 08:00 PST: not yet
    await run_followups(deps, datetime(2026, 11, 2, 17, 0, tzinfo=UTC))  # 09:00 PST (UTC-8)
    assert sorted(r.meeting_id for r in await reminders_for(db, LA)) == ["reminder:2026-10-31",
                                                                         "reminder:2026-11-02"]


async def test_a_restart_at_nine_sends_one_message(deps, db, connected, workers, fake_slack):
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, 30, tzinfo=UTC))  # the job again after a restart
    await run_followups(deps, datetime(2026, 11, 24, 17, 5, tzinfo=UTC))  # and its next tick
    await fake_slack.wait_for_call_async("chat.postMessage", predicate=lambda c: c.args.get("channel") == LA)
    await workers.sender.drain()
    posts = [c for c in fake_slack.calls_to("chat.postMessage", ok=True) if c.args.get("channel") == LA]
    assert len(posts) == 1
    assert "Send the contract" in json.dumps(posts[0].args["blocks"])


async def test_snoozed_done_and_recent_undated_todos_wait(deps, db, connected):
    now = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    await add_todo(db, connected, owner=LA, text="Snoozed one", due="Monday", snoozed_until=now + timedelta(days=1))
    await add_todo(db, connected, owner=LA, text="Done one", due="Monday", status="done", done_at=now)
    await add_todo(db, connected, owner=LA, text="Fresh undated", first_seen=now - timedelta(days=2))
    await add_todo(db, connected, owner=LA, text="Old undated", first_seen=now - timedelta(days=8))
    await add_todo(db, connected, owner=LA, text="Someday, old", due="soon", first_seen=now - timedelta(days=9))
    await run_followups(deps, now)
    [dm] = await reminders_for(db, LA)
    shown = dm.payload
    assert "Old undated" in shown and "Someday, old" in shown and "soon" in shown  # shown as written
    assert "Snoozed one" not in shown and "Done one" not in shown and "Fresh undated" not in shown


async def test_reminders_off_means_none(deps, db, connected, slack_user):
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    slack_user.user_id = LA
    reply = await slack_user.ask("reminders off")
    assert "Morning reminders are off" in reply["text"]
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    assert await reminders_for(db, LA) == []
    await set_reminders(db, team_id=TEAM, user_id=LA, on=True)
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    assert len(await reminders_for(db, LA)) == 1


async def recap_rows(db) -> list[SlackMessage]:
    async with db.session() as session:
        return list((await session.exec(select(SlackMessage).where(SlackMessage.kind == "recap"))).all())


async def a_posted_digest(db, connection, sent_at: datetime) -> None:
    async with db.session() as session:
        session.add(SlackMessage(connection_id=connection.id, team_id=TEAM, meeting_id="sess_r1", channel=CHANNEL,
                                 kind="digest", payload=json.dumps({"text": "Meeting notes: Planning (2026-11-19)"}),
                                 content_hash="x", sent_hash="x", ts="1.1", sent_at=sent_at))
        session.add(Workspace(team_id="T0OTHER"))


async def test_the_monday_recap_counts_the_week(deps, db, connected):
    monday_nine = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the workspace has no zone: UTC
    await a_posted_digest(db, connected, monday_nine - timedelta(days=3))
    await add_todo(db, connected, owner=LA, text="Open one", first_seen=monday_nine - timedelta(days=3))
    await add_todo(db, connected, owner=None, text="Closed one", status="done",
                   first_seen=monday_nine - timedelta(days=3), done_at=monday_nine - timedelta(days=1))
    await run_followups(deps, monday_nine - timedelta(days=1))  # Sunday: nothing
    assert await recap_rows(db) == []
    await run_followups(deps, monday_nine)
    [recap] = await recap_rows(db)
    payload = json.loads(recap.payload)
    words = json.dumps(payload)
    assert recap.channel == CHANNEL and "Planning" in words
    assert "*Todos opened:*\\n2" in words and "*Todos closed:*\\n1" in words and f"<@{LA}>: 1" in words


async def test_an_admin_can_turn_a_channels_recap_off(deps, db, connected):
    monday_nine = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await a_posted_digest(db, connected, monday_nine - timedelta(days=2))
    await set_recap(db, team_id=TEAM, channel=CHANNEL, on=False)
    await run_followups(deps, monday_nine)
    assert await recap_rows(db) == []


@pytest.mark.slack_refuses  # users.info: user_not_found for the person who left
async def test_one_failing_person_does_not_stop_the_others(deps, db, connected):
    await add_todo(db, connected, owner="U0GONE", text="Theirs", due="Monday")  # users.info fails for them
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    assert len(await reminders_for(db, LA)) == 1
    assert await reminders_for(db, "U0GONE") == []
