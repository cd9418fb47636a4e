"""Hedy webhooks in, one living digest per meeting out: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.delivery import inbox
from bot.store.models import InboxEvent, SlackMessage
from tests.conftest import CHANNEL, TEAM, HedyWebhooks
from tests.helpers import digests_in, inbox_rows, replies_to, text_of, wait_until

# ----------------------------------------------------------------------------- receiving


async def test_unknown_token_is_404_and_stores_nothing(hedy_webhooks, fake_hedy, db):
    response = await hedy_webhooks.session_event("sess_demo_12", token="x" * 32)
    assert response.status_code == 404
    assert (await hedy_webhooks.client.post("/webhooks/otter/" + hedy_webhooks.token, content=b"{}")).status_code == 404
    assert await inbox_rows(db) == []


async def test_a_body_over_one_mebibyte_is_413(hedy_webhooks, db):
    big = {"sessionId": "sess_demo_12", "transcript": "x" * (1024 * 1024)}
    assert (await hedy_webhooks.send("session.ended", big)).status_code == 413
    assert await inbox_rows(db) == []


async def test_signatures_are_checked_on_the_raw_body(hedy_webhooks, db):
    assert (await hedy_webhooks.session_event("sess_demo_12", secret=None)).status_code == 401
    assert (await hedy_webhooks.session_event("sess_demo_12", secret="not-the-secret")).status_code == 401
    assert await inbox_rows(db) == []
    good = await hedy_webhooks.session_event("sess_demo_12")
    assert good.status_code == 200 and good.json()["message"] == "stored"
    # Re-serialising the JSON (other spacing) breaks the signature: the raw bytes are what counts.
    from bot.fakes.hedy import webhook_request

    body, headers = webhook_request("session.ended", {"sessionId": "sess_demo_11"},
                                    secret="hedy-webhook-secret-for-tests")
    respaced = json.dumps(json.loads(body), indent=1).encode()
    response = await hedy_webhooks.client.post(f"/webhooks/hedy/{hedy_webhooks.token}", content=respaced,
                                               headers=headers)
    assert response.status_code == 401
    assert len(await inbox_rows(db)) == 1


async def test_a_sha256_prefixed_or_upper_case_signature_is_accepted(hedy_webhooks, db):
    from bot.fakes.hedy import webhook_request

    body, headers = webhook_request("session.ended", {"sessionId": "sess_demo_10"},
                                    secret="hedy-webhook-secret-for-tests")
    headers["X-Hedy-Signature"] = "sha256=" + headers["X-Hedy-Signature"].upper()
    response = await hedy_webhooks.client.post(f"/webhooks/hedy/{hedy_webhooks.token}", content=body, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b'{"sessionId": "s"}', b"\xff\xfe"])
async def test_malformed_bodies_are_400_and_not_stored(hedy_webhooks, db, body):
    import hashlib
    import hmac

    signature = hmac.new(b"hedy-webhook-secret-for-tests", body, hashlib.sha256).hexdigest()
    response = await hedy_webhooks.client.post(f"/webhooks/hedy/{hedy_webhooks.token}", content=body,
                                               headers={"X-Hedy-Signature": signature})
    assert response.status_code == 400
    assert await inbox_rows(db) == []


async def test_duplicate_deliveries_are_stored_once(hedy_webhooks, db):
    first = await hedy_webhooks.session_event("sess_demo_12")
    again = await hedy_webhooks.session_event("sess_demo_12")
    assert first.json()["message"] == "stored" and again.json()["message"] == "duplicate"
    assert again.status_code == 200
    # A double-clicked export differs only in its timestamp: the same news, stored once.
    one = await hedy_webhooks.session_event("sess_demo_11", event="session.exported")
    two = await hedy_webhooks.session_event("sess_demo_11", event="session.exported")
    assert [one.json()["message"], two.json()["message"]] == ["stored", "duplicate"]
    assert len(await inbox_rows(db)) == 2


async def test_a_burst_of_deliveries_is_stored_once_each_with_duplicates_inside_the_burst(hedy_webhooks, db):
    """Requests that arrive together are committed together (group commit); every one still
    gets its own honest answer, and a retry racing its original inside one batch is a duplicate."""
    sessions = [f"sess_demo_{n:02d}" for n in range(1, 13)]
    deliveries = [hedy_webhooks.session_event(s) for s in sessions for _ in range(3)]
    responses = await asyncio.gather(*deliveries)
    assert all(r.status_code == 200 for r in responses)
    messages = [r.json()["message"] for r in responses]
    assert messages.count("stored") == 12 and messages.count("duplicate") == 24
    rows = await inbox_rows(db)
    assert sorted(row.meeting_id for row in rows) == sessions


async def test_unknown_events_are_acknowledged_and_ignored(hedy_webhooks, db):
    response = await hedy_webhooks.send("session.deleted", {"sessionId": "sess_demo_12"})
    assert response.status_code == 200
    assert [row.status for row in await inbox_rows(db)] == ["ignored"]


async def test_the_webhook_answers_without_calling_hedy_or_slack(hedy_webhooks, fake_hedy, fake_slack):
    fake_hedy.reset_requests()
    calls_before = len(fake_slack.calls)
    await hedy_webhooks.session_event("sess_demo_12")  # no workers running in this test
    assert fake_hedy.request_count() == 0 and len(fake_slack.calls) == calls_before


# ----------------------------------------------------------------------------- digests


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("nested", [False, True])
async def test_a_meeting_ending_posts_its_digest_with_todos_and_highlights_in_the_thread(
        hedy_webhooks, fake_hedy, fake_slack, nested):
    session = fake_hedy.richest_session()
    response = await hedy_webhooks.session_event(session["sessionId"], nested=nested)
    assert response.status_code == 200
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert session["title"][:40] in text_of(digest)
    assert "Full minutes" in text_of(digest)
    thread = await wait_until(lambda: len(replies_to(fake_slack, digest["ts"])) >= 2 and
                              replies_to(fake_slack, digest["ts"]))
    assert any(session["user_todos"][0]["text"][:30] in text_of(m) for m in thread)
    assert any(session["highlights"][0]["title"][:30] in text_of(m) for m in thread)


@pytest.mark.usefixtures("workers")
async def test_a_re_export_edits_the_digest_instead_of_posting_another(hedy_webhooks, fake_hedy, fake_slack):
    await hedy_webhooks.session_event("sess_demo_12")
    await wait_until(lambda: digests_in(fake_slack))
    fake_hedy.edit_session("sess_demo_12", recap="Revised recap after the re-export.")
    await hedy_webhooks.session_event("sess_demo_12", event="session.exported")
    await wait_until(lambda: "Revised recap" in text_of(digests_in(fake_slack)[0]))
    assert len(digests_in(fake_slack)) == 1
    assert len(fake_slack.calls_to("chat.update", ok=True)) >= 1


@pytest.mark.usefixtures("workers")
async def test_an_exported_todo_joins_the_thread(hedy_webhooks, fake_hedy, fake_slack):
    await hedy_webhooks.session_event("sess_demo_12")
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    await wait_until(lambda: replies_to(fake_slack, digest["ts"]))
    todo = fake_hedy.add_todo("sess_demo_12", "Send the launch survey", due="Friday")
    await hedy_webhooks.send("todo.exported", todo)
    await wait_until(lambda: any("Send the launch survey" in text_of(m) for m in replies_to(fake_slack, digest["ts"])))
    assert len(digests_in(fake_slack)) == 1


@pytest.mark.usefixtures("workers")
async def test_a_highlight_during_a_live_meeting_waits_for_the_digest(hedy_webhooks, fake_hedy, fake_slack, db):
    await hedy_webhooks.send("highlight.created", {"id": "hl_live", "sessionId": "sess_demo_12", "title": "Live"})
    rows = await wait_until(lambda: _done(db))
    assert "no digest yet" in rows[0].last_error
    assert digests_in(fake_slack) == []


async def _done(db):
    rows = await inbox_rows(db)
    return rows if rows and all(r.status == "done" for r in rows) else None


@pytest.mark.usefixtures("workers")
async def test_meeting_started_notes_only_where_enabled(hedy_webhooks, fake_hedy, fake_slack, deps, signed_connection,
                                                        db):
    for live in ("sess_live_1", "sess_live_2"):
        fake_hedy.add_session(sessionId=live, title="Design crit", endTime=None)
    payload = {"sessionId": "sess_live_1", "title": "Design crit", "startTime": "2026-11-22T10:00:00Z"}
    await hedy_webhooks.send("session.created", payload)
    await wait_until(lambda: _done(db))
    assert fake_slack.channel_messages(CHANNEL) == []

    from bot.services.connections import connect
    from tests.conftest import HEDY_KEY

    # What `meetings-bot connect ... --meeting-started-notes` does:
    await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY, channel=None,
                  meeting_started_notes=True)
    await hedy_webhooks.send("session.created", dict(payload, sessionId="sess_live_2"))
    note = await wait_until(lambda: fake_slack.channel_messages(CHANNEL))
    assert "Design crit" in text_of(note[0]) and "started" in text_of(note[0])


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("event", ["session.created", "session.ended", "session.exported", "highlight.created",
                                   "todo.exported"])
async def test_a_forged_event_posts_only_what_hedy_s_api_says(slack_user, fake_hedy, fake_slack, deps, db, event):
    """Only the URL of a connection created without a signing secret (as Hedy's API creates them)."""
    from bot.services.connections import connect
    from tests.conftest import HEDY_KEY

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                           channel=CHANNEL, meeting_started_notes=True)
    forged = HedyWebhooks(client=slack_user.client, fake=fake_hedy, token=result.connection.webhook_token, secret=None)
    attacker = {"title": "<https://evil.example/login|Your Slack session expired> <!channel>",
                "recap": "Log in again at https://evil.example", "text": "Pay https://evil.example/invoice",
                "startTime": "2026-11-22T10:00:00Z"}
    known = fake_hedy.add_session(title="Quarterly planning", endTime=None)["sessionId"]
    for session_id in ("sess_nobody_knows", known):
        ids = {"sessionId": session_id} if event.startswith("session.") else {"sessionId": session_id, "id": "x1"}
        assert (await forged.send(event, {**attacker, **ids}, secret=None)).status_code == 200
    rows = await wait_until(lambda: _done(db))
    if event.startswith("session."):
        assert "Hedy does not know this meeting" in rows[0].last_error
    posted = json.dumps([c.args for c in fake_slack.calls_to("chat.postMessage")], ensure_ascii=False)
    assert "evil.example" not in posted and "session expired" not in posted
    if event == "session.created":
        [note] = await wait_until(lambda: fake_slack.channel_messages(CHANNEL))
        assert "Quarterly planning" in text_of(note) and "started" in text_of(note)
    elif event.startswith("session."):
        [digest] = await wait_until(lambda: digests_in(fake_slack))
        assert "Quarterly planning" in text_of(digest)


