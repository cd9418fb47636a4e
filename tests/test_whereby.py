"""Whereby beside Hedy: the client against the Whereby stand-in, its webhooks through the real ASGI
app, the summary that is started and polled until it is ready, and the digest posted once.

Assumptions (docs/providers/whereby.md, "Assumptions"), each labelled where a test rests on it:
- [points] the per-method point costs (GET 1, DELETE 2, POST 3) rather than complexity points;
- [finished] a finished summary is `ready` or `completed` (both accepted);
- [duplicate] Whereby answers a second summary for one transcription with a 4xx (409 here);
- [tolerance] the replay window: the bot's default is 300 s (the doc's sample uses 60 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.delivery import inbox
from bot.fakes.server import ThreadedServer
from bot.fakes.whereby import FakeWhereby
from bot.providers import whereby as whereby_module
from bot.providers.base import AuthError, NotFound, NotReady, NotSupported, PermissionDenied, RateLimited, Unavailable
from bot.providers.downloads import DownloadPolicy
from bot.providers.http import Pacer
from bot.providers.whereby import SummaryIds, WherebyProvider, summary_markdown
from bot.slack.blocks.digest import minutes_modal
from bot.slack.errors import describe
from tests.conftest import CHANNEL, TEAM, WHEREBY_KEY, WHEREBY_SECRET
from tests.helpers import inbox_rows, text_of, wait_until

# The stand-in serves transcript files on loopback, which only an explicit allow-list may reach.
LOOPBACK = DownloadPolicy(private_hosts=frozenset({"127.0.0.1"}))


def top_level(fake_slack) -> list[dict]:
    return [m for m in fake_slack.channel_messages(CHANNEL) if not m.get("thread_ts")]


def digests_in(fake_slack) -> list[dict]:
    """The channel's digests (not the started/ended notes)."""
    return [m for m in top_level(fake_slack) if m.get("text", "").startswith("Meeting notes:")]


@pytest.fixture
async def whereby(fake_whereby):
    provider = WherebyProvider(WHEREBY_KEY, base_url=fake_whereby.api_url, poll_seconds=0.05, download_policy=LOOPBACK)
    yield provider
    await provider.aclose()


async def ready_meeting(provider: WherebyProvider, tid: str, tries: int = 10):
    """Ask like the inbox worker does: again after each NotReady."""
    for _ in range(tries):
        try:
            return await provider.get_meeting(tid)
        except NotReady:
            continue
    raise AssertionError("the summary never became ready")


# ----------------------------------------------------------------------------- the client


async def test_the_key_is_checked_and_transcriptions_page_newest_first_by_cursor(whereby, fake_whereby):
    assert (await whereby.check_key()).email is None
    for n in range(7):
        fake_whereby.add_session(room=f"standup-{n}", minutes_ago=300 + n)
    fake_whereby.add_session(room="broken", minutes_ago=5, state="failed")
    seen, cursor, pages = [], None, 0
    while True:
        page = await whereby.list_meetings(limit=3, cursor=cursor)
        seen += page.items
        pages += 1
        if not page.has_more:
            break
        cursor = page.next_cursor
    titles = [m.title for m in seen]
    assert pages == 4 and len(titles) == 11  # 12 transcriptions, the failed one left out
    assert "Meeting in broken" not in titles
    starts = [m.started_at for m in seen]
    assert starts == sorted(starts, reverse=True)  # sortBy=startDate:desc
    assert titles[0] == "Meeting in launch-planning" and seen[0].duration_seconds == 1800
    listed = [s for s in fake_whereby.seen if s.path == "/transcriptions" and s.query.get("limit") == "3"]
    assert all(s.query.get("sortBy") == "startDate:desc" for s in listed)
    assert listed[-1].query.get("cursor")


async def test_errors_become_sentences(fake_whereby, whereby):
    def said(exc) -> str:
        return describe(exc).text

    bad = WherebyProvider("not-a-key", base_url=fake_whereby.api_url)
    with pytest.raises(AuthError) as caught:
        await bad.check_key()
    await bad.aclose()
    assert "Whereby rejected this workspace's API key" in said(caught.value)

    with pytest.raises(NotFound) as caught:
        await whereby.get_meeting("no-such-transcription")
    assert "Whereby has no meeting with that id" in said(caught.value)

    fake_whereby.fail_next(503, times=3, path="/transcriptions")
    quick = WherebyProvider(WHEREBY_KEY, base_url=fake_whereby.api_url, backoff=0.01)
    with pytest.raises(Unavailable) as caught:
        await quick.list_meetings()
    await quick.aclose()
    assert "I couldn't reach Whereby" in said(caught.value)

    with pytest.raises(NotSupported) as caught:
        await whereby.list_todos()
    assert "Whereby has no todos" in said(caught.value)
    with pytest.raises(NotSupported):
        await whereby.list_topics()

    fake_whereby.summaries_enabled = False
    with pytest.raises(PermissionDenied) as caught:
        await whereby._find_summary(fake_whereby.transcriptions["tr_demo_launch"])
    assert "summaries are in beta" in said(caught.value)


