"""Shared test harness: real loopback stand-ins for Slack and Hedy, a real database (SQLite by
default, PostgreSQL when TEST_DATABASE_URL points at one), and the real ASGI app reached with
signed requests."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.deps import Deps
from bot.fakes import slack_requests
from bot.fakes.hedy import FakeHedy
from bot.fakes.server import ThreadedServer
from bot.fakes.slack import FakeSlack
from bot.providers.registry import ProviderFactory
from bot.settings import Settings
from bot.store import migrate
from bot.store.crypto import SecretBox
from bot.store.db import Database
from bot.web import create_app

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-token"
HEDY_KEY = "hedy_live_test_key_0123456789abcdef"
TEAM = "T0001"
USER = "U0USER"
CHANNEL = "C0GENERAL"

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def pytest_report_header(config):
    return f"database under test: {TEST_DATABASE_URL or 'SQLite (a new file per test)'}"


# ----------------------------------------------------------------------------- stand-ins


@pytest.fixture(autouse=True)
def fresh_pacing_budget(monkeypatch):
    """Each test starts with a full provider rate budget, as a fresh server would."""
    from bot.providers.http import pacing

    monkeypatch.setattr(pacing, "PACERS", pacing.Pacers())


@pytest.fixture
def fake_slack(request):
    fake = FakeSlack(bot_token=BOT_TOKEN, team_id=TEAM)
    fake.add_channel(CHANNEL, "general")  # the channel the `connected` fixture routes digests to
    fake.add_user(USER, email="user@example.com")  # the member `slack_user` acts as (not an admin)
    server = ThreadedServer(fake.app).start()
    fake.set_base_url(server.url)
    yield fake
    # The app and its clients are closed by now (they depend on this fixture), so nothing else
    # reaches the stand-in: the server stops in the background while the checks run.
    server.stop(wait=False)
    # Whatever a test did, the bot never sent Slack something it would reject or warn about
    # (unless the test set Slack up to refuse, and says so).
    if request.node.get_closest_marker("slack_refuses") is None:
        assert fake.unexpected_errors == [], fake.dump()
    assert [w for w in fake.warnings if w.kind == "missing_fallback_text"] == []


@pytest.fixture
def fake_hedy():
    fake = FakeHedy(api_keys=[HEDY_KEY])
    fake.seed_demo()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    yield fake
    server.stop(wait=False)


# ----------------------------------------------------------------------------- database


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return TEST_DATABASE_URL or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


_schema_rebuilt = False


async def _reset_postgres(db: Database) -> None:
    global _schema_rebuilt
    if not _schema_rebuilt:
        # Once per run, from nothing: the migrations must build the whole schema themselves,
        # whatever an earlier run left in this database.
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        _schema_rebuilt = True
    await migrate.upgrade(db.engine)
    async with db.engine.begin() as connection:
        rows = await connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"))
        tables = [row[0] for row in rows]
        if tables:
            quoted = ", ".join(f'"{t}"' for t in tables)
            await connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path | None:
    """One SQLite file built by the migrations, once per run: each test gets a copy of it, which
    takes a millisecond where migrating takes a few hundred."""
    if TEST_DATABASE_URL:
        return None
    path = tmp_path_factory.mktemp("migrated") / "bot.db"

    async def build() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(database.engine)
        await database.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
async def db(database_url: str, migrated_sqlite: Path | None):
    database = Database(database_url)
    if database_url.startswith("postgresql"):
        await _reset_postgres(database)
    elif migrated_sqlite and not (file := Path(database_url.removeprefix("sqlite+aiosqlite:///"))).exists():
        shutil.copyfile(migrated_sqlite, file)
    else:
        await migrate.upgrade(database.engine)  # something made the file first: bring it up to date
    yield database
    await database.dispose()


# ----------------------------------------------------------------------------- the app


@pytest.fixture
def settings(tmp_path: Path, database_url: str, fake_slack: FakeSlack, fake_hedy: FakeHedy) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=fake_slack.api_url,
        public_url="https://bot.example.test",
        encryption_key=Fernet.generate_key().decode(),
        hedy_api_url=fake_hedy.url,
        provider_timeout_seconds=15,
    )


@pytest.fixture
async def deps(settings: Settings, db: Database):
    box = SecretBox([settings.encryption_key.get_secret_value()])
    factory = ProviderFactory(settings)
    deps = Deps(settings=settings, db=db, box=box, factory=factory)
    yield deps
    await deps.aclose()


@dataclass
class SlackUser:
    """Sends what Slack would send on a user's behalf, signed, through the real ASGI app."""

    client: httpx.AsyncClient
    fake: FakeSlack
    team_id: str = TEAM
    user_id: str = USER
    channel_id: str = CHANNEL

    async def command(self, text: str, *, team_id: str | None = None) -> tuple[httpx.Response, str]:
        response_url = self.fake.new_response_url()
        body, headers = slack_requests.slash_command(
            SIGNING_SECRET, text=text, team_id=team_id or self.team_id, user_id=self.user_id,
            channel_id=self.channel_id, response_url=response_url)
        response = await self.client.post("/slack/events", content=body, headers=headers)
        return response, response_url

    async def click(self, action_id: str, value: str, *, team_id: str | None = None,
                    trigger_id: str | None = None) -> tuple[httpx.Response, str]:
        response_url = self.fake.new_response_url()
        body, headers = slack_requests.block_action(
            SIGNING_SECRET, team_id=team_id or self.team_id, user_id=self.user_id, channel_id=self.channel_id,
            action_id=action_id, value=value, response_url=response_url, trigger_id=trigger_id)
        response = await self.client.post("/slack/events", content=body, headers=headers)
        return response, response_url

    async def replies(self, response_url: str, count: int = 1, timeout: float = 15.0) -> list[dict]:
        # The fake waits by polling; run it off the loop so the app's background work keeps going.
        return await asyncio.to_thread(self.fake.wait_for_response, response_url, timeout=timeout, count=count)

    async def ask(self, text: str, **kwargs) -> dict:
        """Type a command and return the message the user ends up seeing."""
        response, response_url = await self.command(text, **kwargs)
        assert response.status_code == 200, response.text
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            return response.json()  # answered in the ack itself
        return (await self.replies(response_url))[-1]


