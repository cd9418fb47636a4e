"""Hostile input at the bot's two doors, provider webhooks and /slack/events: every bad request is
refused on its own with a 4xx, stores nothing, logs no traceback, and never costs another request
(of any workspace) its answer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time

import httpx
import pytest
from sqlalchemy import delete

from bot.fakes import slack_requests
from bot.providers.registry import PROVIDERS
from bot.services.connections import connect
from bot.store.models import Connection
from tests.conftest import CHANNEL, HEDY_KEY, SIGNING_SECRET, TEAM
from tests.helpers import run_inbox_list
from tests.hostile import (
    KNOWN_EVENTS,
    connect_every_provider,
    inbox_count,
    inbox_rows,
    sign,
    start_fake_meetric,
)

TEAM_B = "T000000B"
A_SECRET = "workspace-a-admin-chose-this-secret"
B_SECRET = "workspace-b-admin-chose-this-secret"


def errors_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def hedy_signed(body: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json",
            "X-Hedy-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


@pytest.fixture
async def two_workspaces(deps, fake_hedy):
    """Workspace A (whose admin turns hostile) and workspace B, each with its own Hedy connection."""
    a = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                      channel=CHANNEL, webhook_secret=A_SECRET)
    b = await connect(deps.db, deps.box, deps.factory, team_id=TEAM_B, provider="hedy", api_key=HEDY_KEY,
                      channel=CHANNEL, webhook_secret=B_SECRET)
    return a.connection, b.connection


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test") as client:
        yield client


def good_delivery(n: int) -> bytes:
    return json.dumps({"event": "session.ended", "sessionId": f"sess_b_{n:02d}"}).encode()


def poisoned_delivery(n: int) -> bytes:
    """Text a database cannot store, in every place a webhook's text is stored; each one distinct."""
    kind = n % 6
    if kind == 0:
        return json.dumps({"event": "session.ended", "sessionId": f"sess_\ud800_{n}"}).encode()  # lone surrogate
    if kind == 1:
        return json.dumps({"event": f"session.\udfff{n}", "sessionId": f"s{n}"}).encode()  # in the event name
    if kind == 2:
        return json.dumps({"event": "session.ended", "sessionId": f"sess_\u0000_{n}"}).encode()  # NUL
    if kind == 3:
        return json.dumps({"event": f"todo.exported\u0000{n}", "id": f"t{n}"}).encode()
    if kind == 4:  # a UTF-16 body: valid JSON to Python's json.loads, NUL bytes to the database
        return json.dumps({"event": "session.ended", "sessionId": f"sess_utf16_{n}"}).encode("utf-16")
    return json.dumps({"event": "highlight.created", "sessionId": "s", "id": f"h\ud83d{n}"}).encode()  # half an emoji


# ----------------------------------------------------------------------------- item 1: one batch, two workspaces


async def test_a_poisoned_webhook_fails_only_its_own_request(client, two_workspaces, db, caplog):
    """40 good webhooks of workspace B and 40 poisoned ones of A, all at once: B's are all stored and
    answered 200 (once, every other request of a batch got a 500); A's are 400 and store nothing."""
    a, b = two_workspaces

    async def post(connection, body: bytes, secret: str) -> httpx.Response:
        return await client.post(f"/webhooks/hedy/{connection.webhook_token}", content=body,
                                 headers=hedy_signed(body, secret))

    sends = []
    for n in range(40):
        sends.append(post(a, poisoned_delivery(n), A_SECRET))
        sends.append(post(b, good_delivery(n), B_SECRET))
    responses = await asyncio.gather(*sends)
    from_a, from_b = responses[0::2], responses[1::2]

    assert [r.status_code for r in from_b] == [200] * 40, [r.text for r in from_b if r.status_code != 200][:3]
    assert [r.status_code for r in from_a] == [400] * 40, [r.text for r in from_a if r.status_code != 400][:3]
    assert all("nothing was stored" in r.json()["message"] or "UTF-8" in r.json()["message"] for r in from_a)
    assert sorted(row.meeting_id for row in await inbox_rows(db, connection_id=b.id)) == \
        [f"sess_b_{n:02d}" for n in range(40)]
    assert await inbox_rows(db, connection_id=a.id) == []
    assert errors_in(caplog) == []


