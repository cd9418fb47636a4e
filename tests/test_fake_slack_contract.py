"""The Slack stand-in behaves like Slack where the bot relies on it, through the real clients."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes import slack_requests
from bot.fakes.slack import FakeSlack

SECRET = "test-signing-secret"


@pytest.fixture
def fake():
    with FakeSlack(per_channel_post_interval=1.0) as fake:
        fake.add_channel("CPRIV", "secret-plans", is_private=True, is_member=False)
        fake.add_user("U1", is_admin=True, tz="Europe/Berlin", tz_offset=3600)
        yield fake


@pytest.fixture
def client(fake):
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_auth(fake, client):
    me = await client.auth_test()
    assert (me["team_id"], me["user_id"], me["bot_id"]) == ("T0001", "U0BOT", "B0BOT")
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.api_url).auth_test()
    assert missing.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("chat.postMessageX", json={"channel": "C1", "text": "x"})
    assert unknown.value.response["error"] == "unknown_method"


async def test_block_limits(fake, client):
    ok = await client.chat_postMessage(channel="C1", text="fallback", blocks=[section("x")] * 50)
    assert ok["ts"] and ok["channel"] == "C1"
    with pytest.raises(SlackApiError) as too_many:
        await client.chat_postMessage(channel="C9", text="fallback", blocks=[section("x")] * 51)
    assert too_many.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as too_long:
        await client.chat_postMessage(channel="C2", text="fallback", blocks=[section("a" * 3001)])
    assert too_long.value.response["error"] == "invalid_blocks"
    assert "/blocks/0/text/text" in too_long.value.response["errors"][0]
    await client.chat_postMessage(channel="C3", text="fallback", blocks=[section("a" * 3000)])
    with pytest.raises(SlackApiError) as aggregate:
        await client.chat_postMessage(channel="C4", text="fallback", blocks=[section("a" * 2900)] * 5)
    assert aggregate.value.response["error"] == "msg_blocks_too_long"
    assert [c.error for c in fake.unexpected_errors] == ["invalid_blocks", "invalid_blocks", "msg_blocks_too_long"]

    assert fake.warnings == []
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns client-side too
        await client.chat_postMessage(channel="C5", blocks=[section("no fallback text")])
    assert [w.kind for w in fake.warnings] == ["missing_fallback_text"]


async def test_channels_and_users(fake, client):
    with pytest.raises(SlackApiError) as private:
        await client.chat_postMessage(channel="CPRIV", text="hi")
    assert private.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as no_user:
        await client.users_info(user="U404")
    assert no_user.value.response["error"] == "user_not_found"
    user = (await client.users_info(user="U1"))["user"]
    assert (user["is_admin"], user["tz"], user["tz_offset"]) == (True, "Europe/Berlin", 3600)
    with pytest.raises(SlackApiError) as no_channel:
        await client.conversations_info(channel="CPRIV")
    assert no_channel.value.response["error"] == "channel_not_found"


async def test_per_channel_pacing_and_faults(fake, client):
    first = await client.chat_postMessage(channel="C1", text="one")
    await client.chat_postMessage(channel="C2", text="other channel is fine")
    with pytest.raises(SlackApiError) as paced:
        await client.chat_postMessage(channel="C1", text="two")
    assert paced.value.response.status_code == 429
    assert paced.value.response.headers["Retry-After"] == "1"
    assert paced.value.response["error"] == "ratelimited"
    assert fake.unexpected_errors == [] and fake.errors[0].injected

    fake.fail_next("chat.update", status=429, retry_after=7)
    fake.fail_next("chat.update", status=503)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_update(channel="C1", ts=first["ts"], text="edited")
    assert limited.value.response.headers["Retry-After"] == "7"
    with pytest.raises(SlackApiError) as down:
        await client.chat_update(channel="C1", ts=first["ts"], text="edited")
    assert down.value.response.status_code == 503
    updated = await client.chat_update(channel="C1", ts=first["ts"], text="edited")
    assert updated["message"]["text"] == "edited"
    assert [c.ok for c in fake.calls_to("chat.update")] == [False, False, True]


async def test_response_url_five_uses(fake):
    url = fake.new_response_url()
    webhook = AsyncWebhookClient(url)
    for i in range(5):
        sent = await webhook.send(text=f"reply {i}", response_type="ephemeral")
        assert sent.status_code == 200, sent.body
    sixth = await webhook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert [b["text"] for b in fake.wait_for_response(url, count=5, timeout=1)] == [f"reply {i}" for i in range(5)]

    other = AsyncWebhookClient(fake.new_response_url())
    bad = await other.send(text="x", blocks=[section("a" * 3001)])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    unknown = await AsyncWebhookClient(fake.url + "/response/R404").send(text="x")
    assert (unknown.status_code, unknown.body) == (404, "no_such_url")


def test_signed_slash_command_verifies_and_tampering_does_not():
    body, headers = slack_requests.slash_command(
        SECRET, text="digest", team_id="T0001", user_id="U1", channel_id="C1", response_url="http://x/response/R1"
    )
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert b"command=%2Fmeetings" in body and b"trigger_id=" in body and b"api_app_id=" in body
    tampered = body.replace(b"text=digest", b"text=delete")
    assert not verifier.is_valid_request(tampered, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    stale_body, stale_headers = slack_requests.event_callback(
        SECRET, team_id="T0001", event={"type": "app_home_opened", "user": "U1"}, timestamp=int(time.time()) - 600
    )
    assert not verifier.is_valid_request(stale_body, stale_headers)
