"""A year of a mid-size deployment on PostgreSQL: does the background work cost what is due, or
what is stored?

Seeds (fast, with INSERT … SELECT generate_series) 2,000 workspaces with one Hedy connection
each, 200,000 webhook events, 100,000 Slack messages, 50,000 todos owned by 5,000 people in 20
time zones (a fifth of them at UTC+1), then measures with the bot's own code:

- the database time a minute of an idle server costs (the inbox worker and the Slack sender for
  --idle-seconds, scaled to a minute, plus the share of a minute of the scheduled jobs);
- one reminders tick with nobody at 9:00, and one at a busy 9:00 (about 1,000 people due);
- one full reconcile run over the 2,000 connections, with the Hedy stand-in answering at once
  and at 100 ms, and a second replica starting the same run meanwhile;
- the sender's due query;
- two events of one meeting processed at once, 200 times: UniqueViolation retries;

then adds 900,000 sent messages (1,000,000 in all) and measures the idle cost and the due
query again. `--scale 10` seeds ten times more of everything.

Goals (issue 14): idle cost flat from 100k to 1M messages (within 20%), an idle reminders tick
under 0.5 s with 0 Slack calls, reconcile of 2,000 connections at 100 ms under 30 s on one
replica, 0 UniqueViolation retries.

    python bench/scale.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_h7_scale]
                          [--scale 1] [--idle-seconds 20]

The database named in the URL is emptied (its public schema dropped) and created if missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import BOT_TOKEN, hedy_key, start, stop, wait_until_up

from bot.fakes.server import free_port

UTC = UTC
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_h7_scale"
# 20 zones; the four at UTC+1 in November make 08:00 UTC a busy 9:00 (a fifth of the people).
ZONES = ["Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome", "America/Los_Angeles", "America/Denver",
         "America/Chicago", "America/New_York", "America/Sao_Paulo", "Europe/London", "Africa/Nairobi",
         "Asia/Dubai", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
         "Pacific/Auckland", "Pacific/Honolulu", "America/Anchorage"]
IDLE_NOW = datetime(2026, 11, 24, 11, 5, tzinfo=UTC)  # a Tuesday, 11:05 UTC: 9:00 in none of ZONES, Monday nowhere
BUSY_NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 9:00 at UTC+1


# --------------------------------------------------------------------------- measuring


@dataclass
class Tally:
    statements: int = 0
    seconds: float = 0.0
    samples: list[str] = field(default_factory=list)


@contextmanager
def database_time(engine):
    """Statements sent and the time spent in them (as the client sees it) while the block runs."""
    tally = Tally()
    started: dict[int, float] = {}

    def before(_conn, cursor, statement, _params, _context, _many):
        started[id(cursor)] = time.perf_counter()

    def after(_conn, cursor, statement, _params, _context, _many):
        tally.statements += 1
        tally.seconds += time.perf_counter() - started.pop(id(cursor), time.perf_counter())

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        yield tally
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "after_cursor_execute", after)


def slack_calls(slack_url: str) -> int:
    return httpx.get(slack_url + "/_fake/stats", timeout=30).json()["api_calls"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --------------------------------------------------------------------------- seeding


async def ensure_database(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = create_async_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        exists = (await connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})).first()
        if not exists:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


async def fresh_schema(db) -> None:
    from bot.store import migrate

    async with db.engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(db.engine)


async def seed(db, box, *, scale: int, meeting_ids: list[str]) -> dict[str, int]:
    workspaces = 2000 * scale
    people = 5000 * scale
    todos = 50000 * scale
    events = 200000 * scale
    messages = 100000 * scale
    zones = "ARRAY[" + ",".join(f"'{z}'" for z in ZONES) + "]"
    async with db.engine.begin() as connection:
        await connection.execute(text(f"""
            INSERT INTO workspaces (team_id, name, created_at, installed_by, timezone)
            SELECT 'T' || lpad(g::text, 6, '0'), 'Workspace ' || g, now() - interval '1 year',
                   'U' || lpad(g::text, 7, '0'), ({zones})[1 + g % {len(ZONES)}]
            FROM generate_series(0, {workspaces - 1}) g"""))
        # One Hedy connection each, with its own key (encrypted, as `connect` stores it).
        rows = [dict(team_id=f"T{n:06d}", provider="hedy", api_key_encrypted=box.encrypt(hedy_key(n % 10000)),
                     api_key_hint="0000", webhook_token=f"tok{n:07d}", default_channel=f"C{n:07d}", status="active",
                     options="{}", created_at=datetime(2025, 1, 1), updated_at=datetime(2025, 1, 1),
                     last_webhook_at=None)
                for n in range(workspaces)]
        await connection.execute(text("""
            INSERT INTO connections (team_id, provider, api_key_encrypted, api_key_hint, webhook_token,
                                     default_channel, status, options, created_at, updated_at, last_webhook_at)
            VALUES (:team_id, :provider, :api_key_encrypted, :api_key_hint, :webhook_token, :default_channel,
                    :status, CAST(:options AS JSON), :created_at, :updated_at, :last_webhook_at)"""), rows)
        # People: person p is in workspace p % workspaces, in zone p % 20.
        await connection.execute(text(f"""
            INSERT INTO member_zones (team_id, user_id, zone, refreshed_at)
            SELECT 'T' || lpad((p % {workspaces})::text, 6, '0'), 'U' || lpad(p::text, 7, '0'),
                   ({zones})[1 + p % {len(ZONES)}], now()
            FROM generate_series(0, {people - 1}) p"""))
        # Todos: four in five open, undated and seen over a week ago (so a 9:00 reminds of them).
        await connection.execute(text(f"""
            INSERT INTO todo_states (connection_id, team_id, meeting_id, meeting_title, todo_key, position, text,
                                     status, assignee, first_seen_at, updated_at, meeting_started_at)
            SELECT 1 + (t % {people}) % {workspaces}, 'T' || lpad(((t % {people}) % {workspaces})::text, 6, '0'),
                   'hist' || (t / 5), 'Meeting ' || (t / 5), 'k' || t, t % 5, 'Follow up on item ' || t,
                   CASE WHEN t % 5 = 0 THEN 'done' ELSE 'open' END, 'U' || lpad((t % {people})::text, 7, '0'),
                   now() - interval '30 days' - (t % 300) * interval '1 day', now(),
                   now() - interval '30 days' - (t % 300) * interval '1 day'
            FROM generate_series(0, {todos - 1}) t"""))
        # Webhook events of the last 29 days (retention keeps 30): processed, their bodies already
        # dropped; one in 400 dead, with its body.
        await connection.execute(text(f"""
            INSERT INTO inbox_events (connection_id, team_id, provider, event_type, dedupe_key, meeting_id, payload,
                                      status, attempts, next_attempt_at, received_at, processed_at)
            SELECT 1 + g % {workspaces}, 'T' || lpad((g % {workspaces})::text, 6, '0'), 'hedy', 'session.ended',
                   'delivery-' || g, 'hist' || g,
                   CASE WHEN g % 400 = 0 THEN repeat('{{"transcript": "…"}}', 50) ELSE '' END,
                   CASE WHEN g % 400 = 0 THEN 'dead' ELSE 'done' END, 1, now(),
                   now() - (g % 29) * interval '1 day', now() - (g % 29) * interval '1 day'
            FROM generate_series(0, {events - 1}) g"""))
    listed = await add_messages(db, messages, workspaces=workspaces, meeting_ids=meeting_ids, start=0)
    await vacuum(db)
    return dict(workspaces=workspaces, connections=workspaces, people=people, todos=todos, events=events,
                messages=messages, listed_digests=listed)


async def add_messages(db, count: int, *, workspaces: int, meeting_ids: list[str], start: int) -> int:
    """`count` sent messages (digests, thread pages, highlights, meeting-started notes; reminders
    and recaps would be expired by the retention job after a week or a month). The first batch includes a digest
    for every meeting the Hedy stand-in lists, for every connection: nothing for reconcile to do."""
    listed = 0
    async with db.engine.begin() as connection:
        if start == 0 and meeting_ids:
            ids = "ARRAY[" + ",".join(f"'{m}'" for m in meeting_ids) + "]"
            listed = workspaces * len(meeting_ids)
            await connection.execute(text(f"""
                INSERT INTO slack_messages (connection_id, team_id, meeting_id, channel, kind, priority, payload,
                    content_hash, sent_hash, ts, state, attempts, next_attempt_at, created_at, updated_at, sent_at,
                    sent_channel, title)
                SELECT 1 + c, 'T' || lpad(c::text, 6, '0'), ({ids})[1 + m], 'C' || lpad(c::text, 7, '0'), 'digest',
                       0, '{{"text": "Meeting notes"}}', 'h', 'h', '1700000000.' || lpad((c * 100 + m)::text, 6, '0'),
                       'active', 0, now(), now() - interval '2 days', now(), now() - interval '2 days',
                       'C' || lpad(c::text, 7, '0'), 'Demo meeting'
                FROM generate_series(0, {workspaces - 1}) c, generate_series(0, {len(meeting_ids) - 1}) m"""))
        rest = count - listed
        await connection.execute(text(f"""
            INSERT INTO slack_messages (connection_id, team_id, meeting_id, channel, kind, priority, payload,
                content_hash, sent_hash, ts, state, attempts, next_attempt_at, created_at, updated_at, sent_at,
                sent_channel, title)
            SELECT 1 + g % {workspaces}, 'T' || lpad((g % {workspaces})::text, 6, '0'), 'hist' || g,
                   'C' || lpad((g % {workspaces})::text, 7, '0'),
                   (ARRAY['digest', 'todos:1', 'todos:2', 'highlights', 'started'])[1 + g % 5], 10,
                   '{{"text": "' || repeat('A meeting summary line. ', 8) || '"}}', md5(g::text), md5(g::text),
                   '1600000000.' || lpad((g % 1000000)::text, 6, '0'), 'active', 0,
                   now() - (g % 365) * interval '1 day', now() - (g % 365) * interval '1 day', now(),
                   now() - (g % 365) * interval '1 day', 'C' || lpad((g % {workspaces})::text, 7, '0'),
                   'Meeting ' || g
            FROM generate_series({start}, {start + rest - 1}) g"""))
    await vacuum(db)  # as autovacuum would have, long before a year's data is a year old
    return listed


async def vacuum(db) -> None:
    async with db.engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))


# --------------------------------------------------------------------------- the bot's parts


def make_deps(url: str, *, slack_url: str, hedy_url: str, key: str):
    from bot.deps import Deps
    from bot.providers.registry import ProviderFactory
    from bot.settings import Settings
    from bot.store.crypto import SecretBox
    from bot.store.db import Database

    settings = Settings(_env_file=None, database_url=url, slack_api_url=slack_url + "/api/", slack_bot_token=BOT_TOKEN,
                        slack_signing_secret="bench", encryption_key=key, hedy_api_url=hedy_url)
    return Deps(settings=settings, db=Database(url), box=SecretBox([key]), factory=ProviderFactory(settings))


async def server_time(deps, captured: list[tuple[str, object]]) -> float:
    """What PostgreSQL itself spends on these statements (planning and execution, from EXPLAIN
    ANALYZE of each distinct statement with its last parameters, times how often it ran), free
    of this machine's scheduling noise. Run in a transaction that is rolled back: the inbox
    claim is an UPDATE (with nothing due, it changes nothing anyway)."""
    import json

    counts: dict[str, int] = {}
    last: dict[str, object] = {}
    for statement, parameters in captured:
        if statement.lstrip().upper().startswith(("SELECT PG_", "BEGIN", "COMMIT", "ROLLBACK")):
            continue
        counts[statement] = counts.get(statement, 0) + 1
        last[statement] = parameters
    total = 0.0
    async with deps.db.engine.connect() as connection:
        for statement, count in counts.items():
            async with connection.begin() as transaction:
                rows = (await connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement,
                                                         last[statement])).all()
                await transaction.rollback()
            plan = rows[0][0] if not isinstance(rows[0][0], str) else json.loads(rows[0][0])
            total += count * (plan[0]["Planning Time"] + plan[0]["Execution Time"]) / 1000
    return total


@contextmanager
def capture(engine):
    captured: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield captured
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def idle_minute(deps, *, seconds: float) -> dict[str, float]:
    """Database time a minute of an idle server: the always-on loops (inbox worker, Slack sender)
    watched for `seconds` and scaled to a minute, plus each scheduled job's share of a minute
    (one run each). As PostgreSQL times it; the client's view is kept for comparison."""
    from bot.delivery.workers import Workers
    from bot.jobs.followups import run_followups
    from bot.jobs.retention import run_retention
    from bot.jobs.scheduler import FOLLOWUPS_EVERY, RETENTION_EVERY

    workers = Workers(deps)
    with database_time(deps.db.engine) as loops, capture(deps.db.engine) as loop_statements:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(workers._inbox_loop()), loop.create_task(workers.sender.run())]
        await asyncio.sleep(seconds)
        workers._stopping.set()
        workers.sender.stop()
        deps.inbox_wakeup.set()
        await asyncio.gather(*tasks)
    with capture(deps.db.engine) as followups:
        await run_followups(deps, IDLE_NOW)
    with capture(deps.db.engine) as retention:
        await run_retention(deps)
    per_minute = {
        "inbox worker + sender": await server_time(deps, loop_statements) * 60 / seconds,
        "follow-ups tick": await server_time(deps, followups) * 60 / FOLLOWUPS_EVERY.total_seconds(),
        "retention": await server_time(deps, retention) * 60 / RETENTION_EVERY.total_seconds(),
    }
    per_minute["total"] = sum(per_minute.values())
    per_minute["statements a minute"] = (len(loop_statements) * 60 / seconds + len(followups) / 5
                                         + len(retention) / 10)
    per_minute["as the client saw the loops"] = loops.seconds * 60 / seconds
    return per_minute


