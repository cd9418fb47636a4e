"""Todo buttons in a digest's thread, clicked the way Slack sends clicks (signed block_actions
through the real ASGI app), against the Slack and Hedy stand-ins with the workers running."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import select

from bot.fakes import slack_requests
from bot.slack.ids import ActionId, BlockId
from bot.store.models import TodoState
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM, USER

pytestmark = pytest.mark.usefixtures("workers")


async def wait_until(check, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def todo_page(fake_slack) -> dict | None:
    for (channel, _ts), message in fake_slack.messages.items():
        if channel == CHANNEL and message.get("thread_ts") and "Todos (" in message.get("text", ""):
            return message
    return None


async def posted_todos(hedy_webhooks, fake_slack) -> dict:
    await hedy_webhooks.session_event("sess_demo_12")
    return await wait_until(lambda: todo_page(fake_slack))


def buttons(message: dict) -> list[dict]:
    found = []
    for block in message["blocks"]:
        if block.get("accessory"):
            found.append(block["accessory"])
        found += block.get("elements", []) if block["type"] == "actions" else []
    return found


def value_of(message: dict, action_id: str, index: int = 0) -> str:
    return [b["value"] for b in buttons(message) if b.get("action_id") == action_id][index]


async def click(slack_user, message: dict, action_id: str, value: str | None = None, *, team_id: str = TEAM,
                user_id: str = USER, **extra):
    body, headers = slack_requests.block_action(
        SIGNING_SECRET, team_id=team_id, user_id=user_id, channel_id=CHANNEL, action_id=action_id, value=value,
        response_url=slack_user.fake.new_response_url(), message=message, **extra)
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    return response


def current(fake_slack, message: dict) -> dict:
    return fake_slack.messages[(CHANNEL, message["ts"])]


async def edited(fake_slack, message: dict, words: str) -> dict:
    return await wait_until(lambda: words in json.dumps(current(fake_slack, message), ensure_ascii=False)
                            and current(fake_slack, message))


async def test_every_todo_has_buttons_and_says_it_is_tracked_in_slack(slack_user, hedy_webhooks, fake_slack):
    page = await posted_todos(hedy_webhooks, fake_slack)
    assert len([b for b in buttons(page) if b["action_id"] == ActionId.TODO_DONE]) == 3
    assert len([b for b in buttons(page) if b["action_id"] == ActionId.TODO_ASSIGN]) == 3
    assert "Tracked in Slack" in json.dumps(page)
    for element in buttons(page):
        assert len(element.get("value", "")) < 2000


async def test_done_then_reopen(slack_user, hedy_webhooks, fake_slack):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click(slack_user, page, ActionId.TODO_DONE, value_of(page, ActionId.TODO_DONE))
    page = await edited(fake_slack, page, f"Done by <@{USER}>")
    assert "~Refresh the docs screenshots~" in json.dumps(page)
    assert [b["action_id"] for b in buttons(page)].count(ActionId.TODO_REOPEN) == 1
    await click(slack_user, page, ActionId.TODO_REOPEN, value_of(page, ActionId.TODO_REOPEN))
    page = await wait_until(lambda: "Done by" not in json.dumps(current(fake_slack, page))
                            and current(fake_slack, page))
    assert [b["action_id"] for b in buttons(page)].count(ActionId.TODO_DONE) == 3


async def test_assign_to_me_pick_someone_and_remove_the_owner(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click(slack_user, page, ActionId.TODO_ASSIGN_ME, value_of(page, ActionId.TODO_ASSIGN_ME, 1))
    page = await edited(fake_slack, page, f"Owner: <@{USER}>")
    actions_block = [b for b in page["blocks"] if b["type"] == "actions"][2]
    await click(slack_user, page, ActionId.TODO_ASSIGN, block_id=actions_block["block_id"],
                action_type="users_select", selected_user="U0DANA")
    page = await edited(fake_slack, page, "Owner: <@U0DANA>")
    async with db.session() as session:
        owners = {s.text: s.assignee for s in (await session.exec(select(TodoState))).all()}
    assert owners == {"Refresh the docs screenshots": None, "Kick off the SSO spike": USER,
                      "Post the launch note in #general": "U0DANA"}
    menu = [b for b in buttons(page) if b["action_id"] == ActionId.TODO_MORE][2]
    remove = next(o for o in menu["options"] if o["value"].startswith("unassign:"))
    await click(slack_user, page, ActionId.TODO_MORE, action_type="overflow", selected_option=remove)
    await wait_until(lambda: "U0DANA" not in json.dumps(current(fake_slack, page)))


async def test_snooze_shows_until_when(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    menu = [b for b in buttons(page) if b["action_id"] == ActionId.TODO_MORE][0]
    week = next(o for o in menu["options"] if o["value"].startswith("week:"))
    await click(slack_user, page, ActionId.TODO_MORE, action_type="overflow", selected_option=week)
    await edited(fake_slack, page, "snoozed until")
    async with db.session() as session:
        [snoozed] = [s for s in (await session.exec(select(TodoState))).all() if s.snoozed_until]
    assert snoozed.text == "Refresh the docs screenshots"


async def test_a_click_from_another_workspace_changes_nothing(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    updates_before = len(fake_slack.calls_to("chat.update"))
    await click(slack_user, page, ActionId.TODO_DONE, value_of(page, ActionId.TODO_DONE), team_id="T0EVIL",
                user_id="U0EVIL")
    note = await fake_slack.wait_for_call_async("chat.postEphemeral")
    assert "no longer tracked" in note[-1].args["text"]
    async with db.session() as session:
        assert {s.status for s in (await session.exec(select(TodoState))).all()} == {"open"}
    assert len(fake_slack.calls_to("chat.update")) == updates_before


async def test_a_stale_button_says_so(slack_user, hedy_webhooks, fake_slack):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click(slack_user, page, ActionId.TODO_DONE, "999999")
    note = await fake_slack.wait_for_call_async("chat.postEphemeral")
    assert "no longer tracked" in note[-1].args["text"] and "/meetings todos" in note[-1].args["text"]


async def test_a_re_export_keeps_what_people_did(slack_user, hedy_webhooks, fake_slack, fake_hedy):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click(slack_user, page, ActionId.TODO_DONE, value_of(page, ActionId.TODO_DONE))
    await edited(fake_slack, page, "Done by")
    fake_hedy.edit_session("sess_demo_12", recap="A new recap after the export.")
    await hedy_webhooks.session_event("sess_demo_12", event="session.exported")
    await wait_until(lambda: any("A new recap" in json.dumps(m) for m in fake_slack.messages.values()))
    await asyncio.sleep(0.3)
    assert "Done by" in json.dumps(current(fake_slack, page))
    assert sum(1 for m in fake_slack.messages.values() if "Todos (" in m.get("text", "")) == 1


async def test_todos_mine_and_someone_list_what_they_own_with_the_same_buttons(slack_user, hedy_webhooks,
                                                                              fake_slack):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click(slack_user, page, ActionId.TODO_ASSIGN_ME, value_of(page, ActionId.TODO_ASSIGN_ME, 1))
    await edited(fake_slack, page, f"Owner: <@{USER}>")
    mine = await slack_user.ask("todos mine")
    words = json.dumps(mine, ensure_ascii=False)
    assert "Open todos for you (1)" in words and "Kick off the SSO spike" in words
    assert "Weekly Product Sync" in words
    assert any(b.get("action_id") == ActionId.TODO_DONE for b in buttons(mine))
    theirs = await slack_user.ask(f"todos <@{USER}|someone>")
    assert "Kick off the SSO spike" in json.dumps(theirs)
    nobody = await slack_user.ask("todos <@U0NOBODY|bo>")
    assert "No open todos owned by <@U0NOBODY>" in nobody["text"]
