"""Who may open `/meetings setup` and disconnect: Slack admins and owners, and the person who
installed the app the first time. Installing it again (anyone a workspace lets install apps can)
never makes anyone an admin of the bot. Through the real OAuth install and signed commands."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from bot.fakes import slack_requests
from bot.store.models import Workspace
from tests.conftest import SIGNING_SECRET
from tests.test_oauth_install import (  # noqa: F401
    approve,
    browser,
    oauth_deps,
    oauth_settings,
    start_install,
)

TEAM = "T0001"
FIRST = "U0INSTALL"  # installs first; not a Slack admin
LATER = "U0LATER"  # a member who re-installs later
ADMIN = "U0ADMIN"


async def install_as(browser, user: str):  # noqa: F811 (the fixture, by name)
    code, state = approve(await start_install(browser) + f"&user={user}")
    response = await browser.get(f"/slack/oauth_redirect?code={code}&state={state}")
    assert response.status_code == 200 and "installed" in response.text
    return response


async def command(browser, fake_slack, text: str, user: str) -> str:  # noqa: F811
    url = fake_slack.new_response_url()
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text=text, team_id=TEAM, user_id=user,
                                                 channel_id="C0GENERAL", response_url=url,
                                                 trigger_id=fake_slack.new_trigger_id())
    assert (await browser.post("/slack/events", content=body, headers=headers)).status_code == 200
    return url


async def answer(fake_slack, url: str) -> str:
    return (await asyncio.to_thread(fake_slack.wait_for_response, url, timeout=15))[-1]["text"]


async def test_a_re_install_by_a_member_grants_nothing_and_the_first_installer_keeps_the_right(
        browser, fake_slack, db):  # noqa: F811
    for user in (FIRST, LATER):
        fake_slack.add_user(user)
    fake_slack.add_user(ADMIN, is_admin=True)
    await install_as(browser, FIRST)
    await install_as(browser, LATER)
    async with db.session() as session:
        assert (await session.exec(select(Workspace.installed_by).where(Workspace.team_id == TEAM))).one() == FIRST

    for text in ("setup", "disconnect"):
        assert "Only workspace admins and owners" in await answer(fake_slack, await command(browser, fake_slack,
                                                                                              text, LATER))
    assert fake_slack.calls_to("views.open") == []

    await command(browser, fake_slack, "setup", FIRST)
    await command(browser, fake_slack, "setup", ADMIN)
    opened = await fake_slack.wait_for_call_async("views.open", count=2, timeout=15)
    assert [c.ok for c in opened] == [True, True]