async def due_query(deps, runs: int = 50) -> tuple[float, float]:
    from bot.delivery import outbox

    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        await outbox.due(deps.db)
        times.append(time.perf_counter() - begin)
    with database_time(deps.db.engine) as tally:
        for _ in range(runs):
            await outbox.due(deps.db)
    return statistics.median(times), tally.seconds / runs


async def due_query_server_time(deps) -> tuple[float, float, str]:
    """The due query the sender sends, as PostgreSQL itself times it (EXPLAIN ANALYZE of the very
    statement and parameters): planning and execution, free of this machine's scheduling noise.
    Returns (planning, execution, the index it used)."""
    import json

    from bot.delivery import outbox

    captured: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        captured.append((statement, parameters))

    event.listen(deps.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await outbox.due(deps.db)
    finally:
        event.remove(deps.db.engine.sync_engine, "before_cursor_execute", record)
    statement, parameters = captured[-1]
    async with deps.db.engine.connect() as connection:
        rows = (await connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)).all()
    plan = rows[0][0] if not isinstance(rows[0][0], str) else json.loads(rows[0][0])
    top = plan[0]
    text_plan = json.dumps(top["Plan"])
    index = next((name for name in ("ix_slack_messages_unsent", "ix_slack_messages_due") if name in text_plan),
                 "no index")
    return top["Planning Time"] / 1000, top["Execution Time"] / 1000, index


