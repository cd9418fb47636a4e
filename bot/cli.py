"""`meetings-bot`: serve, migrate, connect, manifest, doctor, demo."""

from __future__ import annotations

import asyncio
import sys
from importlib import resources
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from bot.cli_routes import routes_cli
from bot.settings import Settings, get_settings

cli = typer.Typer(help="meetings-bot: meeting notes from Hedy and friends, in Slack.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


@cli.command()
def serve(host: str = typer.Option("0.0.0.0", help="Interface to listen on."),
          port: int = typer.Option(3000, help="Port to listen on.")) -> None:
    """Run the HTTP app (Slack requests, provider webhooks); applies migrations first."""
    import uvicorn

    from bot import logging_setup
    from bot.slack.app import ConfigurationError
    from bot.web import create_app

    from bot.store.crypto import EncryptionKeyError

    settings = get_settings()
    logging_setup.configure(settings.log_level)
    try:
        app = create_app(settings)
    except (ConfigurationError, EncryptionKeyError) as exc:
        fail(str(exc), 2)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=True, proxy_headers=True)


@cli.command()
def migrate() -> None:
    """Apply database migrations (serve does this on start, too)."""
    from bot.store import migrate as migrations
    from bot.store.db import Database

    settings = get_settings()

    async def run() -> str | None:
        db = Database(settings.database_url)
        try:
            await migrations.upgrade(db.engine)
            return await migrations.current_revision(db.engine)
        finally:
            await db.dispose()

    revision = asyncio.run(run())
    console.print(f"Database is at revision [bold]{revision}[/] (latest).")


@cli.command()
def connect(
    team: str = typer.Option(..., help="Slack team (workspace) id, like T0123ABCD."),
    provider: str = typer.Option("hedy", help="Meeting-notes service."),
    api_key: str = typer.Option(..., envvar="MEETINGS_BOT_API_KEY", prompt="API key", hide_input=True,
                                help="The provider API key (or set MEETINGS_BOT_API_KEY; prompted if missing)."),
    channel: Optional[str] = typer.Option(None, help="Default channel id for digests, like C0123ABCD."),
    webhook_secret: Optional[str] = typer.Option(None, envvar="MEETINGS_BOT_WEBHOOK_SECRET",
                                                 help="Signing secret of the provider's webhook, if it has one."),
    meeting_started_notes: Optional[bool] = typer.Option(
        None, "--meeting-started-notes/--no-meeting-started-notes",
        help="Post a short note when a recording starts (off unless turned on)."),
    meeting_ended_notes: Optional[bool] = typer.Option(
        None, "--meeting-ended-notes/--no-meeting-ended-notes",
        help="Post a short note when a meeting ends (Whereby; off unless turned on)."),
    owner: Optional[str] = typer.Option(None, help="The Slack user whose account this is, like U0123ABCD: "
                                                   "approves its held meetings."),
) -> None:
    """Connect a workspace to a provider account: checks the key, stores it encrypted, prints the webhook URL."""
    from bot.providers.base import AuthError, PermissionDenied, ProviderError
    from bot.providers.registry import UnknownProvider
    from bot.store.crypto import EncryptionKeyError

    if owner is not None and not (owner[:1] in ("U", "W") and owner.isalnum() and 3 <= len(owner) <= 32):
        fail(f"{owner!r} is not a Slack user id; user ids look like U0123ABCD.", 2)
    settings = get_settings()
    try:
        result = asyncio.run(run_connect(settings, team=team, provider=provider, api_key=api_key,
                                         channel=channel, webhook_secret=webhook_secret,
                                         meeting_started_notes=meeting_started_notes,
                                         meeting_ended_notes=meeting_ended_notes, owner=owner))
    except (UnknownProvider, EncryptionKeyError) as exc:
        fail(str(exc), 2)
    except AuthError as exc:
        fail(f"{provider} rejected the API key ({exc.code or exc.status}). Nothing was stored. "
             "Check that you copied the whole key and that it has not been revoked.")
    except PermissionDenied as exc:
        fail(f"{provider} accepted the key but refused access: {exc.message}. Nothing was stored.")
    except ProviderError as exc:
        fail(f"Could not check the key with {provider}: {exc.message}. Nothing was stored; try again.")
    connection, account, created, url = result
    who = account.email or account.name or "the key's owner"
    console.print(f"[green]✓[/] {'Connected' if created else 'Updated'} workspace [bold]{team}[/] to "
                  f"[bold]{provider}[/] as {who}.")
    if connection.default_channel:
        console.print(f"  Digests go to channel {connection.default_channel}.")
    console.print(f"  Webhook URL (paste it into {provider}'s webhook settings):\n  [bold]{url}[/]")
    if not connection.webhook_secret_encrypted:
        console.print("  No webhook signing secret stored: the bot relies on the secret URL and re-fetches "
                      "every meeting from the API. Add one with --webhook-secret when the provider shows it.")


