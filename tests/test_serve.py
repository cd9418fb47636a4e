"""`meetings-bot serve` as an operator runs it: a real process on a real port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from bot.fakes import slack_requests
from bot.fakes.server import free_port
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM, USER


def serve_env(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir),
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), HEDY_API_URL=settings.hedy_api_url,
               SLACK_API_URL=settings.slack_api_url, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_BOT_TOKEN=settings.slack_bot_token.get_secret_value(), PUBLIC_URL=settings.public_url)
    return env


@pytest.fixture
def server(settings):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=serve_env(settings), cwd=settings.data_dir, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("serve did not come up:\n" + process.communicate()[0])
    yield url, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_migrates_answers_commands_and_stops_cleanly(server, connected_via_cli, fake_slack):
    url, process = server
    ready = httpx.get(url + "/readyz")
    assert ready.status_code == 200 and ready.json()["migrations"] == "current"

    response_url = fake_slack.new_response_url()
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text="list 3", team_id=TEAM, user_id=USER,
                                                 channel_id=CHANNEL, response_url=response_url)
    assert httpx.post(url + "/slack/events", content=body, headers=headers).status_code == 200
    reply = fake_slack.wait_for_response(response_url, timeout=20)[-1]
    assert "Recent meetings in Hedy" in str(reply["blocks"])

    metrics = httpx.get(url + "/metrics").text
    assert 'meetings_bot_slash_commands_total{subcommand="list"} 1.0' in metrics

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    assert "hedy_live" not in output  # no key in the logs


def test_serve_refuses_to_start_without_a_signing_secret(settings):
    env = serve_env(settings)
    del env["SLACK_SIGNING_SECRET"]
    result = subprocess.run([sys.executable, "-m", "bot", "serve", "--port", str(free_port())], env=env,
                            cwd=settings.data_dir, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr and "Traceback" not in result.stderr


async def test_readiness_reports_pending_migrations(tmp_path, settings):
    from bot.web import create_app

    fresh = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"})
    app = create_app(fresh, run_migrations=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test") as client:
        response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["migrations"] == "pending"
        assert (await client.get("/healthz")).status_code == 200
    await app.state.deps.db.dispose()


def test_a_malformed_encryption_key_is_explained(settings):
    env = serve_env(settings)
    env["ENCRYPTION_KEY"] = "not-a-fernet-key"
    result = subprocess.run([sys.executable, "-m", "bot", "serve", "--port", str(free_port())], env=env,
                            cwd=settings.data_dir, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "ENCRYPTION_KEY entry 1 is not a Fernet key" in result.stderr and "Traceback" not in result.stderr


def test_the_demo_runs_on_a_fresh_machine_and_shows_what_people_see(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "ENCRYPTION"))}
    env["COLUMNS"] = "100"
    result = subprocess.run([sys.executable, "-m", "bot", "demo"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for seen in ("Recent meetings in Hedy", "Meeting minutes", "Open todos", "I didn't understand",
                 "posted by meetings-bot", "in the thread", "still has 1 digest", "demo finished"):
        assert seen in out
    assert "Traceback" not in out + result.stderr
    assert list(tmp_path.iterdir()) == []  # it leaves nothing behind
