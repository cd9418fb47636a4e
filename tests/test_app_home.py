"""The App Home tab and the workspace lifecycle events, through the real ASGI app with signed events."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.fakes import slack_requests
from bot.slack.ids import ActionId, CallbackId
from bot.store.models import Connection
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM

ADMIN = "U0ADMIN"
MEMBER = "U0MEMBER"


@pytest.fixture(autouse=True)
def people(fake_slack):
    fake_slack.add_user(ADMIN, is_admin=True)
    fake_slack.add_user(MEMBER)


async def send_event(slack_user, event: dict):
    body, headers = slack_requests.event_callback(SIGNING_SECRET, team_id=TEAM, event=event)
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    return response


async def open_home(slack_user, fake_slack, user: str) -> dict:
    before = len(fake_slack.calls_to("views.publish"))
    await send_event(slack_user, {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                                  "event_ts": "1700000000.000100"})
    calls = await fake_slack.wait_for_call_async("views.publish", count=before + 1)
    call = calls[-1]
    assert call.ok, call.error
    assert call.args["user_id"] == user
    return call.args["view"]


def has_setup_button(view: dict) -> bool:
    return any(e.get("action_id") == ActionId.OPEN_SETUP for b in view["blocks"] if b["type"] == "actions"
               for e in b["elements"])


async def test_an_admin_sees_the_status_and_a_set_up_button(slack_user, fake_slack, connected):
    view = await open_home(slack_user, fake_slack, ADMIN)
    words = json.dumps(view, ensure_ascii=False)
    assert view["type"] == "home" and "Hedy" in words and f"<#{CHANNEL}>" in words
    assert has_setup_button(view)


async def test_a_member_sees_the_status_without_the_button(slack_user, fake_slack, connected):
    view = await open_home(slack_user, fake_slack, MEMBER)
    assert not has_setup_button(view)
    assert "Hedy" in json.dumps(view)


async def test_an_unconnected_workspace_says_who_can_connect_it(slack_user, fake_slack):
    member_view = json.dumps(await open_home(slack_user, fake_slack, MEMBER))
    assert "Ask a workspace admin to run `/meetings setup`" in member_view


async def test_posted_digests_are_listed_with_links(slack_user, fake_slack, hedy_webhooks, workers):
    await hedy_webhooks.session_event("sess_demo_12")
    [post] = await fake_slack.wait_for_call_async("chat.postMessage",
                                                  predicate=lambda c: not c.args.get("thread_ts"))
    ts = post.response["ts"]
    await workers.idle()  # the sender records the ts just after Slack answers
    view = await open_home(slack_user, fake_slack, MEMBER)
    words = json.dumps(view, ensure_ascii=False)
    assert "Weekly Product Sync" in words
    assert f"https://slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}" in words


async def test_the_set_up_button_opens_the_setup_modal_for_an_admin(slack_user, fake_slack, connected):
    slack_user.user_id = ADMIN
    response, _ = await slack_user.click(ActionId.OPEN_SETUP, "setup", trigger_id=fake_slack.new_trigger_id())
    assert response.status_code == 200
    [call] = await fake_slack.wait_for_call_async("views.open")
    assert call.ok and call.args["view"]["callback_id"] == CallbackId.SETUP_MODAL


async def test_uninstalling_pauses_the_connection_and_its_webhooks_stop(slack_user, hedy_webhooks, db):
    await send_event(slack_user, {"type": "app_uninstalled", "event_ts": "1700000000.000200"})
    async with db.session() as session:
        [row] = (await session.exec(select(Connection).where(Connection.team_id == TEAM))).all()
    assert row.status == "paused"
    assert (await hedy_webhooks.session_event("sess_demo_12")).status_code == 404


async def test_revoked_bot_tokens_pause_the_connection(slack_user, db, connected):
    await send_event(slack_user, {"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]},
                                  "event_ts": "1700000000.000300"})
    async with db.session() as session:
        [row] = (await session.exec(select(Connection).where(Connection.team_id == TEAM))).all()
    assert row.status == "paused"


def manifest_bot_events() -> list[str]:
    from importlib import resources

    lines = resources.files("bot").joinpath("manifest.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "bot_events:")
    events = []
    for line in lines[start + 1:]:
        if not line.strip().startswith("- "):
            break
        events.append(line.strip()[2:])
    return events


async def test_every_event_the_manifest_subscribes_to_has_a_listener(slack_user, fake_slack, connected):
    events = manifest_bot_events()
    assert "app_home_opened" in events
    for name in events:
        extra = {"tokens": {"oauth": ["U0ADMIN"]}} if name == "tokens_revoked" else {}
        response = await send_event(slack_user, {"type": name, "user": MEMBER, "tab": "messages",
                                                 "event_ts": "1700000000.000400", **extra})
        assert response.status_code == 200, (name, response.text)


def test_an_install_asks_for_exactly_the_scopes_the_manifest_declares():
    from importlib import resources

    from bot.slack.app import BOT_SCOPES

    lines = resources.files("bot").joinpath("manifest.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "bot:")
    declared = []
    for line in lines[start + 1:]:
        if not line.strip().startswith("- "):
            break
        declared.append(line.strip()[2:])
    assert sorted(declared) == sorted(BOT_SCOPES)


async def test_the_home_tab_lists_the_viewers_open_todos(slack_user, fake_slack, db, connected):
    from bot.store.models import TodoState

    async with db.session() as session:
        session.add(TodoState(connection_id=connected.id, team_id=TEAM, meeting_id="m1", meeting_title="Planning",
                              todo_key="a", text="Write the brief", due="Friday", assignee=MEMBER))
        session.add(TodoState(connection_id=connected.id, team_id=TEAM, meeting_id="m1", meeting_title="Planning",
                              todo_key="b", text="Someone else's", assignee=ADMIN))
    view = json.dumps(await open_home(slack_user, fake_slack, MEMBER))
    assert "Your open todos (1)" in view and "Write the brief" in view and "Someone else" not in view