@pytest.fixture
async def app(settings: Settings, deps: Deps):
    return create_app(settings, deps=deps, run_migrations=False)


@pytest.fixture
async def slack_user(app, fake_slack: FakeSlack):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        yield SlackUser(client=client, fake=fake_slack)


@pytest.fixture
async def connected(deps: Deps, fake_hedy: FakeHedy):
    """The test workspace connected to the Hedy stand-in, as `meetings-bot connect` would."""
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                           channel=CHANNEL)
    return result.connection


@pytest.fixture
def connected_via_cli(settings, db):
    """The test workspace connected with the real `meetings-bot connect` command."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), MEETINGS_BOT_API_KEY=HEDY_KEY,
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), HEDY_API_URL=settings.hedy_api_url)
    result = subprocess.run([sys.executable, "-m", "bot", "connect", "--team", TEAM, "--provider", "hedy",
                             "--channel", CHANNEL], env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result


WEBHOOK_SECRET = "hedy-webhook-secret-for-tests"


@pytest.fixture
async def workers(deps):
    """The server's background workers (inbox, Slack sender, reconcile), fast-polling for tests."""
    from bot.delivery.workers import Workers

    running = Workers(deps, poll_seconds=0.05, channel_interval=0.05)
    await running.start()
    yield running
    await running.stop()


