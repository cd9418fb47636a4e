"""Settings and keys as an operator meets them, through the real `meetings-bot` process: key
rotation, no key file written behind their back, a database that is away in one sentence,
`connect` checked against Slack, PUBLIC_URL, `connections list|remove`, and /readyz when stored
secrets no longer decrypt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.fakes.server import free_port
from bot.observability import startup_summary
from bot.settings import Settings
from bot.store.crypto import SecretBox
from tests.conftest import BOT_TOKEN, CHANNEL, HEDY_KEY, SIGNING_SECRET, TEAM

pytestmark = pytest.mark.usefixtures("fake_hedy")


def cli_env(settings, *, key: str | None = "same", slack: bool = False, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT", "ENCRYPTION_", "PUBLIC_URL"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), HEDY_API_URL=settings.hedy_api_url,
               PUBLIC_URL=settings.public_url, MEETINGS_BOT_API_KEY=HEDY_KEY, COLUMNS="200")
    if key == "same":
        env["ENCRYPTION_KEY"] = settings.encryption_key.get_secret_value()
    elif key is not None:
        env["ENCRYPTION_KEY"] = key
    if slack:
        env.update(SLACK_API_URL=settings.slack_api_url, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    env.update(extra)
    return env


def run(settings, *args: str, **env_options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=cli_env(settings, **env_options),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=settings.data_dir)


def one_sentence(result: subprocess.CompletedProcess) -> str:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert len(output.splitlines()) <= 4, output  # rich wraps one sentence at the terminal width
    return " ".join(output.split())


async def ciphertexts(db) -> list[str]:
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT api_key_encrypted, webhook_secret_encrypted FROM connections"))).all()
    return [value for row in rows for value in row if value]


# ----------------------------------------------------------------------------- keys


async def test_rotate_key_re_encrypts_so_the_old_key_can_be_removed(settings, db, fake_slack):
    connected = run(settings, "connect", "--team", TEAM, "--channel", CHANNEL, "--webhook-secret", "whsec-rotate-1",
                    slack=True)
    assert connected.returncode == 0, connected.stderr
    old, new = settings.encryption_key.get_secret_value(), Fernet.generate_key().decode()
    before = await ciphertexts(db)

    rotated = run(settings, "rotate-key", key=f"{new},{old}")
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 2 stored secrets" in rotated.stdout and "can now be removed" in rotated.stdout
    after = await ciphertexts(db)
    assert after != before and all(SecretBox([new]).decrypt(value) for value in after)

    # The old key is gone from ENCRYPTION_KEY: everything still works.
    doctor = run(settings, "doctor", key=new, slack=True)
    assert doctor.returncode == 0, doctor.stdout
    assert "all 2 stored secrets decrypt" in doctor.stdout and "key works" in doctor.stdout


async def test_rotate_key_with_a_key_that_cannot_read_the_secrets_changes_nothing(settings, db, connected_via_cli):
    before = await ciphertexts(db)
    refused = run(settings, "rotate-key", key=Fernet.generate_key().decode())
    sentence = one_sentence(refused)
    assert "Nothing was changed" in sentence and "1 of 1 stored secrets cannot be decrypted" in sentence
    assert await ciphertexts(db) == before


def test_no_command_but_serve_writes_a_key_file(settings, db):
    key_file = Path(settings.data_dir) / "meetings-bot.key"
    doctor = run(settings, "doctor", key=None, slack=True)
    assert "serve` creates the key file on its first start" in " ".join(doctor.stdout.split())
    listed = run(settings, "connections", "list", key=None)
    assert listed.returncode == 0, listed.stderr
    rotate = run(settings, "rotate-key", key=None)
    assert "ENCRYPTION_KEY is not set" in one_sentence(rotate)
    assert not key_file.exists()


def test_serve_refuses_to_generate_a_key_when_encrypted_secrets_exist(settings, connected_via_cli):
    result = run(settings, "serve", "--port", str(free_port()), key=None, slack=True)
    assert result.returncode == 2
    assert "database holds 1 row(s) of encrypted secrets" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (Path(settings.data_dir) / "meetings-bot.key").exists()


def test_readyz_says_when_stored_secrets_do_not_decrypt(settings, connected_via_cli):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=cli_env(settings, key=Fernet.generate_key().decode(), slack=True),
                               cwd=settings.data_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and process.poll() is None, "serve did not come up"
                time.sleep(0.1)
        assert ready.status_code == 503
        assert "1 of 1 stored secrets cannot be decrypted" in ready.json()["secrets"]
        assert "rotate-key" in ready.json()["secrets"]
        # The operator removes the connection it was about: ready again, without a restart.
        assert run(settings, "connections", "remove", "--team", TEAM, "--yes").returncode == 0
        deadline = time.monotonic() + 15
        while httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code != 200:
            assert time.monotonic() < deadline, "still not ready after the connection was removed"
            time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "meetings-bot starting: single-workspace mode" in output
    assert "1 of 1 stored secrets cannot be decrypted" in output and "Traceback" not in output


# ----------------------------------------------------------------------------- the database


@pytest.mark.parametrize("command", [("migrate",), ("inbox", "list"), ("connections", "list"), ("rotate-key",),
                                     ("connect", "--team", TEAM), ("serve", "--port", "0"), ("doctor",)])
def test_a_database_that_is_down_is_one_sentence_from_every_command(settings, command, tmp_path):
    down = run(settings, *command, DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/bot")
    if command == ("doctor",):
        assert down.returncode == 1 and "Traceback" not in down.stdout + down.stderr
        assert "Cannot reach the PostgreSQL server at 127.0.0.1:" in " ".join(down.stdout.split())
        return
    assert "Cannot reach the PostgreSQL server at 127.0.0.1:" in one_sentence(down)
    missing_dir = tmp_path / "no" / "such" / "dir" / "bot.db"
    unwritable = run(settings, *command, DATABASE_URL=f"sqlite:///{missing_dir}")
    assert str(missing_dir.parent) in one_sentence(unwritable)


@pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                    reason="needs the PostgreSQL server")
def test_a_missing_postgres_database_is_named(settings):
    base = os.environ["TEST_DATABASE_URL"].rsplit("/", 1)[0]
    missing = run(settings, "migrate", DATABASE_URL=f"{base}/test_h8_does_not_exist")
    assert 'no database named "test_h8_does_not_exist"' in one_sentence(missing)


# ----------------------------------------------------------------------------- connect, PUBLIC_URL


@pytest.mark.slack_refuses  # channel_not_found is the point
async def test_connect_checks_the_team_and_the_channel_with_slack(settings, db, fake_slack):
    wrong_team = run(settings, "connect", "--team", "T0OTHER", "--channel", CHANNEL, slack=True)
    sentence = one_sentence(wrong_team)
    assert "SLACK_BOT_TOKEN belongs to workspace T0001" in sentence and "Nothing was stored" in sentence
    wrong_channel = run(settings, "connect", "--team", TEAM, "--channel", "C0NOWHERE", slack=True)
    assert "channel C0NOWHERE does not exist in workspace T0001" in one_sentence(wrong_channel)
    assert await ciphertexts(db) == []
    good = run(settings, "connect", "--team", TEAM, "--channel", CHANNEL, slack=True)
    assert good.returncode == 0, good.stderr
    assert [c.args.get("channel") for c in fake_slack.calls_to("conversations.info")][-1] == CHANNEL


def test_public_url_must_be_https_except_on_this_machine(settings):
    plain = run(settings, "manifest", PUBLIC_URL="http://bot.example.com")
    assert "PUBLIC_URL must use https" in one_sentence(plain)
    relative = run(settings, "manifest", PUBLIC_URL="bot.example.com")
    assert "PUBLIC_URL must be an absolute https URL" in one_sentence(relative)
    local = run(settings, "doctor", PUBLIC_URL="http://localhost:3000", slack=True)
    assert "http on this machine" in " ".join(local.stdout.split()) and "warning" in local.stdout


def test_the_start_up_summary_names_what_is_configured_and_no_secret():
    settings = Settings(_env_file=None, database_url="postgresql://bot:hunter2-pw@db.internal:5433/meetings",
                        slack_bot_token="xoxb-1-2-3", slack_signing_secret="sig", public_url="https://bot.example.com",
                        encryption_key=Fernet.generate_key().decode(), metrics_port=9464)
    line = startup_summary(settings)
    assert "single-workspace mode" in line and "db.internal:5433/meetings" in line and "bot:***@" in line
    assert "https://bot.example.com" in line and "hedy (https://api.hedy.bot)" in line and "port 9464" in line
    assert "hunter2" not in line and "xoxb" not in line


# ----------------------------------------------------------------------------- connections


async def test_connections_list_and_remove(settings, db, connected_via_cli):
    listed = run(settings, "connections", "list")
    assert listed.returncode == 0, listed.stderr
    assert TEAM in listed.stdout and "hedy" in listed.stdout and f"…{HEDY_KEY[-4:]}" in listed.stdout
    assert HEDY_KEY not in listed.stdout
    unknown = run(settings, "connections", "remove", "--team", "T0NONE", "--yes")
    assert "Workspace T0NONE has no connections" in one_sentence(unknown)
    removed = run(settings, "connections", "remove", "--team", TEAM, "--yes")
    assert removed.returncode == 0 and f"Removed Hedy for workspace {TEAM}" in removed.stdout
    assert await ciphertexts(db) == []
    assert "No connections" in run(settings, "connections", "list").stdout


def test_serve_with_a_metrics_port_keeps_metrics_off_the_public_port(settings, db):
    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=cli_env(settings, slack=True, METRICS_PORT=str(metrics_port), LOG_FORMAT="json"),
                               cwd=settings.data_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "serve did not come up"
            time.sleep(0.1)
        hidden = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"X-Request-ID": "probe-7"})
        assert hidden.status_code == 404 and hidden.headers["x-request-id"] == "probe-7"
        private = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert private.status_code == 200 and "meetings_bot_inbox_backlog" in private.text
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/readyz").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode in (0, -signal.SIGTERM), output
    # LOG_FORMAT=json: every line one JSON object, the access line of the probe with its request id.
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert {"timestamp", "level", "logger", "message", "team", "request_id"} <= set(lines[0])
    assert any(line["message"].startswith("Application shutdown complete") for line in lines)
    assert any(f"metrics on port {metrics_port}" in line["message"] for line in lines)
    assert any(line["request_id"] == "probe-7" and "/metrics" in line["message"] for line in lines)
    assert not any("Traceback" in line.get("exception", "") for line in lines)