async def test_points_are_paced_before_whereby_has_to_refuse(fake_whereby):
    """[points] GET 1, POST 3: a 30-point budget (over 2 s here, a minute in production) is never
    exceeded, however the requests mix, and the pacer spends exactly what the fake counts."""
    fake = FakeWhereby(api_keys=[WHEREBY_KEY], points_per_minute=30, window_seconds=2.0)
    tids = [fake.add_session(room=f"r{n}")["transcriptionId"] for n in range(4)]
    with ThreadedServer(fake.app) as server:
        fake.url = server.url
        provider = WherebyProvider(WHEREBY_KEY, base_url=fake.api_url, points_per_minute=30, rate_period=2.0,
                                   fetch_transcript=False, deadline=20, max_pacing_wait=20)
        started = time.monotonic()
        try:
            await asyncio.gather(*[provider.list_meetings(limit=1) for _ in range(20)],
                                 *[provider.get_meeting(t) for t in tids], return_exceptions=True)
        finally:
            await provider.aclose()
        elapsed = time.monotonic() - started
    # 20 lists + 4 × (transcription, summary look-up, create) = 20 + 4 × (1 + 1 + 3) = 40 points
    assert fake.points_spent() == 40 and fake.request_count("/summaries", "POST") == 4
    assert fake.throttled == 0
    # Paced at 27 of the 30 points (a margin for jitter at the window's edge): 13 at once, then one
    # point every 2/15 s, so 40 points take at least 27 × 2/15 = 3.6 s.
    assert elapsed >= 3.0


def test_the_pacer_charges_a_request_its_points():
    now = [0.0]
    pacer = Pacer(10, 10.0, burst=5, clock=lambda: now[0])  # a burst of 5 points, then 6 per 10 s
    assert [pacer.reserve(cost=3), pacer.reserve(cost=1), pacer.reserve(cost=1)] == [0.0, 0.0, 0.0]
    assert pacer.reserve(cost=3) == pytest.approx(3.0 * 10 / 6)  # the burst is used up: wait for 3 points
    with pytest.raises(RateLimited):
        pacer.reserve(max_wait=1.0, cost=3)


async def test_a_429_from_whereby_is_waited_out(fake_whereby):
    """Another app of the organization spent the budget: the 429's Retry-After (or msLeft) is
    honoured, and an interactive command that cannot wait says so in a sentence."""
    fake = FakeWhereby(api_keys=[WHEREBY_KEY], points_per_minute=50, window_seconds=1.5)
    with ThreadedServer(fake.app) as server:
        fake.url = server.url
        fake.exhaust_points()
        provider = WherebyProvider(WHEREBY_KEY, base_url=fake.api_url, deadline=10)
        started = time.monotonic()
        await provider.check_key()
        assert time.monotonic() - started >= 1.0 and fake.throttled >= 1
        await provider.aclose()

        fake.exhaust_points()
        hasty = WherebyProvider(WHEREBY_KEY + "x", base_url=fake.api_url, deadline=0.5)
        fake.api_keys.add(WHEREBY_KEY + "x")
        with pytest.raises(RateLimited) as caught:
            await hasty.check_key()
        await hasty.aclose()
    assert "Whereby is limiting how fast I can ask it" in describe(caught.value).text


# ----------------------------------------------------------------------------- summaries


