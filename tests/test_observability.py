"""What an operator follows: log lines for commands and digests (posted, retried, given up), request
ids from the proxy to the background work, histograms and backlog gauges on /metrics, and
/metrics kept off the public port."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from bot import logging_setup
from bot.delivery import inbox
from bot.web import create_app, metrics_app
from tests.conftest import CHANNEL, TEAM

SESSION = "sess_demo_12"


@pytest.fixture
def captured_log(settings):
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    logging_setup.configure("INFO", "json", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def sample(name: str, labels: dict | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def wait_until(check, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def lines(records, pattern: str, level: str | None = None) -> list[dict]:
    return [r for r in records if re.search(pattern, r["message"]) and (level is None or r["level"] == level)]


# ----------------------------------------------------------------------------- request ids


async def test_a_request_id_from_the_proxy_is_echoed_and_a_new_one_is_made_otherwise(slack_user):
    given = await slack_user.client.get("/healthz", headers={"X-Request-ID": "edge-42.a"})
    assert given.headers["x-request-id"] == "edge-42.a"
    made = await slack_user.client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    hostile = await slack_user.client.get("/healthz", headers={"X-Request-ID": "x\u001b[31m" + "y" * 100})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])


@pytest.mark.slack_refuses
async def test_a_command_logs_one_line_and_its_background_work_carries_the_request_id(
        captured_log, slack_user, fake_slack, connected):
    fake_slack.fail_next("response_url", status=500, times=3)  # the answer cannot be delivered
    from bot.fakes import slack_requests
    from tests.conftest import SIGNING_SECRET, USER

    response_url = fake_slack.new_response_url()
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text="list 2", team_id=TEAM, user_id=USER,
                                                 channel_id=CHANNEL, response_url=response_url)
    response = await slack_user.client.post("/slack/events", content=body,
                                            headers={**headers, "X-Request-ID": "cmd-req-1"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "cmd-req-1"
    records = await wait_until(lambda: (r := captured_log()) and lines(r, "delivering an answer to Slack failed") and r)
    [handled] = lines(records, r"^/meetings list: acked 200 in [\d.]+ ms$", "INFO")
    assert handled["team"] == TEAM and handled["request_id"] == "cmd-req-1"
    [undelivered] = lines(records, "delivering an answer to Slack failed", "WARNING")
    assert undelivered["request_id"] == "cmd-req-1" and undelivered["team"] == TEAM  # from the background task


# ----------------------------------------------------------------------------- digests


async def test_a_posted_digest_is_one_info_line_and_its_latency_is_measured(captured_log, hedy_webhooks, workers,
                                                                            fake_slack):
    before = sample("meetings_bot_webhook_to_digest_seconds_count", {"provider": "hedy"})
    ingested = sample("meetings_bot_webhook_ingest_seconds_count", {"provider": "hedy"})
    assert (await hedy_webhooks.session_event(SESSION)).status_code == 200
    records = await wait_until(lambda: lines(captured_log(), "^digest posted"))
    [posted] = records
    assert posted["level"] == "INFO" and posted["team"] == TEAM
    assert all(part in posted["message"] for part in ("hedy meeting " + SESSION, f"channel {CHANNEL}",
                                                      "after its webhook"))
    assert sample("meetings_bot_webhook_to_digest_seconds_count", {"provider": "hedy"}) == before + 1
    assert sample("meetings_bot_webhook_ingest_seconds_count", {"provider": "hedy"}) == ingested + 1


@pytest.mark.slack_refuses
async def test_a_failed_post_is_a_warning_with_its_reason_and_a_dead_one_an_error(captured_log, hedy_webhooks,
                                                                                 workers, fake_slack):
    fake_slack.fail_next("chat.postMessage", status=503)
    assert (await hedy_webhooks.session_event(SESSION)).status_code == 200
    [warning] = await wait_until(lambda: lines(captured_log(), "attempt 1 to send the digest", "WARNING"))
    assert "HTTP 503" in warning["message"] and SESSION in warning["message"]

    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found", times=5)
    assert (await hedy_webhooks.session_event("sess_demo_11")).status_code == 200
    [error] = await wait_until(lambda: lines(captured_log(), "gave up on the digest", "ERROR"))
    assert "channel_not_found" in error["message"] and "sess_demo_11" in error["message"]


async def test_an_event_that_gives_up_is_an_error_line(captured_log, hedy_webhooks, deps, fake_hedy):
    assert (await hedy_webhooks.session_event(SESSION)).status_code == 200
    [event] = await inbox.claim(deps.db)
    event.attempts = inbox.MAX_ATTEMPTS
    from bot.delivery.workers import Workers

    await Workers(deps)._failed(event, "ProviderUnavailable: Hedy answered 503")
    [error] = lines(captured_log(), "gave up on hedy event", "ERROR")
    assert "Hedy answered 503" in error["message"] and f"inbox retry {event.id}" in error["message"]


# ----------------------------------------------------------------------------- /metrics


async def test_metrics_show_the_ack_histogram_and_the_backlog_gauges(slack_user, hedy_webhooks, deps):
    acks = sample("meetings_bot_slash_ack_seconds_count")
    await slack_user.ask("help")
    assert sample("meetings_bot_slash_ack_seconds_count") == acks + 1

    # Two webhooks stored, no worker running: a backlog of two, the oldest a moment old; one given up.
    assert (await hedy_webhooks.session_event(SESSION)).status_code == 200
    assert (await hedy_webhooks.session_event("sess_demo_11")).status_code == 200
    [first] = await inbox.claim(deps.db, limit=1)
    await inbox.fail(deps.db, first, "given up for the test", permanent=True)
    text = (await slack_user.client.get("/metrics")).text
    assert "meetings_bot_inbox_backlog 1.0" in text
    assert "meetings_bot_dead_events 1.0" in text
    assert "meetings_bot_outbox_backlog 0.0" in text
    age = float(re.search(r"^meetings_bot_oldest_pending_seconds (\S+)$", text, re.MULTILINE).group(1))
    assert 0 < age < 60
    assert "meetings_bot_slash_ack_seconds_bucket" in text and "meetings_bot_webhook_ingest_seconds_bucket" in text


async def test_metrics_can_require_a_bearer_token(settings, deps):
    settings.metrics_token = SecretStr("scrape-me-0123456789")
    app = create_app(settings, deps=deps, run_migrations=False, start_workers=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test") as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401 and "METRICS_TOKEN" in refused.text
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
        assert allowed.status_code == 200 and "meetings_bot_inbox_backlog" in allowed.text


async def test_with_a_metrics_port_the_public_app_has_no_metrics(settings, deps):
    settings.metrics_port = 9464
    app = create_app(settings, deps=deps, run_migrations=False, start_workers=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test") as client:
        assert (await client.get("/metrics")).status_code == 404
    private = metrics_app(deps)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=private), base_url="http://bot.test") as client:
        scraped = await client.get("/metrics")
        assert scraped.status_code == 200 and "meetings_bot_dead_events" in scraped.text
        assert (await client.get("/slack/events")).status_code == 404
