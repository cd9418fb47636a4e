"""`meetings-bot`: serve, migrate, connect, manifest, doctor, demo."""

from __future__ import annotations

import asyncio
import sys
from importlib import resources

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot.cli_common import (
    DatabaseUnavailable,
    checked_database,
    console,
    errors,
    fail,
    load_settings,
    require_database,
    visible,
    warn,
)
from bot.cli_routes import routes_cli
from bot.settings import Settings

cli = typer.Typer(help="meetings-bot: meeting notes from Hedy and friends, in Slack.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


@cli.command()
def serve(host: str = typer.Option("0.0.0.0", help="Interface to listen on."),
          port: int = typer.Option(3000, help="Port to listen on.")) -> None:
    """Run the HTTP app (Slack requests, provider webhooks); applies migrations first."""
    import uvicorn

    from bot import logging_setup
    from bot.slack.app import ConfigurationError
    from bot.store.crypto import EncryptionKeyError
    from bot.web import create_app

    settings = load_settings()
    logging_setup.configure(settings.log_level, settings.log_format,
                            secrets=logging_setup.settings_secrets(settings))
    require_database(settings)
    if settings.public_url_warning:
        warn(settings.public_url_warning)
    try:
        asyncio.run(_first_use_key(settings))  # the key file, if there is no key at all yet
        app = create_app(settings)
    except (ConfigurationError, EncryptionKeyError) as exc:
        fail(str(exc), 2)
    if settings.metrics_port is None:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=True, proxy_headers=True)
        return
    from bot.web import metrics_app

    # Two servers in one event loop: the public app, and /metrics alone on METRICS_PORT.
    public = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=True,
                                           proxy_headers=True))
    private = uvicorn.Server(uvicorn.Config(metrics_app(app.state.deps), host=host, port=settings.metrics_port,
                                            # access_log=False would silence uvicorn.access for both
                                            # servers (uvicorn sets it on the shared logger).
                                            log_config=None, access_log=True, lifespan="off"))

    async def both() -> None:
        # Whichever server catches SIGTERM/SIGINT stops first; the other follows.
        tasks = [asyncio.create_task(public.serve()), asyncio.create_task(private.serve())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        public.should_exit = private.should_exit = True
        await asyncio.gather(*tasks)

    asyncio.run(both())


async def _first_use_key(settings: Settings) -> None:
    from bot.store.db import Database
    from bot.store.secrets import first_use_box

    db = Database(settings.database_url)
    try:
        await first_use_box(settings, db)
    finally:
        await db.dispose()


@cli.command()
def migrate() -> None:
    """Apply database migrations (serve does this on start, too)."""
    from bot.store import migrate as migrations
    from bot.store.db import Database

    settings = load_settings()
    require_database(settings)

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
    channel: str | None = typer.Option(None, help="Default channel id for digests, like C0123ABCD."),
    webhook_secret: str | None = typer.Option(None, envvar="MEETINGS_BOT_WEBHOOK_SECRET",
                                                 help="Signing secret of the provider's webhook, if it has one."),
    meeting_started_notes: bool | None = typer.Option(
        None, "--meeting-started-notes/--no-meeting-started-notes",
        help="Post a short note when a recording starts (off unless turned on)."),
    meeting_ended_notes: bool | None = typer.Option(
        None, "--meeting-ended-notes/--no-meeting-ended-notes",
        help="Post a short note when a meeting ends (Whereby; off unless turned on)."),
    owner: str | None = typer.Option(None, help="The Slack user whose account this is, like U0123ABCD: "
                                                   "approves its held meetings."),
) -> None:
    """Connect a workspace to a provider account: checks the key, stores it encrypted, prints the webhook URL."""
    from bot.providers.base import AuthError, PermissionDenied, ProviderError
    from bot.providers.registry import UnknownProvider
    from bot.services.connections import connect_standalone
    from bot.store.crypto import EncryptionKeyError

    if owner is not None:
        typed, owner = owner, owner.strip().removeprefix("<@").removesuffix(">").split("|", 1)[0].lstrip("@")
        if not (owner[:1] in ("U", "W") and owner.isascii() and owner.isalnum() and 3 <= len(owner) <= 32):
            fail(f"{typed!r} is not a Slack user id; user ids look like U0123ABCD.", 2)
    settings = load_settings()
    require_database(settings)
    try:
        result = asyncio.run(connect_standalone(settings, team=team, provider=provider, api_key=api_key,
                                                channel=channel, webhook_secret=webhook_secret,
                                                meeting_started_notes=meeting_started_notes,
                                                meeting_ended_notes=meeting_ended_notes, owner=owner,
                                                vet=slack_vetting(settings, team=team, channel=channel)))
    except (UnknownProvider, EncryptionKeyError) as exc:
        fail(str(exc), 2)
    except SlackCheckFailed as exc:
        fail(f"{exc}. Nothing was stored.")
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
    if connection.owner_id:
        console.print(f"  Owner: {connection.owner_id} (approves its held meetings).")
    console.print(f"  Webhook URL (paste it into {provider}'s webhook settings):\n  [bold]{url}[/]")
    if not connection.webhook_secret_encrypted:
        console.print("  No webhook signing secret stored: the bot relies on the secret URL and re-fetches "
                      "every meeting from the API. Add one with --webhook-secret when the provider shows it.")


