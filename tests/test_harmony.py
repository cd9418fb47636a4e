"""Harmony beside Hedy: the client against the Harmony stand-in (both contracts), its webhooks
through the real ASGI app, and digests, notices and thread updates posted to the Slack stand-in
by the workers.

Harmony's whole contract is unverified (docs/providers/harmony.md). Tests marked `assumption` rest on the
seed page's "📝 ASSUMPTION" contract or on shapes nobody has published: the summary and insight
bodies, the `X-Harmony-Signature` format (hex HMAC of the raw body), the `meeting.*` event names and
payload, the `X-RateLimit-*` headers, and the `conversations` style's paging and sub-resources."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC

import pytest

from bot.delivery import inbox
from bot.fakes.harmony import FakeHarmony
from bot.fakes.server import ThreadedServer
from bot.providers import harmony as harmony_module
from bot.providers.base import (
    AuthError,
    NotFound,
    NotReady,
    NotSupported,
    PermissionDenied,
    RateLimited,
    Unavailable,
)
from bot.providers.harmony import HarmonyProvider
from bot.providers.harmony_webhooks import HarmonyWebhooks
from bot.providers.http import PacingLimited, ServerBudget, parse_reset
from bot.slack.blocks.digest import meeting_failed_message, minutes_modal
from bot.slack.errors import describe
from tests.conftest import CHANNEL, HARMONY_KEY, HARMONY_SECRET, TEAM
from tests.helpers import digests_in, inbox_rows, replies_to, text_of, wait_until

FAST = {"backoff": 0.01, "deadline": 5.0}


def assumption(reason: str):
    """Marks a test that rests on a detail docs/providers/harmony.md lists as assumed."""
    return pytest.mark.assumption(reason)


@pytest.fixture
def harmony_server():
    fake = FakeHarmony(api_keys=[HARMONY_KEY], forbidden_keys=["lk_" + "f" * 64])
    fake.keys.add("lk_" + "f" * 64)
    fake.seed_demo()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    yield fake
    server.stop()


@pytest.fixture
async def client_for(harmony_server):
    made = []

    def make(style: str = "meetings", key: str = HARMONY_KEY, **kwargs) -> HarmonyProvider:
        provider = HarmonyProvider(key, base_url=harmony_server.url, style=style, **{**FAST, **kwargs})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


# ----------------------------------------------------------------------------- the client


@assumption("conversations style: same paging and sub-resources as the seed's meetings")
@pytest.mark.parametrize("style, auth", [("meetings", "bearer"), ("conversations", "x-api-key")])
async def test_both_contracts_page_and_read_a_meeting(client_for, harmony_server, style, auth):
    for n in range(5):
        harmony_server.add_meeting(title=f"Older call {n}", hours_ago=100 + n)
    harmony = client_for(style)
    await harmony.check_key()
    first = await harmony.list_meetings(limit=3)
    assert [m.title for m in first.items] == ["Sales Call - Acme Corp", "Pilot planning", "Weekly pipeline review"]
    assert first.has_more
    rest = []
    cursor = first.next_cursor
    while cursor:
        page = await harmony.list_meetings(limit=3, cursor=cursor)
        rest += page.items
        cursor = page.next_cursor
    assert [m.title for m in rest] == [f"Older call {n}" for n in range(5)]
    pages = [s.query for s in harmony_server.seen if s.path.endswith(("/meetings", "/conversations"))]
    assert {"page": "2", "per_page": "3"} in pages and {"page": "3", "per_page": "3"} in pages
    assert {s.auth for s in harmony_server.seen} == {auth}  # the key goes one way only, never both

    meeting = await harmony.get_meeting("mtg_demo_1")
    assert meeting.title == "Sales Call - Acme Corp" and meeting.duration_seconds == 1800
    assert meeting.recap.startswith("Sales Call - Acme Corp: the team agreed")
    assert "## Key points" in meeting.minutes and "Ship the pilot in March" in meeting.minutes
    assert [(t.text, t.due) for t in meeting.todos] == [("Send the pilot plan", "2026-03-01")]
    assert [(h.title, h.insight) for h in meeting.highlights] == [
        ("Timeline risk", "Legal review may take three weeks.")]
    assert meeting.transcript == ("Ana Ruiz: Thanks for joining today.\n"
                                  "Sam Lee: Glad to be here. Let's talk about the pilot.")
    modal = json.dumps(minutes_modal(meeting, provider_name="Harmony"))
    assert "*Transcript*" in modal and "Sam Lee: Glad to be here." in modal


async def test_a_base_url_with_the_path_already_in_it_works(harmony_server, client_for):
    harmony = client_for("meetings")
    assert harmony.base_url == harmony_server.url + "/api/v1"
    again = HarmonyProvider(HARMONY_KEY, base_url=harmony_server.url + "/api/v1/", style="meetings")
    assert again.base_url == harmony.base_url
    await again.aclose()
    with pytest.raises(ValueError, match="HARMONY_API_STYLE"):
        HarmonyProvider(HARMONY_KEY, style="graphql")


async def test_a_wrong_or_misplaced_key_is_rejected_in_words(client_for, harmony_server):
    with pytest.raises(AuthError) as caught:
        await client_for(key="lk_" + "9" * 64).check_key()
    assert "rejected this workspace's API key" in describe(caught.value).text
    # The public pages refuse a key sent as Bearer on /v1 (and the fake enforces it).
    harmony_server.strict_auth = True
    import httpx

    async with httpx.AsyncClient() as raw:
        response = await raw.get(harmony_server.url + "/v1/conversations",
                                 headers={"Authorization": f"Bearer {HARMONY_KEY}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


async def test_errors_in_the_envelope_become_sentences(client_for, harmony_server):
    harmony = client_for()
    with pytest.raises(PermissionDenied) as denied:
        await client_for(key="lk_" + "f" * 64).list_meetings()
    said = describe(denied.value).text
    assert "Harmony accepted the key" in said and "Settings → Integrations → API" in said
    assert "Insufficient permissions" in said
    with pytest.raises(NotFound) as missing:
        await harmony.get_meeting("mtg_nope")
    assert "Harmony has no meeting with that id" in describe(missing.value).text
    harmony_server.fail_next(500, times=3)
    with pytest.raises(Unavailable):
        await harmony.list_meetings()
    harmony_server.fail_next(502, body="<html>Bad gateway</html>", times=3)
    with pytest.raises(Unavailable) as down:
        await harmony.list_meetings()
    assert "couldn't reach Harmony" in describe(down.value).text
    harmony_server.fail_next(503, times=2)
    assert (await harmony.list_meetings()).items  # the third attempt gets through


async def test_a_meeting_still_processing_is_not_ready_and_says_so(client_for, harmony_server):
    harmony_server.add_meeting(title="Just ended", mid="mtg_busy", status="processing")
    with pytest.raises(NotReady) as caught:
        await client_for().get_meeting("mtg_busy")
    assert "still working on this meeting's notes" in describe(caught.value).text


async def test_a_meeting_without_summary_or_insights_still_makes_a_meeting(client_for, harmony_server):
    harmony_server.add_meeting(title="Quiet one", mid="mtg_quiet", summary="Just a plain summary.", insights=[],
                               transcript=[])
    meeting = await client_for().get_meeting("mtg_quiet")
    assert meeting.recap == "Just a plain summary." and meeting.minutes is None
    assert meeting.todos == [] and meeting.highlights == [] and meeting.transcript is None


async def test_todos_and_topics_say_harmony_has_none(client_for):
    harmony = client_for()
    with pytest.raises(NotSupported) as caught:
        await harmony.list_todos()
    assert "Harmony has no action-item list" in describe(caught.value).text
    with pytest.raises(NotSupported):
        await harmony.list_topics()


async def test_a_429_with_retry_after_is_waited_out(client_for, harmony_server):
    harmony_server.fail_next(429, retry_after=1)
    started = time.monotonic()
    assert (await client_for().list_meetings()).items
    assert time.monotonic() - started >= 0.9


@assumption("X-RateLimit-Remaining/Reset as the seed shows them (reset as epoch seconds)")
async def test_the_rate_limit_headers_pace_the_client_before_harmony_says_no(harmony_server, client_for):
    harmony_server.rate_limit_headers = True
    harmony_server.rate_limit = 3
    harmony = client_for(max_pacing_wait=0.5)
    for _ in range(3):
        await harmony.list_meetings()
    assert harmony.budget.remaining == 0 and harmony.budget.limit == 3
    calls = harmony_server.request_count()
    with pytest.raises(RateLimited) as caught:
        await harmony.list_meetings()  # the headers said none are left until the reset: not even asked
    assert isinstance(caught.value, PacingLimited) and caught.value.retry_after > 30
    assert harmony_server.request_count() == calls
    assert "Try again in about" in describe(caught.value).text


def test_the_server_budget_spreads_the_last_requests_and_waits_for_the_reset():
    start = 1_706_803_170.0
    now = [start]
    budget = ServerBudget(low_water=5, clock=lambda: now[0])
    reset = str(int(start) + 30)  # epoch seconds, as the seed shows X-RateLimit-Reset
    budget.observe({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "40", "X-RateLimit-Reset": reset})
    assert budget.reserve() == 0 and budget.remaining == 39  # plenty left: no wait
    budget.observe({"x-ratelimit-remaining": "3", "x-ratelimit-reset": reset})
    waits = [budget.reserve() for _ in range(3)]
    assert waits == [0, 10, 20]  # three left, thirty seconds to go: one every ten seconds
    assert budget.reserve() == pytest.approx(30)  # none left: the reset
    budget.observe({}, retry_after=50)  # a 429's Retry-After holds everyone
    with pytest.raises(PacingLimited):
        budget.reserve(max_wait=10)
    now[0] = start + 51
    assert budget.reserve() == 0  # a new window; the next answer says how it looks
    late = ServerBudget(clock=lambda: now[0])
    late.observe({"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": reset})
    late.observe({"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": reset})  # an older answer, late
    assert late.remaining == 10
    assert parse_reset("30", now=start) == start + 30  # seconds from now
    assert parse_reset(str(int(start * 1000)), now=start) == pytest.approx(start)  # epoch milliseconds
    assert parse_reset("Wed, 01 Feb 2024 15:30:00 GMT", now=start) == 1_706_801_400.0  # a date (Whereby)


async def test_the_key_never_reaches_the_logs(client_for, harmony_server, caplog):
    caplog.set_level(logging.DEBUG)
    harmony = client_for()
    await harmony.get_meeting("mtg_demo_1")
    harmony_server.fail_next(500, times=3)
    with pytest.raises(Unavailable):
        await harmony.list_meetings()
    assert HARMONY_KEY not in caplog.text and caplog.text


# ----------------------------------------------------------------------------- webhooks


async def deliver(slack_user, connection, body: bytes, headers: dict, provider: str = "harmony"):
    return await slack_user.client.post(f"/webhooks/{provider}/{connection.webhook_token}", content=body,
                                        headers=headers)


def signed(fake_harmony, event: str, mid: str, *, secret: str | None = HARMONY_SECRET, **kwargs):
    options = {k: kwargs.pop(k) for k in ("insight_id", "reason") if k in kwargs}
    return fake_harmony.webhook_request(event, fake_harmony.event_payload(event, mid, **options), secret=secret,
                                        **kwargs)


@assumption("X-Harmony-Signature is a hex HMAC-SHA256 of the raw body (the seed; never published)")
async def test_signatures_are_checked_on_the_raw_body(slack_user, harmony_connection, fake_harmony, db):
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_demo_1")
    first = await deliver(slack_user, harmony_connection, body, headers)
    again = await deliver(slack_user, harmony_connection, body, headers)  # Harmony retrying
    assert (first.status_code, first.json()["message"]) == (200, "stored")
    assert (again.status_code, again.json()["message"]) == (200, "duplicate")
    wrong, wrong_headers = signed(fake_harmony, "meeting.processed", "mtg_demo_2", secret="cd" * 32)
    assert (await deliver(slack_user, harmony_connection, wrong, wrong_headers)).status_code == 401
    unsigned, unsigned_headers = signed(fake_harmony, "meeting.processed", "mtg_demo_2", secret=None)
    assert (await deliver(slack_user, harmony_connection, unsigned, unsigned_headers)).status_code == 401
    respaced = json.dumps(json.loads(body), indent=2).encode()
    assert (await deliver(slack_user, harmony_connection, respaced, headers)).status_code == 401
    assert [r.meeting_id for r in await inbox_rows(db)] == ["mtg_demo_1"]


@assumption("other readings of the signature: sha256= prefix, upper case, base64")
@pytest.mark.parametrize("form", ["sha256=", "base64", "upper"])
async def test_other_readings_of_the_signature_are_accepted(slack_user, harmony_connection, fake_harmony, form):
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_demo_1",
                           signature_format="hex" if form == "upper" else form)
    if form == "upper":
        headers["X-Harmony-Signature"] = headers["X-Harmony-Signature"].upper()
    assert (await deliver(slack_user, harmony_connection, body, headers)).status_code == 200


def test_the_signature_header_name_is_configurable():
    adapter = HarmonyWebhooks(signature_headers=("X-Signature",))
    body = b'{"event":"meeting.processed","data":{"meeting_id":"m1"}}'
    signature = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert adapter.verify(headers={"X-Signature": signature}, body=body, secret="s3cret")
    assert not adapter.verify(headers={"X-Harmony-Signature": signature}, body=body, secret="s3cret")


def test_events_parse_from_the_seed_envelope_the_flat_form_and_the_public_names():
    adapter = HarmonyWebhooks()
    nested = adapter.parse(headers={}, body=json.dumps({"event": "meeting.failed", "timestamp": "2026-02-01T15:30:00Z",
                                                        "data": {"meeting_id": "mtg_abc123", "title": "Sales Call",
                                                                 "error": "No audio"}}).encode())
    assert (nested.event_type, nested.meeting_id) == ("meeting.failed", "mtg_abc123")
    flat = adapter.parse(headers={}, body=b'{"event":"conversation.processed","conversation_id":"c1","title":"T"}')
    assert flat.meeting_id == "c1" and adapter.actions[flat.event_type] == "digest"
    raw = b'{"event":"insight.generated","data":{"insight_id":"i1","meeting_id":"m1"}}'
    insight = adapter.parse(headers={"X-Harmony-Delivery": "dlv-9"}, body=raw)
    assert (insight.meeting_id, insight.object_id) == ("m1", "i1")
    # Delivery and event headers are not signed: the key is the same whatever they say.
    dressed = adapter.parse(headers={"X-Harmony-Delivery": "dlv-10", "X-Harmony-Event": "meeting.failed"}, body=raw)
    assert dressed.dedupe_key == insight.dedupe_key
    # The same news delivered twice, only the envelope's timestamp differing, is one event.
    one = adapter.parse(headers={}, body=b'{"event":"meeting.processed","timestamp":"1","data":{"meeting_id":"m"}}')
    two = adapter.parse(headers={}, body=b'{"event":"meeting.processed","timestamp":"2","data":{"meeting_id":"m"}}')
    assert one.dedupe_key == two.dedupe_key


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'{"data":{"meeting_id":"m1"}}'])
async def test_malformed_bodies_are_400_and_not_stored(slack_user, harmony_connection, db, body):
    signature = hmac.new(HARMONY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await deliver(slack_user, harmony_connection, body, {"X-Harmony-Signature": signature})
    assert response.status_code == 400 and await inbox_rows(db) == []


@pytest.mark.usefixtures("workers")
async def test_a_processed_meeting_gets_its_digest_with_todos_highlights_and_minutes(
        slack_user, harmony_connection, fake_harmony, fake_slack):
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_demo_1")
    assert (await deliver(slack_user, harmony_connection, body, headers)).status_code == 200
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Sales Call - Acme Corp" in text_of(digest) and "the team agreed to ship" in text_of(digest)
    assert "Key points" in text_of(digest) and "Full minutes" in text_of(digest) and "via Harmony" in text_of(digest)
    thread = await wait_until(lambda: len(replies_to(fake_slack, digest["ts"])) >= 2
                              and replies_to(fake_slack, digest["ts"]))
    assert any("Send the pilot plan" in text_of(m) for m in thread)
    assert any("Legal review may take three weeks" in text_of(m) for m in thread)
    # transcript, summary and insights were all fetched
    for part in ("/transcript", "/summary", "/insights"):
        assert fake_harmony.request_count("mtg_demo_1" + part) == 1


@pytest.mark.usefixtures("workers")
async def test_a_new_insight_updates_the_thread_and_not_the_channel(slack_user, harmony_connection, fake_harmony,
                                                                   fake_slack):
    early, early_headers = signed(fake_harmony, "insight.generated", "mtg_demo_2", insight_id="ins_mtg_demo_2_1")
    await deliver(slack_user, harmony_connection, early, early_headers)  # before any digest: waits for it
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_demo_2")
    await deliver(slack_user, harmony_connection, body, headers)
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    await wait_until(lambda: len(replies_to(fake_slack, digest["ts"])) >= 2)
    insight = fake_harmony.add_insight("mtg_demo_2", title="Upsell", content="They asked about the enterprise plan.")
    update, update_headers = signed(fake_harmony, "insight.generated", "mtg_demo_2", insight_id=insight["id"])
    assert (await deliver(slack_user, harmony_connection, update, update_headers)).status_code == 200
    await wait_until(lambda: any("enterprise plan" in text_of(m) for m in replies_to(fake_slack, digest["ts"])))
    assert len(digests_in(fake_slack)) == 1 and fake_slack.calls_to("chat.update", ok=True)


@assumption("meeting.failed carries the reason as data.error")
async def test_a_failed_meeting_gets_a_short_notice_instead_of_a_digest(slack_user, harmony_connection, fake_harmony,
                                                                       fake_slack, db, workers):
    fake_harmony.add_meeting(title="Board sync", mid="mtg_broken", status="failed",
                             error_message="The recording had no audio.")
    body, headers = signed(fake_harmony, "meeting.failed", "mtg_broken", reason="Whatever the body claims.")
    assert (await deliver(slack_user, harmony_connection, body, headers)).status_code == 200
    [notice] = await wait_until(lambda: fake_slack.channel_messages(CHANNEL))
    # Title and reason are the API's: the body only said which meeting to look up.
    assert "Harmony could not process *Board sync*" in text_of(notice) and "no audio" in text_of(notice)
    assert "Whatever the body claims" not in text_of(notice)
    await workers.idle()
    assert len(fake_slack.channel_messages(CHANNEL)) == 1


@pytest.mark.usefixtures("workers")
async def test_a_signed_body_replayed_with_new_delivery_headers_is_stored_and_fetched_once(
        slack_user, harmony_connection, fake_harmony, fake_slack, db):
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_demo_2", delivery_id="dlv-0")
    answers = []
    for n in range(21):
        dressed = {**headers, "X-Harmony-Delivery": f"dlv-{n}", "X-Webhook-Id": f"wh-{n}"}
        answers.append((await deliver(slack_user, harmony_connection, body, dressed)).json()["message"])
    assert answers == ["stored"] + ["duplicate"] * 20
    await wait_until(lambda: digests_in(fake_slack))
    await wait_until(lambda: _all_done(db))
    assert len(await inbox_rows(db)) == 1
    assert sum(1 for s in fake_harmony.seen if s.path.endswith("/meetings/mtg_demo_2")) == 1


@pytest.mark.usefixtures("workers")
async def test_a_failed_event_for_a_meeting_the_api_says_is_fine_posts_nothing(slack_user, harmony_connection,
                                                                              fake_harmony, fake_slack, db):
    body, headers = signed(fake_harmony, "meeting.failed", "mtg_demo_1")
    assert (await deliver(slack_user, harmony_connection, body, headers)).status_code == 200
    [row] = await wait_until(lambda: _all_done(db))
    assert "does not say this meeting failed" in row.last_error and fake_slack.channel_messages(CHANNEL) == []


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("event", ["meeting.processed", "meeting.failed", "meeting.started", "insight.generated",
                                   "conversation.transcribed"])
async def test_a_forged_event_posts_only_what_harmony_s_api_says(slack_user, deps, fake_harmony, fake_slack, db,
                                                                 event):
    """Only the URL of a connection without a signing secret: bodies with attacker text and links."""
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="harmony", api_key=HARMONY_KEY,
                           channel=CHANNEL, meeting_started_notes=True)
    fake_harmony.add_meeting(title="Renewal review", mid="mtg_known", status="failed" if "failed" in event
                             else "processing" if "started" in event else "processed")
    lies = {"title": "<https://evil.example|Urgent: wire the payment> <!channel>", "error": "see https://evil.example",
            "name": "evil.example", "started_at": "2020-01-01T00:00:00Z"}
    for mid in ("mtg_nobody_knows", "mtg_known"):
        data = {"meeting_id": mid, "conversation_id": mid, "insight_id": "ins_x", **lies}
        body, headers = fake_harmony.webhook_request(event, data, secret=None)
        assert (await deliver(slack_user, result.connection, body, headers)).status_code == 200
    rows = await wait_until(lambda: _all_done(db))
    if event != "insight.generated":  # an insight without a digest waits for the digest either way
        assert "Harmony does not know this meeting" in rows[0].last_error
    posted = json.dumps([c.args for c in fake_slack.calls_to("chat.postMessage")], ensure_ascii=False)
    assert "evil.example" not in posted and "wire the payment" not in posted
    if event != "insight.generated":
        [post] = await wait_until(lambda: digests_in(fake_slack))
        assert "Renewal review" in text_of(post)


def test_the_failed_notice_is_escaped_and_short():
    message = meeting_failed_message(title="<!channel> *Plan*", started_at=None, provider_name="Harmony",
                                     reason="x" * 1000 + " <@U123>")
    payload = json.dumps(message.to_slack())
    assert "<!channel>" not in payload and "<@U123>" not in payload and len(payload) < 1500
    assert message.text.startswith("Harmony could not process")


@pytest.mark.usefixtures("workers")
async def test_meeting_started_notes_only_where_enabled(slack_user, harmony_connection, fake_harmony, fake_slack,
                                                        deps, db):
    fake_harmony.add_meeting(title="Live demo", mid="mtg_live", status="processing", hours_ago=0.1)
    body, headers = signed(fake_harmony, "meeting.started", "mtg_live")
    await deliver(slack_user, harmony_connection, body, headers)
    await wait_until(lambda: _all_done(db))
    assert fake_slack.channel_messages(CHANNEL) == []

    from bot.services.connections import connect

    await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="harmony", api_key=HARMONY_KEY,
                  channel=None, meeting_started_notes=True)
    fake_harmony.add_meeting(title="Second demo", mid="mtg_live_2", status="processing", hours_ago=0.1)
    body, headers = signed(fake_harmony, "meeting.started", "mtg_live_2")
    await deliver(slack_user, harmony_connection, body, headers)
    [note] = await wait_until(lambda: fake_slack.channel_messages(CHANNEL))
    assert "Second demo" in text_of(note) and "started" in text_of(note)


async def _all_done(db):
    rows = await inbox_rows(db)
    return rows if rows and all(r.status == "done" for r in rows) else None


async def test_processed_while_still_processing_waits_then_posts(slack_user, harmony_connection, fake_harmony,
                                                                  fake_slack, db, monkeypatch, workers):
    monkeypatch.setattr(harmony_module, "NOT_READY_RETRY", 0.2)
    fake_harmony.add_meeting(title="Late notes", mid="mtg_late", status="processing")
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_late")
    await deliver(slack_user, harmony_connection, body, headers)
    await wait_until(lambda: fake_harmony.request_count("/meetings/mtg_late") >= 2)
    assert digests_in(fake_slack) == []
    fake_harmony.set_status("mtg_late", "processed")
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Late notes" in text_of(digest)
    await workers.idle()  # the digest may be out before its event is marked done
    [row] = await inbox_rows(db)
    assert row.status == "done" and row.attempts <= 1  # waiting is not failing


@pytest.mark.usefixtures("workers")
async def test_failing_events_are_dead_lettered_and_shown(slack_user, harmony_connection, fake_harmony, fake_slack,
                                                          db, monkeypatch):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(inbox, "MAX_ATTEMPTS", 2)
    fake_harmony.fail_next(500, times=20, path="mtg_demo_1")
    body, headers = signed(fake_harmony, "meeting.processed", "mtg_demo_1")
    await deliver(slack_user, harmony_connection, body, headers)
    await wait_until(lambda: _with_status(db, "dead"), timeout=20)
    status = text_of(await slack_user.ask("status"))
    assert "1 webhook event failed" in status
    assert digests_in(fake_slack) == []


async def _with_status(db, status):
    return [r for r in await inbox_rows(db) if r.status == status]


def test_the_fake_sender_retries_a_5xx_like_harmony_is_assumed_to():
    """The stand-in's own delivery: a 5xx or no answer is retried twice (assumed policy), a 4xx never."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    answers = [503, 200, 401]
    received = []

    async def hook(request):
        received.append((await request.body(), dict(request.headers)))
        return Response(status_code=answers.pop(0))

    fake = FakeHarmony()
    fake.seed_demo()
    with ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        assert fake.send_webhook(server.url + "/hook", "meeting.processed", "mtg_demo_1", secret="s") == [503, 200]
        assert fake.send_webhook(server.url + "/hook", "meeting.processed", "mtg_demo_1", secret="s") == [401]
    body, headers = received[0]
    assert received[0][0] == received[1][0]
    expected = hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert headers["x-harmony-signature"] == expected


