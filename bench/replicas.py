"""Three replicas on one PostgreSQL database, one killed with SIGKILL in the middle and started again.

Three `meetings-bot serve` processes share a fresh PostgreSQL database; the Slack and Hedy
stand-ins run in their own processes (Slack takes one post per second per channel, Hedy answers
each request after --hedy-latency). A round-robin client (a load balancer: a replica that
refuses the connection is skipped) sends --webhooks signed `session.ended` webhooks across
--channels workspaces, each with its own channel and key, at a constant rate. Once a third of
the digests are out, one replica is killed with SIGKILL (no shutdown, no cleanup) and started
again a second later on the same port.

Reported: every digest posted exactly once (none lost, none doubled), the time until all are
posted, and how long the claims held at the kill stayed stuck (the killed replica's last until
their lease ran out; the live replicas' finish at once).

    python bench/replicas.py [--replicas 3 --webhooks 300 --channels 30]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/meetings_bot_bench_replicas]

The database named in --database-url is dropped and created again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import (
    BOT_TOKEN,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Stack,
    digests_by_meeting,
    hedy_key,
    signed_session_ended,
    stop,
)

from bot.delivery import inbox
from bot.fakes.server import free_port


def recreate_database(url: str) -> str:
    parsed = make_url(url)
    name = parsed.database
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def connect_all(stack: Stack, database_url: str, channels: int) -> list[str]:
    """`meetings-bot connect` for each workspace, in this process (30 CLI start-ups cost a minute)."""
    from bot.services.connections import connect_standalone
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=database_url, data_dir=Path(stack.folder),
                        encryption_key=stack.env["ENCRYPTION_KEY"], hedy_api_url=stack.hedy_url,
                        public_url="https://bench.example.com")

    async def run() -> list[str]:
        paths = []
        for number in range(channels):
            connection, *_ = await connect_standalone(settings, team=f"T0REP{number:02d}", provider="hedy",
                                                      api_key=hedy_key(number), channel=f"C0REP{number:02d}",
                                                      webhook_secret=WEBHOOK_SECRET)
            paths.append(f"/webhooks/hedy/{connection.webhook_token}")
        return paths

    return asyncio.run(run())


class Replica:
    def __init__(self, stack: Stack, number: int) -> None:
        self.stack, self.number, self.port = stack, number, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(stack.folder) / f"replica-{number}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.stack.env, cwd=self.stack.folder, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.number} did not come up:\n{self.log.read_text()[-3000:]}")


async def send_webhooks(replicas: list[Replica], paths: list[str], count: int, rate: float,
                        answered: dict[int, float]) -> None:
    """Constant rate, round-robin; a refused connection moves on to the next replica."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def one(number: int) -> None:
            body, headers = signed_session_ended(number)
            for attempt in range(len(replicas) * 3):
                replica = replicas[(number + attempt) % len(replicas)]
                try:
                    async with session.post(replica.url + paths[number % len(paths)], data=body,
                                            headers=headers) as response:
                        await response.read()
                        if response.status == 200:
                            answered[number] = time.monotonic()
                            return
                except (TimeoutError, aiohttp.ClientError):
                    pass
                await asyncio.sleep(0.05)

        started = time.monotonic()
        tasks = []
        for number in range(count):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(number)))
        await asyncio.gather(*tasks)