class SlackCheckFailed(Exception):
    """`--team` or `--channel` is not what Slack says."""


def slack_vetting(settings: Settings, *, team: str, channel: str | None):
    """What `connect` checks with Slack before it stores anything: the team is the bot token's
    (or an installed workspace), the channel exists. A check Slack cannot answer is a warning."""

    async def vet(db, box) -> None:
        from bot.slack.checks import check_team_and_channel

        team_check, channel_check = await check_team_and_channel(settings, db, box, team, channel)
        for check in (team_check, channel_check):
            if check is not None and check.ok is False:
                raise SlackCheckFailed(check.detail)
        if team_check.ok is None:
            warn(team_check.detail)  # (then the channel could not be checked either)
        elif channel_check is not None and channel_check.ok is None:
            warn(channel_check.detail)

    return vet


def manifest_text(public_url: str) -> str:
    template = resources.files("bot").joinpath("manifest.yml").read_text()
    return template.replace("https://meetings-bot.example.com", public_url.rstrip("/"))


@cli.command()
def manifest() -> None:
    """Print the Slack app manifest with this server's PUBLIC_URL filled in."""
    sys.stdout.write(manifest_text(load_settings().public_url))


@cli.command()
def doctor() -> None:
    """Check settings, database, Slack and every stored connection; exit 1 if anything is wrong."""
    from bot.doctor import run_checks

    results = asyncio.run(run_checks(load_settings()))
    table = Table(title="meetings-bot doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in results:
        verdict = "[red]problem[/]" if not check.ok else "[yellow]warning[/]" if check.warning else "[green]ok[/]"
        table.add_row(escape(check.name), verdict, escape(check.detail))
    console.print(table)
    if not all(check.ok for check in results):
        raise typer.Exit(1)


@cli.command()
def demo(provider: str = typer.Option("hedy", help="Which provider's flow to play.")) -> None:
    """Run the whole flow locally with stand-ins for Slack and the provider; no accounts needed."""
    from bot.demo import run_demo

    raise typer.Exit(run_demo(console, provider=provider))


def literal(value: str) -> Text:
    """Text from outside (webhook ids, event names, error messages) shown exactly as it is: never
    read as rich markup (`[/bold]` would crash the table), and control characters (terminal escape
    sequences, bidi overrides, newlines) shown as visible escapes instead of acting on the terminal."""
    return Text("".join(visible(ch) for ch in value))


inbox_cli = typer.Typer(help="The webhook inbox: see and retry events.", no_args_is_help=True)
cli.add_typer(inbox_cli, name="inbox")
cli.add_typer(routes_cli, name="routes")


async def _with_db(work):
    db = await checked_database(load_settings())
    try:
        return await work(db)
    finally:
        await db.dispose()


@inbox_cli.command("list")
def inbox_list(status: str | None = typer.Option(None, help="pending, processing, done, dead or ignored."),
               team: str | None = typer.Option(None, help="Only this workspace."),
               request: str | None = typer.Option(None, help="Only the event with this request id (from a log line)."),
               limit: int = typer.Option(50, help="How many, newest first.")) -> None:
    """Recent webhook events with their status and request id; `--status dead` shows the ones that gave up."""
    from bot.delivery import inbox

    async def work(db):
        return await inbox.counts(db, team_id=team), await inbox.list_events(db, status=status, team_id=team,
                                                                            request_id=request, limit=limit)

    totals, events = asyncio.run(_with_db(work))
    summary = ", ".join(f"{count} {name}" for name, count in sorted(totals.items())) or "empty"
    console.print(f"Inbox: {summary}.")
    if not events:
        console.print(Text("No events" + (f" with status {status}" if status else "")
                           + (f" with request id {request}" if request else "") + "."))
        return
    table = Table()
    for column in ("id", "team", "event", "meeting", "status", "attempts", "received", "request id", "last error"):
        # A request id is folded in a narrow terminal, never cut short: it is what the logs are searched for.
        table.add_column(column, overflow="fold" if column == "request id" else "ellipsis")
    for event in events:
        table.add_row(str(event.id), literal(event.team_id), literal(event.event_type),
                      literal(event.meeting_id or "-"), literal(event.status), str(event.attempts),
                      event.received_at.strftime("%Y-%m-%d %H:%M:%S"), literal(event.request_id or "-"),
                      literal((event.last_error or "")[:80]))
    console.print(table)


@inbox_cli.command("retry")
def inbox_retry(event_ids: list[int] | None = typer.Argument(None, help="Event ids; all dead events if none."),
                team: str | None = typer.Option(None, help="Only this workspace's dead events.")) -> None:
    """Put dead events back in the queue; a running server picks them up within a second or two."""
    from bot.delivery import inbox

    count = asyncio.run(_with_db(lambda db: inbox.retry(db, event_ids=event_ids or None, team_id=team)))
    console.print(f"{count} dead event{'s' if count != 1 else ''} queued again." if count
                  else "No dead events to retry.")


from bot import cli_admin  # noqa: E402  (its commands register on `cli`)

cli_admin.register(cli)


# click's exceptions, wherever this typer keeps its click (its own copy since typer 0.22).
_clicks = sys.modules[typer.BadParameter.__module__]
_NoArgsIsHelp = getattr(_clicks, "NoArgsIsHelpError", ())
_Abort = (typer.Abort, getattr(_clicks, "Abort", typer.Abort))


def usage_problem(exc: Exception) -> str:
    """A mistyped command line as one line for stderr: what is wrong, and where the help is."""
    message = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and isinstance(exc, _clicks.UsageError):
        message = f"{message.rstrip('.')}. See `{ctx.command_path} --help`."
    return message


def main() -> None:
    """The `meetings-bot` entry point: a database that cannot be used is one sentence, never a traceback;
    a mistyped command line is one line too (scripts and people read stderr)."""
    from bot.store.db import describe_database_error

    try:
        code = cli(standalone_mode=False)
    except _NoArgsIsHelp as exc:
        sys.exit(exc.exit_code)  # typer has printed the help
    except _clicks.ClickException as exc:
        errors.print(f"[bold red]Error:[/] {escape(usage_problem(exc))}")
        sys.exit(exc.exit_code)
    except _Abort:
        errors.print("[bold red]Error:[/] Aborted.")
        sys.exit(1)
    except DatabaseUnavailable as exc:
        errors.print(f"[bold red]Error:[/] {escape(str(exc))}")
        sys.exit(1)
    except Exception as exc:
        try:
            url = load_settings().database_url
        except BaseException:
            raise exc from None
        sentence = describe_database_error(url, exc)
        if sentence is None:
            raise
        errors.print(f"[bold red]Error:[/] {escape(sentence)}")
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