@pytest.mark.usefixtures("workers")
async def test_a_signed_body_replayed_with_other_headers_is_stored_and_fetched_once(hedy_webhooks, fake_hedy,
                                                                                   fake_slack, db):
    from bot.fakes.hedy import webhook_request
    from tests.conftest import WEBHOOK_SECRET

    body, headers = webhook_request("session.ended", fake_hedy.session_webhook_payload("sess_demo_12"),
                                    secret=WEBHOOK_SECRET)
    before = fake_hedy.request_count("/sessions/sess_demo_12")
    for n in range(21):
        replay = {**headers, "X-Hedy-Event": "session.exported" if n % 2 else "session.ended",
                  "X-Hedy-Delivery": f"forged-{n}"}
        answer = await hedy_webhooks.client.post(f"/webhooks/hedy/{hedy_webhooks.token}", content=body,
                                                 headers=replay)
        assert answer.json()["message"] == ("stored" if n == 0 else "duplicate")
    await wait_until(lambda: digests_in(fake_slack))
    await wait_until(lambda: _done(db))
    assert len(await inbox_rows(db)) == 1 and len(digests_in(fake_slack)) == 1
    assert fake_hedy.request_count("/sessions/sess_demo_12") - before == 1


async def test_many_meetings_each_posted_exactly_once(hedy_webhooks, fake_hedy, fake_slack, workers):
    ids = fake_hedy.newest_session_ids(12)
    for session_id in ids:
        await hedy_webhooks.session_event(session_id)
        await hedy_webhooks.session_event(session_id)  # Hedy retried
    # The two 1:1s are held for approval by the built-in "Sensitive meetings" rule; the rest go out.
    await wait_until(lambda: len(digests_in(fake_slack)) == 10, timeout=30)
    await workers.idle()
    assert len(digests_in(fake_slack)) == 10
    assert not any("1:1" in text_of(m) for m in digests_in(fake_slack))
    assert len(fake_slack.calls_to("chat.postMessage", ok=True)) == len(fake_slack.channel_messages(CHANNEL))