@dataclass
class HedyWebhooks:
    """Delivers webhooks the way Hedy does, signed with the connection's secret, through the ASGI app."""

    client: httpx.AsyncClient
    fake: FakeHedy
    token: str
    secret: str | None

    async def send(self, event: str, payload: dict, *, nested: bool = False, secret: str | None = "default",
                   token: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """`headers` are added to Hedy's own (an `X-Request-ID` a proxy in front would add, say)."""
        from bot.fakes.hedy import webhook_request

        body, signed = webhook_request(event, payload, nested=nested,
                                       secret=self.secret if secret == "default" else secret)
        return await self.client.post(f"/webhooks/hedy/{token or self.token}", content=body,
                                      headers={**signed, **(headers or {})})

    async def session_event(self, session_id: str, event: str = "session.ended", **kwargs) -> httpx.Response:
        return await self.send(event, self.fake.session_webhook_payload(session_id, event=event), **kwargs)


@pytest.fixture
async def signed_connection(deps, fake_hedy):
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                           channel=CHANNEL, webhook_secret=WEBHOOK_SECRET)
    return result.connection


@pytest.fixture
async def hedy_webhooks(slack_user, fake_hedy, signed_connection):
    return HedyWebhooks(client=slack_user.client, fake=fake_hedy, token=signed_connection.webhook_token,
                        secret=WEBHOOK_SECRET)


# ----------------------------------------------------------------------------- Harmony

HARMONY_KEY = "lk_" + "5f2a9c0e" * 8
HARMONY_SECRET = "ab" * 32  # Harmony shows a 64-character hex secret once (docs/providers/harmony.md, "Webhooks")


@pytest.fixture
def fake_harmony(settings):
    """The Harmony stand-in serving both contracts; the bot uses the seed's (`meetings`) by default."""
    from bot.fakes.harmony import FakeHarmony

    fake = FakeHarmony(api_keys=[HARMONY_KEY])
    fake.seed_demo()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    settings.harmony_api_url = server.url
    yield fake
    server.stop(wait=False)


@pytest.fixture
async def harmony_connection(deps, fake_harmony):
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="harmony", api_key=HARMONY_KEY,
                           channel=CHANNEL, webhook_secret=HARMONY_SECRET)
    return result.connection


# ----------------------------------------------------------------------------- Meetric

MEETRIC_TOKEN = "mt_test_token_0123456789"
MEETRIC_LIMITED = "mt_no_insights_000000000"  # a token without the `conversations` scope
MEETRIC_SECRET = "meetric-webhook-secret"


@pytest.fixture
def fake_meetric(settings):
    from bot.fakes.meetric import FakeMeetric

    fake = FakeMeetric(tokens={MEETRIC_TOKEN: {"conversations", "insights"}, MEETRIC_LIMITED: {"users"}})
    fake.seed_demo()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    settings.meetric_api_url = server.url  # without /api/v1/rest: the client adds it
    yield fake
    server.stop(wait=False)


@pytest.fixture
async def meetric_connection(deps, fake_meetric):
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="meetric", api_key=MEETRIC_TOKEN,
                           channel=CHANNEL, webhook_secret=MEETRIC_SECRET)
    return result.connection


# ----------------------------------------------------------------------------- Whereby

WHEREBY_KEY = "whereby_test_key_0123456789abcdef"
WHEREBY_SECRET = "whereby-webhook-secret-for-tests"


@pytest.fixture
def fake_whereby(settings, monkeypatch):
    """The Whereby stand-in (API under /v1), with summaries polled every 50 ms instead of 30 s, and
    the provider remembering no summary ids from earlier tests."""
    from bot.fakes.whereby import FakeWhereby
    from bot.providers import whereby

    monkeypatch.setattr(whereby, "SUMMARY_IDS", whereby.SummaryIds())
    fake = FakeWhereby(api_keys=[WHEREBY_KEY])
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    fake.seed_demo()
    settings.whereby_api_url = fake.api_url
    settings.whereby_summary_poll_seconds = 0.05
    settings.whereby_transcript_private_hosts = "127.0.0.1"  # the stand-in serves transcripts on loopback
    yield fake
    server.stop(wait=False)


@pytest.fixture
async def whereby_connection(deps, fake_whereby):
    from bot.services.connections import connect

    result = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="whereby", api_key=WHEREBY_KEY,
                           channel=CHANNEL, webhook_secret=WHEREBY_SECRET)
    return result.connection
