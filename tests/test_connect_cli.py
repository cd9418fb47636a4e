"""`meetings-bot connect`, run as an operator runs it: a real process, a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import HEDY_KEY, TEAM

pytestmark = pytest.mark.usefixtures("fake_hedy")


def run_cli(settings, *args: str, api_key: str | None = HEDY_KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir),
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), HEDY_API_URL=settings.hedy_api_url,
               PUBLIC_URL=settings.public_url)
    if api_key is not None:
        env["MEETINGS_BOT_API_KEY"] = api_key
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=settings.data_dir)


async def stored_rows(db) -> list[tuple]:
    async with db.engine.connect() as connection:
        return list(await connection.execute(text("SELECT * FROM connections")))


async def test_connect_checks_the_key_stores_it_encrypted_and_prints_the_webhook_url(settings, db):
    result = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--channel", "C0DIGESTS")
    assert result.returncode == 0, result.stderr
    assert "Connected workspace T0001 to hedy" in result.stdout
    rows = await stored_rows(db)
    assert len(rows) == 1
    token = rows[0]._mapping["webhook_token"]
    assert f"https://bot.example.test/webhooks/hedy/{token}" in result.stdout.replace("\n  ", "")
    assert rows[0]._mapping["default_channel"] == "C0DIGESTS"
    # The key is nowhere in the output or in any column, and not in the SQLite file's bytes.
    assert HEDY_KEY not in result.stdout + result.stderr
    assert all(HEDY_KEY not in str(value) for value in rows[0])
    if settings.is_sqlite:
        for path in Path(settings.data_dir).glob("*.db*"):
            assert HEDY_KEY.encode() not in path.read_bytes()


async def test_a_rejected_key_is_a_clear_error_and_nothing_is_stored(settings, db):
    result = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--channel", "C1",
                     api_key="hedy_live_wrong_key_000000")
    assert result.returncode == 1
    assert "rejected the API key" in result.stderr and "Nothing was stored" in result.stderr
    assert "Traceback" not in result.stderr
    assert await stored_rows(db) == []


async def test_reconnecting_replaces_the_key_but_keeps_the_webhook_url(settings, db):
    first = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy", "--channel", "C1")
    token = (await stored_rows(db))[0]._mapping["webhook_token"]
    second = run_cli(settings, "connect", "--team", TEAM, "--provider", "hedy")
    assert first.returncode == second.returncode == 0
    assert "Updated workspace" in second.stdout
    rows = await stored_rows(db)
    assert len(rows) == 1 and rows[0]._mapping["webhook_token"] == token
    assert rows[0]._mapping["default_channel"] == "C1"  # not given again: kept
    # Both runs are in the audit log, by "cli", and the key is not.
    async with db.engine.connect() as connection:
        audit = [tuple(r) for r in await connection.execute(
            text("SELECT actor, action, detail FROM audit_log ORDER BY id"))]
    assert [(actor, action) for actor, action, _ in audit] == [("cli", "connected"), ("cli", "updated")]
    assert all(HEDY_KEY not in detail for _, _, detail in audit)


def test_an_unknown_provider_is_refused_before_anything_happens(settings):
    result = run_cli(settings, "connect", "--team", TEAM, "--provider", "otter")
    assert result.returncode == 2 and "unknown provider 'otter'" in result.stderr


def test_hedy_unreachable_is_explained(settings):
    settings_down = settings.model_copy(update={"hedy_api_url": "http://127.0.0.1:9"})
    result = run_cli(settings_down, "connect", "--team", TEAM, "--provider", "hedy")
    assert result.returncode == 1
    assert "Could not check the key with hedy" in result.stderr and "Traceback" not in result.stderr


def test_manifest_is_filled_with_the_public_url(settings):
    result = run_cli(settings, "manifest")
    assert result.returncode == 0
    assert "https://bot.example.test/slack/events" in result.stdout
    assert "command: /meetings" in result.stdout


def run_doctor(settings) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), COLUMNS="200",
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), HEDY_API_URL=settings.hedy_api_url,
               SLACK_API_URL=settings.slack_api_url, SLACK_SIGNING_SECRET="s",
               SLACK_BOT_TOKEN=settings.slack_bot_token.get_secret_value())
    return subprocess.run([sys.executable, "-m", "bot", "doctor"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=settings.data_dir)


def test_doctor_checks_slack_database_and_every_key(settings, connected_via_cli, fake_hedy):
    healthy = run_doctor(settings)
    assert healthy.returncode == 0, healthy.stdout
    assert "team Demo Team (T0001)" in healthy.stdout and "key works" in healthy.stdout
    fake_hedy.revoke_all_keys()
    broken = run_doctor(settings)
    assert broken.returncode == 1
    assert "key rejected: reconnect with a new key" in broken.stdout


async def test_the_key_survives_rotation_to_a_new_encryption_key(settings, db, connected_via_cli):
    """An operator rotates by putting a new key first: old secrets still decrypt."""
    from cryptography.fernet import Fernet

    from bot.services.connections import active_connection
    from bot.store.crypto import SecretBox

    old = settings.encryption_key.get_secret_value()
    rotated = SecretBox([Fernet.generate_key().decode(), old])
    connection = await active_connection(db, TEAM)
    assert rotated.decrypt(connection.api_key_encrypted) == HEDY_KEY
    assert rotated.encrypt(HEDY_KEY) != connection.api_key_encrypted
