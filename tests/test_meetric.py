"""Meetric beside Hedy: the client against the Meetric stand-in, its webhooks through the real ASGI
app, and a digest posted to the Slack stand-in by the workers.

Assumptions (docs/providers/meetric.md, "Assumptions"; the tests resting on them are marked
`assumption`): the 5-minute replay window on X-Webhook-Timestamp, `pagination.next_cursor`, the
seed's error envelope and codes, insights typed `action_item` as todos, and a daily quota that
resets at midnight UTC when Meetric does not say when."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC

import pytest
from sqlmodel import select

from bot.fakes.meetric import FakeMeetric
from bot.fakes.server import ThreadedServer
from bot.providers.base import NotSupported, PermissionDenied
from bot.providers.meetric import MeetricProvider
from bot.services.connections import connect
from bot.store.models import InboxEvent
from tests.conftest import CHANNEL, MEETRIC_LIMITED, MEETRIC_SECRET, MEETRIC_TOKEN, TEAM
from tests.helpers import wait_until

TOKEN, LIMITED, SECRET = MEETRIC_TOKEN, MEETRIC_LIMITED, MEETRIC_SECRET


@pytest.fixture
async def meetric(fake_meetric):
    provider = MeetricProvider(TOKEN, base_url=fake_meetric.url + "/api/v1/rest")
    yield provider
    await provider.aclose()


async def test_the_token_is_checked_and_conversations_page_25_at_most(meetric, fake_meetric):
    account = await meetric.check_key()
    assert account.name == "Acme"
    for n in range(30):
        fake_meetric.add_conversation(title=f"Call {n}", days_ago=2 + n / 100)
    first = await meetric.list_meetings(limit=100)
    assert len(first.items) == 25 and first.has_more
    second = await meetric.list_meetings(limit=25, cursor=first.next_cursor)
    titles = [m.title for m in first.items + second.items]
    assert len(titles) == 33 and "Old call" not in titles  # 30 days only
    assert titles[0] == "Discovery call — Acme"


async def test_a_conversation_becomes_a_meeting_with_insights_and_action_items(meetric):
    meeting = await meetric.get_meeting("conv_demo_1")
    assert meeting.title == "Discovery call — Acme" and meeting.duration_seconds == 1800
    assert meeting.recap == "We agreed on the next steps."
    assert [t.text for t in meeting.todos] == ["Send the revised quote"] and meeting.todos[0].due == "Friday"
    assert [h.insight for h in meeting.highlights] == ["Price is above budget."]


async def test_a_missing_scope_names_the_scope_to_add(fake_meetric):
    provider = MeetricProvider(LIMITED, base_url=fake_meetric.url)
    try:
        with pytest.raises(PermissionDenied) as caught:
            await provider.list_meetings()
    finally:
        await provider.aclose()
    assert "`conversations` scope" in caught.value.message and "API Tokens" in caught.value.message


async def test_a_429s_retry_after_is_honoured(meetric, fake_meetric):
    fake_meetric.fail_next(429, retry_after=1)
    started = time.monotonic()
    account = await meetric.check_key()
    assert account.name == "Acme" and time.monotonic() - started >= 0.9


async def test_todos_and_topics_say_meetric_has_none(meetric):
    with pytest.raises(NotSupported):
        await meetric.list_todos()


async def deliver(slack_user, connection, body: bytes, headers: dict):
    return await slack_user.client.post(f"/webhooks/meetric/{connection.webhook_token}", content=body,
                                        headers=headers)


async def inbox(db) -> list[InboxEvent]:
    async with db.session() as session:
        return list((await session.exec(select(InboxEvent))).all())


async def dead_rows(db) -> list[InboxEvent]:
    return [r for r in await inbox(db) if r.status == "dead"]


async def test_signatures_timestamps_and_delivery_ids(slack_user, meetric_connection, fake_meetric, db):
    body, headers = fake_meetric.webhook_request("conv_demo_1", secret=SECRET, delivery_id="d-1")
    assert (await deliver(slack_user, meetric_connection, body, headers)).status_code == 200
    again = await deliver(slack_user, meetric_connection, body, headers)  # Meetric retrying the same delivery
    assert again.json()["message"] == "duplicate"
    wrong, wrong_headers = fake_meetric.webhook_request("conv_demo_2", secret="not-the-secret")
    assert (await deliver(slack_user, meetric_connection, wrong, wrong_headers)).status_code == 401
    stale, stale_headers = fake_meetric.webhook_request("conv_demo_2", secret=SECRET, timestamp=time.time() - 600)
    assert (await deliver(slack_user, meetric_connection, stale, stale_headers)).status_code == 401
    unsigned = {k: v for k, v in headers.items() if k != "X-Webhook-Signature"}
    assert (await deliver(slack_user, meetric_connection, body, unsigned)).status_code == 401
    [row] = await inbox(db)
    assert row.dedupe_key.startswith("conversation.completed:conv_demo_1:")
    assert json.loads(row.payload)["_meta"]["subscription_id"] == "sub_1"


@pytest.mark.parametrize("stamp", ["nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e400", "9" * 400, "",
                                   " ", "1e9", "0x6a", "１７８００００００００", "-1780000000", "1780000000;", "²"])  # noqa: RUF001
async def test_a_timestamp_that_is_not_a_plain_number_is_refused(slack_user, meetric_connection, fake_meetric, db,
                                                                 stamp):
    body, headers = fake_meetric.webhook_request("conv_demo_1", secret=SECRET)
    response = await deliver(slack_user, meetric_connection, body, {**headers, "X-Webhook-Timestamp": stamp.encode()})
    assert response.status_code == 401 and await inbox(db) == []


@pytest.mark.usefixtures("workers")
async def test_a_captured_delivery_replayed_with_fresh_headers_is_stored_and_fetched_once(
        slack_user, meetric_connection, fake_meetric, fake_slack, db):
    body, headers = fake_meetric.webhook_request("conv_demo_1", secret=SECRET)
    assert (await deliver(slack_user, meetric_connection, body, headers)).json()["message"] == "stored"
    for n in range(20):  # the signature covers the body only: new delivery ids and timestamps are free to forge
        replay = {**headers, "X-Webhook-Delivery-Id": f"forged-{n}", "X-Webhook-Timestamp": str(int(time.time()))}
        answer = await deliver(slack_user, meetric_connection, body, replay)
        assert answer.status_code == 200 and answer.json()["message"] == "duplicate"
    await wait_for(lambda: [p for p in fake_slack.calls_to("chat.postMessage", ok=True)
                            if not p.args.get("thread_ts")])
    assert len(await inbox(db)) == 1
    await wait_for(lambda: _finished(db))
    assert _fetches(fake_meetric, "conv_demo_1") == 1  # one digest, one use of the token's 60 a minute


def _fetches(fake: FakeMeetric, cid: str) -> int:
    return fake.request_count(f"/conversations/{cid}", exact=True)


async def _finished(db):
    return [r for r in await inbox(db) if r.status == "done"]


async def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.usefixtures("workers")
async def test_a_completed_conversation_gets_its_digest_and_todos(slack_user, meetric_connection, fake_meetric,
                                                                  fake_slack):
    body, headers = fake_meetric.webhook_request("conv_demo_1", secret=SECRET)
    assert (await deliver(slack_user, meetric_connection, body, headers)).status_code == 200
    posts = await wait_until(lambda: len(fake_slack.calls_to("chat.postMessage", ok=True)) >= 3
                             and fake_slack.calls_to("chat.postMessage", ok=True))
    digest = next(p for p in posts if not p.args.get("thread_ts"))
    assert "Discovery call — Acme" in digest.args["text"] and "Meetric" in json.dumps(digest.args["blocks"])
    thread = json.dumps([p.args for p in posts if p.args.get("thread_ts")], ensure_ascii=False)
    assert "Send the revised quote" in thread and "Price is above budget" in thread


async def test_slash_commands_work_and_todos_say_why_not(slack_user, meetric_connection):
    listing = await slack_user.ask("list 3")
    assert "Discovery call — Acme" in json.dumps(listing, ensure_ascii=False)
    todos = await slack_user.ask("todos")
    assert "Meetric has no action-item list" in json.dumps(todos)


# ----------------------------------------------------------------------------- more of the client

FULL = "mt_full_scopes_0123456789"
RECORDER = "mt_recordings_0123456789"


@pytest.fixture
def roomy_meetric(fake_meetric):
    """The same stand-in, with a token holding every scope and one allowed to read recordings."""
    from bot.fakes.meetric import ALL_SCOPES

    fake_meetric.tokens[FULL] = set(ALL_SCOPES)
    fake_meetric.tokens[RECORDER] = set(ALL_SCOPES)
    fake_meetric.include_recordings.add(RECORDER)
    return fake_meetric


async def _with(fake, token, work, **kwargs):
    provider = MeetricProvider(token, base_url=fake.url, backoff=0.01, **kwargs)
    try:
        return await work(provider)
    finally:
        await provider.aclose()


async def test_a_full_token_gets_the_transcript_and_the_topics(roomy_meetric, meetric):
    from bot.slack.blocks.digest import minutes_modal

    meeting = await _with(roomy_meetric, FULL, lambda p: p.get_meeting("conv_demo_1"))
    assert meeting.transcript == ("Erik Lindström: Thanks for joining today.\n"
                                  "Jane Doe: Happy to be here. Can we talk about price?")
    assert meeting.minutes == "## Topics\n- Pricing\n- Timeline"
    assert "Jane Doe: Happy to be here." in json.dumps(minutes_modal(meeting, provider_name="Meetric"),
                                                       ensure_ascii=False)
    # Without the transcripts scope the digest still comes, without the transcript.
    limited = await meetric.get_meeting("conv_demo_1")
    assert limited.transcript is None and limited.todos


@pytest.mark.assumption("the assumed error codes; the quota resets at midnight UTC when Meetric does not say")
async def test_a_used_up_daily_quota_says_when_it_resets(roomy_meetric):
    from datetime import datetime

    from bot.providers.base import QuotaExceeded
    from bot.slack.errors import describe

    roomy_meetric.daily_quota = 1
    await _with(roomy_meetric, FULL, lambda p: p.get_meeting("conv_demo_1"))
    started = time.monotonic()
    with pytest.raises(QuotaExceeded) as caught:
        await _with(roomy_meetric, FULL, lambda p: p.get_meeting("conv_demo_2"))
    assert time.monotonic() - started < 2  # not retried: it will not come back within the call
    error = caught.value
    assert error.resets_at.hour == 0 and error.resets_at > datetime.now(UTC)
    said = describe(error).text
    assert "daily quota of 1 conversations is used up" in said and "resets at 00:00 UTC" in said
    assert "in about" in said


@pytest.mark.assumption("the assumed dual gate for recordings")
async def test_recordings_need_the_scope_and_the_token_flag(roomy_meetric, meetric):
    assert await _with(roomy_meetric, RECORDER, lambda p: p.recording_url("conv_demo_1")) \
        == "https://recordings.example/conv_demo_1.mp4"
    with pytest.raises(PermissionDenied) as flag_off:
        await _with(roomy_meetric, FULL, lambda p: p.recording_url("conv_demo_1"))
    assert "include_recordings" in flag_off.value.message
    with pytest.raises(PermissionDenied) as no_scope:
        await meetric.recording_url("conv_demo_1")
    assert "`recordings` scope" in no_scope.value.message


async def test_missing_bad_and_revoked_tokens_are_auth_errors(fake_meetric):
    import httpx

    from bot.providers.base import AuthError
    from bot.slack.errors import describe

    for token in ("mt_not_a_real_token_0000", TOKEN):
        if token == TOKEN:
            fake_meetric.revoke(TOKEN)
        with pytest.raises(AuthError) as caught:
            await _with(fake_meetric, token, lambda p: p.check_key())
        assert caught.value.code in ("invalid_api_token", "token_revoked")
    assert "rejected this workspace's API key" in describe(caught.value).text
    async with httpx.AsyncClient() as raw:
        response = await raw.get(fake_meetric.url + "/api/v1/rest/account")
    assert response.status_code == 401 and response.json()["code"] == "missing_api_token"


async def test_a_token_without_the_conversations_scope_cannot_connect(fake_meetric):
    from bot.slack.errors import describe

    with pytest.raises(PermissionDenied) as caught:
        await _with(fake_meetric, LIMITED, lambda p: p.check_key())
    said = describe(caught.value).text
    assert "lacks the `conversations` scope" in said and "Settings → REST API → API Tokens" in said


async def test_retry_after_only_in_the_body_is_honoured_too(fake_meetric):
    fake_meetric.retry_after_in_body = True  # M-DOC's 429: {"statusCode":429,…,"retryAfter":1}, no header
    fake_meetric.fail_next(429, retry_after=1)
    started = time.monotonic()
    assert (await _with(fake_meetric, TOKEN, lambda p: p.check_key())).name == "Acme"
    assert time.monotonic() - started >= 0.9


async def test_a_long_retry_after_holds_every_caller_of_the_token(fake_meetric):
    from bot.providers.base import RateLimited
    from bot.providers.http import PacingLimited

    fake_meetric.fail_next(429, retry_after=60)
    with pytest.raises(RateLimited) as first:
        await _with(fake_meetric, TOKEN, lambda p: p.list_meetings())
    assert first.value.retry_after == 60
    before = fake_meetric.request_count()
    with pytest.raises(PacingLimited):  # another client for the same token does not even ask
        await _with(fake_meetric, TOKEN, lambda p: p.list_meetings(), max_pacing_wait=1)
    assert fake_meetric.request_count() == before


async def test_requests_are_paced_at_60_a_minute_per_token(fake_meetric):
    async def burst(provider):
        started = time.monotonic()
        for _ in range(11):  # ten at once, then one every 60/51 s
            await provider.list_meetings(limit=1)
        return time.monotonic() - started

    elapsed = await _with(fake_meetric, TOKEN, burst)
    assert 1.0 <= elapsed < 4
    assert fake_meetric.request_count("/conversations") == 11


@pytest.mark.assumption("the 5-minute window is an assumption; a millisecond timestamp is another reading")
def test_the_timestamp_window_cuts_both_ways():
    from bot.providers.meetric_webhooks import MeetricWebhooks

    now = 1_780_000_000.0
    adapter = MeetricWebhooks(clock=lambda: now)
    fake = FakeMeetric()
    fake.add_conversation(title="T", cid="c1")
    body, _ = fake.webhook_request("c1", secret="s")
    for stamp, ok in ((now - 299, True), (now - 301, False), (now + 301, False), ((now - 10) * 1000, True)):
        headers = fake.sign(body, secret="s", delivery_id="d", timestamp=stamp)
        assert adapter.verify(headers=headers, body=body, secret="s") is ok, stamp
    for stamp in ("nan", "-nan", "inf", "1e400", "9" * 400, ""):  # NaN compares false with everything
        headers = {**fake.sign(body, secret="s", delivery_id="d"), "X-Webhook-Timestamp": stamp}
        assert adapter.verify(headers=headers, body=body, secret="s") is False, stamp
    event = adapter.parse(headers=fake.sign(body, secret="s", delivery_id="dlv-1"), body=body)
    assert event.data["subscription_id"] == "sub_1" and event.meeting_id == "c1"
    other_headers = adapter.parse(headers={**fake.sign(body, secret="s", delivery_id="dlv-2"),
                                           "X-Webhook-Event": "something.else"}, body=body)
    assert other_headers.dedupe_key == event.dedupe_key  # made of the signed body only


def test_the_fake_delivers_like_meetric_retrying_with_one_delivery_id_and_fresh_timestamps():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    answers = [500, 401, 200]
    seen = []

    async def hook(request):
        seen.append(dict(request.headers))
        return Response(status_code=answers.pop(0))

    fake = FakeMeetric()
    fake.add_conversation(title="T", cid="c1")
    with ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        assert fake.send_webhook(server.url + "/hook", "c1", secret="s", retry_delay=0.6) == [500, 401, 200]
    assert len({h["x-webhook-delivery-id"] for h in seen}) == 1
    assert len({h["x-webhook-timestamp"] for h in seen}) >= 2  # refreshed on each attempt
    assert [d["status_code"] for d in fake.deliveries] == [500, 401, 200]


@pytest.mark.usefixtures("workers")
async def test_a_conversation_the_api_does_not_know_posts_nothing_and_is_not_retried(
        slack_user, meetric_connection, fake_meetric, fake_slack, db, caplog):
    fake_meetric.add_conversation(title="Deleted later", cid="conv_gone")
    body, headers = fake_meetric.webhook_request("conv_gone", secret=SECRET)
    del fake_meetric.conversations["conv_gone"]
    await deliver(slack_user, meetric_connection, body, headers)
    [row] = await wait_for(lambda: _finished(db))
    assert "Meetric does not know this meeting" in row.last_error and row.attempts <= 1
    assert fake_slack.calls_to("chat.postMessage") == []
    assert _fetches(fake_meetric, "conv_gone") == 1
    assert "webhook event failed" not in json.dumps(await slack_user.ask("status"))
    assert "nothing posted" in caplog.text and not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.usefixtures("workers")
async def test_a_forged_event_posts_only_what_the_api_says(slack_user, deps, fake_meetric, fake_slack, db):
    """Only the URL of a connection without a signing secret: a body with attacker text and links."""
    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="meetric", api_key=TOKEN,
                           channel=CHANNEL)
    unsigned = result.connection

    def forged(cid: str) -> bytes:
        return json.dumps({"event": "conversation.completed", "data": {"conversation": {
            "id": cid, "title": "<https://evil.example/login|Reset your password> <!channel>",
            "summary": "Click https://evil.example now"}}}).encode()

    for cid in ("conv_nobody_knows", "conv_demo_1"):
        assert (await deliver(slack_user, unsigned, forged(cid), {"Content-Type": "application/json"})
                ).status_code == 200
    await wait_for(lambda: _all_finished(db, 2))
    await wait_for(lambda: fake_slack.calls_to("chat.postMessage", ok=True))
    posted = json.dumps([p.args for p in fake_slack.calls_to("chat.postMessage")], ensure_ascii=False)
    assert "evil.example" not in posted and "Reset your password" not in posted
    digests = [p for p in fake_slack.calls_to("chat.postMessage", ok=True) if not p.args.get("thread_ts")]
    assert len(digests) == 1 and "Discovery call — Acme" in digests[0].args["text"]


async def _all_finished(db, count: int):
    rows = await inbox(db)
    return rows if len(rows) >= count and all(r.status == "done" for r in rows) else None


