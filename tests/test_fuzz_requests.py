"""Random bytes, random JSON, random text and random headers at both doors of the bot,
/slack/events and every /webhooks/{provider}/{token} (valid tokens and not, signed with the right
secret and not, so every provider's body parser is reached): never a 5xx, never an ERROR log line,
never a stored row for a refused request, and exactly one new row for each "stored" answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.providers.registry import PROVIDERS
from tests.conftest import SIGNING_SECRET, TEAM
from tests.hostile import (
    KNOWN_EVENTS,
    connect_every_provider,
    inbox_count,
    sign,
    start_fake_meetric,
)

FUZZ = settings(max_examples=500, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text as hostile as JSON allows: NUL, lone surrogates, escapes, markup, right-to-left overrides.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(["\x00", "\ud800", "\udfff", "\x1b", "\u202e", "[", "/", "]", "a", "é", "😀"]),
            max_size=12),
    st.sampled_from(["", " ", "nan", "-1", "1e400", "sess_demo_01", "x" * 300]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)
EVENT_NAMES = sorted({name for info in PROVIDERS.values() for name in info.webhooks.actions}
                     | {"session.deleted", "room.client.joined", "todo.exported"})
ids = st.one_of(hostile_text, st.integers(), st.none())
shaped_events = st.builds(
    lambda name, mid, oid, extra: {"event": name, "type": name, "id": oid, "sessionId": mid,
                                   "data": {"meeting_id": mid, "transcriptionId": mid, "roomSessionId": mid,
                                            "conversation": {"id": mid, "title": oid}, "id": oid}, **extra},
    st.one_of(st.sampled_from(EVENT_NAMES), hostile_text), ids, ids,
    st.dictionaries(st.sampled_from(["timestamp", "title", "_meta", "insight_id"]), json_values, max_size=2),
)


def encode(value, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


shaped_bodies = st.builds(encode, shaped_events, st.booleans())
bodies = st.one_of(
    shaped_bodies, shaped_bodies, shaped_bodies,  # the shapes that reach furthest, more often
    st.binary(max_size=400),
    hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.builds(encode, json_values, st.booleans()),
    st.builds(lambda depth: b"[" * depth + b"]" * depth, st.integers(min_value=60, max_value=5000)),
    st.builds(lambda raw: encode(raw, True).encode("utf-16") if isinstance(raw, str) else encode(raw, True)[::-1],
              shaped_events),
)
HEADER_NAMES = ["Content-Type", "X-Hedy-Signature", "X-Hedy-Event", "X-Webhook-Signature", "X-Webhook-Timestamp",
                "X-Webhook-Delivery-Id", "X-Webhook-Event", "X-Harmony-Signature", "X-Harmony-Delivery",
                "X-Harmony-Event", "Whereby-Signature", "X-Slack-Signature", "X-Slack-Request-Timestamp",
                "X-Slack-Retry-Num", "Content-Length"]
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40).map(
        lambda text: text.encode("latin-1")),
    st.sampled_from([b"nan", b"-nan", b"inf", b"", b"abc", b"0", b"99999999999999999999", b"application/json",
                     b"application/x-www-form-urlencoded", b"t=abc,v1=00", b"sha256=", b"v0=" + b"0" * 64]),
)
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4)


def errors_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
async def doors(deps, fake_harmony, fake_whereby, settings):
    _fake, server = start_fake_meetric(settings)
    try:
        yield await connect_every_provider(deps, TEAM)
    finally:
        server.stop()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test") as client:
        yield client


@pytest.fixture
async def signing_checked(client, doors):
    """Each provider's signing in tests/hostile.py still matches the bot: signed bodies reach the parsers."""
    for provider, body in KNOWN_EVENTS.items():
        response = await client.post(doors[provider], content=body, headers=sign(provider, body))
        assert response.status_code == 200, (provider, response.text)


@pytest.mark.usefixtures("signing_checked")
@FUZZ
@given(provider=st.sampled_from(sorted(PROVIDERS)),
       token=st.sampled_from(["valid", "valid", "valid", "unknown", "other provider's"]),
       signing=st.sampled_from(["right secret", "right secret", "right secret", "wrong secret", "unsigned"]),
       body=bodies, extra=headers)
async def test_any_webhook_request_gets_a_4xx_or_is_stored(client, doors, db, caplog, provider, token, signing, body,
                                                            extra):
    path = {"valid": doors[provider], "unknown": f"/webhooks/{provider}/{'z' * 32}",
            "other provider's": doors[provider].replace(f"/webhooks/{provider}/", "/webhooks/hedy/")
            if provider != "hedy" else doors["meetric"].replace("/webhooks/meetric/", "/webhooks/hedy/")}[token]
    sent = {"right secret": sign(provider, body), "wrong secret": sign(provider, body, "not-the-secret"),
            "unsigned": {}}[signing]
    sent = {**sent, **{k: v for k, v in extra.items() if k.lower() != "content-length"}}
    caplog.clear()
    before = await inbox_count(db)
    response = await client.post(path, content=body, headers=sent)
    after = await inbox_count(db)
    event(f"{signing}, {token} token: {response.status_code}")
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert after == before, response.text
    else:
        assert after == before + (response.json()["message"] == "stored")
    assert errors_in(caplog) == []


def slack_signed(body: bytes, timestamp: str) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body,
                                                  hashlib.sha256).hexdigest()}


# Only Slack holds the signing secret, so a signed request has Slack's shapes; signed bodies here are
# the ones Slack's shapes exclude (bytes, text, JSON that is not an object, forms Bolt cannot read,
# objects with random keys). Unsigned and badly signed requests get everything, webhook shapes too.
signed_slack_bodies = st.one_of(
    st.binary(max_size=400),
    hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.builds(encode, json_values, st.booleans()),
    st.builds(lambda value: urlencode({"payload": json.dumps(value)}).encode(), json_values),
    st.builds(lambda text: b"payload=" + text.encode("utf-8", "surrogatepass"), hostile_text),
)
slack_bodies = st.one_of(bodies, signed_slack_bodies)


@FUZZ
@given(data=st.data(), signing=st.sampled_from(["right secret", "wrong secret", "stale", "unsigned"]),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
       extra=headers)
async def test_any_slack_request_gets_an_answer_and_unsigned_ones_401(client, fake_slack, caplog, data, signing,
                                                                      content_type, extra):
    caplog.clear()
    body = data.draw(signed_slack_bodies if signing == "right secret" else slack_bodies, label="body")
    now = int(time.time())
    sent: dict[str, str | bytes] = {"Content-Type": content_type}
    sent.update({k: v for k, v in extra.items() if k.lower() != "content-length"})
    if signing == "right secret":
        sent.update(slack_signed(body, str(now)))
    elif signing == "wrong secret":
        sent.update({**slack_signed(body, str(now)), "X-Slack-Signature": "v0=" + "ab" * 32})
    elif signing == "stale":
        sent.update(slack_signed(body, str(now - 600)))
    response = await client.post("/slack/events", content=body, headers=sent)
    event(f"{signing}: {response.status_code}")
    assert response.status_code < 500, response.text
    if signing != "right secret":
        assert response.status_code == 401
    assert errors_in(caplog) == []