@pytest.mark.parametrize("finished", ["ready", "completed"])
async def test_a_summary_is_started_once_and_polled_until_it_is_finished(fake_whereby, whereby, finished):
    """[finished] Both spellings of "done" count."""
    fake_whereby.finished_state = finished
    with pytest.raises(NotReady) as first:
        await whereby.get_meeting("tr_demo_launch")
    assert first.value.retry_after == 0.05
    meeting = await ready_meeting(whereby, "tr_demo_launch")
    assert meeting.title == "Meeting in launch-planning" and meeting.duration_seconds == 1800
    assert "## Key Points Discussed" in meeting.minutes and "Maria sends the launch checklist" in meeting.minutes
    assert meeting.transcript.startswith("Maria Lopez (00:00:03): Let's start")
    assert meeting.todos == [] and meeting.highlights == []
    [summary] = fake_whereby.summaries_of("tr_demo_launch")
    assert summary["template"] == "General Bulleted" and fake_whereby.polls(summary["summaryId"]) == 2
    assert fake_whereby.request_count("/summaries", "POST") == 1
    assert fake_whereby.file_downloads == [False]  # the storage link is fetched without the API key


# ----------------------------------------------------------------------------- the transcript link


@pytest.mark.parametrize("base, why", [
    ("http://127.0.0.1:{port}", "not https"),
    ("https://127.0.0.1:{port}", "private or local network address (127.0.0.1)"),
    ("https://localhost:{port}", "private or local network address (localhost)"),
    ("https://10.1.2.3", "private or local network address (10.1.2.3)"),
    ("https://169.254.169.254", "private or local network address (169.254.169.254)"),
    ("https://[::ffff:192.168.0.7]", "private or local network address"),
    ("http://transcripts.whereby-storage.example", "not https"),
])
async def test_a_transcript_link_to_a_private_address_or_over_http_is_refused_and_said_in_the_modal(
        fake_whereby, base, why):
    """Without the private-hosts setting (the default), nothing but https to a public address is
    fetched; the minutes modal says why there is no transcript."""
    fake_whereby.link_base = base.format(port=httpx.URL(fake_whereby.url).port)
    strict = WherebyProvider(WHEREBY_KEY, base_url=fake_whereby.api_url, poll_seconds=0.05)
    try:
        meeting = await ready_meeting(strict, "tr_demo_launch")
    finally:
        await strict.aclose()
    assert meeting.transcript is None and "Key Points" in meeting.minutes  # the digest is not held up
    assert fake_whereby.file_downloads == []  # refused before any connection
    modal = json.dumps(minutes_modal(meeting, provider_name="Whereby"), ensure_ascii=False)
    assert "The transcript was not fetched" in modal and why in modal


@pytest.mark.parametrize("redirects, why", [
    (["https://localhost:{port}/files/transcriptions/x.md"], "private or local network address (localhost)"),
    (["http://files.whereby-storage.example/x.md"], "not https"),
    (["https://10.0.0.9/latest/meta-data"], "private or local network address (10.0.0.9)"),
    (["/files/transcriptions/{name}?again=1"] * 4, "redirected more than 3 times"),
])
async def test_each_redirect_of_the_transcript_link_is_checked_again(fake_whereby, whereby, redirects, why):
    port = httpx.URL(fake_whereby.url).port
    fake_whereby.file_redirects = [r.format(port=port, name="tr_demo_launch.md") for r in redirects]
    meeting = await ready_meeting(whereby, "tr_demo_launch")
    assert meeting.transcript is None and why in meeting.transcript_note
    assert len(fake_whereby.file_downloads) == min(len(redirects), 4)


async def test_a_transcript_over_5_mb_is_refused(fake_whereby, whereby):
    fake_whereby.set_transcript("tr_demo_launch", "Maria: " + "la " * (2 * 1024 * 1024))
    meeting = await ready_meeting(whereby, "tr_demo_launch")
    assert meeting.transcript is None and "larger than 5 MB" in meeting.transcript_note


async def test_a_public_host_is_fetched_from_the_address_that_was_checked():
    """The name is resolved once, checked, and the connection goes to that address, with the
    name kept for the Host header and the TLS certificate check: a second DNS answer cannot
    swap in a private address."""
    from bot.providers.downloads import DownloadPolicy, RefusedDownload, fetch_text

    seen = []

    def storage(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="Maria: hello")

    async def public(host, port):
        return ["93.184.216.34"]

    async def rebinding(host, port):
        return ["93.184.216.34", "127.0.0.1"]

    async with httpx.AsyncClient(transport=httpx.MockTransport(storage)) as client:
        url = "https://files.whereby-storage.example/t.md?sig=1"
        assert await fetch_text(client, url, policy=DownloadPolicy(), resolve=public) == "Maria: hello"
        with pytest.raises(RefusedDownload, match="private or local"):
            await fetch_text(client, url, policy=DownloadPolicy(), resolve=rebinding)
    [request] = seen
    assert request.url.host == "93.184.216.34" and request.headers["host"] == "files.whereby-storage.example"
    assert request.extensions["sni_hostname"] == "files.whereby-storage.example"


