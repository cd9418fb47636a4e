"""Morning reminders and weekly recaps, with a clock the test controls (no sleeping until 9:00)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.jobs.followups import LEADER_LOCK, run_followups
from bot.services.preferences import set_recap, set_reminders
from bot.store.models import Connection, FollowupRun, SlackMessage, TodoState, Workspace
from tests.conftest import CHANNEL, TEAM

UTC = UTC
LA = "U0LA"  # America/Los_Angeles: UTC-8 in November
AKL = "U0AKL"  # Pacific/Auckland: UTC+13 in November
KOL = "U0KOL"  # Asia/Kolkata: UTC+5:30, no daylight saving time


@pytest.fixture(autouse=True)
def people(fake_slack):
    fake_slack.add_user(LA, tz="America/Los_Angeles", tz_offset=-28800)
    fake_slack.add_user(AKL, tz="Pacific/Auckland", tz_offset=46800)
    fake_slack.add_user(KOL, tz="Asia/Kolkata", tz_offset=19800)


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


async def a_posted_digest(db, connection, sent_at: datetime, *, meeting: str = "sess_r1", title: str = "Planning",
                          team_id: str = TEAM, channel: str = CHANNEL) -> None:
    async with db.session() as session:
        session.add(SlackMessage(connection_id=connection.id, team_id=team_id, meeting_id=meeting, channel=channel,
                                 kind="digest", title=title,
                                 payload=json.dumps({"text": f"Meeting notes: {title} (2026-11-19)"}),
                                 content_hash="x", sent_hash="x", ts="1700000000.000100", sent_at=sent_at))


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


# ----------------------------------------------------------------------------- more time zones


async def test_nine_in_kolkata_is_half_past_three_utc(deps, db, connected):
    await add_todo(db, connected, owner=KOL, text="Review the deck", due="Monday")
    await run_followups(deps, datetime(2026, 11, 24, 3, 25, tzinfo=UTC))  # 08:55 in Kolkata
    assert await reminders_for(db, KOL) == []
    await run_followups(deps, datetime(2026, 11, 24, 3, 30, tzinfo=UTC))  # 09:00
    [dm] = await reminders_for(db, KOL)
    assert dm.meeting_id == "reminder:2026-11-24"


async def test_the_time_zone_is_read_once_and_cached(deps, db, connected, fake_slack):
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    for minute in range(0, 60, 5):
        await run_followups(deps, datetime(2026, 11, 24, 16, minute, tzinfo=UTC))
    assert len([c for c in fake_slack.calls_to("users.info") if c.args.get("user") == LA]) == 1


# ----------------------------------------------------------------------------- once, and only once


async def test_later_ticks_of_the_hour_neither_add_nor_change_the_message(deps, db, connected):
    first = await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    [dm] = await reminders_for(db, LA)
    # Something else becomes due, and the todo that was shown is done elsewhere: the morning's
    # message stays what it was (clicks on it re-render it; a second DM never goes out).
    await add_todo(db, connected, owner=LA, text="Also this", due="Monday", meeting="sess_r2")
    async with db.session() as session:
        state = await session.get(TodoState, first.id)
        state.status = "done"
        session.add(state)
    for minute in (5, 30, 55):
        await run_followups(deps, datetime(2026, 11, 24, 17, minute, tzinfo=UTC))
    [again] = await reminders_for(db, LA)
    assert again.id == dm.id and again.payload == dm.payload


async def test_a_run_that_died_after_storing_its_key_still_sends_once(deps, db, connected, workers, fake_slack):
    """The job died between storing the run key and queueing the message (a restart at 9:00:30):
    the next tick queues it, once."""
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    async with db.session() as session:
        session.add(FollowupRun(kind="reminder", team_id=TEAM, subject=LA, period="2026-11-24",
                                connection_id=connected.id))
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, 30, tzinfo=UTC))
    await run_followups(deps, datetime(2026, 11, 24, 17, 5, tzinfo=UTC))
    await fake_slack.wait_for_call_async("chat.postMessage", predicate=lambda c: c.args.get("channel") == LA)
    await workers.sender.drain()
    assert len([c for c in fake_slack.calls_to("chat.postMessage", ok=True) if c.args.get("channel") == LA]) == 1
    async with db.session() as session:
        [run] = (await session.exec(select(FollowupRun))).all()
    [dm] = await reminders_for(db, LA)
    assert run.message_id == dm.id


async def test_two_schedulers_at_once_queue_one_message(deps, db, connected):
    import asyncio

    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    nine = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    await asyncio.gather(run_followups(deps, nine), run_followups(deps, nine), run_followups(deps, nine))
    assert len(await reminders_for(db, LA)) == 1
    async with db.session() as session:
        assert len((await session.exec(select(FollowupRun))).all()) == 1


async def test_only_the_replica_holding_the_leader_lock_runs_the_job(deps, db, connected):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one process; the leader lock is PostgreSQL's")
    from sqlalchemy import text

    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    nine = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    async with db.engine.connect() as other_replica:
        await other_replica.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LEADER_LOCK})
        assert await run_followups(deps, nine) == (0, 0)
        assert await reminders_for(db, LA) == []
        await other_replica.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
    assert await run_followups(deps, datetime(2026, 11, 24, 17, 5, tzinfo=UTC)) == (1, 0)


async def test_paused_workspaces_get_no_reminders(deps, db, connected):
    await add_todo(db, connected, owner=LA, text="Send the contract", due="Monday")
    async with db.session() as session:
        connection = await session.get(Connection, connected.id)
        connection.status = "paused"
        session.add(connection)
    await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    assert await reminders_for(db, LA) == []


# ----------------------------------------------------------------------------- recaps


async def test_the_recap_covers_last_week_and_is_queued_once(deps, db, connected):
    monday_nine = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await a_posted_digest(db, connected, monday_nine - timedelta(days=3), meeting="sess_thu", title="Thursday sync")
    await a_posted_digest(db, connected, monday_nine - timedelta(days=8), meeting="sess_old", title="Older one")
    await a_posted_digest(db, connected, monday_nine - timedelta(hours=1), meeting="sess_now", title="This morning")
    await run_followups(deps, monday_nine)
    await run_followups(deps, monday_nine + timedelta(minutes=55))  # a later tick of the same hour
    [recap] = await recap_rows(db)
    assert recap.meeting_id == "recap:2026-W48"
    words = json.loads(recap.payload)["text"] + json.dumps(json.loads(recap.payload)["blocks"])
    assert "Thursday sync" in words and "Older one" not in words and "This morning" not in words
    assert "slack.com/archives/C0GENERAL/p" in words  # each meeting links to its digest


async def test_the_recap_waits_for_nine_on_monday_in_the_workspaces_zone(deps, db, connected):
    async with db.session() as session:
        workspace = await session.get(Workspace, TEAM)
        workspace.timezone = "Pacific/Auckland"
        session.add(workspace)
    await a_posted_digest(db, connected, datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    await run_followups(deps, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # 22:00 Monday in Auckland
    assert await recap_rows(db) == []
    await run_followups(deps, datetime(2026, 11, 22, 20, 0, tzinfo=UTC))  # 09:00 Monday in Auckland
    [recap] = await recap_rows(db)
    assert recap.meeting_id == "recap:2026-W48"


@pytest.mark.slack_refuses  # users.info: user_not_found for the other workspace's installer
async def test_one_workspace_failing_does_not_stop_the_others_recaps(deps, db, connected):
    monday_nine = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    async with db.session() as session:
        session.add(Workspace(team_id="T0OTHER", installed_by="U0GONE"))  # its zone cannot be read
    async with db.session() as session:
        other = Connection(team_id="T0OTHER", provider="hedy", api_key_encrypted="x", api_key_hint="x",
                           default_channel="C0OTHER")
        session.add(other)
        await session.flush()
        await session.refresh(other)
    await a_posted_digest(db, other, monday_nine - timedelta(days=2), team_id="T0OTHER", channel="C0OTHER")
    await a_posted_digest(db, connected, monday_nine - timedelta(days=2))
    await run_followups(deps, monday_nine)
    assert [r.team_id for r in await recap_rows(db)] == [TEAM]
