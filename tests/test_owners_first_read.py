"""A new workspace's member directory is read beside its first meetings, not before them
(bot/jobs/directory.py DirectoryReads): the digest, its todo thread and the email-matched owners
come at once, the todos only a name can place get their owner when the read is done, and two
meetings share one read. The Slack stand-in holds users.list open (FakeSlack.hold) for as long as
a test needs, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import json
import logging

import pytest
from sqlmodel import select

from bot.delivery.workers import Workers
from bot.logging_setup import AddContext
from bot.store.models import MemberDirectory
from tests.conftest import BOT_TOKEN, CHANNEL
from tests.helpers import digests_in, inbox_rows, wait_until
from tests.test_owners import ANNA, BEN, TODOS, by_key, dm_to, members, todo_section  # noqa: F401 (fixture)

PAGES = 3  # the stand-in's members below, 200 a page


@pytest.fixture(autouse=True)
def a_larger_workspace(fake_slack):
    fake_slack.add_members(450)  # with the people of tests/test_owners.py: three users.list pages


def thread_with(fake_slack, words: str) -> dict | None:
    """The todo thread message that mentions `words`, as it is now."""
    return next((m for m in fake_slack.channel_messages(CHANNEL) if m.get("thread_ts") and m["ts"] != m["thread_ts"]
                 and "Todos (" in m.get("text", "") and words in json.dumps(m, ensure_ascii=False)), None)


def owner_dm_posts(fake_slack, user: str) -> list:
    return [c for c in fake_slack.calls_to("chat.postMessage", ok=True) if c.args.get("channel") == user
            and "named as owner" in (c.args.get("text") or "")]


def page_posts(fake_slack) -> list:
    return [c for c in fake_slack.calls_to("chat.postMessage", ok=True) if "Todos (" in (c.args.get("text") or "")]


async def events_done(db, count: int) -> bool:
    return len([e for e in await inbox_rows(db) if e.status == "done"]) >= count


async def test_the_digest_and_its_thread_do_not_wait_for_the_directory(
        hedy_webhooks, fake_hedy, fake_slack, workers, db):
    fake_slack.hold("users.list")
    fake_hedy.add_session(sessionId="sess_first", title="Weekly sync", user_todos=TODOS)
    await hedy_webhooks.session_event("sess_first")

    # While the directory's first page is still unanswered: the digest, its thread, the owner
    # found by email, and the inbox event finished.
    page = await wait_until(lambda: thread_with(fake_slack, "Send the rollout plan"))
    assert len(digests_in(fake_slack)) == 1
    assert f"Owner: <@{ANNA}>" in todo_section(page, "Send the rollout plan")
    assert "Needs owner" in todo_section(page, "Order the pizza")  # no hint: nothing to wait for
    for waiting in ("update the deck", "book the room", "share the numbers"):  # names: not yet
        assert "Suggested" not in todo_section(page, waiting) and "Needs owner" not in todo_section(page, waiting)
    await wait_until(lambda: events_done(db, 1))
    assert fake_slack.held["users.list"] == 1 and fake_slack.calls_to("users.list") == []
    assert owner_dm_posts(fake_slack, BEN) == []

    fake_slack.release("users.list")
    page = await wait_until(lambda: (found := thread_with(fake_slack, "Suggested: <@UBEN>"))
                            and "Needs owner" in todo_section(found, "book the room") and found)
    assert f'Suggested: <@{BEN}> (from "Ben will update the deck")' in todo_section(page, "update the deck")
    assert f"Suggested: <@{BEN}>" in todo_section(page, "share the numbers")
    assert f"Owner: <@{ANNA}>" in todo_section(page, "Send the rollout plan")
    dm = await wait_until(lambda: dm_to(fake_slack, BEN))
    assert "You were named as owner of 2 todos from «Weekly sync»" in json.dumps(dm, ensure_ascii=False)

    await workers.idle()
    # Each message once: the thread page was edited, the DM sent once; one read of three pages.
    assert len(page_posts(fake_slack)) == 1 and len(owner_dm_posts(fake_slack, BEN)) == 1
    assert len(fake_slack.calls_to("users.list", ok=True)) == PAGES
    stored = await by_key(db)
    assert (stored["t_email"].owner_confidence, stored["t_email"].assignee) == ("confirmed", ANNA)
    assert (stored["t_name"].owner_confidence, stored["t_name"].suggested_owner) == ("suggested", BEN)
    assert {stored[k].owner_confidence for k in ("t_two", "t_none", "t_stranger")} == {"needs_owner"}


async def test_two_meetings_of_a_new_workspace_share_one_read(hedy_webhooks, fake_hedy, fake_slack, workers, db):
    fake_slack.hold("users.list")
    fake_hedy.add_session(sessionId="sess_a", title="Planning",
                          user_todos=[{"id": "a_deck", "text": "Ben will update the deck"}])
    fake_hedy.add_session(sessionId="sess_b", title="Retro",
                          user_todos=[{"id": "b_notes", "text": "Anna Kowalski: send the notes"},
                                      {"id": "b_plan", "text": "Send the plan", "assignee": "ben@example.com"}])
    await hedy_webhooks.session_event("sess_a")
    await hedy_webhooks.session_event("sess_b")
    await wait_until(lambda: thread_with(fake_slack, "update the deck") and thread_with(fake_slack, "send the notes"))
    await wait_until(lambda: events_done(db, 2))
    assert "Suggested" not in json.dumps(thread_with(fake_slack, "send the notes"))
    assert f"Owner: <@{BEN}>" in todo_section(thread_with(fake_slack, "Send the plan"), "Send the plan")

    fake_slack.release("users.list")
    await wait_until(lambda: f"Suggested: <@{BEN}>" in json.dumps(thread_with(fake_slack, "update the deck")))
    await wait_until(lambda: f"Suggested: <@{ANNA}>" in json.dumps(thread_with(fake_slack, "send the notes")))
    await workers.idle()
    assert len(fake_slack.calls_to("users.list", ok=True)) == PAGES  # one read, not one per meeting
    assert [c.args.get("cursor") for c in fake_slack.calls_to("users.list")].count(None) == 1  # begun once
    assert len(owner_dm_posts(fake_slack, BEN)) == 1 and len(owner_dm_posts(fake_slack, ANNA)) == 1
    assert len(page_posts(fake_slack)) == 2
    stored = await by_key(db)
    assert (stored["a_deck"].suggested_owner, stored["b_notes"].suggested_owner) == (BEN, ANNA)
    assert (stored["b_plan"].owner_confidence, stored["b_plan"].assignee) == ("confirmed", BEN)


async def test_a_failed_read_is_a_warning_and_the_next_meeting_tries_again(
        hedy_webhooks, fake_hedy, fake_slack, workers, db, caplog):
    fake_slack.hold("users.list")
    fake_slack.fail_next("users.list", status=200, error="fatal_error")
    fake_hedy.add_session(sessionId="sess_a", title="Planning",
                          user_todos=[{"id": "a_deck", "text": "Ben will update the deck"}])
    caplog.handler.addFilter(AddContext())  # the request id and workspace, as the server's handler adds them
    with caplog.at_level(logging.WARNING, logger="bot.jobs.directory"):
        await hedy_webhooks.session_event("sess_a", headers={"X-Request-ID": "hook-sess-a"})
        await wait_until(lambda: thread_with(fake_slack, "update the deck"))
        await wait_until(lambda: events_done(db, 1))
        fake_slack.release("users.list")  # the read's first page: Slack refuses it
        await workers.idle()
    [warning] = [r for r in caplog.records if r.name == "bot.jobs.directory"]
    assert warning.levelno == logging.WARNING and "Slack answered fatal_error" in warning.getMessage()
    assert not warning.exc_info and BOT_TOKEN not in warning.getMessage()  # one line, no traceback
    # The read's own lines: not filed under the webhook whose meeting happened to start it.
    assert warning.request_id == f"directory-{warning.team}" and warning.team
    assert (await by_key(db))["a_deck"].owner_confidence is None  # undecided, not "nobody"

    # The next meeting of the workspace reads it again, and the first meeting's todo is placed too.
    fake_hedy.add_session(sessionId="sess_b", title="Retro",
                          user_todos=[{"id": "b_notes", "text": "Anna Kowalski: send the notes"}])
    await hedy_webhooks.session_event("sess_b")
    await wait_until(lambda: f"Suggested: <@{BEN}>" in json.dumps(thread_with(fake_slack, "update the deck")))
    await wait_until(lambda: f"Suggested: <@{ANNA}>" in json.dumps(thread_with(fake_slack, "send the notes")))
    await workers.idle()
    assert len(owner_dm_posts(fake_slack, BEN)) == 1


async def test_a_read_under_way_is_cancelled_when_the_workers_stop(hedy_webhooks, fake_hedy, fake_slack, deps, db):
    running = Workers(deps, poll_seconds=0.05, channel_interval=0.05)
    await running.start()
    try:
        fake_slack.hold("users.list")
        fake_hedy.add_session(sessionId="sess_a", title="Planning",
                              user_todos=[{"id": "a_deck", "text": "Ben will update the deck"}])
        await hedy_webhooks.session_event("sess_a")
        await wait_until(lambda: fake_slack.held["users.list"] == 1)
        assert deps.directory_reads.busy()
    finally:
        await running.stop()  # returns although Slack never answers
    assert not deps.directory_reads.busy()
    fake_slack.release("users.list")
    async with db.session() as session:
        assert (await session.exec(select(MemberDirectory))).all() == []  # nothing half-stored
    assert (await by_key(db))["a_deck"].owner_confidence is None
