"""Enterprise Grid and Slack Connect payloads, shaped as Slack sends them: the acting user's own
team (`user.team_id`) differs from the workspace the command, message or modal belongs to. The
bot must act on the latter, and refuse a guest from another organization in one sentence."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import select

from bot.fakes import slack_requests
from bot.slack.context import FOREIGN_USER
from bot.slack.ids import ActionId, CallbackId
from bot.store.models import Connection, TodoState
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM, USER
from tests.test_setup_modal import values
from tests.test_todo_buttons import element, posted_todos, states, value_of

GRID = "E0GRID"  # the Enterprise Grid org TEAM belongs to
HOME = "T0HOME"  # a Grid member's home workspace: another workspace of the same org
GUEST_COMPANY = "T0GUEST"  # a Slack Connect guest's own company's workspace
OTHER_ORG = "E0OTHER"  # a guest from another Grid org
GRID_ADMIN = "W0GRIDADMIN"
GUEST = "U0GUEST"


def text_of(message: dict) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


async def click(slack_user, action_id: str, value: str | None, *, user_id: str = USER, user_team_id: str | None,
                enterprise_id: str | None = GRID, **extra) -> str:
    url = slack_user.fake.new_response_url()
    body, headers = slack_requests.block_action(
        SIGNING_SECRET, team_id=TEAM, user_id=user_id, channel_id=CHANNEL, action_id=action_id, value=value,
        response_url=url, user_team_id=user_team_id, enterprise_id=enterprise_id, **extra)
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return url


async def submit(slack_user, *, user_id: str, user_team_id: str | None, enterprise_id: str | None = GRID,
                 is_enterprise_install: bool = False):
    body, headers = slack_requests.view_submission(
        SIGNING_SECRET, team_id=TEAM, user_id=user_id, callback_id=CallbackId.SETUP_MODAL, values=values(),
        user_team_id=user_team_id, enterprise_id=enterprise_id, is_enterprise_install=is_enterprise_install)
    return await slack_user.client.post("/slack/events", content=body, headers=headers)


async def done_todos(db, timeout: float = 15.0) -> list[TodoState]:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (done := [s for s in (await states(db)).values() if s.status == "done"]):
        assert asyncio.get_running_loop().time() < deadline, "no todo was marked done"
        await asyncio.sleep(0.05)
    return done


async def saved_teams(db) -> list[str]:
    async with db.session() as session:
        return [c.team_id for c in (await session.exec(select(Connection))).all()]


# ----------------------------------------------------------------------------- slash commands


@pytest.mark.usefixtures("connected")
async def test_a_command_in_a_grid_workspace_answers_for_that_workspace(slack_user, fake_hedy):
    url = slack_user.fake.new_response_url()
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text="list 3", team_id=TEAM, user_id=USER,
                                                 channel_id=CHANNEL, response_url=url, enterprise_id=GRID)
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    reply = (await slack_user.replies(url))[-1]
    assert "Recent meetings in Hedy" in text_of(reply)


# ----------------------------------------------------------------------------- Show / More


@pytest.mark.parametrize("user_team", [HOME, GRID], ids=["home-workspace", "org-id"])
@pytest.mark.usefixtures("connected")
async def test_show_and_more_from_a_grid_member_of_another_home_workspace_use_this_workspace(
        slack_user, fake_hedy, user_team):
    meeting_id = fake_hedy.newest_session_ids(1)[0]
    url = await click(slack_user, ActionId.SHOW_MEETING, meeting_id, user_team_id=user_team)
    detail = (await slack_user.replies(url))[-1]
    assert "isn't connected" not in text_of(detail)
    assert fake_hedy.session(meeting_id)["title"][:40] in text_of(detail)

    listing = await slack_user.ask("list 2")
    [more] = [e["value"] for b in listing["blocks"] if b["type"] == "actions" for e in b["elements"]
              if e.get("action_id") == ActionId.MORE_MEETINGS]
    url = await click(slack_user, ActionId.MORE_MEETINGS, more, user_team_id=user_team)
    assert "More meetings from Hedy" in text_of((await slack_user.replies(url))[-1])


# ----------------------------------------------------------------------------- todo buttons


@pytest.mark.usefixtures("workers")
async def test_a_grid_members_todo_click_acts_on_the_workspace_of_the_message(slack_user, hedy_webhooks,
                                                                              fake_slack, db):
    fake_slack.add_user(USER, team_id=HOME, enterprise_id=GRID, teams=[HOME, TEAM])
    page = await posted_todos(hedy_webhooks, fake_slack)
    url = await click(slack_user, ActionId.TODO_DONE, value_of(page, ActionId.TODO_DONE), user_team_id=GRID,
                      message=page)
    done = await done_todos(db)
    assert [s.done_by for s in done] == [USER]
    assert fake_slack.response_posts(url) == []  # no refusal, no "removed from its meeting"


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize(("user_team", "enterprise"), [(GUEST_COMPANY, None), (OTHER_ORG, GRID)],
                         ids=["slack-connect-guest", "guest-from-another-grid-org"])
async def test_a_guest_from_another_organization_is_told_so_and_nothing_changes(
        slack_user, hedy_webhooks, fake_slack, db, user_team, enterprise):
    page = await posted_todos(hedy_webhooks, fake_slack)
    url = await click(slack_user, ActionId.TODO_DONE, value_of(page, ActionId.TODO_DONE), user_id=GUEST,
                      user_team_id=user_team, enterprise_id=enterprise, message=page)
    [answer] = await fake_slack.wait_for_response_async(url)
    assert answer["text"] == FOREIGN_USER
    menu = element(page, ActionId.TODO_MORE, 0)
    url = await click(slack_user, ActionId.TODO_MORE, None, user_id=GUEST, user_team_id=user_team,
                      enterprise_id=enterprise, message=page, block_id=menu["block_id"], action_type="overflow",
                      selected_option=menu["options"][0])
    [answer] = await fake_slack.wait_for_response_async(url)
    assert answer["text"] == FOREIGN_USER
    assert {(s.status, s.assignee, s.snoozed_until) for s in (await states(db)).values()} == {("open", None, None)}


# ----------------------------------------------------------------------------- the setup modal


@pytest.mark.parametrize("org_wide", [False, True], ids=["workspace-install", "org-wide-install"])
async def test_a_grid_admin_from_another_home_workspace_saves_the_connection_for_this_workspace(
        slack_user, fake_slack, db, org_wide):
    fake_slack.add_user(GRID_ADMIN, is_admin=True, team_id=HOME, enterprise_id=GRID, teams=[HOME, TEAM])
    response = await submit(slack_user, user_id=GRID_ADMIN, user_team_id=HOME, is_enterprise_install=org_wide)
    assert response.status_code == 200 and "errors" not in response.text, response.text
    assert await saved_teams(db) == [TEAM]


async def test_a_slack_connect_guest_who_is_an_admin_at_home_cannot_save_a_setup(slack_user, fake_slack, db):
    fake_slack.add_user(GUEST, is_admin=True, team_id=GUEST_COMPANY)
    response = await submit(slack_user, user_id=GUEST, user_team_id=GUEST_COMPANY, enterprise_id=None)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "update" and FOREIGN_USER in json.dumps(answer["view"])
    assert await saved_teams(db) == []


async def test_an_admin_of_another_grid_org_is_no_admin_here(slack_user, fake_slack, db):
    """users.info shows a guest with their own org's flags: they say nothing about this workspace."""
    fake_slack.add_user(GUEST, is_admin=True, team_id=GUEST_COMPANY, enterprise_id=OTHER_ORG)
    response = await submit(slack_user, user_id=GUEST, user_team_id=GUEST_COMPANY)  # a Grid payload
    assert "Only workspace admins and owners" in response.text
    assert await saved_teams(db) == []


# ----------------------------------------------------------------------------- events


@pytest.mark.parametrize("org_wide", [False, True], ids=["workspace-install", "org-wide-install"])
@pytest.mark.usefixtures("connected")
async def test_the_app_home_in_a_grid_workspace_shows_that_workspaces_connection(slack_user, fake_slack, org_wide):
    """An org-wide install's events name no team in their authorizations: the event's team_id does."""
    fake_slack.add_user(USER, team_id=HOME, enterprise_id=GRID, teams=[HOME, TEAM])
    body, headers = slack_requests.event_callback(
        SIGNING_SECRET, team_id=TEAM, enterprise_id=GRID, is_enterprise_install=org_wide,
        event={"type": "app_home_opened", "user": USER, "tab": "home", "channel": "D0HOME", "event_ts": "1.2"})
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    [published] = await fake_slack.wait_for_call_async("views.publish", timeout=15)
    assert published.ok and "Hedy" in json.dumps(published.args["view"])
    assert "isn't connected" not in json.dumps(published.args["view"])
