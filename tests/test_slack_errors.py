"""Slack's own errors inside commands and clicks, injected by the Slack stand-in: each becomes a
sentence that says what to do, a 429 is retried after its Retry-After, and Slack being down is
one WARNING line in the log, never a traceback. The Full minutes button acks before it calls
Slack, however slow or limited views.open is."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from bot.fakes import slack_requests
from bot.slack.ids import ActionId
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM

ADMIN = "U0ADMIN"
MEETING = "sess_demo_12"

pytestmark = pytest.mark.slack_refuses  # every test here makes Slack refuse something on purpose


@pytest.fixture(autouse=True)
def people(fake_slack):
    fake_slack.add_user(ADMIN, is_admin=True)


def text_of(message: dict) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


async def setup_answer(slack_user, fake_slack) -> str:
    """`/meetings setup` by an admin (users.info, then views.open): what the admin is told."""
    url = fake_slack.new_response_url()
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text="setup", team_id=TEAM, user_id=ADMIN,
                                                 channel_id=CHANNEL, response_url=url,
                                                 trigger_id=fake_slack.new_trigger_id())
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    return (await slack_user.replies(url))[-1]["text"]


def problems(caplog) -> list[logging.LogRecord]:
    """Log records that would page someone: ERROR or worse, or anything with a traceback."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(("fault", "expected"), [
    ({"status": 200, "error": "missing_scope", "extra": {"needed": "users:read", "provided": "commands,chat:write"}},
     ["`users:read`", "OAuth & Permissions", "reinstall the app"]),
    ({"status": 200, "error": "invalid_auth"}, ["no longer accepts this app's token", "install the app again"]),
    ({"status": 200, "error": "account_inactive"}, ["no longer accepts this app's token"]),
    ({"status": 429, "retry_after": 1, "times": 3}, ["Slack is limiting how fast", "Try again in about 2 seconds"]),
    ({"status": 500, "times": 2}, ["Slack isn't answering properly", "Try again in a few minutes"]),
    ({"status": 200, "error": "some_new_error"}, ["`some_new_error`"]),
], ids=["missing_scope", "invalid_auth", "account_inactive", "ratelimited", "500-plain-text", "unknown-code"])
async def test_a_slack_error_in_a_command_says_what_to_do(slack_user, fake_slack, caplog, fault, expected):
    fake_slack.fail_next("users.info", **fault)
    with caplog.at_level(logging.INFO):
        answer = await setup_answer(slack_user, fake_slack)
    for words in expected:
        assert words in answer, answer
    assert "Something went wrong" not in answer
    assert problems(caplog) == []
    assert fake_slack.calls_to("views.open") == []


async def test_expired_trigger_id_says_to_try_again(slack_user, fake_slack):
    fake_slack.fail_next("views.open", status=200, error="expired_trigger_id")
    answer = await setup_answer(slack_user, fake_slack)
    assert "only 3 seconds" in answer and "try again" in answer


async def test_a_rate_limited_admin_check_is_retried_after_retry_after(slack_user, fake_slack):
    fake_slack.fail_next("users.info", status=429, retry_after=1)
    await setup_answer_or_modal(slack_user, fake_slack)
    [limited, passed] = fake_slack.calls_to("users.info")
    assert (limited.status, passed.status) == (429, 200)
    assert passed.at - limited.at >= 1.0


async def setup_answer_or_modal(slack_user, fake_slack) -> None:
    url = fake_slack.new_response_url()
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text="setup", team_id=TEAM, user_id=ADMIN,
                                                 channel_id=CHANNEL, response_url=url,
                                                 trigger_id=fake_slack.new_trigger_id())
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    [opened] = await fake_slack.wait_for_call_async("views.open", timeout=15)
    assert opened.ok, opened.error


async def test_not_in_channel_from_a_todo_refusal_is_a_warning_not_a_traceback(slack_user, fake_slack, caplog):
    """A todo click without a response_url is answered with chat.postEphemeral in its channel."""
    fake_slack.fail_next("chat.postEphemeral", status=200, error="not_in_channel")
    body, headers = slack_requests.block_action(SIGNING_SECRET, team_id=TEAM, user_id=ADMIN, channel_id=CHANNEL,
                                                action_id=ActionId.TODO_DONE, value="t1.1.1.00000000",
                                                response_url=None)
    with caplog.at_level(logging.INFO):
        assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
        [call] = await fake_slack.wait_for_call_async("chat.postEphemeral")
        await wait_for_log(caplog, "not_in_channel")
    assert call.error == "not_in_channel"
    assert problems(caplog) == []


async def wait_for_log(caplog, words: str, timeout: float = 10.0) -> logging.LogRecord:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in caplog.records if words in r.getMessage()]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no log line with {words!r}"
        await asyncio.sleep(0.05)


# ----------------------------------------------------------------------------- the App Home


async def open_home(slack_user, user: str = ADMIN) -> None:
    body, headers = slack_requests.event_callback(SIGNING_SECRET, team_id=TEAM,
                                                  event={"type": "app_home_opened", "user": user, "tab": "home",
                                                         "channel": "D0HOME", "event_ts": "1.2"})
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200


async def test_the_app_home_is_published_after_a_429s_retry_after(slack_user, fake_slack):
    fake_slack.fail_next("views.publish", status=429, retry_after=1)
    await open_home(slack_user)
    calls = await fake_slack.wait_for_call_async("views.publish", count=2, timeout=15)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0
    assert ADMIN in fake_slack.home_views