@pytest.mark.usefixtures("workers")
async def test_huge_meeting_fits_slack(hedy_webhooks, fake_hedy, fake_slack):
    session = fake_hedy.add_huge_session()
    await hedy_webhooks.session_event(session["sessionId"])
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    def todos_shown() -> int:
        return sum(text_of(m).count("☐") + text_of(m).count("☑") for m in replies_to(fake_slack, digest["ts"]))

    await wait_until(lambda: todos_shown() >= 300, timeout=60)
    assert todos_shown() == 300
    # (the fake_slack fixture asserts that Slack rejected nothing)


# ----------------------------------------------------------------------------- failures


async def test_slack_429_and_500_then_fine(hedy_webhooks, fake_slack, monkeypatch, workers):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.2)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    fake_slack.fail_next("chat.postMessage", status=500)
    await hedy_webhooks.session_event("sess_demo_12")
    await wait_until(lambda: digests_in(fake_slack), timeout=30)
    await workers.idle()
    assert len(digests_in(fake_slack)) == 1


@pytest.mark.usefixtures("workers")
async def test_failing_events_are_dead_lettered_shown_and_retryable(hedy_webhooks, fake_hedy, fake_slack, db,
                                                                   slack_user, monkeypatch):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(inbox, "MAX_ATTEMPTS", 2)
    fake_hedy.fail_next(500, times=10, path="/sessions/sess_gone")
    await hedy_webhooks.send("session.ended", {"sessionId": "sess_gone", "title": "Gone"})
    await wait_until(lambda: _status(db, "dead"), timeout=20)
    status = text_of(await slack_user.ask("status"))
    assert "1 webhook event failed" in status and "meetings-bot inbox retry" in status
    assert await inbox.retry(db, team_id=TEAM) == 1
    assert [r.status for r in await inbox_rows(db)] in (["pending"], ["processing"], ["dead"])