async def test_a_body_without_a_length_is_cut_off_while_streaming():
    from bot.providers.downloads import DownloadPolicy, RefusedDownload, fetch_text

    sent = []

    async def endless():
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 1024

    async def public(host, port):
        return ["93.184.216.34"]

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=endless()))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(RefusedDownload, match="larger than 16 KB"):
            await fetch_text(client, "https://files.example/t.md", policy=DownloadPolicy(max_bytes=16 * 1024),
                             resolve=public)
    assert len(sent) < 100  # stopped reading, not read whole and then measured


async def test_starting_a_summary_is_idempotent_across_restarts_and_racing_workers(fake_whereby, monkeypatch):
    """[duplicate] A summary made elsewhere is found, not made again; two workers racing both end
    up with the one Whereby kept."""
    tid = fake_whereby.add_session(room="race")["transcriptionId"]
    providers = [WherebyProvider(WHEREBY_KEY, base_url=fake_whereby.api_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*[p.get_meeting(tid) for p in providers], return_exceptions=True)
        assert all(isinstance(r, NotReady) for r in results), results
        assert len(fake_whereby.summaries_of(tid)) == 1
        monkeypatch.setattr(whereby_module, "SUMMARY_IDS", SummaryIds())  # a restart: nothing remembered
        posts = fake_whereby.request_count("/summaries", "POST")
        meeting = await ready_meeting(providers[0], tid)
        assert "Launch plan" in meeting.minutes
        assert fake_whereby.request_count("/summaries", "POST") == posts  # looked up, not created again
        assert len(fake_whereby.summaries_of(tid)) == 1
    finally:
        for provider in providers:
            await provider.aclose()


async def test_a_lookup_stops_at_sessions_older_than_the_transcription(fake_whereby, whereby):
    for n in range(150):
        fake_whereby.add_session(room=f"old-{n}", minutes_ago=10_000 + n, summarised=True)
    tid = fake_whereby.add_session(room="fresh", minutes_ago=20)["transcriptionId"]
    with pytest.raises(NotReady):
        await whereby.get_meeting(tid)
    assert fake_whereby.request_count("/summaries", "GET") == 1  # the first page reached older sessions


async def test_a_failed_summary_still_gives_a_digest_with_the_transcript(fake_whereby, whereby):
    tid = fake_whereby.add_session(room="noisy", summary_fails=True)["transcriptionId"]
    meeting = await ready_meeting(whereby, tid)
    assert "could not summarise" in meeting.recap and meeting.minutes is None
    assert "Let's start with the launch plan" in meeting.transcript


async def test_without_the_summaries_beta_the_digest_has_the_transcript(fake_whereby, whereby):
    fake_whereby.summaries_enabled = False
    meeting = await whereby.get_meeting("tr_demo_launch")
    assert "not enabled" in meeting.recap and meeting.transcript


async def test_a_transcription_still_running_is_not_ready_and_self_hosted_ones_have_no_summary(fake_whereby, whereby):
    tid = fake_whereby.add_session(room="live", state="in_progress")["transcriptionId"]
    with pytest.raises(NotReady):
        await whereby.get_meeting(tid)
    own = fake_whereby.add_session(room="own-bucket", storage="SELF_HOSTED")["transcriptionId"]
    meeting = await whereby.get_meeting(own)
    assert "own storage" in meeting.recap and fake_whereby.summaries_of(own) == []


def test_soap_summaries_keep_their_sections():
    text = summary_markdown({"summary": "Visit notes", "SOAP": {"subjective": "Sore throat", "plan": "Rest"}})
    assert text == "Visit notes\n\n## Subjective\nSore throat\n\n## Plan\nRest"
    assert summary_markdown({}) is None and summary_markdown("") is None


# ----------------------------------------------------------------------------- webhooks in


async def deliver(slack_user, connection, envelope: dict, fake: FakeWhereby, *, secret: str | None = WHEREBY_SECRET,
                  timestamp: float | None = None, headers: dict | None = None, body: bytes | None = None):
    raw, signed = fake.webhook_request(envelope, secret=secret or "unused", timestamp=timestamp)
    if secret is None:
        signed.pop("Whereby-Signature")
    return await slack_user.client.post(f"/webhooks/whereby/{connection.webhook_token}", content=body or raw,
                                        headers={**signed, **(headers or {})})


async def test_signatures_are_checked_with_their_timestamp(slack_user, whereby_connection, fake_whereby, db):
    finished = fake_whereby.transcription_event("tr_demo_launch")
    refused = await deliver(slack_user, whereby_connection, finished, fake_whereby, secret="not-the-secret")
    assert refused.status_code == 401
    assert (await deliver(slack_user, whereby_connection, finished, fake_whereby, secret=None)).status_code == 401
    # [tolerance] 10 minutes old, or 10 minutes ahead: refused.
    for skew in (-600, 600):
        stale = await deliver(slack_user, whereby_connection, finished, fake_whereby, timestamp=time.time() + skew)
        assert stale.status_code == 401
    raw, headers = fake_whereby.webhook_request(finished, secret=WHEREBY_SECRET)
    respaced = json.dumps(json.loads(raw), indent=1).encode()  # not the bytes that were signed
    assert (await deliver(slack_user, whereby_connection, finished, fake_whereby, body=respaced,
                          headers=headers)).status_code == 401
    garbled = await deliver(slack_user, whereby_connection, finished, fake_whereby,
                            headers={"Whereby-Signature": "v1=abc,t=notanumber"})
    assert garbled.status_code == 401
    raw, headers = fake_whereby.webhook_request(finished, secret=WHEREBY_SECRET)
    v1 = headers["Whereby-Signature"].split("v1=")[1]
    # Digits that are not ASCII ("²", Arabic-Indic), more digits than int() reads, NaN, nothing: 401, never a 500.
    for stamp in ("²", "٣٤٥", "9" * 5000, "nan", "inf", "", "-1", "1e9"):
        odd = await deliver(slack_user, whereby_connection, finished, fake_whereby,
                            headers={"Whereby-Signature": f"t={stamp},v1={v1}".encode()})
        assert odd.status_code == 401, stamp
    assert await inbox_rows(db) == []
    good = await deliver(slack_user, whereby_connection, finished, fake_whereby)
    assert good.status_code == 200 and good.json()["message"] == "stored"
    [row] = await inbox_rows(db)
    assert row.meeting_id == "tr_demo_launch" and row.dedupe_key == "transcription.finished:tr_demo_launch"


async def test_the_replay_window_is_a_setting(slack_user, whereby_connection, fake_whereby, monkeypatch):
    from bot.providers.registry import PROVIDERS
    from bot.providers.whereby_webhooks import configured_tolerance
    from bot.settings import get_settings

    event = fake_whereby.transcription_event("tr_demo_launch")
    monkeypatch.setattr(PROVIDERS["whereby"].webhooks, "tolerance", 900)
    late = await deliver(slack_user, whereby_connection, event, fake_whereby, timestamp=time.time() - 600)
    assert late.status_code == 200
    monkeypatch.setenv("WHEREBY_SIGNATURE_TOLERANCE_SECONDS", "60")
    get_settings.cache_clear()
    try:
        assert configured_tolerance() == 60
    finally:
        monkeypatch.delenv("WHEREBY_SIGNATURE_TOLERANCE_SECONDS")
        get_settings.cache_clear()
    assert configured_tolerance() == 300


async def test_replays_and_duplicates_are_stored_once(slack_user, whereby_connection, fake_whereby, db):
    finished = fake_whereby.transcription_event("tr_demo_launch")
    first = await deliver(slack_user, whereby_connection, finished, fake_whereby)
    replay = await deliver(slack_user, whereby_connection, finished, fake_whereby)  # a retry, re-signed
    same_news = await deliver(slack_user, whereby_connection, fake_whereby.transcription_event("tr_demo_launch"),
                              fake_whereby)  # the same event sent again under a new id
    assert [r.json()["message"] for r in (first, replay, same_news)] == ["stored", "duplicate", "duplicate"]
    joined = [fake_whereby.room_event("tr_demo_launch", "room.client.joined") for _ in range(2)]
    for event in joined + joined[:1]:
        assert (await deliver(slack_user, whereby_connection, event, fake_whereby)).status_code == 200
    rows = await inbox_rows(db)
    assert [(r.event_type, r.status) for r in rows] == [
        ("transcription.finished", "pending"), ("room.client.joined", "ignored"), ("room.client.joined", "ignored")]


# ----------------------------------------------------------------------------- digests out


async def test_transcription_finished_posts_the_digest_once_the_summary_is_ready(
        slack_user, whereby_connection, fake_whereby, fake_slack, db, workers):
    finished = fake_whereby.transcription_event("tr_demo_launch")
    assert (await deliver(slack_user, whereby_connection, finished, fake_whereby)).status_code == 200
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Meeting in launch-planning" in text_of(digest) and "Key Points Discussed" in text_of(digest)
    assert "via Whereby" in text_of(digest) and "Full minutes" in text_of(digest)
    [summary] = fake_whereby.summaries_of("tr_demo_launch")
    assert fake_whereby.polls(summary["summaryId"]) >= 2
    [row] = await wait_until(lambda: _all_done(db))
    assert row.attempts == 1  # waiting for the summary used up no attempts
    await deliver(slack_user, whereby_connection, fake_whereby.transcription_event("tr_demo_launch"), fake_whereby)
    await workers.idle()
    assert len(digests_in(fake_slack)) == 1 and len(fake_slack.calls_to("chat.postMessage", ok=True)) == 1
    assert fake_whereby.request_count("/summaries", "POST") == 1


async def _all_done(db):
    rows = await inbox_rows(db)
    return rows if rows and all(r.status in ("done", "ignored") for r in rows) else None


async def test_out_of_order_events_give_one_digest_and_the_ended_note(
        slack_user, fake_whereby, fake_slack, deps, db, workers):
    from bot.services.connections import connect

    connection = (await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="whereby",
                                api_key=WHEREBY_KEY, channel=CHANNEL, webhook_secret=WHEREBY_SECRET,
                                options={"post_meeting_ended": True})).connection
    tid = fake_whereby.add_session(room="retro", minutes_ago=35, state="in_progress")["transcriptionId"]
    events = fake_whereby.session_events(tid)
    # The finished event first, while Whereby's API still says the transcription is running.
    for event in reversed(events):
        assert (await deliver(slack_user, connection, event, fake_whereby)).status_code == 200
    ended = await wait_until(lambda: [m for m in top_level(fake_slack) if "🏁" in text_of(m)])
    assert "Meeting in retro" in text_of(ended[0]) and "ended" in text_of(ended[0])
    await workers.idle()  # the finished event was looked at, and put off
    assert digests_in(fake_slack) == []  # the API is the truth: not transcribed yet
    fake_whereby.set_state(tid, "ready")
    await wait_until(lambda: digests_in(fake_slack))
    for event in events:  # and everything once more, in order
        await deliver(slack_user, connection, event, fake_whereby)
    await workers.idle()
    assert len(digests_in(fake_slack)) == 1 and len(top_level(fake_slack)) == 2