async def test_slack_down_while_publishing_the_app_home_is_one_warning(slack_user, fake_slack, caplog):
    fake_slack.fail_next("views.publish", status=503, times=5)
    with caplog.at_level(logging.INFO):
        await open_home(slack_user)
        line = await wait_for_log(caplog, "publishing the App Home failed")
    assert line.levelno == logging.WARNING and "503" in line.getMessage()
    assert problems(caplog) == []


# ----------------------------------------------------------------------------- Full minutes


async def click_full_minutes(slack_user, fake_slack) -> tuple[float, str]:
    started = time.monotonic()
    response, url = await slack_user.click(ActionId.FULL_MINUTES, MEETING, trigger_id=fake_slack.new_trigger_id())
    assert response.status_code == 200
    return time.monotonic() - started, url


@pytest.mark.usefixtures("connected")
async def test_full_minutes_acks_at_once_when_views_open_is_slow(slack_user, fake_slack, fake_hedy):
    fake_slack.method_latency["views.open"] = 2.0
    acked, _url = await click_full_minutes(slack_user, fake_slack)
    assert acked < 1.0  # Slack wants it within 3 s; views.open alone takes 2 s here
    [update] = await fake_slack.wait_for_call_async("views.update", timeout=15)
    [opened] = fake_slack.calls_to("views.open")
    assert opened.ok and "Fetching the minutes" in json.dumps(opened.args["view"])
    assert update.args["view_id"] == opened.response["view"]["id"]
    assert fake_hedy.session(MEETING)["title"][:30] in json.dumps(update.args["view"], ensure_ascii=False)


@pytest.mark.usefixtures("connected")
async def test_full_minutes_retries_views_open_after_retry_after(slack_user, fake_slack):
    fake_slack.fail_next("views.open", status=429, retry_after=1)
    acked, _url = await click_full_minutes(slack_user, fake_slack)
    assert acked < 1.0
    await fake_slack.wait_for_call_async("views.update", timeout=15)
    [limited, opened] = fake_slack.calls_to("views.open")
    assert (limited.status, opened.ok) == (429, True)
    assert opened.at - limited.at >= 1.0


@pytest.mark.usefixtures("connected")
async def test_full_minutes_whose_trigger_expired_says_to_press_again(slack_user, fake_slack):
    fake_slack.method_latency["views.open"] = 3.2  # past the trigger_id's 3 seconds
    acked, url = await click_full_minutes(slack_user, fake_slack)
    assert acked < 1.0
    answer = (await slack_user.replies(url))[-1]["text"]
    assert "only 3 seconds" in answer and "try again" in answer
    assert fake_slack.calls_to("views.update") == []


async def test_the_app_home_set_up_button_with_an_expired_trigger_says_to_try_again(slack_user, fake_slack):
    fake_slack.fail_next("views.open", status=200, error="expired_trigger_id")
    body, headers = slack_requests.block_action(
        SIGNING_SECRET, team_id=TEAM, user_id=ADMIN, channel_id=None, action_id=ActionId.OPEN_SETUP, value="setup",
        response_url=None, container={"type": "view", "view_id": "V0HOME"}, trigger_id=fake_slack.new_trigger_id())
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    [dm] = await fake_slack.wait_for_call_async("chat.postMessage", timeout=15,
                                                predicate=lambda c: c.args.get("channel") == ADMIN)
    assert "only 3 seconds" in dm.args["text"] and "try again" in dm.args["text"]


# ----------------------------------------------------------------------------- Slack behind a broken proxy


@pytest.fixture
def broken_slack(settings):
    """What SLACK_API_URL answers when a proxy or an outage page stands in front of Slack."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from bot.fakes.server import ThreadedServer

    answer: dict = {}

    async def api(request):
        return Response(answer["body"], status_code=answer["status"], media_type=answer["type"])

    server = ThreadedServer(Starlette(routes=[Route("/api/{method}", api, methods=["GET", "POST"])])).start()
    settings.slack_api_url = server.url + "/api/"
    yield answer
    server.stop()


@pytest.mark.parametrize(("status", "media_type", "body"), [
    (502, "text/html", "<html><h1>502 Bad Gateway</h1></html>"),
    (200, "text/html", "<html>Service is down for maintenance</html>"),
    (500, "application/json", "oops, not json"),
], ids=["html-502", "html-200", "json-type-not-json"])
async def test_slack_answering_without_its_json_is_an_outage_sentence_and_a_warning(
        slack_user, fake_slack, broken_slack, caplog, status, media_type, body):
    broken_slack.update(status=status, type=media_type, body=body)
    with caplog.at_level(logging.INFO):
        answer = await setup_answer(slack_user, fake_slack)
    assert "Slack isn't answering properly right now" in answer
    assert problems(caplog) == []
    assert any(r.levelno == logging.WARNING and "Slack" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("connected")
async def test_slack_down_for_the_answer_itself_is_one_warning(slack_user, fake_slack, caplog):
    fake_slack.fail_next("response_url", status=503, times=5)
    with caplog.at_level(logging.INFO):
        response, _url = await slack_user.command("list 2")
        assert response.status_code == 200
        line = await wait_for_log(caplog, "delivering an answer to Slack failed")
    assert line.levelno == logging.WARNING
    assert problems(caplog) == []