async def test_a_batch_the_database_refuses_is_stored_row_by_row(client, two_workspaces, deps, db, caplog):
    """A fault no check can see in advance: workspace A's connection is deleted while its webhook URL is
    still cached, so A's rows break a foreign key. The batch they share with B is retried one row at a
    time: B's 40 are stored, each of A's is refused alone."""
    from bot.providers.cache import ReadCache

    a, b = two_workspaces
    deps.connections = ReadCache(ttl=3600)  # the lookup outlives the deletion for as long as the test runs
    warm = await client.post(f"/webhooks/hedy/{a.webhook_token}", content=b"{}", headers={"X-Hedy-Signature": "0"})
    assert warm.status_code == 401  # looked up (and cached), refused, nothing stored
    async with db.session() as session:
        await session.exec(delete(Connection).where(Connection.id == a.id))

    sends = []
    for n in range(40):
        body_a = json.dumps({"event": "session.ended", "sessionId": f"sess_a_{n:02d}"}).encode()
        sends.append(client.post(f"/webhooks/hedy/{a.webhook_token}", content=body_a,
                                 headers=hedy_signed(body_a, A_SECRET)))
        sends.append(client.post(f"/webhooks/hedy/{b.webhook_token}", content=good_delivery(n),
                                 headers=hedy_signed(good_delivery(n), B_SECRET)))
    with caplog.at_level(logging.WARNING, logger="bot.delivery.inbox"):
        responses = await asyncio.gather(*sends)
    from_a, from_b = responses[0::2], responses[1::2]

    assert [r.status_code for r in from_b] == [200] * 40
    assert [r.status_code for r in from_a] == [400] * 40
    assert len(await inbox_rows(db, connection_id=b.id)) == 40
    assert await inbox_rows(db, connection_id=a.id) == []
    assert any("storing them one by one" in r.getMessage() for r in caplog.records)  # a batch did fail
    assert errors_in(caplog) == []


# ----------------------------------------------------------------------------- item 2: deep nesting, every provider


@pytest.fixture
async def doors(deps, fake_harmony, fake_whereby, settings):
    _fake, server = start_fake_meetric(settings)
    try:
        yield await connect_every_provider(deps, TEAM)
    finally:
        server.stop()


DEEP_BODIES = {
    "arrays": b"[" * 100_000,
    "objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "inside a real event": (b'{"event":"session.ended","sessionId":"s","extra":'
                            + b"[" * 100_000 + b"]" * 100_000 + b"}"),
}


@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_deeply_nested_json_is_400_for_every_provider(client, doors, db, caplog, provider, shape):
    assert (await client.post(doors[provider], content=KNOWN_EVENTS[provider],
                              headers=sign(provider, KNOWN_EVENTS[provider]))).status_code == 200  # signed right
    before = await inbox_count(db)
    body = DEEP_BODIES[shape]
    response = await client.post(doors[provider], content=body, headers=sign(provider, body))
    assert response.status_code == 400
    assert "nested" in response.json()["message"]
    assert await inbox_count(db) == before
    assert errors_in(caplog) == []


async def test_json_nested_a_little_is_still_accepted(client, doors, db):
    body = json.dumps({"event": "session.ended", "sessionId": "s_nested", "extra": [[[[{"a": [1]}]]]]}).encode()
    response = await client.post(doors["hedy"], content=body, headers=sign("hedy", body))
    assert response.status_code == 200


# ----------------------------------------------------------------------------- item 8: unknown events


async def test_events_the_bot_does_not_act_on_are_acknowledged_but_their_body_is_not_kept(client, doors, db):
    bulky = {"event": "session.deleted", "sessionId": "sess_gone", "transcript": "words " * 150_000}
    body = json.dumps(bulky).encode()
    response = await client.post(doors["hedy"], content=body, headers=sign("hedy", body))
    assert response.status_code == 200
    [row] = await inbox_rows(db)
    assert (row.status, row.event_type, row.meeting_id, row.payload) == ("ignored", "session.deleted", "sess_gone", "")
    # The ones it acts on keep theirs: the worker reads it.
    known = KNOWN_EVENTS["hedy"]
    assert (await client.post(doors["hedy"], content=known, headers=sign("hedy", known))).status_code == 200
    assert (await inbox_rows(db))[-1].payload == known.decode()


# ----------------------------------------------------------------------------- items 3 and 4: /slack/events


def slack_headers(body: bytes, *, timestamp: str | bytes | None = None, signature: str | bytes | None = None,
                  content_type: str = "application/json") -> dict[str, str | bytes]:
    headers: dict[str, str | bytes] = {"Content-Type": content_type}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    return headers