async def reminders_tick(deps, now: datetime, slack_url: str) -> dict[str, float]:
    from bot.jobs.followups import run_followups

    before = slack_calls(slack_url)
    with database_time(deps.db.engine) as tally:
        begin = time.perf_counter()
        reminders, _recaps = await run_followups(deps, now)
        elapsed = time.perf_counter() - begin
    return dict(seconds=elapsed, statements=tally.statements, db_seconds=tally.seconds, queued=reminders,
                slack_calls=slack_calls(slack_url) - before)


async def reconcile_run(url: str, *, slack_url: str, hedy_url: str, key: str) -> dict[str, float]:
    """A full pass over every connection, while a second replica starts the same job."""
    from bot.jobs.reconcile import reconcile_all

    deps = make_deps(url, slack_url=slack_url, hedy_url=hedy_url, key=key)
    other = make_deps(url, slack_url=slack_url, hedy_url=hedy_url, key=key)
    try:
        with database_time(deps.db.engine) as tally:
            begin, cpu = time.perf_counter(), time.process_time()
            leader_run = asyncio.get_running_loop().create_task(reconcile_all(deps, quiet_for=None))
            await asyncio.sleep(0.5)
            second_begin = time.perf_counter()
            second = await reconcile_all(other, quiet_for=None)
            second_seconds = time.perf_counter() - second_begin
            queued = await leader_run
            elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
    finally:
        await deps.aclose()
        await deps.db.dispose()
        await other.aclose()
        await other.db.dispose()
    return dict(seconds=elapsed, cpu=cpu, statements=tally.statements, db_seconds=tally.seconds, queued=queued,
                second_replica_queued=second, second_replica_seconds=second_seconds)


