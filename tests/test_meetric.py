"""Meetric beside Hedy: the client against the Meetric stand-in, its webhooks through the real ASGI
app, and a digest posted to the Slack stand-in by the workers.

Assumptions (providers.md marks them uncertain): the 5-minute replay window on
X-Webhook-Timestamp, `pagination.next_cursor`, and insights typed `action_item` as todos."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlmodel import select

from bot.fakes.meetric import FakeMeetric
from bot.fakes.server import ThreadedServer
from bot.providers.base import NotSupported, PermissionDenied
from bot.providers.meetric import MeetricProvider
from bot.services.connections import connect
from bot.store.models import InboxEvent
from tests.conftest import CHANNEL, TEAM

TOKEN = "mt_test_token_0123456789"
LIMITED = "mt_no_insights_000000000"
SECRET = "meetric-webhook-secret"


@pytest.fixture
def fake_meetric(settings):
    fake = FakeMeetric(tokens={TOKEN: {"conversations", "insights"}, LIMITED: {"users"}})
    fake.seed_demo()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    settings.meetric_api_url = server.url  # without /api/v1/rest: the client adds it
    yield fake
    server.stop()


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


async def test_retry_after_in_the_body_is_honoured(meetric, fake_meetric):
    fake_meetric.fail_next(429, retry_after=1)
    started = time.monotonic()
    account = await meetric.check_key()
    assert account.name == "Acme" and time.monotonic() - started >= 0.9


async def test_todos_and_topics_say_meetric_has_none(meetric):
    with pytest.raises(NotSupported):
        await meetric.list_todos()


@pytest.fixture
async def meetric_connection(deps, fake_meetric):
    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="meetric", api_key=TOKEN,
                           channel=CHANNEL, webhook_secret=SECRET)
    return result.connection


async def deliver(slack_user, connection, body: bytes, headers: dict):
    return await slack_user.client.post(f"/webhooks/meetric/{connection.webhook_token}", content=body,
                                        headers=headers)


async def inbox(db) -> list[InboxEvent]:
    async with db.session() as session:
        return list((await session.exec(select(InboxEvent))).all())


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
    assert row.dedupe_key == "delivery:d-1" and json.loads(row.payload)["_meta"]["subscription_id"] == "sub_1"


@pytest.mark.usefixtures("workers")
async def test_a_completed_conversation_gets_its_digest_and_todos(slack_user, meetric_connection, fake_meetric,
                                                                  fake_slack):
    body, headers = fake_meetric.webhook_request("conv_demo_1", secret=SECRET)
    assert (await deliver(slack_user, meetric_connection, body, headers)).status_code == 200
    for _ in range(200):
        posts = fake_slack.calls_to("chat.postMessage", ok=True)
        if len(posts) >= 3:
            break
        await asyncio.sleep(0.05)
    digest = next(p for p in posts if not p.args.get("thread_ts"))
    assert "Discovery call — Acme" in digest.args["text"] and "Meetric" in json.dumps(digest.args["blocks"])
    thread = json.dumps([p.args for p in posts if p.args.get("thread_ts")], ensure_ascii=False)
    assert "Send the revised quote" in thread and "Price is above budget" in thread


async def test_slash_commands_work_and_todos_say_why_not(slack_user, meetric_connection):
    listing = await slack_user.ask("list 3")
    assert "Discovery call — Acme" in json.dumps(listing, ensure_ascii=False)
    todos = await slack_user.ask("todos")
    assert "Meetric has no action-item list" in json.dumps(todos)