@pytest.mark.usefixtures("workers")
async def test_ended_notes_are_off_by_default_and_late_ones_are_skipped(
        slack_user, whereby_connection, fake_whereby, fake_slack, deps, db):
    tid = fake_whereby.add_session(room="late", minutes_ago=35)["transcriptionId"]
    await deliver(slack_user, whereby_connection, fake_whereby.room_event(tid, "room.session.ended"), fake_whereby)
    [row] = await wait_until(lambda: _all_done(db))
    assert "off for this connection" in row.last_error

    from bot.services.connections import connect

    await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="whereby", api_key=WHEREBY_KEY,
                  channel=None, options={"post_meeting_ended": True})
    old = fake_whereby.add_session(room="yesterday", minutes_ago=24 * 60)["transcriptionId"]
    late = fake_whereby.room_event(old, "room.session.ended",
                                   created_at=datetime.now(UTC) - timedelta(hours=23))
    await deliver(slack_user, whereby_connection, late, fake_whereby)
    rows = await wait_until(lambda: _all_done(db))
    assert "too late" in rows[-1].last_error
    assert fake_slack.channel_messages(CHANNEL) == []


@pytest.mark.usefixtures("workers")
async def test_a_failed_transcription_gets_a_short_notice(slack_user, whereby_connection, fake_whereby, fake_slack):
    tid = fake_whereby.add_session(room="muted", state="failed")["transcriptionId"]
    await deliver(slack_user, whereby_connection, fake_whereby.transcription_event(tid, "transcription.failed"),
                  fake_whereby)
    notice = (await wait_until(lambda: top_level(fake_slack)))[0]
    assert "Meeting in muted" in text_of(notice) and "could not process" in text_of(notice)
    # The API has no reason for it, and the event's `error` is not the API: it is not shown.
    assert "audio could not be processed" not in text_of(notice)
    assert fake_whereby.request_count("/summaries") == 0


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("event", ["transcription.finished", "transcription.failed", "room.session.started",
                                   "room.session.ended"])
