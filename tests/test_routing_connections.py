"""Connections with owners and provider accounts: the 0008 backfill, `connect --owner`, one
connection per (workspace, provider, provider account)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import text

from bot.services.connections import connect
from bot.slack.ids import BlockId
from bot.store import migrate
from bot.store.db import Database
from tests.conftest import CHANNEL, HEDY_KEY, TEAM
from tests.test_connect_cli import run_cli
from tests.test_webhooks import text_of

pytestmark = pytest.mark.usefixtures("fake_hedy")


async def test_the_migration_gives_existing_connections_their_connecting_admin_else_the_installer(database_url):
    from tests.conftest import TEST_DATABASE_URL, _reset_postgres

    db = Database(database_url)
    try:
        if TEST_DATABASE_URL:
            await _reset_postgres(db)
            await migrate.downgrade(db.engine, "0007")
        else:
            await migrate.upgrade(db.engine, "0007")
        now = datetime(2026, 11, 1, 12, 0)
        async with db.engine.begin() as conn:
            for team, installer in (("T0A", "U0INSTALL"), ("T0B", "U0INSTALLB")):
                await conn.execute(text("INSERT INTO workspaces (team_id, created_at, installed_by) "
                                        "VALUES (:t, :at, :i)"), {"t": team, "at": now, "i": installer})
                await conn.execute(text(
                    "INSERT INTO connections (team_id, provider, api_key_encrypted, api_key_hint, webhook_token, "
                    "status, options, created_at, updated_at) VALUES (:t, 'hedy', 'x', 'abcd', :tok, 'active', "
                    "'{}', :at, :at)"), {"t": team, "tok": f"token-{team}", "at": now})
            await conn.execute(text("INSERT INTO audit_log (team_id, actor, action, detail, at) VALUES "
                                    "('T0A', 'cli', 'connected', 'Hedy via meetings-bot connect', :at), "
                                    "('T0A', 'U0ADMIN', 'connected', 'Hedy, digests to <#C1>', :at)"), {"at": now})
        await migrate.upgrade(db.engine)
        async with db.engine.connect() as conn:
            owners = dict((await conn.execute(text("SELECT team_id, owner_id FROM connections"))).all())
        assert owners == {"T0A": "U0ADMIN", "T0B": "U0INSTALLB"}
    finally:
        await db.dispose()


async def test_connect_records_the_owner_and_one_connection_per_provider_account(settings, db, deps, fake_hedy):
    result = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--channel", "C0DIGESTS",
                     "--owner", "U0ANA")
    assert result.returncode == 0, result.stderr
    bad = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--owner", "ana")
    assert bad.returncode == 2 and "not a Slack user id" in bad.stderr
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT owner_id, provider_account, webhook_token FROM connections"))).all()
    assert [(r[0], r[1]) for r in rows] == [("U0ANA", "usr_demo")]

    # The same account again updates it (same webhook URL); another account is a second connection.
    again = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                          channel=None)
    assert not again.created and again.connection.webhook_token == rows[0][2]
    fake_hedy.account = {"id": "usr_bo", "email": "bo@hedy.example", "name": "Bo"}
    second = await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                           channel=None, owner_id="U0BO", personal=True)
    assert second.created and second.connection.webhook_token != rows[0][2]
    assert (second.connection.owner_id, second.connection.personal) == ("U0BO", True)


async def test_connect_owner_again_records_the_new_owner(settings, db):
    first = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--owner", "U0ANA")
    assert first.returncode == 0 and "Owner: U0ANA" in first.stdout, first.stderr
    # The operator names someone else: that is the owner now (the webhook URL stays).
    again = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--owner", "<@U0BEA|bea>")
    assert again.returncode == 0 and "Updated" in again.stdout and "Owner: U0BEA" in again.stdout, again.stderr
    # Without --owner the owner stays as it was.
    quiet = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--channel", CHANNEL)
    assert quiet.returncode == 0 and "Owner: U0BEA" in quiet.stdout, quiet.stderr
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT owner_id, provider_account FROM connections"))).all()
    assert [tuple(r) for r in rows] == [("U0BEA", "usr_demo")]


async def test_status_names_the_owner_of_a_workspaces_only_connection(settings, db, deps, slack_user):
    await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                  channel=CHANNEL, owner_id="U0ANA")
    status = text_of(await slack_user.ask("status"))
    assert f"Hedy (shared) · demo@hedy.example · owner <@U0ANA> · digests to <#{CHANNEL}>" in status


async def submit_connect(slack_user, user_id: str, *, channel: str | None = None):
    from bot.fakes import slack_requests
    from bot.slack.ids import ActionId, BlockId, CallbackId
    from tests.conftest import SIGNING_SECRET

    values = {
        BlockId.SETUP_PROVIDER: {ActionId.SETUP_PROVIDER: {"type": "static_select",
                                                           "selected_option": {"value": "hedy"}}},
        BlockId.SETUP_API_KEY: {ActionId.SETUP_API_KEY: {"type": "plain_text_input", "value": HEDY_KEY}},
        BlockId.SETUP_CHANNEL: {ActionId.SETUP_CHANNEL: {"type": "conversations_select",
                                                         "selected_conversation": channel}},
        BlockId.SETUP_POSTS: {ActionId.SETUP_POSTS: {"type": "checkboxes", "selected_options": [
            {"value": "digest"}, {"value": "todos"}]}},
    }
    body, headers = slack_requests.view_submission(SIGNING_SECRET, team_id=TEAM, user_id=user_id,
                                                   callback_id=CallbackId.CONNECT_MODAL, values=values)
    return await slack_user.client.post("/slack/events", content=body, headers=headers)


async def test_any_member_connects_their_own_account_from_slack(slack_user, fake_slack, deps, db):
    from sqlmodel import select

    from bot.store.models import Connection
    from tests.conftest import SlackUser
    from tests.test_webhooks import wait_until

    fake_slack.add_user("U0EVE")
    fake_slack.add_user("U0BO")
    fake_slack.add_channel("C0TEAM", "team")
    fake_slack.add_member("C0TEAM", "U0EVE")
    eve = SlackUser(client=slack_user.client, fake=fake_slack, user_id="U0EVE")
    await eve.command("connect")
    opened = await wait_until(lambda: fake_slack.calls_to("views.open", ok=True))
    view = opened[0].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "connect_modal" and view["title"]["text"] == "Connect your account"

    refused = await submit_connect(slack_user, "U0EVE", channel=CHANNEL)  # a channel she is not in
    assert refused.json()["errors"][BlockId.SETUP_CHANNEL].startswith("You are not in that channel")
    assert (await submit_connect(slack_user, "U0EVE", channel="C0TEAM")).status_code == 200
    async with db.session() as session:
        rows = list((await session.exec(select(Connection))).all())
    assert [(c.owner_id, c.personal, c.default_channel) for c in rows] == [("U0EVE", True, "C0TEAM")]

    taken = await submit_connect(slack_user, "U0BO")
    assert "already connected by another member" in taken.json()["errors"][BlockId.SETUP_API_KEY]


async def test_a_members_own_account_without_a_channel_posts_to_them_and_holds_for_them(deps, fake_slack):
    from bot.delivery.digests import route
    from bot.providers.base import Meeting

    mine = (await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                          channel=None, owner_id="U0EVE", personal=True)).connection
    plain = await route(deps, connection=mine, meeting=Meeting(id="p1", title="Planning"), provider_name="Hedy")
    assert (plain.state, plain.destinations, plain.rule_name) == ("posted", ["U0EVE"], "default")
    held = await route(deps, connection=mine, meeting=Meeting(id="p2", title="1:1 with Bo"), provider_name="Hedy")
    assert (held.state, held.approver, held.destinations) == ("held", "U0EVE", ["U0EVE"])
