"""`meetings-bot serve` killed with SIGKILL in the middle of a webhook burst, then started again.

A real server process receives a burst of signed `session.ended` webhooks over HTTP (some of
them delivered twice), fetches each meeting from a slow Hedy stand-in and posts the digests at
Slack's pace. While the digests are still going out (and some meetings are still being fetched)
the process is killed with SIGKILL: no shutdown, no cleanup. A second process is started on the
same database, and nothing is delivered again. What was answered 2xx must still be posted, and
posted once: the only double allowed is one message Slack accepted just before the kill, whose
`ts` the dead process had no time to write down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.delivery import inbox, outbox
from bot.fakes.hedy import webhook_request
from bot.fakes.server import free_port
from bot.store.models import SlackMessage
from tests.conftest import CHANNEL, WEBHOOK_SECRET
from tests.helpers import inbox_rows, wait_until
from tests.test_serve import serve_env

MEETINGS = 30
TWICE = range(0, MEETINGS, 3)  # these meetings' webhooks are delivered twice
HEDY_LATENCY = 1.0  # seconds per Hedy request: the inbox is still busy when the kill comes
SLACK_POST_INTERVAL = 1.0  # the stand-in answers 429 to a second post in a channel within a second
KILL_AFTER_DIGESTS = 3
TITLE = re.compile(r"^Meeting notes: (Crash drill \d\d) \(")


def title(i: int) -> str:
    return f"Crash drill {i:02d}"


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class ServeProcesses:
    settings: object
    started: list[Served] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> Served:
        port = free_port()
        log = Path(self.settings.data_dir) / f"serve-{len(self.started) + 1}.log"
        with log.open("w") as out:  # a file, not a pipe: nobody reads it while the server runs
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=serve_env(self.settings), cwd=self.settings.data_dir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, text=True)
        served = Served(process=process, url=f"http://127.0.0.1:{port}", log=log)
        self.started.append(served)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{served.output()}")
            try:
                if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                    return served
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        pytest.fail(f"serve did not come up in {timeout} s:\n{served.output()}")

    def logs(self) -> str:
        return "\n".join(f"----- serve process {n} (pid {s.process.pid}, exit {s.process.poll()})\n"
                         f"{s.output()[-6000:]}" for n, s in enumerate(self.started, start=1))

    def stop_all(self) -> None:
        for served in self.started:
            if served.process.poll() is None:
                served.process.kill()  # by its own pid: only what this fixture started
            with contextlib.suppress(subprocess.TimeoutExpired):
                served.process.wait(timeout=10)


@pytest.fixture
def serve_processes(settings):
    processes = ServeProcesses(settings)
    try:
        yield processes
    finally:
        processes.stop_all()


def digest_counts(fake_slack) -> Counter:
    """How many top-level messages in the channel carry each drill meeting's digest."""
    counts: Counter = Counter()
    for message in fake_slack.channel_messages(CHANNEL):
        if message.get("thread_ts"):
            continue
        found = TITLE.match(message.get("text") or "")
        counts[found.group(1) if found else "(other) " + (message.get("text") or "")[:60]] += 1
    return counts


async def outbox_rows(db) -> list[SlackMessage]:
    async with db.session() as session:
        return list((await session.exec(select(SlackMessage).order_by(SlackMessage.id))).all())


