"""Multi-workspace mode: the install page, Slack's redirect back, the stored installation, and
each workspace working with its own token. Through the real ASGI app; the authorize step and
oauth.v2.access are the Slack stand-in's, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import select

from bot.deps import Deps
from bot.fakes import slack_requests
from bot.providers.registry import ProviderFactory
from bot.services.connections import connect
from bot.settings import Settings
from bot.slack.app import BOT_SCOPES
from bot.store.crypto import SecretBox
from bot.store.models import Connection, OAuthState, SlackInstallation, Workspace, utcnow
from bot.web import create_app
from tests.conftest import HEDY_KEY, SIGNING_SECRET

PUBLIC_URL = "https://bot.example.test"


@pytest.fixture
def oauth_settings(tmp_path, database_url, fake_slack, fake_hedy) -> Settings:
    return Settings(_env_file=None, database_url=database_url, data_dir=tmp_path,
                    slack_signing_secret=SIGNING_SECRET, slack_bot_token=None,
                    slack_client_id=fake_slack.client_id, slack_client_secret=fake_slack.client_secret,
                    slack_api_url=fake_slack.api_url, public_url=PUBLIC_URL,
                    encryption_key=Fernet.generate_key().decode(), hedy_api_url=fake_hedy.url)


@pytest.fixture
async def oauth_deps(oauth_settings, db):
    deps = Deps(settings=oauth_settings, db=db, box=SecretBox([oauth_settings.encryption_key.get_secret_value()]),
                factory=ProviderFactory(oauth_settings))
    yield deps
    await deps.aclose()


@pytest.fixture
async def browser(oauth_settings, oauth_deps):
    """An HTTP client with a cookie jar, like a browser, on the real ASGI app."""
    app = create_app(oauth_settings, deps=oauth_deps, run_migrations=False, start_workers=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
        yield client


async def start_install(browser) -> str:
    """Open the install page; return the authorize URL behind its Add to Slack button."""
    page = await browser.get("/slack/install")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    [url] = re.findall(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text)
    return url.replace("&amp;", "&")


def approve(authorize_url: str, team: str | None = None) -> tuple[str, str]:
    """What Slack does when the person approves: redirect back with a code and the state."""
    if team:
        authorize_url += f"&team={team}"
    response = httpx.get(authorize_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["location"])
    query = parse_qs(back.query)
    return query["code"][0], query["state"][0]


async def install(browser, team: str | None = None) -> httpx.Response:
    code, state = approve(await start_install(browser), team)
    return await browser.get(f"/slack/oauth_redirect?code={code}&state={state}")


async def installation(db, team_id: str) -> SlackInstallation | None:
    async with db.session() as session:
        return (await session.exec(select(SlackInstallation).where(SlackInstallation.team_id == team_id))).first()


async def test_the_install_page_asks_slack_for_the_manifest_scopes(browser, fake_slack):
    url = await start_install(browser)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(fake_slack.url + "/oauth/v2/authorize")
    assert query["client_id"] == [fake_slack.client_id]
    assert set(query["scope"][0].split(",")) == set(BOT_SCOPES)
    assert query["redirect_uri"] == [f"{PUBLIC_URL}/slack/oauth_redirect"]
    assert query["state"][0]


async def test_an_install_is_stored_with_its_token_encrypted(browser, fake_slack, db):
    done = await install(browser)
    assert done.status_code == 200 and "Meetings bot is installed" in done.text
    assert "/meetings setup" in done.text
    row = await installation(db, fake_slack.team_id)
    assert row is not None and row.installer_user_id == "U0INSTALL" and row.bot_user_id == "U0BOT"
    [exchange] = [c for c in fake_slack.calls_to("oauth.v2.access") if c.ok]
    token = exchange.response["access_token"]
    async with db.engine.connect() as conn:
        raw = json.dumps([list(r) for r in (await conn.execute(text("SELECT * FROM slack_installations"))).all()],
                         default=str)
    assert token not in raw
    async with db.session() as session:
        workspace = await session.get(Workspace, fake_slack.team_id)
    assert workspace.installed_by == "U0INSTALL"


async def test_a_state_is_good_once(browser, db):
    code, state = approve(await start_install(browser))
    assert (await browser.get(f"/slack/oauth_redirect?code={code}&state={state}")).status_code == 200
    # The same browser replays the redirect (back button, a double click): its cookie still matches.
    code2, _ = approve(await start_install(browser))
    browser.cookies.set("slack-app-oauth-state", state)
    again = await browser.get(f"/slack/oauth_redirect?code={code2}&state={state}")
    assert again.status_code == 401 and "already used" in again.text and "Try again" in again.text


async def test_an_expired_state_is_refused(browser, db, fake_slack):
    url = await start_install(browser)
    code, state = approve(url)
    async with db.session() as session:
        row = await session.get(OAuthState, state)
        row.expires_at = utcnow() - timedelta(seconds=1)  # eleven minutes later, as far as the state knows
        session.add(row)
    response = await browser.get(f"/slack/oauth_redirect?code={code}&state={state}")
    assert response.status_code == 401 and "expired" in response.text
    assert await installation(db, fake_slack.team_id) is None


async def test_a_cancelled_install_says_so(browser, db, fake_slack):
    url = await start_install(browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    response = await browser.get(f"/slack/oauth_redirect?error=access_denied&state={state}")
    assert "cancelled" in response.text and "Traceback" not in response.text
    assert await installation(db, fake_slack.team_id) is None


@pytest.mark.slack_refuses  # oauth.v2.access: invalid_code
async def test_a_bad_code_gets_a_clear_page_and_stores_nothing(browser, db, fake_slack):
    _, state = approve(await start_install(browser))
    response = await browser.get(f"/slack/oauth_redirect?code=not-a-code&state={state}")
    assert response.status_code == 401 and "did not accept the install code" in response.text
    assert await installation(db, fake_slack.team_id) is None


async def test_a_single_workspace_server_explains_its_install_page(slack_user):
    response = await slack_user.client.get("/slack/install")
    assert response.status_code == 404 and "SLACK_BOT_TOKEN" in response.text


async def test_two_workspaces_each_use_their_own_token_and_see_only_their_data(browser, oauth_deps, fake_slack,
                                                                             fake_hedy, db):
    assert (await install(browser, "T0AAA")).status_code == 200
    assert (await install(browser, "T0BBB")).status_code == 200
    await connect(db, oauth_deps.box, oauth_deps.factory, team_id="T0AAA", provider="hedy", api_key=HEDY_KEY,
                  channel="C0AAA")

    async def ask(team: str) -> dict:
        url = fake_slack.new_response_url()
        body, headers = slack_requests.slash_command(SIGNING_SECRET, text="status", team_id=team, user_id="U0X",
                                                     channel_id="C0X", response_url=url)
        assert (await browser.post("/slack/events", content=body, headers=headers)).status_code == 200
        return (await asyncio.to_thread(fake_slack.wait_for_response, url, timeout=15))[-1]

    assert "Hedy connected" in (await ask("T0AAA"))["text"]
    assert "isn't connected" in (await ask("T0BBB"))["text"]

    # The digest sender and every other client pick the workspace's own token.
    await oauth_deps.slack_client("T0AAA").chat_postMessage(channel="C0AAA", text="hello A")
    await oauth_deps.slack_client("T0BBB").chat_postMessage(channel="C0BBB", text="hello B")
    posts = {c.args["text"]: c.team_id for c in fake_slack.calls_to("chat.postMessage", ok=True)}
    assert posts == {"hello A": "T0AAA", "hello B": "T0BBB"}


async def test_uninstall_deletes_the_tokens_and_pauses_the_connections(browser, oauth_deps, fake_slack, db):
    await install(browser, "T0AAA")
    await connect(db, oauth_deps.box, oauth_deps.factory, team_id="T0AAA", provider="hedy", api_key=HEDY_KEY,
                  channel="C0AAA")
    body, headers = slack_requests.event_callback(SIGNING_SECRET, team_id="T0AAA",
                                                  event={"type": "app_uninstalled", "event_ts": "1.2"})
    assert (await browser.post("/slack/events", content=body, headers=headers)).status_code == 200
    assert await installation(db, "T0AAA") is None
    async with db.session() as session:
        [row] = (await session.exec(select(Connection).where(Connection.team_id == "T0AAA"))).all()
    assert row.status == "paused"
    from bot.slack.installations import NotInstalled
    with pytest.raises(NotInstalled):
        await oauth_deps.slack_client("T0AAA").chat_postMessage(channel="C0AAA", text="after")