async def todo_race(deps, meetings: int = 200) -> tuple[int, int]:
    """Each meeting's todos written by two events at once. Returns (syncs, unique-key failures)."""
    from bot.providers.base import Meeting, Todo
    from bot.services import todos as todo_service
    from bot.store.models import Connection

    async with deps.db.session() as session:
        connection = await session.get(Connection, 1)
    failures = 0
    for number in range(meetings):
        meeting = Meeting(id=f"race{number}", title=f"Race {number}", started_at=datetime.now(UTC),
                          todos=[Todo(id=f"t{number}.{i}", text=f"Todo {i}") for i in range(10)])
        results = await asyncio.gather(*(todo_service.sync_meeting(deps.db, connection, meeting) for _ in range(2)),
                                       return_exceptions=True)
        failures += sum(1 for r in results if isinstance(r, IntegrityError))
        other = [r for r in results if isinstance(r, BaseException) and not isinstance(r, IntegrityError)]
        if other:
            raise other[0]
    return meetings * 2, failures


async def listed_meeting_ids(hedy_url: str) -> list[str]:
    from bot.providers.registry import ProviderFactory
    from bot.settings import Settings

    settings = Settings(_env_file=None, hedy_api_url=hedy_url)
    factory = ProviderFactory(settings)
    provider = factory.build("hedy", hedy_key(0))
    try:
        page = await provider.list_meetings(limit=50)
    finally:
        await provider.aclose()
        await factory.aclose()
    return [m.id for m in page.items]


