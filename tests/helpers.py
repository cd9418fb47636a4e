"""Helpers the test files share: waiting on something observable, and reading what Slack shows."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from bot.store.models import InboxEvent
from tests.conftest import CHANNEL


async def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, *,
                     what: str = "condition", logs: Callable[[], str] = lambda: "") -> Any:
    """The predicate's first truthy value (it may be async); fails the test after `timeout` seconds,
    saying `what` was awaited and, from `logs`, what the servers said meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f} s\n{logs()}".rstrip())
        await asyncio.sleep(interval)


def text_of(message: dict) -> str:
    """Everything a message shows (its blocks and its notification text), for `in` checks."""
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


def digests_in(fake_slack, channel: str = CHANNEL) -> list[dict]:
    """The channel's top-level messages (each meeting's digest or notice), oldest first."""
    return [m for m in fake_slack.channel_messages(channel) if not m.get("thread_ts")]


def replies_to(fake_slack, ts: str, channel: str = CHANNEL) -> list[dict]:
    return [m for m in fake_slack.channel_messages(channel) if m.get("thread_ts") == ts and m["ts"] != ts]


async def inbox_rows(db) -> list[InboxEvent]:
    """The stored webhook events, oldest first."""
    async with db.session() as session:
        return list((await session.exec(select(InboxEvent).order_by(col(InboxEvent.id)))).all())


class ManualClock:
    """A monotonic clock the test moves forward, for the TTLs that take a `clock`."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_inbox_list(settings, *args: str) -> subprocess.CompletedProcess:
    """`meetings-bot inbox list` as an operator runs it, in a terminal wide enough for every column."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), COLUMNS="400",
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value())
    return subprocess.run([sys.executable, "-m", "bot", "inbox", "list", *args], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=settings.data_dir, check=False)