async def _status(db, status):
    rows = await inbox_rows(db)
    return [r for r in rows if r.status == status]


@pytest.mark.slack_refuses
@pytest.mark.usefixtures("workers")
async def test_a_channel_the_bot_cannot_post_in_is_reported(hedy_webhooks, fake_slack, slack_user, db):
    fake_slack.add_channel(CHANNEL, "secret-plans", is_private=True, is_member=False)
    await hedy_webhooks.session_event("sess_demo_12")

    async def dead():
        async with db.session() as session:
            return (await session.exec(select(func.count()).select_from(SlackMessage)
                                        .where(SlackMessage.state == "dead"))).one()
    await wait_until(dead)
    assert "not_in_channel" in text_of(await slack_user.ask("status"))


# ----------------------------------------------------------------------------- reconcile


@pytest.mark.usefixtures("workers")
async def test_reconcile_posts_a_meeting_whose_webhook_never_came(deps, fake_hedy, fake_slack, signed_connection):
    from datetime import datetime, timedelta

    from sqlalchemy import update

    from bot.jobs.reconcile import reconcile_all
    from bot.store.models import Connection

    assert await reconcile_all(deps) == 0  # every demo meeting ended before the connection was made
    async with deps.db.session() as session:  # connected an hour ago, then a meeting happened
        await session.exec(update(Connection).values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    fresh = fake_hedy.add_session(title="Retro without a webhook",
                                  startTime=datetime.now(UTC) - timedelta(minutes=30), duration=1200)
    assert await reconcile_all(deps) == 1
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Retro without a webhook" in text_of(digest)
    assert await reconcile_all(deps) == 0  # it has its digest now
    assert fresh["sessionId"]


# ----------------------------------------------------------------------------- the Full minutes button


@pytest.mark.usefixtures("workers")
async def test_full_minutes_opens_a_modal_with_the_whole_minutes(hedy_webhooks, fake_hedy, fake_slack, slack_user):
    from bot.slack.ids import ActionId

    minutes = "## Plan\n" + "".join(f"- point number {i} of the long plan\n" for i in range(150)) + "- zebra finale"
    session = fake_hedy.add_session(title="Long planning", meeting_minutes=minutes)
    await hedy_webhooks.session_event(session["sessionId"])
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "zebra finale" not in text_of(digest)  # the digest keeps the key points only
    button = next(e for b in digest["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e.get("action_id") == ActionId.FULL_MINUTES)
    response, _url = await slack_user.click(ActionId.FULL_MINUTES, button["value"],
                                            trigger_id=fake_slack.new_trigger_id())
    assert response.status_code == 200
    assert (await fake_slack.wait_for_call_async("views.open"))[-1].ok
    update = (await asyncio.to_thread(fake_slack.wait_for_call, "views.update", timeout=10))[-1]
    view = json.dumps(update.args["view"]) if isinstance(update.args["view"], dict) else update.args["view"]
    assert "zebra finale" in view


@pytest.mark.usefixtures("workers")
async def test_full_minutes_from_another_workspace_shows_nothing_of_this_one(fake_hedy, fake_slack, slack_user,
                                                                            signed_connection):
    from bot.slack.ids import ActionId

    await slack_user.click(ActionId.FULL_MINUTES, "sess_demo_12", team_id="T0OTHER",
                           trigger_id=fake_slack.new_trigger_id())
    update = (await asyncio.to_thread(fake_slack.wait_for_call, "views.update", timeout=10))[-1]
    view = json.dumps(update.args["view"]) if isinstance(update.args["view"], dict) else update.args["view"]
    assert "isn't connected" in view
    assert fake_hedy.session("sess_demo_12")["recap"][:20] not in view


async def test_operators_list_and_retry_dead_events_from_the_command_line(settings, db, hedy_webhooks, monkeypatch):
    import os
    import subprocess
    import sys

    from sqlalchemy import update

    await hedy_webhooks.send("session.ended", {"sessionId": "sess_broken", "title": "Broken"})
    async with db.session() as session:
        await session.exec(update(InboxEvent).values(status="dead", attempts=8,
                                                     last_error="NotFound: session_not_found"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), COLUMNS="200",
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value())

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "bot", "inbox", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    listed = cli("list", "--status", "dead")
    assert listed.returncode == 0
    assert "1 dead" in listed.stdout and "sess_broken" in listed.stdout and "session_not_found" in listed.stdout
    retried = cli("retry")
    assert retried.returncode == 0 and "1 dead event queued again" in retried.stdout
    assert [row.status for row in await inbox_rows(db)] == ["pending"]
    assert "No dead events" in cli("retry").stdout