async def test_a_forged_event_posts_only_what_whereby_s_api_says(slack_user, deps, fake_whereby, fake_slack, db,
                                                                 event):
    """Only the URL of a connection without a signing secret: bodies with attacker text and links."""
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="whereby", api_key=WHEREBY_KEY,
                           channel=CHANNEL, options={"post_meeting_started": True, "post_meeting_ended": True},
                           meeting_started_notes=True)
    known = fake_whereby.add_session(room="board", minutes_ago=10, summarised=True,
                                     state="failed" if event == "transcription.failed" else "ready")
    lies = {"roomName": "/<https://evil.example|Re-enter your password> <!channel>",
            "error": "Call https://evil.example/support"}
    for ids in ({"transcriptionId": "tr-nobody", "roomSessionId": "rs-nobody"},
                {"transcriptionId": known["transcriptionId"], "roomSessionId": known["roomSessionId"],
                 **({"roomName": known["roomName"]} if event.startswith("room.") else {})}):
        envelope = fake_whereby.event(event, {**lies, **ids})
        assert (await deliver(slack_user, result.connection, envelope, fake_whereby, secret=None)).status_code == 200
    rows = await wait_until(lambda: _all_done(db))
    assert "Whereby does not know this meeting" in rows[0].last_error
    [post] = await wait_until(lambda: top_level(fake_slack))
    assert "Meeting in board" in text_of(post)
    posted = json.dumps([c.args for c in fake_slack.calls_to("chat.postMessage")], ensure_ascii=False)
    assert "evil.example" not in posted and "password" not in posted


