"""Operator commands: `rotate-key` and `connections list|remove`."""

from __future__ import annotations

import asyncio

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli_common import checked_database, console, fail, load_settings

connections_cli = typer.Typer(help="Workspaces' provider connections: see and remove them.", no_args_is_help=True)


def register(cli: typer.Typer) -> None:
    cli.command("rotate-key")(rotate_key)
    cli.add_typer(connections_cli, name="connections")


def _box(settings):
    from bot.store.crypto import EncryptionKeyError, secret_box

    try:
        return secret_box(settings)
    except EncryptionKeyError as exc:
        fail(str(exc), 2)


def rotate_key() -> None:
    """Re-encrypt every stored secret under the first key of ENCRYPTION_KEY; then the others can go.

    To rotate: put a new key first, the old one after it (ENCRYPTION_KEY=new,old), restart the
    servers, run this, then set ENCRYPTION_KEY=new and restart again."""
    from bot.store.crypto import SecretBoxError
    from bot.store.secrets import rotate

    settings = load_settings()
    box = _box(settings)
    keys = len(settings.encryption_key.get_secret_value().split(",")) if settings.encryption_key else 1

    async def run() -> int:
        db = await checked_database(settings)
        try:
            return await rotate(db, box)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(run())
    except SecretBoxError as exc:
        fail(f"Nothing was changed: {exc}")
    console.print(f"Re-encrypted {count} stored secret{'s' if count != 1 else ''} under the first key of "
                  "ENCRYPTION_KEY." + (" The other keys can now be removed from ENCRYPTION_KEY (restart the "
                                       "servers after)." if keys > 1 else ""))


@connections_cli.command("list")
def connections_list(team: str | None = typer.Option(None, help="Only this workspace.")) -> None:
    """Every connection: workspace, provider, status, digest channel, the key's last characters."""
    from bot.services.connections import list_connections

    settings = load_settings()

    async def run():
        db = await checked_database(settings)
        try:
            return await list_connections(db, team)
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    if not rows:
        console.print("No connections" + (f" for workspace {escape(team)}" if team else "") +
                      ". `meetings-bot connect` or `/meetings setup` adds one.")
        return
    table = Table()
    for column in ("team", "provider", "status", "channel", "key", "webhook secret", "last webhook", "updated"):
        table.add_column(column)
    for row in rows:
        table.add_row(escape(row.team_id), escape(row.provider), escape(row.status), escape(row.default_channel or "-"),
                      f"…{escape(row.api_key_hint)}" if row.api_key_hint else "set",
                      "yes" if row.webhook_secret_encrypted else "no",
                      row.last_webhook_at.strftime("%Y-%m-%d %H:%M") if row.last_webhook_at else "never",
                      row.updated_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@connections_cli.command("remove")
def connections_remove(team: str = typer.Option(..., help="The workspace whose connections to remove."),
                       yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Remove a workspace's connections with their stored keys, secrets and records (as /meetings disconnect)."""
    from bot.deps import Deps
    from bot.providers.registry import ProviderFactory
    from bot.services.connections import list_connections
    from bot.services.setup import disconnect

    settings = load_settings()
    box = _box(settings)

    async def run():
        db = await checked_database(settings)
        factory = ProviderFactory(settings)
        deps = Deps(settings=settings, db=db, box=box, factory=factory)
        try:
            existing = await list_connections(db, team)
            if not existing:
                return None
            if not yes and not typer.confirm(
                    f"Remove {', '.join(c.provider for c in existing)} for workspace {team}, with its stored key "
                    "and records?", default=False):
                return False
            return await disconnect(deps, team_id=team, user_id="cli")
        finally:
            await deps.aclose()
            await db.dispose()

    removed = asyncio.run(run())
    if removed is None:
        fail(f"Workspace {team} has no connections; `meetings-bot connections list` shows the ones there are.")
    if removed is False:
        console.print("Nothing was removed.")
        return
    console.print(f"Removed {', '.join(removed.names)} for workspace {escape(team)}.")
    for problem in removed.problems:
        console.print(f"[yellow]Note:[/] {escape(problem)}")
