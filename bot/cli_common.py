"""What every `meetings-bot` command shares: the consoles, one-sentence failures, settings that
load or say what is wrong, and a database that answers or says where it is not."""

from __future__ import annotations

import asyncio
import unicodedata
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings, get_settings

console = Console()
# Never wrapped: an error is one line however narrow the terminal (scripts read it; a terminal wraps it anyway).
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)


def warn(message: str) -> None:
    errors.print(f"[yellow]Warning:[/] {escape(message)}")


def settings_problem(exc: ValidationError) -> str:
    """One sentence per bad setting, named the way the operator set it (the environment variable)."""
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error.get("loc") else "a setting"
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{name}: {message}" if name not in message else message)
    return "; ".join(parts)


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        fail(settings_problem(exc), 2)


def require_database(settings: Settings) -> None:
    """Before a command touches the database: one sentence (host:port, or the SQLite file) if it cannot."""
    from bot.store.db import database_problem

    problem = asyncio.run(database_problem(settings.database_url))
    if problem:
        fail(problem)


class DatabaseUnavailable(Exception):
    """Raised inside a command when the database cannot be used; `main` prints it as one sentence."""


async def checked_database(settings: Settings):
    """A Database for a command, migrated, or DatabaseUnavailable with the sentence."""
    from bot.store import migrate as migrations
    from bot.store.db import Database, database_problem

    problem = await database_problem(settings.database_url)
    if problem:
        raise DatabaseUnavailable(problem)
    db = Database(settings.database_url)
    try:
        await migrations.upgrade(db.engine)
    except BaseException:
        await db.dispose()
        raise
    return db


def visible(ch: str) -> str:
    """One character of outside text as a terminal may show it: control, format, separator,
    surrogate, private and unassigned code points (escape sequences, bidi overrides, line breaks)
    as visible escapes like \x1b or \u202e, so they cannot act on the operator's terminal."""
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        return ch.encode("unicode_escape").decode("ascii")
    return ch