@pytest.mark.usefixtures("workers")
async def test_a_failed_summary_posts_the_digest_without_one_once(slack_user, whereby_connection, fake_whereby,
                                                                  fake_slack, deps, workers):
    from bot.jobs.reconcile import reconcile_all

    tid = fake_whereby.add_session(room="crosstalk", summary_fails=True)["transcriptionId"]
    await deliver(slack_user, whereby_connection, fake_whereby.transcription_event(tid), fake_whereby)
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "could not summarise" in text_of(digest) and "Full minutes" in text_of(digest)
    assert await reconcile_all(deps) == 0  # it has its digest: nothing polls or re-queues it
    await workers.idle()
    assert len(digests_in(fake_slack)) == 1


@pytest.mark.usefixtures("workers")
async def test_a_transcription_whereby_keeps_failing_on_is_dead_lettered_and_shown(
        slack_user, whereby_connection, fake_whereby,
                                                                       db, monkeypatch):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(inbox, "MAX_ATTEMPTS", 2)
    fake_whereby.fail_next(500, times=20, path="/transcriptions/tr_demo_launch")
    await deliver(slack_user, whereby_connection, fake_whereby.transcription_event("tr_demo_launch"), fake_whereby)
    await wait_until(lambda: _dead(db), timeout=20)
    status = text_of(await slack_user.ask("status"))
    assert "1 webhook event failed" in status and "Whereby" in status


async def _dead(db):
    return [r for r in await inbox_rows(db) if r.status == "dead"]


@pytest.mark.usefixtures("workers")
async def test_reconcile_picks_up_a_transcription_whose_webhook_never_came(whereby_connection, fake_whereby,
                                                                           fake_slack, deps):
    from sqlalchemy import update

    from bot.jobs.reconcile import reconcile_all
    from bot.store.models import Connection

    async with deps.db.session() as session:
        await session.exec(update(Connection).values(created_at=datetime.now(UTC) - timedelta(hours=2)))
    assert await reconcile_all(deps) == 1  # the launch-planning meeting, 40 minutes ago
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Meeting in launch-planning" in text_of(digest)
    assert await reconcile_all(deps) == 0


# ----------------------------------------------------------------------------- slash commands


async def test_slash_commands_and_todos_say_whereby_has_none(slack_user, whereby_connection, fake_whereby):
    listing = text_of(await slack_user.ask("list 3"))
    assert "Meeting in launch-planning" in listing and "Whereby" in listing
    todos = text_of(await slack_user.ask("todos"))
    assert "Whereby has no todos" in todos and "action items Whereby writes" in todos
    assert "Whereby has no topics" in text_of(await slack_user.ask("topics"))
    design = next(t for t, s in fake_whereby.transcriptions.items() if s["roomName"] == "/design-review")
    shown = text_of(await slack_user.ask(f"show {design}"))
    assert "Meeting in design-review" in shown and "Launch plan" in shown


