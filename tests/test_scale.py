"""Cost that follows the work due (issue 14): an idle scheduler tick asks Slack nothing and reads
little, the sender sleeps until something is due, reconcile reads one query per connection and
leaves connections with fresh webhooks alone, retention forgets what is no longer needed, the
partial indexes serve the queries written for them, and two events of one meeting processed at
once never fail on the todos' unique key. On SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, inspect, text, update
from sqlmodel import select

from bot.delivery import digests, inbox, outbox
from bot.delivery.sender import Sender
from bot.fakes import slack_requests
from bot.jobs.followups import run_followups
from bot.jobs.reconcile import reconcile_all
from bot.jobs.retention import run_retention
from bot.services import timezones
from bot.slack.ids import ActionId
from bot.store import migrate
from bot.store.models import (
    AuditEntry,
    Connection,
    InboxEvent,
    MemberZone,
    SlackMessage,
    TodoState,
    utcnow,
)
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM

UTC = UTC
LA = "U0LA"  # America/Los_Angeles: 9:00 is 17:00 UTC in November
KOL = "U0KOL"  # Asia/Kolkata: 9:00 is 03:30 UTC


@pytest.fixture(autouse=True)
def people(fake_slack):
    fake_slack.add_user(LA, tz="America/Los_Angeles", tz_offset=-28800)
    fake_slack.add_user(KOL, tz="Asia/Kolkata", tz_offset=19800)


@contextmanager
def statements(db):
    """Every SQL statement the code sends while the block runs (statement, parameters)."""
    seen: list[tuple[str, object]] = []

    def record(_connection, _cursor, statement, parameters, _context, _executemany):
        seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def wait_until(predicate, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def add_todo(db, connection, *, owner: str | None, text: str, due: str | None = "Monday",
                   meeting: str = "sess_r1") -> TodoState:
    started = datetime(2026, 11, 19, 17, tzinfo=UTC)
    async with db.session() as session:
        state = TodoState(connection_id=connection.id, team_id=TEAM, meeting_id=meeting, meeting_title="Planning",
                          todo_key=text, text=text, due=due, assignee=owner, meeting_started_at=started,
                          first_seen_at=started)
        session.add(state)
        await session.flush()
        await session.refresh(state)
        return state


async def rows(db, model, *where):
    async with db.session() as session:
        return list((await session.exec(select(model).where(*where))).all())


# ----------------------------------------------------------------------------- reminders


async def test_an_idle_tick_asks_slack_nothing_and_reads_little(deps, db, connected, fake_slack):
    await add_todo(db, connected, owner=LA, text="Send the contract")
    await add_todo(db, connected, owner=KOL, text="Review the deck")
    # The first tick meets two owners it never saw: their zones are read once and stored.
    await run_followups(deps, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert sorted(c.args["user"] for c in fake_slack.calls_to("users.info")) == [KOL, LA]
    assert await timezones.stored(db, team_id=TEAM, user_id=LA) == "America/Los_Angeles"
    calls = len(fake_slack.calls)
    with statements(db) as sent:
        # Tuesday noon UTC: nobody's 9:00, and Monday nowhere on Earth.
        assert await run_followups(deps, datetime(2026, 11, 24, 12, 5, tzinfo=UTC)) == (0, 0)
    assert len(fake_slack.calls) == calls  # not one Slack call
    assert len(sent) < 10, [s for s, _ in sent]
    assert not any("todo_states.text" in s for s, _ in sent)  # nobody's todos were loaded
    # At 9:00 in Kolkata only that owner's todos are read, and the DM is queued.
    assert await run_followups(deps, datetime(2026, 11, 24, 3, 30, tzinfo=UTC)) == (1, 0)
    assert len(fake_slack.calls) == calls
    [dm] = await rows(db, SlackMessage, SlackMessage.kind == "reminder")
    assert dm.channel == KOL and "Review the deck" in dm.payload and "Send the contract" not in dm.payload


async def test_a_user_change_event_moves_their_nine_oclock(deps, db, connected, slack_user, fake_slack):
    await add_todo(db, connected, owner=LA, text="Send the contract")
    await run_followups(deps, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # zone read: Los Angeles
    body, headers = slack_requests.event_callback(SIGNING_SECRET, team_id=TEAM, event={
        "type": "user_change", "event_ts": "1700000000.000500",
        "user": {"id": LA, "team_id": TEAM, "tz": "Asia/Kolkata", "tz_offset": 19800}})
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    assert await timezones.stored(db, team_id=TEAM, user_id=LA) == "Asia/Kolkata"
    assert await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC)) == (0, 0)  # 9:00 in LA: not now
    assert await run_followups(deps, datetime(2026, 11, 25, 3, 30, tzinfo=UTC)) == (1, 0)  # 9:00 in Kolkata
    assert len(fake_slack.calls_to("users.info")) == 1


async def test_the_daily_refresh_reads_zones_again(deps, db, connected, fake_slack):
    from bot.jobs.zones import refresh_zones

    await add_todo(db, connected, owner=LA, text="Send the contract")
    await run_followups(deps, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    fake_slack.add_user(LA, tz="Europe/Berlin", tz_offset=3600)  # moved; no user_change came
    assert await refresh_zones(deps, datetime(2026, 11, 24, 18, 0, tzinfo=UTC)) == 0  # read today already
    assert await refresh_zones(deps, utcnow() + timedelta(days=2)) == 1
    assert await timezones.stored(db, team_id=TEAM, user_id=LA) == "Europe/Berlin"


# ----------------------------------------------------------------------------- the sender


async def test_the_sender_sleeps_until_the_earliest_retry(deps, db, connected):
    sender = Sender(deps, max_sleep=30.0)
    assert await sender.tick() == 30.0  # nothing to send: no polling every second
    message = await outbox.want(db, connection_id=connected.id, team_id=TEAM, meeting_id="m1", channel=CHANNEL,
                                kind="digest", payload={"text": "hi"})
    await outbox.retry_later(db, message, delay=timedelta(seconds=20), error="HTTP 503")
    assert 18.0 < await sender.tick() <= 20.0  # wakes for the retry, not before


@pytest.mark.slack_refuses  # chat.postMessage answers 503 once
async def test_a_failed_post_is_retried_on_time_without_polling(deps, db, connected, fake_slack, monkeypatch):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.3)
    fake_slack.fail_next("chat.postMessage", status=503)
    sender = Sender(deps, channel_interval=0.05, max_sleep=30.0)
    running = asyncio.get_running_loop().create_task(sender.run())
    try:
        await outbox.want(db, connection_id=connected.id, team_id=TEAM, meeting_id="m1", channel=CHANNEL,
                          kind="digest", payload={"text": "Meeting notes: retried"})
        sender.wake.set()
        # Posted after its backoff, long before the sender's 30 s idle sleep would end.
        await fake_slack.wait_for_call_async("chat.postMessage", predicate=lambda c: c.ok, timeout=5)
    finally:
        sender.stop()
        await running


# ----------------------------------------------------------------------------- reconcile


async def test_reconcile_checks_a_listing_in_one_query_and_skips_fresh_webhooks(deps, db, signed_connection,
                                                                                fake_hedy):
    async with db.session() as session:
        await session.exec(update(Connection).values(created_at=utcnow() - timedelta(days=400)))
    listed = await reconcile_all(deps)
    assert listed >= 3  # every demo meeting lacks a digest
    events = await rows(db, InboxEvent)
    async with db.session() as session:  # as if each got its digest
        for stored in events:
            session.add(SlackMessage(connection_id=signed_connection.id, team_id=TEAM, meeting_id=stored.meeting_id,
                                     channel=CHANNEL, kind="digest", payload="{}", content_hash="x", sent_hash="x"))
    with statements(db) as sent:
        assert await reconcile_all(deps) == 0
    digest_reads = [s for s, _ in sent if "FROM slack_messages" in s]
    assert len(digest_reads) == 1  # one query for the whole listing (and up to 100 connections), not one per meeting
    fake_hedy.add_session(title="No webhook came", startTime=utcnow() - timedelta(minutes=30), duration=600)
    async with db.session() as session:  # but a webhook of this connection came a minute ago
        await session.exec(update(Connection).values(last_webhook_at=utcnow() - timedelta(minutes=1)))
    assert await reconcile_all(deps) == 0  # its webhooks get through: left alone this round
    async with db.session() as session:
        await session.exec(update(Connection).values(last_webhook_at=utcnow() - timedelta(hours=1)))
    assert await reconcile_all(deps) == 1


async def test_reconcile_slices_cover_every_connection_once(deps, db, signed_connection):
    from bot.jobs.reconcile import SLICES, current_slice

    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    taken = [current_slice(start + timedelta(minutes=minute)) for minute in range(SLICES)]
    assert sorted(taken) == list(range(SLICES))  # one interval's runs take each slice once


# ----------------------------------------------------------------------------- retention


async def test_retention_forgets_the_old_and_keeps_dead_events(deps, db, connected):
    now = utcnow()
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    async with db.session() as session:
        for key, status, at in (("old-done", "done", old), ("old-ignored", "ignored", old),
                                ("old-dead", "dead", old), ("old-pending", "pending", old),
                                ("new-done", "done", recent)):
            session.add(InboxEvent(connection_id=connected.id, team_id=TEAM, provider="hedy", event_type="x",
                                   dedupe_key=key, payload="", status=status, received_at=at, next_attempt_at=at))
        for meeting, kind, at in (("reminder:old", "reminder", now - timedelta(days=8)),
                                  ("reminder:new", "reminder", now - timedelta(days=1)),
                                  ("recap:old", "recap", now - timedelta(days=40)),
                                  ("digest-old", "digest", now - timedelta(days=400))):
            session.add(SlackMessage(connection_id=connected.id, team_id=TEAM, meeting_id=meeting, channel=LA,
                                     kind=kind, payload="{}", content_hash="x", sent_hash="x", created_at=at))
        session.add(AuditEntry(team_id=TEAM, actor="cli", action="connected", at=now - timedelta(days=400)))
        session.add(AuditEntry(team_id=TEAM, actor="cli", action="channel_changed", at=now - timedelta(days=3)))
    deleted = await run_retention(deps, now)
    assert sorted(e.dedupe_key for e in await rows(db, InboxEvent)) == ["new-done", "old-dead", "old-pending"]
    assert sorted(m.meeting_id for m in await rows(db, SlackMessage)) == ["digest-old", "reminder:new"]
    assert [a.action for a in await rows(db, AuditEntry, AuditEntry.team_id == TEAM)
            if a.at < now - timedelta(days=365)] == []
    assert (deleted.inbox_events, deleted.reminders, deleted.recaps) == (2, 1, 1)


async def test_retention_deletes_in_batches(db, connected):
    from bot.jobs.retention import purge

    old = utcnow() - timedelta(days=40)
    async with db.session() as session:
        for index in range(25):
            session.add(InboxEvent(connection_id=connected.id, team_id=TEAM, provider="hedy", event_type="x",
                                   dedupe_key=f"k{index}", payload="", status="done", received_at=old,
                                   next_attempt_at=old))
    with statements(db) as sent:
        deleted = await purge(db, now=utcnow(), inbox_days=30, reminder_days=7, recap_days=35, audit_days=365,
                              batch=10)
    assert deleted.inbox_events == 25 and await rows(db, InboxEvent) == []
    assert len([s for s, _ in sent if s.lstrip().upper().startswith("DELETE FROM INBOX_EVENTS")]) == 3


@pytest.mark.usefixtures("workers")
async def test_a_processed_webhook_keeps_only_its_dedupe_key(hedy_webhooks, fake_slack, db):
    response = await hedy_webhooks.session_event("sess_demo_12")
    assert response.status_code == 200
    [stored] = await wait_until(lambda: _done(db))
    assert stored.payload == "" and stored.dedupe_key
    again = await hedy_webhooks.session_event("sess_demo_12")  # the provider delivers it again
    assert again.status_code == 200
    assert len(await rows(db, InboxEvent)) == 1


async def _done(db):
    found = await rows(db, InboxEvent)
    return found if found and all(e.status == "done" for e in found) else None


@pytest.mark.usefixtures("workers")
async def test_a_click_on_an_expired_reminder_answers_with_a_sentence(deps, db, connected, slack_user, fake_slack):
    state = await add_todo(db, connected, owner=LA, text="Send the contract")
    assert await run_followups(deps, datetime(2026, 11, 24, 17, 0, tzinfo=UTC)) == (1, 0)
    dm_channel = "D" + LA[1:]
    dm = await wait_until(lambda: next((m for (c, _), m in fake_slack.messages.items() if c == dm_channel), None))
    await run_retention(deps, utcnow() + timedelta(days=8))  # a week later, the reminder is forgotten
    assert await rows(db, SlackMessage, SlackMessage.kind == "reminder") == []
    done = next(b["accessory"] for b in dm["blocks"]
                if (b.get("accessory") or {}).get("action_id") == ActionId.TODO_DONE)
    response_url = fake_slack.new_response_url()
    body, headers = slack_requests.block_action(
        SIGNING_SECRET, team_id=TEAM, user_id=LA, channel_id=dm_channel, action_id=ActionId.TODO_DONE,
        value=done["value"], block_id="todo:0",
        response_url=response_url, message=dm)
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    [reply] = await fake_slack.wait_for_response_async(response_url)
    assert "expired" in reply["text"] and "/meetings todos mine" in reply["text"]
    [after] = await rows(db, TodoState, TodoState.id == state.id)
    assert after.status == "open"  # nothing changed


# ----------------------------------------------------------------------------- indexes


async def test_the_partial_indexes_serve_their_queries(deps, db, connected):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("EXPLAIN on PostgreSQL: whether the planner can prove a partial index applies")
    with statements(db) as sent:
        await outbox.due(db)
        await inbox.dead_count(db, team_id=TEAM)
    plans = []
    async with db.engine.connect() as connection:
        # Tables this small are read whole whatever the indexes: forbid that, so the plan shows
        # whether the index can serve the query at all.
        await connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in sent:
            rows_ = (await connection.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
            plans.append("\n".join(r[0] for r in rows_))
    assert "ix_slack_messages_unsent" in plans[0], plans[0]
    assert "ix_inbox_events_dead" in plans[1], plans[1]


async def test_the_migration_applies_backfills_and_reverts(db, connected):
    from alembic.script import ScriptDirectory

    previous = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_revision("0009").down_revision
    await migrate.downgrade(db.engine, previous)
    async with db.engine.begin() as connection:
        columns = await connection.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns("slack_messages")])
        assert "title" not in columns
        await connection.execute(text(
            "INSERT INTO slack_messages (connection_id, team_id, meeting_id, channel, kind, priority, payload, "
            "content_hash, state, attempts, next_attempt_at, created_at, updated_at) VALUES (:c, :t, 'm1', :ch, "
            "'digest', 0, :p, 'x', 'active', 0, :now, :now, :now)"),
            {"c": connected.id, "t": TEAM, "ch": CHANNEL, "now": datetime(2026, 11, 20),
             "p": json.dumps({"text": "Meeting notes: Quarterly review", "blocks": []})})
    await migrate.upgrade(db.engine)
    async with db.engine.connect() as connection:
        indexes = await connection.run_sync(lambda c: {
            table: {i["name"] for i in inspect(c).get_indexes(table)}
            for table in ("slack_messages", "todo_states", "inbox_events", "member_zones")})
    assert {"ix_slack_messages_unsent", "ix_slack_messages_team_kind_sent", "ix_slack_messages_followups",
            "ix_slack_messages_parent_id"} <= indexes["slack_messages"]
    assert "ix_slack_messages_due" not in indexes["slack_messages"]
    assert "ix_todo_states_open_owned" in indexes["todo_states"]
    assert {"ix_inbox_events_dead", "ix_inbox_events_processed"} <= indexes["inbox_events"]
    [digest] = await rows(db, SlackMessage, SlackMessage.meeting_id == "m1")
    assert digest.title == "Quarterly review"
    async with db.session() as session:
        session.add(MemberZone(team_id=TEAM, user_id=LA, zone="America/Los_Angeles"))


# ----------------------------------------------------------------------------- the todo race


async def test_two_events_of_one_meeting_at_once_both_succeed(deps, db, connected, fake_hedy):
    """A session's `ended` and `exported` webhooks processed at the same moment (two workers or
    two replicas): both write the meeting's todos, neither fails on their unique key."""
    sessions = [fake_hedy.add_session(title=f"Race {n}", startTime=utcnow() - timedelta(hours=1), duration=1800,
                                      user_todos=[{"text": f"Todo {n}.{i}"} for i in range(8)])["sessionId"]
                for n in range(3)]
    for session_id in sessions:
        async with db.session() as session:
            events = [InboxEvent(connection_id=connected.id, team_id=TEAM, provider="hedy", event_type=kind,
                                 dedupe_key=f"{kind}:{session_id}", meeting_id=session_id, payload="{}",
                                 status="processing")
                      for kind in ("session.ended", "session.exported")]
            session.add_all(events)
        results = await asyncio.gather(*(digests.process(e, deps) for e in events), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
    for session_id in sessions:
        states = await rows(db, TodoState, TodoState.meeting_id == session_id)
        assert len(states) == 8 and len({s.todo_key for s in states}) == 8
