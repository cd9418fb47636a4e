"""The member directory of a 5,000-member workspace: read in pages, at most once a day.

The Slack stand-in serves 5,000 people through users.list with Slack's contract (200 a page by
the bot's choice, an opaque cursor, Tier 2: 20 calls a minute, 429 + Retry-After beyond) and
users.lookupByEmail at Tier 3 (50 a minute). The bot reads the directory once, paced within the
tier, then answers a second read from its stored copy without asking Slack, and looks up 60
owner emails twice (the second time from its cache). Reported: pages, time, 429s, calls.

    python bench/directory.py [--members 5000] [--emails 60]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.deps import Deps
from bot.fakes.slack import FakeSlack
from bot.providers.registry import ProviderFactory
from bot.services import directory
from bot.settings import Settings
from bot.slack.directory import lookup_email, refresh_directory
from bot.store import migrate
from bot.store.crypto import SecretBox
from bot.store.db import Database

TEAM = "T0BENCH"
TOKEN = "xoxb-bench"


async def run(members: int, emails: int) -> int:
    fake = FakeSlack(bot_token=TOKEN, team_id=TEAM)
    fake.add_members(members)
    server = fake.serve()
    folder = tempfile.mkdtemp(prefix="directory-bench-")
    url = f"sqlite+aiosqlite:///{folder}/bot.db"
    db = Database(url)
    await migrate.upgrade(db.engine)
    settings = Settings(_env_file=None, database_url=url, data_dir=Path(folder), slack_signing_secret="x" * 32,
                        slack_bot_token=TOKEN, slack_api_url=fake.api_url, public_url="https://bot.example.test",
                        encryption_key=Fernet.generate_key().decode())
    deps = Deps(settings=settings, db=db, box=SecretBox([settings.encryption_key.get_secret_value()]),
                factory=ProviderFactory(settings))
    try:
        started = time.monotonic()
        stored = await refresh_directory(deps, TEAM)
        first = time.monotonic() - started
        started = time.monotonic()
        again = await refresh_directory(deps, TEAM)
        second = time.monotonic() - started
        started = time.monotonic()
        found = await directory.by_real_name(db, team_id=TEAM, name=f"Member {members // 2}")
        match_ms = (time.monotonic() - started) * 1000

        addresses = [f"member{n}@members.example" for n in range(1, emails + 1)]
        started = time.monotonic()
        resolved = [await lookup_email(deps, TEAM, a) for a in addresses]
        lookups = time.monotonic() - started
        started = time.monotonic()
        cached = [await lookup_email(deps, TEAM, a) for a in addresses]
        cached_time = time.monotonic() - started

        pages = fake.calls_to("users.list", ok=True)
        limited = [c for c in fake.calls_to("users.list") if c.status == 429]
        lookup_calls = fake.calls_to("users.lookupByEmail")
        print(f"members served:            {members}")
        print(f"first read:                {stored} people in {len(pages)} pages of "
              f"{pages[0].args.get('limit')}, {first:.1f} s, {len(limited)} x 429")
        print(f"second read the same day:  {'skipped' if again is None else again} in {second * 1000:.1f} ms, "
              f"{len(fake.calls_to('users.list')) - len(pages) - len(limited)} more users.list calls")
        print(f"name match in the store:   {found} in {match_ms:.1f} ms")
        print(f"{emails} email lookups:         {lookups:.1f} s, {len(lookup_calls)} calls, "
              f"{sum(1 for c in lookup_calls if c.status == 429)} x 429, {sum(1 for r in resolved if r)} found")
        print(f"the same {emails} again:        {cached_time * 1000:.1f} ms from the store, "
              f"{len(fake.calls_to('users.lookupByEmail')) - len(lookup_calls)} more calls")
        ok = (stored == members and again is None and found and all(resolved) and cached == resolved
              and len(fake.calls_to("users.lookupByEmail")) == emails)
        return 0 if ok else 1
    finally:
        await deps.aclose()
        await db.dispose()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--emails", type=int, default=60)
    args = parser.parse_args()
    return asyncio.run(run(args.members, args.emails))


if __name__ == "__main__":
    sys.exit(main())