async def test_a_burst_survives_kill_9_in_the_middle(settings, db, fake_hedy, fake_slack, signed_connection,
                                                   serve_processes):
    postgres = db.engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    sessions = [fake_hedy.add_session(sessionId=f"sess_crash_{i:02d}", title=title(i), duration=900,
                                      startTime=now - timedelta(hours=3) + timedelta(minutes=5 * i))
                for i in range(MEETINGS)]  # no todos or highlights: one digest, no thread, per meeting
    fake_hedy.latency = HEDY_LATENCY
    fake_slack.per_channel_post_interval = SLACK_POST_INTERVAL

    first = serve_processes.start()
    hook_url = f"{first.url}/webhooks/hedy/{signed_connection.webhook_token}"

    # The burst: every meeting once, every third one twice, in a shuffled order, ten at a time.
    deliveries = [s["sessionId"] for s in sessions] + [sessions[i]["sessionId"] for i in TWICE]
    random.Random(20260514).shuffle(deliveries)
    gate = asyncio.Semaphore(10)

    async def deliver(client: httpx.AsyncClient, session_id: str) -> tuple[str, int, str]:
        body, headers = webhook_request("session.ended", fake_hedy.session_webhook_payload(session_id),
                                        secret=WEBHOOK_SECRET)
        async with gate:
            response = await client.post(hook_url, content=body, headers=headers)
        return session_id, response.status_code, response.json().get("message", "")

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=20) as client:
        answers = await asyncio.gather(*(deliver(client, s) for s in deliveries))
    burst_seconds = time.monotonic() - started
    assert all(status == 200 for _, status, _ in answers), answers
    stored = Counter(sid for sid, _, message in answers if message == "stored")
    assert stored == Counter({s["sessionId"]: 1 for s in sessions}), answers  # each duplicate recognised
    acknowledged = {sid for sid, status, _ in answers if 200 <= status < 300}  # every one, before the kill

    # Kill -9 once a few digests are out: the rest are queued, claimed, or being fetched from Hedy.
    await wait_until(lambda: sum(digest_counts(fake_slack).values()) >= KILL_AFTER_DIGESTS, timeout=30,
                     interval=0.005, what=f"{KILL_AFTER_DIGESTS} digests from the first process",
                     logs=serve_processes.logs)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    killed_at = time.monotonic()
    assert first.process.returncode == -signal.SIGKILL
    posted_before_kill = sum(digest_counts(fake_slack).values())
    at_kill = Counter(row.status for row in await inbox_rows(db))
    claimed_at_kill = sum(1 for row in await outbox_rows(db) if row.locked_until is not None)
    assert posted_before_kill < MEETINGS, "the kill came too late to test anything"

    # A new process on the same database. Nothing is delivered again: the inbox has it all.
    second = serve_processes.start()
    restarted_at = time.monotonic()
    # On PostgreSQL the dead process's claims are honoured until their lease runs out.
    patience = 60 + (max(inbox.LEASE, outbox.LEASE).total_seconds() if postgres else 0)
    await wait_until(lambda: set(digest_counts(fake_slack)) >= {title(i) for i in range(MEETINGS)},
                     timeout=patience, interval=0.1, what="every meeting's digest after the restart",
                     logs=lambda: f"{digest_counts(fake_slack)}\n{serve_processes.logs()}")
    recovered_seconds = time.monotonic() - restarted_at

    # Settled: every event done, every message sent as stored and unclaimed, so nothing more will go out.
    async def settled():
        events, messages = await inbox_rows(db), await outbox_rows(db)
        return (all(e.status == "done" for e in events)
                and all(m.state == "active" and m.ts and m.sent_hash == m.content_hash and m.locked_until is None
                        for m in messages)) and (events, messages)

    events, messages = await wait_until(settled, timeout=max(patience - recovered_seconds, 5), interval=0.1,
                                        what="the inbox and outbox to settle", logs=serve_processes.logs)
    settled_seconds = time.monotonic() - restarted_at

    # Hedy retries later: still stored once, still posted once.
    hook_url = f"{second.url}/webhooks/hedy/{signed_connection.webhook_token}"
    async with httpx.AsyncClient(timeout=20) as client:
        late = [await deliver(client, sessions[i]["sessionId"]) for i in (1, 2)]
    assert [(status, message) for _, status, message in late] == [(200, "duplicate")] * 2
    assert len(await inbox_rows(db)) == MEETINGS

    counts = digest_counts(fake_slack)
    doubled = {name: n for name, n in counts.items() if n > 1}
    print(f"\n[{db.engine.dialect.name}] burst of {len(deliveries)} deliveries acknowledged in {burst_seconds:.1f} s; "
          f"killed after {posted_before_kill} digests, inbox then {dict(at_kill)}, outbox claims {claimed_at_kill}; "
          f"up again {restarted_at - killed_at:.1f} s later; "
          f"every meeting posted {recovered_seconds:.1f} s and all settled {settled_seconds:.1f} s after the restart "
          f"({time.monotonic() - started:.1f} s from the burst); "
          f"doubled: {doubled or 'none'}")

    # Every acknowledged meeting posted (none re-delivered after the kill), nothing but digests.
    assert {s["sessionId"] for s in sessions} == acknowledged
    assert set(counts) == {title(i) for i in range(MEETINGS)}, counts
    # At most one message doubled, by a kill between Slack's answer and the database write.
    assert sum(n - 1 for n in counts.values()) <= 1, counts
    assert all(not m.get("thread_ts") for m in fake_slack.channel_messages(CHANNEL))
    # One inbox row per meeting, all done; one outbox row per meeting, pointing at a posted message.
    assert sorted(e.meeting_id for e in events) == sorted(s["sessionId"] for s in sessions)
    assert {e.status for e in events} == {"done"}
    assert sorted(m.meeting_id for m in messages) == sorted(s["sessionId"] for s in sessions)
    posted_ts = {m["ts"] for m in fake_slack.channel_messages(CHANNEL)}
    assert {m.ts for m in messages} <= posted_ts
    assert len(fake_slack.calls_to("chat.postMessage", ok=True)) == sum(counts.values())
    # Neither process logged an error trace.
    for served in (first, second):
        assert "Traceback" not in served.output(), served.output()[-6000:]
