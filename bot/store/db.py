"""The async engine and session scope. SQLite (aiosqlite) is the embedded default;
PostgreSQL (psycopg 3) is the multi-replica store."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def create_engine(database_url: str) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        # One connection, taken in turn: SQLite has one writer at a time anyway, and writers that
        # race for its lock wait in busy-timeout sleeps (1 to 100 ms each), which under a webhook
        # burst turned a 3 ms request into half a second. In turn, each waits only its turn.
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0,
                                     pool_timeout=60,
                                     # Sessions and engine.begin() always end in a commit or a rollback
                                     # of their own; the pool's extra rollback on return is a wasted
                                     # round trip to the SQLite thread on every transaction.
                                     pool_reset_on_return=None)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = create_engine(database_url)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends cleanly, rolled back otherwise."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