# --------------------------------------------------------------------------- the run


async def main(args) -> None:
    from bot.store.crypto import SecretBox

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    folder = tempfile.mkdtemp(prefix="bench-scale-")
    connections = 2000 * args.scale
    slack_port, hedy_port, slow_port = free_port(), free_port(), free_port()
    slack_url = f"http://127.0.0.1:{slack_port}"
    keys = []
    for number in range(min(connections, 10000)):
        keys += ["--api-key", hedy_key(number)]
    processes = [
        start([sys.executable, "-m", "bot.fakes", "slack", "--port", str(slack_port), "--bot-token", BOT_TOKEN],
              os.environ.copy(), folder),
        start([sys.executable, "-m", "bot.fakes", "hedy", "--port", str(hedy_port), "--rate-limit", "100000", *keys],
              os.environ.copy(), folder),
        start([sys.executable, "-m", "bot.fakes", "hedy", "--port", str(slow_port), "--latency", "0.1",
               "--rate-limit", "100000", *keys], os.environ.copy(), folder),
    ]
    hedy_url, slow_url = f"http://127.0.0.1:{hedy_port}", f"http://127.0.0.1:{slow_port}"
    try:
        for url in (slack_url, hedy_url, slow_url):
            wait_until_up(url)
        await ensure_database(args.database_url)
        key = Fernet.generate_key().decode()
        deps = make_deps(args.database_url, slack_url=slack_url, hedy_url=hedy_url, key=key)
        print(f"PostgreSQL: {args.database_url}  scale: {args.scale}")
        await fresh_schema(deps.db)
        meeting_ids = await listed_meeting_ids(hedy_url)
        begin = time.perf_counter()
        volume = await seed(deps.db, SecretBox([key]), scale=args.scale, meeting_ids=meeting_ids)
        print(f"seeded in {time.perf_counter() - begin:.0f} s: {volume}")

        results: dict[str, object] = {}
        idle_small = await idle_minute(deps, seconds=args.idle_seconds)
        results["idle (100k)"] = idle_small
        print(f"idle server, database time a minute at {volume['messages']:,} messages: "
              + ", ".join(f"{k} {ms(v) if not k.startswith('statements') else f'{v:.0f}'}"
                          for k, v in idle_small.items()))
        due_small = await due_query(deps)
        plan_small = await due_query_server_time(deps)
        print(f"sender's due query at {volume['messages']:,}: {ms(due_small[0])} as the bot sees it, "
              f"PostgreSQL: planning {ms(plan_small[0])}, execution {ms(plan_small[1])} ({plan_small[2]})")

        idle_tick = await reminders_tick(deps, IDLE_NOW, slack_url)
        print(f"reminders tick, nobody at 9:00: {idle_tick['seconds']:.3f} s, {idle_tick['statements']} statements, "
              f"{idle_tick['slack_calls']} Slack calls")
        busy_tick = await reminders_tick(deps, BUSY_NOW, slack_url)
        print(f"reminders tick, busy 9:00: {busy_tick['seconds']:.1f} s, {busy_tick['queued']} DMs queued, "
              f"{busy_tick['statements']} statements, {busy_tick['slack_calls']} Slack calls")

        async with deps.db.engine.begin() as connection:  # as if the sender had posted them
            await connection.execute(text("UPDATE slack_messages SET sent_hash = content_hash, "
                                          "ts = '1700000001.000001', sent_at = now() WHERE kind = 'reminder'"))

        fast = await reconcile_run(args.database_url, slack_url=slack_url, hedy_url=hedy_url, key=key)
        print(f"reconcile of {connections:,} connections, provider at 0 ms: {fast['seconds']:.1f} s "
              f"(the bot's CPU {fast['cpu']:.1f} s), "
              f"{fast['statements']} statements, {fast['queued']} queued; second replica: "
              f"{fast['second_replica_queued']} queued in {ms(fast['second_replica_seconds'])}")
        slow = await reconcile_run(args.database_url, slack_url=slack_url, hedy_url=slow_url, key=key)
        print(f"reconcile of {connections:,} connections, provider at 100 ms: {slow['seconds']:.1f} s "
              f"(the bot's CPU {slow['cpu']:.1f} s), "
              f"{slow['statements']} statements, {slow['queued']} queued; second replica: "
              f"{slow['second_replica_queued']} queued in {ms(slow['second_replica_seconds'])}")

        syncs, failures = await todo_race(deps)
        print(f"todo race: {syncs} syncs of 200 meetings two at a time, {failures} UniqueViolation failures")

        begin = time.perf_counter()
        more = 900000 * args.scale
        await add_messages(deps.db, more, workspaces=volume["workspaces"], meeting_ids=[],
                           start=volume["messages"])
        total = volume["messages"] + more
        print(f"added {more:,} messages in {time.perf_counter() - begin:.0f} s ({total:,} in all)")
        idle_large = await idle_minute(deps, seconds=args.idle_seconds)
        print(f"idle server, database time a minute at {total:,} messages: "
              + ", ".join(f"{k} {ms(v) if not k.startswith('statements') else f'{v:.0f}'}"
                          for k, v in idle_large.items()))
        due_large = await due_query(deps)
        plan_large = await due_query_server_time(deps)
        print(f"sender's due query at {total:,}: {ms(due_large[0])} as the bot sees it, "
              f"PostgreSQL: planning {ms(plan_large[0])}, execution {ms(plan_large[1])} ({plan_large[2]})")
        idle_tick_large = await reminders_tick(deps, IDLE_NOW + timedelta(minutes=5), slack_url)

        growth = idle_large["total"] / idle_small["total"] - 1 if idle_small["total"] else 0.0
        print()
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("goals:")
        print(f"  idle cost flat from {volume['messages']:,} to {total:,} messages (within 20%): "
              f"{ms(idle_small['total'])} → {ms(idle_large['total'])} a minute ({growth:+.0%})"
              f"  {'OK' if abs(growth) <= 0.2 else 'MISSED'}")
        print(f"  idle reminders tick under 0.5 s with 0 Slack calls: {idle_tick['seconds']:.3f} s "
              f"({idle_tick_large['seconds']:.3f} s at {total:,}), {idle_tick['slack_calls']} calls, "
              f"{idle_tick['statements']} statements  "
              f"{'OK' if idle_tick['seconds'] < 0.5 and idle_tick['slack_calls'] == 0 else 'MISSED'}")
        print(f"  reconcile of {connections:,} connections at 100 ms under 30 s on one replica: "
              f"{slow['seconds']:.1f} s, second replica {slow['second_replica_queued']} queued  "
              f"{'OK' if slow['seconds'] < 30 else 'MISSED'}")
        print(f"  0 UniqueViolation retries: {failures}  {'OK' if failures == 0 else 'MISSED'}")
        await deps.aclose()
        await deps.db.dispose()
    finally:
        for process in processes:
            stop(process)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--scale", type=int, default=1, help="10 seeds ten times more of everything")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="how long the idle loops are watched")
    asyncio.run(main(parser.parse_args()))
