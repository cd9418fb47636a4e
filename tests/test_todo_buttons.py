"""Todo buttons in a digest's thread, a reminder DM and a `/meetings todos mine` list, clicked the
way Slack sends clicks (signed block_actions through the real ASGI app), against the Slack and
Hedy stand-ins with the workers running."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.fakes import slack_requests
from bot.jobs.followups import run_followups
from bot.services.todos import TodoRef
from bot.slack.blocks.digest import TodoView, todo_blocks
from bot.slack.ids import ActionId
from bot.store.models import SlackMessage, TodoState
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM, USER
from tests.helpers import wait_until

pytestmark = pytest.mark.usefixtures("workers")

ZONE = "Pacific/Auckland"  # the clicking user's Slack time zone: snoozes end at their midnight


@pytest.fixture(autouse=True)
def clicking_user(fake_slack):
    fake_slack.add_user(USER, tz=ZONE, tz_offset=46800)


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
            found.append({**block["accessory"], "block_id": block.get("block_id")})
        if block["type"] == "actions":
            found += [{**e, "block_id": block.get("block_id")} for e in block.get("elements", [])]
    return found


def element(message: dict, action_id: str, index: int = 0) -> dict:
    return [b for b in buttons(message) if b.get("action_id") == action_id][index]


def value_of(message: dict, action_id: str, index: int = 0) -> str:
    return element(message, action_id, index)["value"]


async def click(slack_user, message: dict | None, action_id: str, value: str | None = None, *, team_id: str = TEAM,
                user_id: str = USER, channel_id: str = CHANNEL, response_url: str | None = None, **extra):
    body, headers = slack_requests.block_action(
        SIGNING_SECRET, team_id=team_id, user_id=user_id, channel_id=channel_id, action_id=action_id, value=value,
        response_url=response_url or slack_user.fake.new_response_url(), message=message, **extra)
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    return response


async def click_element(slack_user, message: dict, action_id: str, index: int = 0, **extra):
    """Click a button the way Slack reports it: its value and the id of the block it sits in."""
    found = element(message, action_id, index)
    return await click(slack_user, message, action_id, found.get("value"), block_id=found["block_id"], **extra)


def current(fake_slack, message: dict, channel: str = CHANNEL) -> dict:
    return fake_slack.messages[(channel, message["ts"])]


async def edited(fake_slack, message: dict, words: str, channel: str = CHANNEL) -> dict:
    return await wait_until(lambda: words in json.dumps(current(fake_slack, message, channel), ensure_ascii=False)
                            and current(fake_slack, message, channel))


async def states(db) -> dict[str, TodoState]:
    async with db.session() as session:
        return {s.text: s for s in (await session.exec(select(TodoState))).all()}


async def refusal(fake_slack, response_url: str) -> str:
    [answer] = await fake_slack.wait_for_response_async(response_url)
    return answer["text"]


# ----------------------------------------------------------------------------- the buttons


async def test_every_todo_has_buttons_and_says_it_is_tracked_in_slack(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    assert len([b for b in buttons(page) if b["action_id"] == ActionId.TODO_DONE]) == 3
    assert len([b for b in buttons(page) if b["action_id"] == ActionId.TODO_ASSIGN]) == 3
    assert len([b for b in buttons(page) if b["action_id"] == ActionId.TODO_ASSIGN_ME]) == 3
    assert "Tracked in Slack" in json.dumps(page)
    for found in buttons(page):
        assert len(found.get("value", "")) < 2000
    # Values are typed references to the bot's own todo rows, which remember their thread message.
    refs = [TodoRef.parse(value_of(page, ActionId.TODO_DONE, i)) for i in range(3)]
    assert all(refs)
    async with db.session() as session:
        page_row = (await session.exec(select(SlackMessage).where(SlackMessage.kind == "todos:1"))).one()
    assert {s.message_id for s in (await states(db)).values()} == {page_row.id}
    assert {r.state_id for r in refs} == {s.id for s in (await states(db)).values()}


async def test_done_then_reopen(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click_element(slack_user, page, ActionId.TODO_DONE)
    page = await edited(fake_slack, page, f"Done by <@{USER}>, <!date^")
    assert "~Refresh the docs screenshots~" in json.dumps(page)
    assert [b["action_id"] for b in buttons(page)].count(ActionId.TODO_REOPEN) == 1
    done = (await states(db))["Refresh the docs screenshots"]
    assert done.status == "done" and done.done_by == USER and done.done_at is not None
    await click_element(slack_user, page, ActionId.TODO_REOPEN)
    page = await wait_until(lambda: "Done by" not in json.dumps(current(fake_slack, page))
                            and current(fake_slack, page))
    assert [b["action_id"] for b in buttons(page)].count(ActionId.TODO_DONE) == 3
    assert (await states(db))["Refresh the docs screenshots"].done_by is None


async def test_assign_to_me_pick_someone_and_remove_the_owner(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click_element(slack_user, page, ActionId.TODO_ASSIGN_ME, 1)
    page = await edited(fake_slack, page, f"Owner: <@{USER}>")
    picker = element(page, ActionId.TODO_ASSIGN, 2)
    await click(slack_user, page, ActionId.TODO_ASSIGN, block_id=picker["block_id"], action_type="users_select",
                selected_user="U0DANA")
    page = await edited(fake_slack, page, "Owner: <@U0DANA>")
    owners = {text: s.assignee for text, s in (await states(db)).items()}
    assert owners == {"Refresh the docs screenshots": None, "Kick off the SSO spike": USER,
                      "Post the launch note in #general": "U0DANA"}
    assert element(page, ActionId.TODO_ASSIGN, 2)["initial_user"] == "U0DANA"
    menu = element(page, ActionId.TODO_MORE, 2)
    assert len(menu["options"]) <= 5
    remove = next(o for o in menu["options"] if o["value"].startswith("unassign:"))
    await click(slack_user, page, ActionId.TODO_MORE, block_id=menu["block_id"], action_type="overflow",
                selected_option=remove)
    await wait_until(lambda: "U0DANA" not in json.dumps(current(fake_slack, page)))
    # Clearing the picker removes the owner too.
    picker = element(current(fake_slack, page), ActionId.TODO_ASSIGN, 1)
    await click(slack_user, page, ActionId.TODO_ASSIGN, block_id=picker["block_id"], action_type="users_select",
                selected_user=None)
    await wait_until(lambda: "Owner:" not in json.dumps(current(fake_slack, page)))


def next_local_midnight(days_ahead_of: callable) -> datetime:
    now = datetime.now(ZoneInfo(ZONE))
    return datetime.combine(days_ahead_of(now.date()), time(0), tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


@pytest.mark.parametrize("choice, until", [
    ("tomorrow:", lambda today: today + timedelta(days=1)),
    ("week:", lambda today: today + timedelta(days=7 - today.weekday())),  # next Monday
])
async def test_snooze_lasts_until_the_clicking_users_midnight(slack_user, hedy_webhooks, fake_slack, db,
                                                              choice, until):
    page = await posted_todos(hedy_webhooks, fake_slack)
    menu = element(page, ActionId.TODO_MORE, 0)
    option = next(o for o in menu["options"] if o["value"].startswith(choice))
    await click(slack_user, page, ActionId.TODO_MORE, block_id=menu["block_id"], action_type="overflow",
                selected_option=option)
    await edited(fake_slack, page, "snoozed until <!date^")
    [snoozed] = [s for s in (await states(db)).values() if s.snoozed_until]
    assert snoozed.text == "Refresh the docs screenshots"
    assert snoozed.snoozed_until == next_local_midnight(until)


# ----------------------------------------------------------------------------- refusals


async def test_a_click_from_another_workspace_changes_nothing(slack_user, hedy_webhooks, fake_slack, db, workers):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await workers.idle()
    updates_before = len(fake_slack.calls_to("chat.update"))
    url = fake_slack.new_response_url()
    # A member of another workspace replays this workspace's button value (or crafts one).
    await click(slack_user, page, ActionId.TODO_DONE, value_of(page, ActionId.TODO_DONE), team_id="T0EVIL",
                user_id="U0EVIL", response_url=url)
    assert "no longer tracked here" in await refusal(fake_slack, url)
    menu = element(page, ActionId.TODO_MORE, 0)
    url = fake_slack.new_response_url()
    await click(slack_user, page, ActionId.TODO_MORE, block_id=menu["block_id"], action_type="overflow",
                selected_option=menu["options"][1], team_id="T0EVIL", user_id="U0EVIL", response_url=url)
    assert "Nothing was changed" in await refusal(fake_slack, url)
    assert {(s.status, s.assignee, s.snoozed_until) for s in (await states(db)).values()} == {("open", None, None)}
    assert len(fake_slack.calls_to("chat.update")) == updates_before


async def test_an_unsigned_or_badly_signed_click_is_refused(slack_user, hedy_webhooks, fake_slack, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    body, headers = slack_requests.block_action(
        "not-the-signing-secret", team_id=TEAM, user_id=USER, channel_id=CHANNEL, action_id=ActionId.TODO_DONE,
        value=value_of(page, ActionId.TODO_DONE), response_url=fake_slack.new_response_url(), message=page)
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401  # refused before any listener ran: nothing is left to happen
    assert {s.status for s in (await states(db)).values()} == {"open"}


@pytest.mark.parametrize("value", ["999999", "t1.999999.1.00000000", "", "t1.1.1.zzzzzzzz@U0X"])
async def test_a_button_value_this_bot_never_made_says_so(slack_user, hedy_webhooks, fake_slack, db, value):
    page = await posted_todos(hedy_webhooks, fake_slack)
    url = fake_slack.new_response_url()
    await click(slack_user, page, ActionId.TODO_DONE, value, response_url=url)
    text = await refusal(fake_slack, url)
    assert "no longer tracked here" in text and "/meetings todos mine" in text
    assert {s.status for s in (await states(db)).values()} == {"open"}


async def test_a_button_naming_a_reused_row_number_changes_nothing(slack_user, hedy_webhooks, fake_slack, db):
    """The row number alone is not enough: the check part ties it to the meeting and todo it was made for."""
    page = await posted_todos(hedy_webhooks, fake_slack)
    ref = TodoRef.parse(value_of(page, ActionId.TODO_DONE))
    forged = TodoRef(ref.state_id, ref.connection_id, "0badc0de" if ref.check != "0badc0de" else "0badc0df")
    url = fake_slack.new_response_url()
    await click(slack_user, page, ActionId.TODO_DONE, forged.encode(), response_url=url)
    assert "no longer tracked here" in await refusal(fake_slack, url)
    assert {s.status for s in (await states(db)).values()} == {"open"}


async def test_buttons_after_the_connection_was_removed_say_so(slack_user, hedy_webhooks, fake_slack, db, deps):
    from bot.services.setup import disconnect

    page = await posted_todos(hedy_webhooks, fake_slack)
    await disconnect(deps, team_id=TEAM, user_id=USER)
    url = fake_slack.new_response_url()
    await click_element(slack_user, page, ActionId.TODO_DONE, response_url=url)
    assert "connection was removed" in await refusal(fake_slack, url)
    assert await states(db) == {}


async def test_a_todo_removed_from_its_meeting_leaves_the_thread_and_its_buttons_say_so(
        slack_user, hedy_webhooks, fake_slack, fake_hedy, db):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click_element(slack_user, page, ActionId.TODO_ASSIGN_ME, 2)
    old = copy.deepcopy(await edited(fake_slack, page, f"Owner: <@{USER}>"))  # the fake edits in place
    listed = fake_hedy._sessions["sess_demo_12"].detail["user_todos"]
    fake_hedy.edit_session("sess_demo_12", user_todos=[t for t in listed if not t["text"].startswith("Refresh")])
    await hedy_webhooks.session_event("sess_demo_12", event="session.exported")
    page = await wait_until(lambda: "Refresh the docs" not in json.dumps(current(fake_slack, page))
                            and current(fake_slack, page))
    assert f"Owner: <@{USER}>" in json.dumps(page)  # what people did to the others is kept
    url = fake_slack.new_response_url()
    await click_element(slack_user, old, ActionId.TODO_DONE, 0, response_url=url)  # the removed one
    assert "removed from its meeting" in await refusal(fake_slack, url)
    assert (await states(db))["Refresh the docs screenshots"].status == "removed"
    # A click on a todo still listed does not bring the removed one back into the thread.
    await click_element(slack_user, page, ActionId.TODO_DONE, 0)
    page = await edited(fake_slack, page, "Done by")
    assert "Refresh the docs" not in json.dumps(page)


def test_values_and_block_ids_stay_within_slacks_limits_for_the_largest_ids():
    state = TodoState(id=10**12 - 1, connection_id=10**12 - 1, team_id=TEAM, meeting_id="m" * 255,
                      todo_key="k" * 255, text="x" * 5000, due="d" * 255, assignee="U" + "9" * 20)
    from bot.delivery.digests import todo_view

    view = todo_view(state)
    blocks = [b.to_dict() for b in todo_blocks(view, 99, list_owner="W" + "9" * 20)]
    section, actions = blocks
    assert len(section["text"]["text"]) <= 3000
    assert len(section["block_id"]) <= 255 and len(actions["block_id"]) <= 255
    assert len(section["accessory"]["value"]) <= 2000
    overflow = actions["elements"][2]
    assert len(overflow["options"]) <= 5 and all(len(o["value"]) <= 150 for o in overflow["options"])
    assert TodoRef.parse(view.ref).names(state)
    assert todo_blocks(TodoView(text="no state"), 0)[0].to_dict().get("accessory") is None


# ----------------------------------------------------------------------------- other surfaces


async def test_a_re_export_keeps_what_people_did(slack_user, hedy_webhooks, fake_slack, fake_hedy, workers):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click_element(slack_user, page, ActionId.TODO_DONE)
    await edited(fake_slack, page, "Done by")
    fake_hedy.edit_session("sess_demo_12", recap="A new recap after the export.")
    await hedy_webhooks.session_event("sess_demo_12", event="session.exported")
    await wait_until(lambda: any("A new recap" in json.dumps(m) for m in fake_slack.messages.values()))
    await workers.idle()
    assert "Done by" in json.dumps(current(fake_slack, page))
    assert sum(1 for m in fake_slack.messages.values() if "Todos (" in m.get("text", "")) == 1


async def test_todos_mine_and_someone_list_what_they_own_with_the_same_buttons(slack_user, hedy_webhooks,
                                                                              fake_slack):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click_element(slack_user, page, ActionId.TODO_ASSIGN_ME, 1)
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


async def test_a_click_in_the_ephemeral_list_renders_the_list_again_and_edits_the_thread(
        slack_user, hedy_webhooks, fake_slack):
    page = await posted_todos(hedy_webhooks, fake_slack)
    for index in (0, 1):
        await click_element(slack_user, page, ActionId.TODO_ASSIGN_ME, index)
    page = await wait_until(lambda: json.dumps(current(fake_slack, page)).count(f"Owner: <@{USER}>") == 2
                            and current(fake_slack, page))
    _, url = await slack_user.command("todos mine")
    [mine] = await slack_user.replies(url)
    assert "Open todos for you (2)" in mine["text"]
    done = element(mine, ActionId.TODO_DONE, 0)
    assert done["block_id"].endswith(f"@{USER}")  # Slack sends no message for ephemeral clicks
    await click(slack_user, None, ActionId.TODO_DONE, done["value"], block_id=done["block_id"], ephemeral=True,
                response_url=url)
    again = (await slack_user.replies(url, count=2))[-1]
    assert again["replace_original"] is True
    assert "Open todos for you (1)" in again["text"]
    clicked = next(b["text"]["text"] for b in mine["blocks"] if b.get("block_id") == done["block_id"])
    clicked = next(t for t in ("Refresh the docs screenshots", "Kick off the SSO spike") if t in clicked)
    assert f"Marked done. ({clicked})" in json.dumps(again)
    await edited(fake_slack, page, f"Done by <@{USER}>")


async def test_a_click_in_a_reminder_dm_edits_that_dm_and_the_thread(slack_user, hedy_webhooks, fake_slack, deps,
                                                                     workers):
    page = await posted_todos(hedy_webhooks, fake_slack)
    await click_element(slack_user, page, ActionId.TODO_ASSIGN_ME, 2)  # undated: reminded after a week
    await edited(fake_slack, page, f"Owner: <@{USER}>")
    local = datetime.now(ZoneInfo(ZONE)) + timedelta(days=8)
    nine = datetime.combine(local.date(), time(9), tzinfo=ZoneInfo(ZONE))
    assert await run_followups(deps, nine) == (1, 0)
    dm_channel = "D" + USER[1:]  # where Slack puts a message posted to a user id
    dm = await wait_until(lambda: next((m for (c, _), m in fake_slack.messages.items() if c == dm_channel), None))
    assert "Post the launch note" in json.dumps(dm)
    await workers.idle()  # the sender has stored where the DM went (as a person reads it before clicking)
    await click_element(slack_user, dm, ActionId.TODO_DONE, channel_id=dm_channel)
    dm = await edited(fake_slack, dm, f"Done by <@{USER}>", channel=dm_channel)
    assert element(dm, ActionId.TODO_REOPEN)  # the same todo, now with Reopen
    await edited(fake_slack, page, f"Done by <@{USER}>")
    updates = [c for c in fake_slack.calls_to("chat.update", ok=True) if c.args.get("channel") == dm_channel]
    assert updates  # edited in the DM (D…): chat.update refuses the user id