def slack_signature(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


UNREADABLE_BODIES = {
    "invalid JSON": (b'{"type": "event_callback", ', "application/json"),
    "payload= that is not JSON": (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    "payload= nested JSON": (b"payload=" + b"%5B" * 100_000, "application/x-www-form-urlencoded"),
    "nested JSON": (b"[" * 100_000, "application/json"),
    "invalid UTF-8": (b'{"type":"url_verification","challenge":"\xff\xfe"}', "application/json"),
    "a url_verification": (b'{"type":"url_verification","challenge":"c"}', "application/json"),
}


def unsigned_variants(body: bytes) -> dict[str, dict]:
    now = str(int(time.time()))
    return {
        "no headers": {},
        "timestamp abc": {"timestamp": "abc", "signature": slack_signature(body, now)},
        "timestamp nan": {"timestamp": "nan", "signature": slack_signature(body, now)},
        "timestamp inf": {"timestamp": "inf", "signature": slack_signature(body, now)},
        "timestamp empty": {"timestamp": "", "signature": slack_signature(body, now)},
        "timestamp with a space": {"timestamp": f" {now}", "signature": slack_signature(body, now)},
        "no signature": {"timestamp": now},
        "wrong secret": {"timestamp": now, "signature": slack_signature(body, now, "not-the-secret")},
        "stale": {"timestamp": str(int(time.time()) - 600),
                  "signature": slack_signature(body, str(int(time.time()) - 600))},
        "signature not ASCII": {"timestamp": now, "signature": "v0=\u00e9\u00e9".encode("latin-1")},
        "timestamp not ASCII": {"timestamp": "\u0661\u0662".encode("utf-8"), "signature": slack_signature(body, now)},
    }


@pytest.mark.parametrize("kind", sorted(UNREADABLE_BODIES))
async def test_slack_events_refuses_every_unsigned_request_with_401_whatever_its_body(client, fake_slack, caplog,
                                                                                      kind):
    body, content_type = UNREADABLE_BODIES[kind]
    for variant, parts in unsigned_variants(body).items():
        headers = slack_headers(body, content_type=content_type, **parts)
        response = await client.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 401, (variant, response.status_code, response.text)
        assert "went wrong" not in response.text and "Traceback" not in response.text
    assert errors_in(caplog) == []
    assert fake_slack.calls == []


async def test_a_signed_body_bolt_cannot_read_is_400_not_500(client, caplog):
    """Only Slack (or whoever holds the signing secret) can send one; still no 500 and no traceback."""
    now = str(int(time.time()))
    for body, content_type in [(b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
                               (b"payload=" + b"%5B" * 5_000, "application/x-www-form-urlencoded"),
                               (b"{not json", "application/json")]:
        headers = slack_headers(body, timestamp=now, signature=slack_signature(body, now), content_type=content_type)
        response = await client.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 400, response.text
    assert errors_in(caplog) == []


async def test_signed_slack_requests_still_reach_bolt(client):
    body, headers = slack_requests.url_verification(SIGNING_SECRET, challenge="still-here")
    response = await client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["challenge"] == "still-here"


class Counted:
    """A request body handed over in chunks, counting how much the server asked for."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self):
        while self.pulled < self.total:
            self.pulled += self.chunk
            yield b"a" * self.chunk


SIXTY_FOUR_MIB = 64 * 1024 * 1024


async def test_slack_events_refuses_a_64_mib_body_without_reading_it(client):
    now = str(int(time.time()))
    # Signed-looking headers, so the size check is what stops it; sent chunked, with no length declared.
    streamed = Counted(SIXTY_FOUR_MIB)
    response = await client.post("/slack/events", content=streamed,
                                 headers=slack_headers(b"", timestamp=now, signature="v0=" + "0" * 64))
    assert response.status_code == 413
    assert streamed.pulled <= 1024 * 1024 + streamed.chunk  # stopped just past 1 MiB, not at 64
    # A declared length over the limit is refused before a single byte is read.
    declared = Counted(SIXTY_FOUR_MIB)
    headers = slack_headers(b"", timestamp=now, signature="v0=" + "0" * 64)
    headers["Content-Length"] = str(SIXTY_FOUR_MIB)
    response = await client.post("/slack/events", content=declared, headers=headers)
    assert response.status_code == 413 and declared.pulled == 0
    # Without any signature headers it is not even read.
    unsigned = Counted(SIXTY_FOUR_MIB)
    response = await client.post("/slack/events", content=unsigned)
    assert response.status_code == 401 and unsigned.pulled == 0


async def test_a_real_slack_body_just_under_the_limit_is_accepted(client):
    """The limit leaves room for the largest real payloads (view submissions with long inputs)."""
    body, headers = slack_requests.url_verification(SIGNING_SECRET, challenge="c" * (1024 * 1024 - 200))
    response = await client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200


# ----------------------------------------------------------------------------- item 11: `inbox list`


HOSTILE_IDS = {
    "sess_[/bold]": "sess_[/bold]",  # rich markup that closes a tag never opened: crashed the table
    "sess_[link=https://evil.example]x[/link]": "sess_[link=https://evil.example]x[/link]",
    "sess_\x1b[2J\x1b[31mred": "sess_\\x1b[2J\\x1b[31mred",  # clear the screen, turn red
    "sess_\u202etxt.exe": "sess_\\u202etxt.exe",  # right-to-left override
    "sess_line\rcarriage": "sess_line\\rcarriage",
}


async def test_inbox_list_shows_ids_from_webhooks_literally(client, doors, settings, db):
    for n, meeting_id in enumerate(HOSTILE_IDS):
        for event in ("session.ended", f"[/bold]\x1b[1mevent{n}"):  # one stored pending, one ignored
            body = json.dumps({"event": event, "sessionId": meeting_id}).encode()
            assert (await client.post(doors["hedy"], content=body, headers=sign("hedy", body))).status_code == 200
    result = run_inbox_list(settings)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for shown in HOSTILE_IDS.values():
        assert shown in result.stdout
    assert "[/bold]\\x1b[1mevent0" in result.stdout
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\r" not in result.stdout
    # An operator's own filter that looks like markup is printed as typed, too.
    odd = run_inbox_list(settings, "--status", "[/red]")
    assert odd.returncode == 0 and "No events with status [/red]." in odd.stdout
