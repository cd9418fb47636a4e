"""The install flow in a real headless browser (Debian's chromium driven by Playwright): the
install page on a real uvicorn server of the app, the Slack stand-in's authorize step, the
redirect back, and the success page."""

from __future__ import annotations

import shutil

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from bot.fakes.server import ThreadedServer, free_port
from bot.settings import Settings
from bot.store.models import SlackInstallation
from bot.web import create_app
from tests.conftest import SIGNING_SECRET

CHROMIUM = "/usr/bin/chromium"

playwright = pytest.importorskip("playwright.async_api", reason="playwright is in the test extra")
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)", allow_module_level=True)


@pytest.fixture
def server(tmp_path, database_url, db, fake_slack, fake_hedy):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(_env_file=None, database_url=database_url, data_dir=tmp_path,
                        slack_signing_secret=SIGNING_SECRET, slack_bot_token=None,
                        slack_client_id=fake_slack.client_id, slack_client_secret=fake_slack.client_secret,
                        slack_api_url=fake_slack.api_url, public_url=url,
                        encryption_key=Fernet.generate_key().decode(), hedy_api_url=fake_hedy.url)
    app = create_app(settings, run_migrations=False, start_workers=False)
    running = ThreadedServer(app, port=port, lifespan="on").start()
    yield url
    running.stop()


async def test_a_person_installs_the_app_from_the_install_page(server, db, fake_slack):
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(server + "/slack/install")
            assert await page.title() == "Add Meetings bot to Slack · Meetings bot"
            await page.click("text=Add to Slack")  # → Slack's authorize step → back to /slack/oauth_redirect
            await page.wait_for_url(server + "/slack/oauth_redirect*")
            heading = await page.text_content("h1")
            body = await page.text_content("body")
        finally:
            await browser.close()
    assert heading == "Meetings bot is installed"
    assert fake_slack.team_name in body and "/meetings setup" in body
    async with db.session() as session:
        row = (await session.exec(select(SlackInstallation))).first()
    assert row is not None and row.team_id == fake_slack.team_id and row.bot_token_encrypted