@assumption("the public pages' contract: X-API-Key, /v1/conversations and conversation.* event names")
@pytest.mark.usefixtures("workers")
async def test_the_public_contract_by_setting(settings, deps, fake_harmony, slack_user, fake_slack):
    settings.harmony_api_style = "conversations"
    from bot.services.connections import connect

    connection = (await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="harmony",
                                api_key=HARMONY_KEY, channel=CHANNEL, webhook_secret=HARMONY_SECRET)).connection
    body, headers = signed(fake_harmony, "conversation.processed", "mtg_demo_2")
    assert (await deliver(slack_user, connection, body, headers)).status_code == 200
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Pilot planning" in text_of(digest)
    assert {s.auth for s in fake_harmony.seen} == {"x-api-key"}
    assert all(s.path.startswith("/v1/conversations") for s in fake_harmony.seen)


# ----------------------------------------------------------------------------- commands and connect


async def test_slash_commands_work_and_todos_say_why_not(slack_user, harmony_connection):
    listing = json.dumps(await slack_user.ask("list 3"), ensure_ascii=False)
    assert "Sales Call - Acme Corp" in listing and "Pilot planning" in listing
    shown = json.dumps(await slack_user.ask("show mtg_demo_1"), ensure_ascii=False)
    assert "the team agreed to ship the pilot" in shown
    assert "Harmony has no action-item list" in json.dumps(await slack_user.ask("todos"))
    assert "Harmony has no topic list" in json.dumps(await slack_user.ask("topics"))


@pytest.mark.usefixtures("workers")
async def test_reconcile_posts_a_meeting_whose_webhook_never_came(deps, harmony_connection, fake_harmony, fake_slack):
    from datetime import datetime, timedelta

    from sqlalchemy import update

    from bot.jobs.reconcile import reconcile_all
    from bot.store.models import Connection

    async with deps.db.session() as session:  # connected a day ago: the first demo meeting came after
        await session.exec(update(Connection).values(created_at=datetime.now(UTC) - timedelta(hours=5)))
    assert await reconcile_all(deps) == 1
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Sales Call - Acme Corp" in text_of(digest)
    assert await reconcile_all(deps) == 0