def held_claims(database_url: str) -> tuple[set[int], set[int]]:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as connection:
        events = {row[0] for row in connection.execute("SELECT id FROM inbox_events WHERE status = 'processing'")}
        messages = {row[0] for row in connection.execute(
            "SELECT id FROM slack_messages WHERE locked_until IS NOT NULL")}
    return events, messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--channels", type=int, default=30)
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks a second")
    parser.add_argument("--hedy-latency", type=float, default=0.3)
    parser.add_argument("--kill-after", type=float, default=1 / 3, help="fraction of digests out before the kill")
    parser.add_argument("--no-kill", action="store_true", help="the same run without the kill, for comparison")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/meetings_bot_bench_replicas"))
    args = parser.parse_args()
    database_url = recreate_database(args.database_url)
    count = args.webhooks

    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(folder, hedy_keys=args.channels, hedy_latency=args.hedy_latency, bench_sessions=count,
                      post_interval=1.0)
        stack.env.update(DATABASE_URL=database_url, LOG_LEVEL="INFO", PUBLIC_URL="https://bench.example.com",
                         SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
        replicas: list[Replica] = []
        try:
            paths = connect_all(stack, database_url, args.channels)
            replicas = [Replica(stack, n) for n in range(args.replicas)]
            for replica in replicas:
                replica.start()
            for replica in replicas:
                replica.wait_ready()

            answered: dict[int, float] = {}
            started = time.monotonic()
            sender = threading.Thread(target=lambda: asyncio.run(
                send_webhooks(replicas, paths, count, args.rate, answered)))
            sender.start()

            victim = replicas[len(replicas) // 2]
            killed_at = restarted_at = None
            stuck: dict[str, float] = {}
            held: tuple[set[int], set[int]] = (set(), set())
            deadline = started + 300
            posts: list[dict] = []
            while time.monotonic() < deadline:
                posts = stack.slack_posts()
                done = len(digests_by_meeting(posts))
                if not args.no_kill and killed_at is None and done >= count * args.kill_after:
                    held = held_claims(database_url)
                    os.kill(victim.process.pid, signal.SIGKILL)
                    victim.process.wait()
                    killed_at = time.monotonic()
                    time.sleep(1.0)
                    victim.start()
                    restarted_at = time.monotonic()
                if killed_at is not None and (held[0] or held[1]):
                    still = held_claims(database_url)
                    now = time.monotonic() - killed_at
                    for kind, before, after in (("inbox", held[0], still[0]), ("outbox", held[1], still[1])):
                        for row in before - after:
                            stuck.setdefault(f"{kind}:{row}", now)
                        if not (before & after):
                            held = (set(), held[1]) if kind == "inbox" else (held[0], set())
                if done >= count and len(answered) >= count:
                    break
                time.sleep(0.1)
            all_posted = time.monotonic() - started
            sender.join()
            time.sleep(3.0)  # anything still in flight would show up as a double now
            posts = stack.slack_posts()
        finally:
            for replica in replicas:
                if replica.process is not None and replica.process.poll() is None:
                    stop(replica.process)
            stack.close()
        logs = "\n".join(r.log.read_text(errors="replace") for r in replicas) if replicas else ""

    digests = digests_by_meeting(posts)
    per_meeting = Counter({number: len(found) for number, found in digests.items()})
    lost = sorted(set(range(count)) - set(digests))
    doubled = {number: n for number, n in per_meeting.items() if n > 1}
    refused = sum(1 for post in posts if post["status"] == 429)
    print(f"{args.replicas} replicas on PostgreSQL, {count} webhooks across {args.channels} channels at "
          f"{args.rate:.0f}/s, Hedy answering in {args.hedy_latency:.1f} s, Slack 1 post/s/channel")
    print(f"  webhooks answered 2xx: {len(answered)} of {count}")
    print(f"  digests posted exactly once: {sum(1 for n in per_meeting.values() if n == 1)}; "
          f"lost: {len(lost)}{' ' + str(lost[:10]) if lost else ''}; doubled: {doubled or 0}")
    per_channel = Counter(post["channel"] for post in posts if post["ok"])
    floor = max(per_channel.values(), default=1) - 1  # one post a second per channel, digests and thread replies
    print(f"  all digests posted {all_posted:.1f} s after the first webhook; {sum(per_channel.values())} messages "
          f"in all (Slack's pace alone: {floor} s); 429s from Slack: {refused}")
    if killed_at is not None:
        slow = sorted(stuck.values())
        longest = max(slow) if slow else 0.0
        print(f"  replica {victim.number} killed with SIGKILL at {killed_at - started:.1f} s, started again "
              f"{restarted_at - killed_at:.1f} s later; claims held at the kill: {len(stuck)} "
              f"(inbox and outbox, all replicas); the longest stayed stuck {longest:.1f} s after the kill "
              f"(all digests out {all_posted - (killed_at - started):.1f} s after the kill) "
              f"(lease {inbox.LEASE.total_seconds():.0f} s, renewed every {inbox.LEASE.total_seconds() / 3:.0f} s "
              "while the replica lives)")
    print(f"  tracebacks in the replicas' logs: {logs.count('Traceback')}")
    return 0 if not lost and not doubled and len(answered) == count else 1


if __name__ == "__main__":
    sys.exit(main())
