"""No secret reaches the log, at DEBUG, whoever logs it: a whole flow (setup modal with a key and a
webhook secret, a modal submission Slack's signature check refuses, a signed webhook to a posted
digest, an OAuth install) with the server's real log handler, then the captured text is searched
for every secret the flow used."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot import logging_setup
from bot.fakes import slack_requests
from bot.fakes.hedy import webhook_request
from bot.slack.ids import CallbackId
from bot.store.models import Connection
from tests.conftest import BOT_TOKEN, CHANNEL, HEDY_KEY, SIGNING_SECRET, TEAM
from tests.test_oauth_install import browser, install, oauth_deps, oauth_settings  # noqa: F401 (fixtures)
from tests.test_setup_modal import values

ADMIN = "U0ADMIN"
WEBHOOK_SECRET = "whsec-log-test-9f8e7d6c5b4a"


@pytest.fixture
def captured_log(settings):
    """The server's own log configuration at DEBUG, writing into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    logging_setup.configure("DEBUG", "text", stream=buffer, secrets=logging_setup.settings_secrets(settings))
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


async def stored_ciphertexts(db) -> list[str]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT api_key_encrypted, webhook_secret_encrypted FROM connections"))).all()
        rows += (await conn.execute(text("SELECT bot_token_encrypted, NULL FROM slack_installations"))).all()
    return [value for row in rows for value in row if value]


async def test_a_full_flow_at_debug_writes_no_secret_to_the_log(captured_log, settings, slack_user, fake_slack,
                                                                fake_hedy, db, workers, browser):  # noqa: F811
    fake_slack.add_user(ADMIN, is_admin=True, name="ana")

    # An admin saves the key and the webhook secret in the setup modal.
    body, headers = slack_requests.view_submission(SIGNING_SECRET, team_id=TEAM, user_id=ADMIN,
                                                   callback_id=CallbackId.SETUP_MODAL,
                                                   values=values(secret=WEBHOOK_SECRET))
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    await fake_slack.wait_for_call_async("chat.postMessage", predicate=lambda c: c.args.get("channel") == ADMIN)
    async with db.session() as session:
        connection = (await session.exec(select(Connection).where(Connection.team_id == TEAM))).one()

    # The same submission from a machine whose clock is an hour off: Slack's signature check refuses
    # it, and Bolt would log its whole body (key and secret included) at INFO.
    body, headers = slack_requests.view_submission(SIGNING_SECRET, team_id=TEAM, user_id=ADMIN,
                                                   callback_id=CallbackId.SETUP_MODAL,
                                                   values=values(secret=WEBHOOK_SECRET),
                                                   timestamp=int(time.time()) - 3600)
    refused = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert refused.status_code == 401

    # Hedy delivers a signed webhook; the digest is posted.
    raw, headers = webhook_request("session.ended", fake_hedy.session_webhook_payload("sess_demo_12"),
                                   secret=WEBHOOK_SECRET)
    delivered = await slack_user.client.post(f"/webhooks/hedy/{connection.webhook_token}", content=raw,
                                             headers=headers)
    assert delivered.status_code == 200
    await fake_slack.wait_for_call_async("chat.postMessage", predicate=lambda c: c.args.get("channel") == CHANNEL)

    # Another workspace installs the app (OAuth): Slack hands over a bot token.
    done = await install(browser)
    assert done.status_code == 200
    [exchange] = [c for c in fake_slack.calls_to("oauth.v2.access") if c.ok]
    oauth_token, oauth_code = exchange.response["access_token"], exchange.args.get("code")

    log_text = captured_log.getvalue()
    # The log did record the flow (so an empty log cannot pass) ...
    assert "slack_bolt" in log_text and "slack_sdk" in log_text and "oauth.v2.access" in log_text
    # ... and none of the secrets it used.
    secrets = {
        "provider API key": HEDY_KEY,
        "webhook secret": WEBHOOK_SECRET,
        "webhook URL token": connection.webhook_token,
        "bot token (settings)": BOT_TOKEN,
        "signing secret": SIGNING_SECRET,
        "encryption key": settings.encryption_key.get_secret_value(),
        "bot token (OAuth)": oauth_token,
        "OAuth code": oauth_code,
        "OAuth client secret": fake_slack.client_secret,
    }
    for number, ciphertext in enumerate(await stored_ciphertexts(db)):
        secrets[f"stored ciphertext {number}"] = ciphertext
    assert len(secrets) >= 12
    leaked = {name: value for name, value in secrets.items() if value and value in log_text}
    assert leaked == {}, f"secrets in the log: {sorted(leaked)}"
    # Form bodies are never written (a slash command's or a modal's, signed or not).
    assert "payload=%7B" not in log_text and "view_submission" not in log_text.split("body:")[-1][:200]


def test_the_json_format_carries_request_and_team_and_is_redacted():
    buffer = io.StringIO()
    handler = logging_setup.build_handler("json", buffer)
    logger = logging.getLogger("bot.tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    request_token = logging_setup.REQUEST_ID.set("req-123")
    team_token = logging_setup.TEAM.set("T0JSON")
    try:
        logger.info("posted with %s", "xoxb-1-2-secret")
    finally:
        logging_setup.REQUEST_ID.reset(request_token)
        logging_setup.TEAM.reset(team_token)
        logger.removeHandler(handler)
    line = json.loads(buffer.getvalue().strip())
    assert line["level"] == "INFO" and line["logger"] == "bot.tests.json"
    assert line["team"] == "T0JSON" and line["request_id"] == "req-123"
    assert "xoxb" not in line["message"] and line["timestamp"].endswith("+00:00")
