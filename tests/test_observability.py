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
from tests.helpers import inbox_rows, run_inbox_list

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


# ----------------------------------------------------------------------------- one webhook through the logs


def about(records, *words: str) -> list[dict]:
    """The lines an operator finds by grepping for all of `words` (a meeting id, an inbox id)."""
    return [r for r in records if all(word in r["message"] for word in words)]


async def test_a_webhook_and_all_the_work_it_causes_log_under_its_request_id(
        captured_log, hedy_webhooks, fake_hedy, fake_slack, workers, deps, settings, monkeypatch):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(inbox, "MAX_ATTEMPTS", 2)
    fake_hedy.fail_next(401, times=2, path=f"/sessions/{SESSION}")  # both attempts: then a dead letter
    response = await hedy_webhooks.send("session.ended", {"sessionId": SESSION, "title": "Weekly sync"},
                                        headers={"X-Request-ID": "edge-hook-7"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "edge-hook-7"
    [dead] = await wait_until(lambda: lines(captured_log(), "^gave up on hedy event", "ERROR"))
    [row] = await inbox_rows(deps.db)
    assert row.request_id == "edge-hook-7" and f"inbox retry {row.id}" in dead["message"]

    # The operator retries it from `inbox list`; this time it goes through and the digest is posted.
    listed = run_inbox_list(settings, "--request", "edge-hook-7")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"│ {row.id} .* │ dead .* │ edge-hook-7 ", listed.stdout), listed.stdout
    assert await inbox.retry(deps.db, event_ids=[row.id]) == 1
    await wait_until(lambda: lines(captured_log(), "^digest posted"))
    await workers.idle()

    records = captured_log()
    [arrived] = lines(records, rf"^hedy webhook session\.ended for meeting {SESSION}: stored as inbox event {row.id}$",
                      "INFO")
    [retrying] = lines(records, rf"^attempt 1 of 2 failed for hedy event session\.ended \(inbox {row.id},", "WARNING")
    [posted] = lines(records, f"^digest posted: team {TEAM}, hedy meeting {SESSION}", "INFO")
    # Every line about the meeting, from the request to the digest, carries the request's id.
    followed = about(records, SESSION)
    assert {arrived["message"], retrying["message"], dead["message"], posted["message"]} <= {
        r["message"] for r in followed}
    assert {r["request_id"] for r in followed} == {"edge-hook-7"}


async def test_a_request_id_is_stored_only_once_it_passes_the_check(hedy_webhooks, deps, settings):
    sent = {"sess_a1": "x\x1b[31mred", "sess_a2": "y" * 65, "sess_a3": "two words", "sess_a4": "",
            "sess_a5": "edge:a_b.c-" + "9" * 53}  # the last one: 64 allowed characters, kept as it is
    answered = {}
    for session, request_id in sent.items():
        response = await hedy_webhooks.send("session.ended", {"sessionId": session},
                                            headers={"X-Request-ID": request_id})
        assert response.status_code == 200
        answered[session] = response.headers["x-request-id"]
    stored = {row.meeting_id: row.request_id for row in await inbox_rows(deps.db)}
    assert stored == answered  # what the webhook's sender was told is what the row keeps
    assert stored["sess_a5"] == sent["sess_a5"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", stored[s]) for s in ("sess_a1", "sess_a2", "sess_a3", "sess_a4"))

    # `inbox list` shows each id (and only what checked out); `--request` finds the row of one.
    listed = run_inbox_list(settings)
    assert listed.returncode == 0, listed.stderr
    assert all(request_id in listed.stdout for request_id in stored.values()), listed.stdout
    assert "\x1b" not in listed.stdout and "two words" not in listed.stdout
    one = run_inbox_list(settings, "--request", stored["sess_a2"])
    assert "sess_a2" in one.stdout and "sess_a1" not in one.stdout
    none = run_inbox_list(settings, "--request", "nothing-here")
    assert "No events with request id nothing-here." in none.stdout


async def test_an_event_reconcile_found_gets_an_id_of_its_own(captured_log, deps, fake_hedy, fake_slack,
                                                              signed_connection, workers):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from bot.jobs.reconcile import reconcile_all
    from bot.store.models import Connection

    async with deps.db.session() as session:  # connected an hour ago, then a meeting happened without a webhook
        await session.exec(update(Connection).values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    fresh = fake_hedy.add_session(title="Retro without a webhook",
                                  startTime=datetime.now(UTC) - timedelta(minutes=30), duration=1200)
    assert await reconcile_all(deps) == 1
    [posted] = await wait_until(lambda: lines(captured_log(), f"^digest posted: .*meeting {fresh['sessionId']}"))
    [row] = await inbox_rows(deps.db)
    assert re.fullmatch(r"reconcile-[0-9a-f]{32}", row.request_id or "")
    assert posted["request_id"] == row.request_id


async def test_migration_0012_keeps_the_events_already_stored_and_reverts(captured_log, db, deps, connected,
                                                                          fake_hedy, fake_slack):
    """From the previous head with an event waiting: the upgrade keeps it (without an id), the worker
    then logs it under its inbox id, and the downgrade drops only the column."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import inspect, text

    from bot.delivery.workers import Workers
    from bot.fakes.hedy import webhook_request
    from bot.store import migrate

    async def shape() -> tuple[set[str], dict[str, str]]:
        def read(connection) -> tuple[set[str], dict[str, str]]:
            found = inspect(connection)
            return ({c["name"] for c in found.get_columns("inbox_events")},
                    {i["name"]: " ".join(map(str, i.get("dialect_options", {}).values()))  # a partial one's WHERE
                     for i in found.get_indexes("inbox_events")})
        async with db.engine.connect() as connection:
            return await connection.run_sync(read)

    columns, indexes = await shape()
    assert "request_id" in columns and "dead" in indexes["ix_inbox_events_dead"]
    await migrate.downgrade(db.engine, "0011")
    assert await shape() == (columns - {"request_id"}, indexes)  # the partial indexes are still partial
    body, _ = webhook_request("session.ended", fake_hedy.session_webhook_payload(SESSION))
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
    async with db.engine.begin() as connection:
        await connection.execute(text(
            "INSERT INTO inbox_events (connection_id, team_id, provider, event_type, dedupe_key, meeting_id, payload, "
            "status, attempts, next_attempt_at, received_at) VALUES (:c, :t, 'hedy', 'session.ended', 'd1', :m, :p, "
            "'pending', 0, :now, :now)"), {"c": connected.id, "t": TEAM, "m": SESSION, "p": body.decode(), "now": now})

    await migrate.upgrade(db.engine)
    assert await shape() == (columns, indexes)
    [waiting] = await inbox_rows(db)
    assert waiting.request_id is None and waiting.status == "pending" and waiting.payload == body.decode()
    workers = Workers(deps, poll_seconds=0.05, channel_interval=0.05)
    await workers.start()
    try:
        [posted] = await wait_until(lambda: lines(captured_log(), f"^digest posted: .*meeting {SESSION}"))
        await workers.idle()
    finally:
        await workers.stop()
    assert posted["request_id"] == f"inbox-{waiting.id}"

    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE inbox_events SET request_id = 'edge-1'"))
    await migrate.downgrade(db.engine, "0011")
    assert await shape() == (columns - {"request_id"}, indexes)
    async with db.engine.connect() as connection:
        kept = (await connection.execute(text("SELECT meeting_id, status FROM inbox_events"))).all()
    assert [tuple(row) for row in kept] == [(SESSION, "done")]
    await migrate.upgrade(db.engine)


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