async def run_connect(settings: Settings, *, team: str, provider: str, api_key: str, channel: str | None,
                      webhook_secret: str | None, meeting_started_notes: bool | None = None,
                      meeting_ended_notes: bool | None = None, owner: str | None = None):
    from bot.providers.registry import ProviderFactory, provider_info
    from bot.services import audit
    from bot.services.connections import connect as connect_service
    from bot.store import migrate as migrations
    from bot.store.crypto import secret_box
    from bot.store.db import Database

    provider_info(provider)  # unknown names fail before anything else happens
    db = Database(settings.database_url)
    factory = ProviderFactory(settings)
    try:
        await migrations.upgrade(db.engine)
        result = await connect_service(db, secret_box(settings), factory, team_id=team, provider=provider,
                                       api_key=api_key, channel=channel, webhook_secret=webhook_secret,
                                       meeting_started_notes=meeting_started_notes,
                                       options=({"post_meeting_ended": meeting_ended_notes}
                                                if meeting_ended_notes is not None else None),
                                       owner_id=owner)
        name = provider_info(provider).display_name
        await audit.record(db, team_id=team, actor="cli", action="connected" if result.created else "updated",
                           detail=f"{name} via meetings-bot connect"
                                  + (f", digests to <#{channel}>" if channel else "")
                                  + (f", owner <@{owner}>" if owner else ""))
    finally:
        await factory.aclose()
        await db.dispose()
    url = settings.webhook_url(result.connection.provider, result.connection.webhook_token)
    return result.connection, result.account, result.created, url


def manifest_text(public_url: str) -> str:
    template = resources.files("bot").joinpath("manifest.yml").read_text()
    return template.replace("https://meetings-bot.example.com", public_url.rstrip("/"))


@cli.command()
def manifest() -> None:
    """Print the Slack app manifest with this server's PUBLIC_URL filled in."""
    sys.stdout.write(manifest_text(get_settings().public_url))


@cli.command()
def doctor() -> None:
    """Check settings, database, Slack and every stored connection; exit 1 if anything is wrong."""
    from bot.doctor import run_checks

    results = asyncio.run(run_checks(get_settings()))
    table = Table(title="meetings-bot doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in results:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]problem[/]", check.detail)
    console.print(table)
    if not all(check.ok for check in results):
        raise typer.Exit(1)


@cli.command()
def demo(provider: str = typer.Option("hedy", help="Which provider's flow to play.")) -> None:
    """Run the whole flow locally with stand-ins for Slack and the provider; no accounts needed."""
    from bot.demo import run_demo

    raise typer.Exit(run_demo(console, provider=provider))


inbox_cli = typer.Typer(help="The webhook inbox: see and retry events.", no_args_is_help=True)
cli.add_typer(inbox_cli, name="inbox")
cli.add_typer(routes_cli, name="routes")


async def _with_db(work):
    from bot.store import migrate as migrations
    from bot.store.db import Database

    db = Database(get_settings().database_url)
    try:
        await migrations.upgrade(db.engine)
        return await work(db)
    finally:
        await db.dispose()


@inbox_cli.command("list")
def inbox_list(status: Optional[str] = typer.Option(None, help="pending, processing, done, dead or ignored."),
               team: Optional[str] = typer.Option(None, help="Only this workspace."),
               limit: int = typer.Option(50, help="How many, newest first.")) -> None:
    """Recent webhook events with their status; `--status dead` shows the ones that gave up."""
    from bot.delivery import inbox

    async def work(db):
        return await inbox.counts(db, team_id=team), await inbox.list_events(db, status=status, team_id=team,
                                                                            limit=limit)

    totals, events = asyncio.run(_with_db(work))
    summary = ", ".join(f"{count} {name}" for name, count in sorted(totals.items())) or "empty"
    console.print(f"Inbox: {summary}.")
    if not events:
        console.print("No events" + (f" with status {status}" if status else "") + ".")
        return
    table = Table()
    for column in ("id", "team", "event", "meeting", "status", "attempts", "received", "last error"):
        table.add_column(column)
    for event in events:
        table.add_row(str(event.id), event.team_id, event.event_type, event.meeting_id or "-", event.status,
                      str(event.attempts), event.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                      (event.last_error or "")[:80])
    console.print(table)


@inbox_cli.command("retry")
def inbox_retry(event_ids: Optional[list[int]] = typer.Argument(None, help="Event ids; all dead events if none."),
                team: Optional[str] = typer.Option(None, help="Only this workspace's dead events.")) -> None:
    """Put dead events back in the queue; a running server picks them up within a second or two."""
    from bot.delivery import inbox

    count = asyncio.run(_with_db(lambda db: inbox.retry(db, event_ids=event_ids or None, team_id=team)))
    console.print(f"{count} dead event{'s' if count != 1 else ''} queued again." if count
                  else "No dead events to retry.")


def main() -> None:
    cli()
