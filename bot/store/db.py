"""The async engine and session scope. SQLite (aiosqlite) is the embedded default;
PostgreSQL (psycopg 3) is the multi-replica store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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


def _walk(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def describe_database_error(database_url: str, exc: BaseException) -> str | None:
    """One sentence naming the server (host:port) or the SQLite file, when `exc` means the database
    cannot be reached, opened or written; None for any other error."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    chain = list(_walk(exc))
    if not any(isinstance(e, (DBAPIError, OSError)) or type(e).__module__.startswith(("psycopg", "sqlite3"))
               for e in chain):
        return None
    text = " ".join(str(e) for e in chain).lower()
    try:
        url = make_url(database_url)
    except Exception:
        return "DATABASE_URL is not a database URL the bot understands; see the settings table in docs/operating.md."
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").expanduser().resolve() if url.database else None
        if "readonly" in text or "read-only" in text:
            return (f"The SQLite database file {path} is read-only: give the bot's user write access to it "
                    "and its directory, or point DATABASE_URL elsewhere.")
        if "unable to open" in text or "no such file" in text or "permission denied" in text or \
                isinstance(exc, OSError):
            return (f"Cannot open the SQLite database file {path}: its directory does not exist or is not "
                    "writable by the bot's user. Create the directory or point DATABASE_URL elsewhere.")
        if "locked" in text:
            return f"The SQLite database file {path} is locked by another process; stop it or wait and retry."
        return None
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    name = url.database or ""
    if "does not exist" in text and "database" in text:
        return (f'The PostgreSQL server at {where} has no database named "{name}": create it '
                f"(createdb -h {url.host or 'localhost'} -p {url.port or 5432} {name}) or fix DATABASE_URL.")
    if "password authentication failed" in text or "no pg_hba.conf entry" in text or ("role" in text and \
            "does not exist" in text):
        return (f'The PostgreSQL server at {where} refused the login of user "{url.username}": check the user '
                "and password in DATABASE_URL.")
    if any(word in text for word in ("connection refused", "could not connect", "connection failed",
                                     "timeout", "timed out", "name or service not known", "no route",
                                     "could not translate host", "network is unreachable",
                                     "server closed the connection")):
        return (f"Cannot reach the PostgreSQL server at {where} (database \"{name}\"): is it running and "
                "reachable from here, and is DATABASE_URL right?")
    return None


def sqlite_path_problem(database_url: str) -> str | None:
    """Checked before SQLite is opened: a sentence when its file cannot be created or written."""
    import os

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).expanduser().resolve()
    if path.exists():
        if path.is_dir():
            return f"DATABASE_URL points at {path}, which is a directory, not an SQLite database file."
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
            return (f"The SQLite database file {path} is not writable by the bot's user: fix its permissions "
                    "(and its directory's), or point DATABASE_URL elsewhere.")
        return None
    if not path.parent.is_dir():
        return (f"Cannot create the SQLite database file {path}: the directory {path.parent} does not exist. "
                "Create it or point DATABASE_URL elsewhere.")
    if not os.access(path.parent, os.W_OK):
        return (f"Cannot create the SQLite database file {path}: the directory {path.parent} is not writable by "
                "the bot's user. Fix its permissions or point DATABASE_URL elsewhere.")
    return None


async def database_problem(database_url: str) -> str | None:
    """A sentence when the database cannot be used (down, missing, unwritable), else None."""
    problem = sqlite_path_problem(database_url)
    if problem or database_url.startswith("sqlite"):
        return problem
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return describe_database_error(database_url, exc) or f"Cannot use the database: {type(exc).__name__}."
    finally:
        await db.dispose()
    return None
