"""One replica at a time: a scheduled job that every replica starts runs its body only on the
replica that holds a PostgreSQL advisory lock for it. SQLite runs one process, so there the
body always runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from bot.store.db import Database

# One key per job, so a slow reconcile never delays the 9:00 reminders.
FOLLOWUPS_LOCK = 0x6D656574  # "meet"
RECONCILE_LOCK = 0x6D656575
RETENTION_LOCK = 0x6D656576
ZONES_LOCK = 0x6D656577
DIRECTORY_LOCK = 0x6D656578  # member directories for todo owners (bot/jobs/directory.py)


@asynccontextmanager
async def leader(db: Database, key: int) -> AsyncIterator[bool]:
    """Yields True when this replica holds the lock for `key` (and keeps it until the block ends),
    False when another replica is already running the job."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    async with db.engine.connect() as connection:
        # Autocommit: the lock belongs to the session, and an open transaction held for a whole
        # reconcile run would keep VACUUM from cleaning up behind every other writer.
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        got = bool((await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar())
        if not got:
            yield False
            return
        try:
            yield True
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