def test_the_demo_plays_whereby(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WHEREBY_", "DATABASE_", "ENCRYPTION"))}
    env["COLUMNS"] = "100"
    result = subprocess.run([sys.executable, "-m", "bot", "demo", "--provider", "whereby"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for seen in ("Recent meetings in Whereby", "Whereby has no todos", "transcription.finished", "ended",
                 "Key Points Discussed", "polled it", "still has 1 digest", "demo finished"):
        assert seen in out, seen
    assert "Traceback" not in out + result.stderr
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the stand-in itself


def test_the_stand_in_keeps_whereby_s_contract(fake_whereby):
    """What docs/providers/whereby.md's "The stand-in" promises, checked from the outside."""
    api = fake_whereby.api_url
    auth = {"Authorization": f"Bearer {WHEREBY_KEY}"}
    with httpx.Client(timeout=10) as client:
        assert client.get(api + "/meetings").status_code == 401 and client.get(api + "/meetings").content == b""
        past = client.post(api + "/meetings", json={"endDate": "2020-01-01T00:00:00Z"}, headers=auth)
        assert past.status_code == 400 and client.post(api + "/meetings", json={}, headers=auth).status_code == 400
        end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        plain = client.post(api + "/meetings", json={"endDate": end}, headers=auth)
        assert plain.status_code == 201 and "hostRoomUrl" not in plain.json()
        hosted = client.post(api + "/meetings", json={"endDate": end, "fields": ["hostRoomUrl"]}, headers=auth).json()
        assert hosted["hostRoomUrl"].startswith(hosted["roomUrl"]) and "viewerRoomUrl" not in hosted
        assert client.delete(api + f"/meetings/{hosted['meetingId']}", headers=auth).status_code == 204
        assert client.get(api + f"/meetings/{hosted['meetingId']}", headers=auth).status_code == 404
        assert client.get(api + "/transcriptions?limit=101", headers=auth).status_code == 400
        assert client.get(api + "/transcriptions?sortBy=size:desc", headers=auth).status_code == 400
        assert client.get(api + "/summaries?sortBy=startDate:sideways", headers=auth).status_code == 400
        last = client.get(api + "/transcriptions?limit=100", headers=auth).json()
        assert last["cursor"] is None and len(last["results"]) == 4
        made = client.post(api + "/summaries", json={"transcriptionId": "tr_demo_launch"}, headers=auth)
        assert made.status_code == 201 and made.json()["summaryId"]
        again = client.post(api + "/summaries", json={"transcriptionId": "tr_demo_launch"}, headers=auth)
        assert again.status_code == 409  # [duplicate]
        summary = client.get(api + f"/summaries/{made.json()['summaryId']}", headers=auth).json()
        assert summary["state"] == "in_progress" and summary["summary"] == {}
        assert client.get(api + "/summaries/nope", headers=auth).status_code == 404
        link = client.get(api + "/transcriptions/tr_demo_launch/access-link", headers=auth).json()
        assert link["expires"] > time.time() * 1000
        assert client.get(link["accessLink"]).text.startswith("# Transcription")
        assert client.get(link["accessLink"].replace("Signature=", "Signature=0")).status_code == 403
        assert client.delete(api + "/transcriptions/nope", headers=auth).status_code == 204  # idempotent
    spent = fake_whereby.points_spent()
    assert spent == sum({"GET": 1, "POST": 3, "DELETE": 2}[s.method] for s in fake_whereby.seen if s.points)


def test_the_stand_in_delivers_like_whereby():
    """Signed `t=…,v1=…` over "{t}.{body}", 2 retries on a 5xx, none on a 4xx, stale on request."""
    import hashlib
    import hmac

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    answers, got = [503, 502, 200, 400], []

    async def receive(request):
        got.append((request.headers["Whereby-Signature"], await request.body()))
        return Response(status_code=answers[len(got) - 1])

    fake = FakeWhereby()
    tid = fake.add_session(room="x")["transcriptionId"]
    envelope = fake.transcription_event(tid)
    with ThreadedServer(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as server:
        assert fake.send_webhook(server.url + "/hook", envelope, secret="s", backoff=0.01) == [503, 502, 200]
        assert fake.send_webhook(server.url + "/hook", envelope, secret="s", stale=True) == [400]
    header, body = got[-1]
    stamp, digest = (part.split("=", 1)[1] for part in header.split(","))
    assert digest == hmac.new(b"s", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert time.time() - int(stamp) > 3000
    assert json.loads(body)["type"] == "transcription.finished" and json.loads(body)["apiVersion"] == "1.0"
