"""Odd and forged input from Slack's side: numbers that only look like numbers, button values
nobody made, a user picker value that is not a user, and names that are not people. Each gets a
plain sentence; nothing is changed, mentioned or crashed."""

from __future__ import annotations

import json
import logging

import pytest

from bot.fakes import slack_requests
from bot.slack.commands import MAX_LIST, parse
from bot.slack.ids import ActionId
from tests.conftest import SIGNING_SECRET, TEAM
from tests.test_connect_cli import run_doctor
from tests.test_todo_buttons import click, element, posted_todos, states


def text_of(message: dict) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


# ----------------------------------------------------------------------------- /meetings list N


@pytest.mark.parametrize("count", ["²", "٣", "１", "½", "1e3", "-5", "0x10", "5.0", "+-3", "3,5", "Ⅻ"])  # noqa: RUF001
async def test_list_with_something_that_only_looks_like_a_number_says_how_to_ask(slack_user, count):
    reply = await slack_user.ask(f"list {count}")
    assert "takes one number, like `/meetings list 5`" in reply["text"]


def test_list_numbers_people_type_are_read_and_huge_ones_clamped():
    assert parse("list 7").limit == 7 and parse("list +7").limit == 7 and parse("list 007").limit == 7
    huge = parse("list " + "9" * 40)
    assert huge.name == "list" and huge.limit == MAX_LIST and "up to 30" in (huge.notice or "")
    assert parse("list 0").name == "usage" and parse("list 000").name == "usage"


# ----------------------------------------------------------------------------- forged More values


@pytest.mark.parametrize("value", [
    '{"n":1e400}', '{"n":-1e400}', '{"n":true}', '{"n":"5"}', '{"n":2.5}', '{"n":-3}', '{"n":99999999999999999999}',
    '{"c":{"x":1}}', '{"c":[1,2]}', '{"c":7}', '{"s":{"a":1}}', "[]", '"text"', "null", "[" * 5000, "{" * 3,
], ids=lambda value: value[:24])
@pytest.mark.usefixtures("connected")
async def test_a_forged_more_value_gets_a_sentence(slack_user, fake_hedy, caplog, value):
    with caplog.at_level(logging.INFO):
        response, url = await slack_user.click(ActionId.MORE_MEETINGS, value)
        assert response.status_code == 200
        reply = (await slack_user.replies(url))[-1]
    assert "That button is out of date. Type `/meetings list` again." in text_of(reply)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not any(r.path.endswith("/sessions") for r in fake_hedy.requests)


# ----------------------------------------------------------------------------- the Assign picker


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("picked", ["U1><!channel", "<!channel>", "!here", "u0lower", "U0DANA|x", "C0CHANNEL", ""])
async def test_a_picker_value_that_is_not_a_user_changes_nothing_and_mentions_nobody(
        slack_user, hedy_webhooks, fake_slack, db, picked):
    page = await posted_todos(hedy_webhooks, fake_slack)
    picker = element(page, ActionId.TODO_ASSIGN, 0)
    url = fake_slack.new_response_url()
    await click(slack_user, page, ActionId.TODO_ASSIGN, block_id=picker["block_id"], action_type="users_select",
                selected_user=picked, response_url=url)
    [answer] = await fake_slack.wait_for_response_async(url)
    assert "isn't a person from this workspace, so nothing was changed" in answer["text"]
    assert {s.assignee for s in (await states(db)).values()} == {None}
    everything = json.dumps([c.args for c in fake_slack.calls] + [r.body for r in fake_slack.responses])
    assert "<!channel" not in everything and "<!here" not in everything and "<@U1>" not in everything


# ----------------------------------------------------------------------------- names that are not people


@pytest.mark.usefixtures("connected")
async def test_status_after_an_uninstall_says_slack_paused_it_not_a_mention(slack_user):
    body, headers = slack_requests.event_callback(SIGNING_SECRET, team_id=TEAM,
                                                  event={"type": "app_uninstalled", "event_ts": "1.2"})
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    status = text_of(await slack_user.ask("status"))
    assert "paused by Slack" in status
    assert "<@slack>" not in status and "<@" not in status


# ----------------------------------------------------------------------------- doctor


@pytest.mark.slack_refuses  # auth.test answers a plain-text 500
@pytest.mark.usefixtures("db")
def test_doctor_explains_a_slack_api_url_that_answers_without_json(settings, fake_slack):
    fake_slack.fail_next("auth.test", status=500)
    result = run_doctor(settings)
    assert result.returncode == 1
    assert "answered HTTP 500 without Slack's JSON" in result.stdout and "SLACK_API_URL" in result.stdout
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stdout + result.stderr


# ----------------------------------------------------------------------------- the setup modal's state


@pytest.mark.parametrize("state", [
    {"setup_provider_block": "not an object"},
    {"setup_provider_block": {"setup_provider": {"selected_option": ["hedy"]}}},
    {"setup_provider_block": {"setup_provider": None}},
], ids=["block-as-text", "option-as-list", "element-null"])
async def test_a_submission_whose_state_slack_never_makes_asks_for_a_service(slack_user, fake_slack, caplog, state):
    fake_slack.add_user("U0ADMIN", is_admin=True)
    body, headers = slack_requests.view_submission(SIGNING_SECRET, team_id=TEAM, user_id="U0ADMIN",
                                                   callback_id="setup_modal", values=state)
    with caplog.at_level(logging.INFO):
        response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"response_action": "errors", "errors": {"setup_provider_block": "Choose a service."}}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
