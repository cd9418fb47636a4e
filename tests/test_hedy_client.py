"""The Hedy client against the Hedy stand-in on a real loopback port: envelopes, tolerant
parsing, paging, error mapping, retries, timeouts, pacing, and that the key never leaks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.fakes import sample_data
from bot.fakes.hedy import FakeHedy, send_webhook
from bot.fakes.server import ThreadedServer, free_port
from bot.providers.base import (
    AuthError,
    BadRequest,
    MeetingProvider,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
)
from bot.providers.hedy import HedyProvider
from bot.providers.http import Pacer, PacingLimited

KEY = "hedy_live_client_test_key_5f2a9c"
FAST = {"backoff": 0.01, "deadline": 5.0}  # keeps retry tests quick


class _Switch:
    """ASGI app forwarding to the current test's fake: one server for the module (a uvicorn
    shutdown costs ~0.2 s), a fresh FakeHedy per test."""

    app = None

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def _server():
    switch = _Switch()
    with ThreadedServer(switch) as server:
        yield server, switch


@pytest.fixture
def hedy(_server):
    server, switch = _server
    fake = FakeHedy(api_keys=[KEY])
    fake.seed_demo()
    fake.url = server.url
    switch.app = fake.app
    yield fake


@pytest.fixture
async def make_provider(hedy):
    made: list[HedyProvider] = []

    def make(key: str = KEY, **kwargs) -> HedyProvider:
        kwargs = {"base_url": hedy.url, **FAST, **kwargs}
        provider = HedyProvider(key, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def provider(make_provider) -> HedyProvider:
    return make_provider()


# ----------------------------------------------------------------------------- happy paths


async def test_is_a_meeting_provider(provider):
    assert isinstance(provider, MeetingProvider)
    assert (provider.name, provider.display_name) == ("hedy", "Hedy")


async def test_check_key_reads_bare_me(provider):
    account = await provider.check_key()
    assert account.email == "demo@hedy.example" and account.name == "Demo User" and account.id == "usr_demo"


async def test_list_meetings_newest_first_with_summary_fields(provider, hedy):
    page = await provider.list_meetings(limit=5)
    assert len(page.items) == 5 and page.has_more
    starts = [m.started_at for m in page.items]
    assert starts == sorted(starts, reverse=True)
    first = page.items[0]
    assert first.id == "sess_demo_12" and first.title == "Weekly Product Sync"
    assert first.duration_seconds == 2100 and first.started_at.tzinfo is not None
    assert first.topic.id == "topic_product" and first.topic.name == "Product Team"
    sent = hedy.requests[-1]
    assert sent.path == "/sessions" and sent.query == {"limit": "5", "format": "standard"} and sent.has_auth


async def test_limit_is_clamped_to_what_hedy_accepts(provider, hedy):
    await provider.list_meetings(limit=500)
    assert hedy.requests[-1].query["limit"] == "100"
    await provider.list_meetings(limit=0)
    assert hedy.requests[-1].query["limit"] == "1"


async def test_pages_through_every_session_with_the_cursor(provider, hedy):
    seen, cursor, pages = [], None, 0
    while True:
        page = await provider.list_meetings(limit=5, cursor=cursor)
        seen += [m.id for m in page.items]
        pages += 1
        if not page.has_more:
            break
        assert hedy.requests[-1].query.get("after") == (cursor if cursor else None)
        cursor = page.next_cursor
    assert pages == 3 and len(seen) == 12 == len(set(seen))
    assert hedy.requests[-1].query["after"] == cursor


async def test_ignored_cursor_returns_the_newest_again(provider, hedy):
    hedy.ignore_after = True  # what H-SKILL reports the live API does
    first = await provider.list_meetings(limit=5)
    second = await provider.list_meetings(limit=5, cursor=first.next_cursor)
    assert [m.id for m in second.items] == [m.id for m in first.items]


async def test_get_meeting_parses_the_bare_snake_case_detail(provider):
    meeting = await provider.get_meeting("sess_demo_02")
    assert meeting.title == "Acme Corp onboarding call"
    assert meeting.recap.startswith("Acme wants SSO")
    assert "## Key Decisions" in meeting.minutes and "[Acme account notes](" in meeting.minutes
    assert meeting.duration_seconds == 2700 == (meeting.ended_at - meeting.started_at).total_seconds()
    assert meeting.topic.name == "Customer Calls"
    sso = meeting.highlights[0]
    assert sso.id.startswith("hl_") and sso.title == "SSO is the blocker"
    assert sso.quote == "We can't roll it out without SSO."  # cleaned quote preferred over raw
    assert sso.insight.startswith("Prioritise") and sso.main_idea == "SSO gates the rollout"
    assert sso.offset_seconds == 910 and sso.meeting_id == "sess_demo_02"
    assert sso.at == meeting.started_at + timedelta(seconds=910)
    assert meeting.highlights[1].insight is None
    assert [(t.text, t.due) for t in meeting.todos] == [
        ("Send Acme the DPA", "Tomorrow"), ("Share the SSO roadmap with Acme", "next Monday")]
    assert all(t.meeting_id == "sess_demo_02" for t in meeting.todos)


async def test_null_recap_and_topic(provider):
    meeting = await provider.get_meeting("sess_demo_07")
    assert meeting.recap is None and meeting.topic is None
    assert meeting.minutes == "- Quick check-in, nothing decided."
    assert meeting.highlights == [] and meeting.todos == []


async def test_camel_case_variant(make_provider, hedy):
    hedy.camel_case = True
    meeting = await make_provider().get_meeting("sess_demo_02")
    assert "## Key Decisions" in meeting.minutes
    assert [t.due for t in meeting.todos] == ["Tomorrow", "next Monday"]
    assert meeting.highlights[0].id.startswith("hl_")  # highlightId
    assert meeting.highlights[0].insight.startswith("Prioritise")  # aiInsights


async def test_topic_id_and_name_variant(make_provider, hedy):
    hedy.flat_topic = True
    provider = make_provider()
    page = await provider.list_meetings(limit=12)
    by_id = {m.id: m for m in page.items}
    assert by_id["sess_demo_01"].topic.id == "topic_product" and by_id["sess_demo_01"].topic.name == "Product Team"
    assert by_id["sess_demo_07"].topic is None
    assert (await provider.get_meeting("sess_demo_05")).topic.name == "Customer Calls"


async def test_odd_shapes_from_a_raw_session(provider, hedy):
    hedy.add_raw_session({
        "sessionId": "ses_0123abcd", "title": "", "startTime": "2026-03-03T14:30:00Z", "duration": 45,
        "meetingMinutes": "## Notes", "recap": "", "transcript": None, "topicId": "topic_x", "topicName": "Ops",
        "highlights": [{"highlightId": "h1", "rawQuote": "raw only", "aiInsights": ["one", "two"],
                        "timestamp": "2026-03-03T14:35:00Z", "timeIndex": 300000}],
        "userTodos": [{"id": "uuid-1234", "text": "Check", "dueDate": "in 3 days", "completed": True}],
    })
    meeting = await provider.get_meeting("ses_0123abcd")
    assert meeting.title == "Untitled meeting" and meeting.recap is None and meeting.minutes == "## Notes"
    assert meeting.duration_seconds == 45 * 60  # small values are minutes
    assert meeting.started_at == datetime(2026, 3, 3, 14, 30, tzinfo=UTC) and meeting.ended_at is None
    assert meeting.topic.id == "topic_x" and meeting.topic.name == "Ops"
    h = meeting.highlights[0]
    assert (h.id, h.quote, h.insight, h.offset_seconds, h.title) == ("h1", "raw only", "one\ntwo", 300, "raw only")
    assert meeting.todos[0].id == "uuid-1234" and meeting.todos[0].due == "in 3 days" and meeting.todos[0].completed


async def test_list_todos_keeps_due_dates_as_free_text(provider, hedy):
    todos = await provider.list_todos()
    assert hedy.requests[-1].path == "/todos"
    assert len(todos) == 20
    dues = {t.due for t in todos}
    assert {"Tomorrow", "2026-12-01", "next Monday", None} <= dues
    assert any(t.completed for t in todos) and not all(t.completed for t in todos)
    dpa = next(t for t in todos if t.text == "Send Acme the DPA")
    assert dpa.meeting_id == "sess_demo_02" and dpa.topic.name == "Customer Calls"


async def test_list_topics(provider):
    topics = {t.id: t for t in await provider.list_topics()}
    assert set(topics) == {"topic_product", "topic_customers", "topic_one_on_ones"}
    assert topics["topic_product"].session_count == 6
    assert topics["topic_product"].last_session_at is not None
    assert topics["topic_customers"].description.startswith("Onboarding")


@pytest.mark.parametrize("shape", ["array", "data", "data.todos"])
async def test_session_todos_in_any_envelope(provider, hedy, shape):
    hedy.session_todos_shape = shape
    todos = await provider.list_session_todos("sess_demo_12")
    assert [t.text for t in todos][:1] == ["Refresh the docs screenshots"] and len(todos) == 3
    assert all(t.meeting_id == "sess_demo_12" for t in todos)


async def test_list_highlights_pages(provider):
    first = await provider.list_highlights(limit=6)
    second = await provider.list_highlights(limit=6, cursor=first.next_cursor)
    assert len(first.items) == 6 and len(second.items) == 5 and not second.has_more
    ids = [h.id for h in first.items + second.items]
    assert len(set(ids)) == 11 and all(h.meeting_id and h.title for h in first.items)


async def test_webhooks_create_and_delete(provider, hedy):
    created = await provider.create_webhook("https://bot.example.test/webhooks/hedy/t0k", ["session.ended"])
    assert created["events"] == ["session.ended"] and "secret" not in json.dumps(created).lower()
    assert [w["id"] for w in hedy.webhooks] == [created["id"]]
    await provider.delete_webhook(created["id"])
    assert hedy.webhooks == []
    with pytest.raises(NotFound) as missing:
        await provider.delete_webhook(created["id"])
    assert missing.value.code == "webhook_not_found"
    with pytest.raises(BadRequest) as bad:
        await provider.create_webhook("http://bot.example.test/hook", ["session.ended"])
    assert bad.value.code == "invalid_webhook_url" and bad.value.status == 400


async def test_huge_session_round_trips(provider, hedy):
    stored = hedy.add_session(**sample_data.huge_session())
    meeting = await provider.get_meeting(stored["sessionId"])
    assert len(meeting.minutes) > 55_000 and len(meeting.todos) == 300 and len(meeting.highlights) == 100


async def test_v1_base_url_works(make_provider, hedy):
    provider = make_provider(base_url=hedy.url + "/v1/")
    assert len((await provider.list_meetings(limit=3)).items) == 3
    assert (await provider.get_meeting("sess_demo_01")).title == "Sprint Planning"
    assert all(r.path.startswith("/v1/") for r in hedy.requests)


# ----------------------------------------------------------------------------- errors and retries


async def test_bad_key_is_an_auth_error_and_not_retried(make_provider, hedy):
    with pytest.raises(AuthError) as info:
        await make_provider("hedy_live_wrong").check_key()
    assert (info.value.code, info.value.status, info.value.provider) == ("invalid_api_key", 401, "hedy")
    assert hedy.request_count() == 1


async def test_unknown_session_is_not_found(provider):
    with pytest.raises(NotFound) as info:
        await provider.get_meeting("sess_missing")
    assert info.value.code == "session_not_found" and info.value.status == 404


async def test_ids_cannot_escape_their_path_segment(provider, hedy):
    with pytest.raises(NotFound):
        await provider.get_meeting("../todos")
    assert hedy.request_count("/todos") == 0


@pytest.mark.parametrize(("status", "error"), [(403, PermissionDenied), (400, BadRequest), (409, BadRequest)])
async def test_other_statuses_map_to_typed_errors(provider, hedy, status, error):
    hedy.fail_next(status)
    with pytest.raises(error) as info:
        await provider.list_topics()
    assert info.value.status == status and hedy.request_count() == 1


async def test_error_envelope_inside_a_200_is_still_an_error(provider, hedy):
    hedy.fail_next(200, code="session_not_found")
    with pytest.raises(NotFound) as info:
        await provider.get_meeting("sess_demo_01")
    assert info.value.code == "session_not_found"


async def test_500_then_success_is_retried(provider, hedy):
    hedy.fail_next(500, path="/sessions")
    page = await provider.list_meetings(limit=2)
    assert len(page.items) == 2 and hedy.request_count("/sessions") == 2


async def test_persistent_500_gives_up_with_unavailable(provider, hedy):
    hedy.fail_next(500, times=10)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        await provider.list_todos()
    assert time.monotonic() - started < 2
    assert (info.value.code, info.value.status) == ("internal_error", 500)
    assert hedy.request_count() == 3  # max_attempts


async def test_deadline_bounds_the_whole_call(make_provider, hedy):
    hedy.fail_next(503, times=100)
    provider = make_provider(max_attempts=100, backoff=0.05, deadline=0.6)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await provider.list_todos()
    assert time.monotonic() - started < 1.2
    assert 2 < hedy.request_count() < 100


async def test_non_json_error_page_is_unavailable(provider, hedy):
    hedy.fail_next(502, times=5, body="<html><body>Bad gateway</body></html>")
    with pytest.raises(Unavailable) as info:
        await provider.list_topics()
    assert info.value.status == 502 and info.value.code is None


async def test_429_then_success_is_retried(provider, hedy):
    hedy.fail_next(429)
    assert len(await provider.list_topics()) == 3
    assert hedy.request_count() == 2


async def test_retry_after_is_honoured_when_sent(provider, hedy):
    hedy.fail_next(429, retry_after=0.4)
    started = time.monotonic()
    await provider.list_topics()
    assert time.monotonic() - started >= 0.4


async def test_persistent_429_is_rate_limited(provider, hedy):
    hedy.fail_next(429, times=10)
    with pytest.raises(RateLimited) as info:
        await provider.list_topics()
    assert info.value.code == "rate_limit_exceeded" and hedy.request_count() == 3


async def test_real_rate_limit_of_the_fake_maps_to_rate_limited(make_provider, hedy):
    hedy.rate_limit_per_minute = 2
    provider = make_provider(max_attempts=1)
    await provider.list_topics()
    await provider.list_topics()
    with pytest.raises(RateLimited):
        await provider.list_topics()


async def test_webhook_creation_is_not_retried_on_5xx(provider, hedy):
    hedy.fail_next(500, path="/webhooks")
    with pytest.raises(Unavailable):
        await provider.create_webhook("https://bot.example.test/h", ["session.ended"])
    assert hedy.request_count("/webhooks") == 1


async def test_slow_server_times_out_as_unavailable(make_provider, hedy):
    hedy.latency = 0.5
    provider = make_provider(timeout=0.1, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        await provider.list_topics()
    assert info.value.code == "timeout" and time.monotonic() - started < 0.5
    assert hedy.request_count() == 2


async def test_deadline_cuts_a_slow_attempt(make_provider, hedy):
    hedy.latency = 0.8
    provider = make_provider(deadline=0.3)  # the 10 s read timeout alone would wait
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        await provider.list_topics()
    assert info.value.code == "timeout" and time.monotonic() - started < 0.6


async def test_connection_refused_is_unavailable(make_provider):
    provider = make_provider(base_url=f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(Unavailable) as info:
        await provider.list_todos()
    assert info.value.code == "connect_error"


# ----------------------------------------------------------------------------- pacing


async def test_concurrent_callers_sharing_a_key_are_spaced(make_provider, hedy):
    tiny = {"rate_limit": 5, "rate_period": 1.0, "rate_burst": 1}
    a, b = make_provider(**tiny), make_provider(**tiny)
    assert a.pacer is b.pacer  # one budget per key, across client instances
    await asyncio.gather(*(p.list_topics() for p in (a, b, a, b, a, b)))
    times = sorted(r.at for r in hedy.requests)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 6 and min(gaps) > 0.1  # 1 s / 5, minus the arrival jitter of a loaded machine
    assert times[-1] - times[0] >= 0.9


async def test_other_keys_are_not_paced_together(make_provider, hedy):
    tiny = {"rate_limit": 5, "rate_period": 1.0, "rate_burst": 1}
    assert make_provider(**tiny).pacer is not make_provider("hedy_live_other", **tiny).pacer


async def test_pacing_wait_beyond_max_wait_raises_without_calling_hedy(make_provider, hedy):
    provider = make_provider(rate_limit=1, rate_period=60.0, rate_burst=1, max_pacing_wait=0.2)
    await provider.list_topics()
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        await provider.list_topics()
    assert isinstance(info.value, PacingLimited) and info.value.retry_after > 50
    assert time.monotonic() - started < 0.1
    assert hedy.request_count() == 1


def test_pacer_burst_then_spacing_never_exceeds_the_rate():
    now = [1000.0]
    pacer = Pacer(200, 60.0, burst=100, clock=lambda: now[0])
    slots = [now[0] + pacer.reserve() for _ in range(400)]
    assert slots[:100] == [1000.0] * 100 and slots[100] > 1000.0
    # No 60 s window holds more than 200 requests, wherever it starts.
    assert max(sum(1 for t in slots if start <= t < start + 60.0 - 1e-6) for start in slots) <= 200
    now[0] += 30.0
    with pytest.raises(PacingLimited) as info:
        pacer.reserve(max_wait=1.0)
    assert info.value.retry_after == pytest.approx(slots[-1] + pacer.interval - now[0])
    assert now[0] + pacer.reserve() == pytest.approx(slots[-1] + pacer.interval)  # the refusal took nothing


# ----------------------------------------------------------------------------- secrecy


async def test_key_never_appears_in_logs_errors_or_repr(make_provider, hedy, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "hedy_live_wrong_key_77"
    provider = make_provider()
    await provider.list_meetings(limit=2)
    hedy.fail_next(500)
    await provider.get_meeting("sess_demo_01")
    errors = []
    for call in (make_provider(wrong).check_key(), provider.get_meeting("nope")):
        with pytest.raises(Exception) as info:
            await call
        errors.append(info.value)
    hedy.latency = 0.3
    with pytest.raises(Unavailable) as slow:
        await make_provider(timeout=0.05, max_attempts=1).list_todos()
    errors.append(slow.value)
    assert any("hedy" in r.getMessage() for r in caplog.records)  # logging did happen
    for text in [caplog.text, repr(provider), *map(str, errors), *map(repr, errors)]:
        assert KEY not in text and wrong not in text
    assert KEY not in repr(hedy.requests)


# ----------------------------------------------------------------------------- the fake itself


def test_fake_envelopes_auth_and_limits(hedy):
    with httpx.Client(base_url=hedy.url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        assert httpx.get(hedy.url + "/me").json()["error"]["code"] == "missing_api_key"
        assert isinstance(client.get("/todos").json(), list)
        assert isinstance(client.get("/sessions", params={"format": "zapier", "limit": 2}).json(), list)
        assert client.get("/sessions", params={"limit": 101}).json()["error"]["code"] == "validation_error"
        for method, path in [("PATCH", "/todos/x"), ("POST", "/todos"), ("PUT", "/sessions/sess_demo_01/todos/x")]:
            assert client.request(method, path).status_code == 405
        topic_page = client.get("/topics/topic_product/sessions", params={"limit": 4}).json()["data"]
        rest = client.get("/topics/topic_product/sessions",
                          params={"startAfter": topic_page["pagination"]["nextCursor"]}).json()["data"]
        assert len(topic_page["sessions"]) + len(rest["sessions"]) == 6 and not rest["pagination"]["hasMore"]
        statuses = [client.post("/webhooks", json={"url": "https://x.test/h", "event": "session.ended"}).status_code
                    for _ in range(6)]
        assert statuses == [200] * 5 + [429]

    limited_fake = FakeHedy(api_keys=[KEY], rate_limit_per_minute=2)
    with ThreadedServer(limited_fake.app) as server:
        answers = [httpx.get(server.url + "/me", headers={"Authorization": f"Bearer {KEY}"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limit_exceeded"
    assert not any(h.lower().startswith(("x-ratelimit", "retry-after")) for h in answers[-1].headers)


def test_fake_webhook_cap_and_validation():
    fake = FakeHedy(api_keys=[KEY], webhook_cap=2, webhook_create_per_minute=100)
    with ThreadedServer(fake.app) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        def create(body):
            return client.post("/webhooks", json=body).json()
        assert create({"url": "https://x.test/h"})["error"]["code"] == "missing_event"
        assert create({"url": "https://x.test/h", "event": "nope"})["error"]["code"] == "invalid_event"
        assert create({"url": "https://x.test/h", "events": ["nope"]})["error"]["code"] == "invalid_events"
        assert create({"url": "http://localhost:9/h", "events": ["todo.exported"]})["success"]
        assert create({"url": "https://x.test/h", "events": ["session.ended"]})["success"]
        refused = create({"url": "https://x.test/h", "events": ["session.ended"]})
        assert refused["error"]["code"] == "webhook_limit_exceeded"


def test_send_webhook_signs_and_retries_like_hedy(hedy):
    received: list[tuple[dict, bytes]] = []
    statuses: list[int] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=statuses.pop(0) if statuses else 200)

    with ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        url = receiver.url + "/hook"
        payload = hedy.session_webhook_payload("sess_demo_02")
        assert send_webhook(url, "session.ended", payload, secret="s3cret", retry_delay=0.001) == 200
        headers, raw = received[-1]
        body = json.loads(raw)
        assert body["event"] == "session.ended" and body["sessionId"] == "sess_demo_02"
        assert body["topicName"] == "Customer Calls" and "meeting_minutes" in body
        assert headers["x-hedy-event"] == "session.ended"
        assert headers["x-hedy-signature"] == hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()

        created = hedy.session_webhook_payload("sess_demo_02", "session.created")
        nested = hedy.send_webhook(url, "session.created", created, nested=True)
        assert nested == 200 and set(json.loads(received[-1][1])) == {"event", "timestamp", "data"}
        assert "x-hedy-signature" not in received[-1][0]

        for script, final, calls in [([500, 500, 500], 500, 3), ([503, 200], 200, 2),
                                     ([429, 429], 429, 2), ([400], 400, 1)]:
            received.clear()
            statuses[:] = script
            assert send_webhook(url, "session.ended", payload, retry_delay=0.001) == final
            assert len(received) == calls
