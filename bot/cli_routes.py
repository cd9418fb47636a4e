"""`meetings-bot routes …`: the workspace's routing rules from the server. An outside contract
(operators' scripts and outside tests use it): keep the commands, options and outputs as they are.

    routes list --team T…
    routes add --team T… --name NAME [conditions…] (--channel C…… | --dm-owner | --hold [--approver U…] | --skip)
               [--position N]                  prints the new rule's id
    routes remove --team T… ID
    routes move --team T… ID --position N
    routes builtin --team T… on|off
    routes explain --team T… --provider P --meeting ID     posts nothing
    routes domains --team T… [--set a.com,b.com]
"""

from __future__ import annotations

import asyncio

import typer

from bot.settings import get_settings

routes_cli = typer.Typer(help="Routing rules: where each meeting goes.", no_args_is_help=True)


def _say(line: str) -> None:
    # Plain lines (tabs kept, no wrapping): scripts read this output.
    typer.echo(line)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


async def _with_db(work):
    from bot.store import migrate as migrations
    from bot.store.db import Database

    db = Database(get_settings().database_url)
    try:
        await migrations.upgrade(db.engine)
        return await work(db)
    finally:
        await db.dispose()


def _run(work):
    from bot.services.route_rules import RuleError

    try:
        return asyncio.run(_with_db(work))
    except RuleError as exc:
        _fail(str(exc))


@routes_cli.command("list")
def list_routes(team: str = typer.Option(..., help="Slack team (workspace) id, like T0123ABCD.")) -> None:
    """One line per rule, in the order they are tried: id, position, name, conditions, action."""
    from bot.services import route_rules
    from bot.services.routing import Conditions

    rows = _run(lambda db: route_rules.list_rules(db, team, every=True))
    for row in rows:
        scope = f" [connection {row.connection_id}]" if row.connection_id is not None else ""
        state = "" if row.enabled else " (off)"
        _say(f"{row.id}\t{row.position}\t{row.name}{scope}{state}\t"
                      f"{Conditions.from_json(row.conditions).describe()}\t{route_rules.describe(row)}")


@routes_cli.command("add")
def add_route(
    team: str = typer.Option(..., help="Slack team (workspace) id."),
    name: str = typer.Option(..., help="The rule's name, shown on every digest it routes."),
    provider: str | None = typer.Option(None, help="Only meetings from this provider."),
    title_contains: list[str] = typer.Option([], "--title-contains",
                                             help="Any of these words or phrases in the title (repeat)."),
    category: str | None = typer.Option(None, help="Hedy topic, Meetric department or type, Whereby room…"),
    participant_domain: list[str] = typer.Option([], "--participant-domain",
                                                 help="A participant from any of these domains (repeat)."),
    external: bool = typer.Option(False, "--external", help="Someone from outside the workspace's domains."),
    max_participants: int | None = typer.Option(None, help="At most this many people."),
    min_minutes: int | None = typer.Option(None, help="At least this many minutes long."),
    max_minutes: int | None = typer.Option(None, help="At most this many minutes long."),
    channel: list[str] = typer.Option([], "--channel", help="Post to this channel id (repeat for several)."),
    dm_owner: bool = typer.Option(False, "--dm-owner", help="DM the connection's owner only."),
    hold: bool = typer.Option(False, "--hold", help="Hold for approval."),
    approver: str | None = typer.Option(None, help="With --hold: who approves (a user id)."),
    skip: bool = typer.Option(False, "--skip", help="Post nothing."),
    position: int | None = typer.Option(None, help="1 is first; without it the rule goes last."),
) -> None:
    """Add a rule; prints its id."""
    from bot.services import route_rules, routing
    from bot.services.routing import Conditions

    actions = [a for a, on in ((routing.CHANNELS, bool(channel)), (routing.DM_OWNER, dm_owner),
                               (routing.HOLD, hold), (routing.SKIP, skip)) if on]
    if len(actions) != 1:
        _fail("Give exactly one action: --channel C… (repeat for several), --dm-owner, --hold or --skip.", 2)
    if provider is not None:
        from bot.providers.registry import UnknownProvider, provider_info

        try:
            provider = provider_info(provider).name
        except UnknownProvider as exc:
            _fail(str(exc), 2)
    conditions = Conditions(provider=provider, title_contains=tuple(t for t in title_contains if t.strip()),
                            category=category or None,
                            participant_domains=tuple(routing.normal_domain(d) for d in participant_domain
                                                      if routing.normal_domain(d)),
                            external=external, max_participants=max_participants, min_minutes=min_minutes,
                            max_minutes=max_minutes)
    row = _run(lambda db: route_rules.add_rule(db, team_id=team, actor="cli", name=name, conditions=conditions,
                                               action=actions[0], channels=list(channel), approver=approver,
                                               position=position))
    _say(str(row.id))


@routes_cli.command("remove")
def remove_route(team: str = typer.Option(..., help="Slack team (workspace) id."),
                 rule_id: int = typer.Argument(..., metavar="ID", help="The rule's id (routes list).")) -> None:
    """Remove a rule."""
    from bot.services import route_rules

    row = _run(lambda db: route_rules.remove_rule(db, team_id=team, rule_id=rule_id, actor="cli"))
    _say(f"Removed rule {row.id} ({row.name}).")


@routes_cli.command("move")
def move_route(team: str = typer.Option(..., help="Slack team (workspace) id."),
               rule_id: int = typer.Argument(..., metavar="ID", help="The rule's id (routes list)."),
               position: int = typer.Option(..., help="Its new position; 1 is first.")) -> None:
    """Move a rule to another position; the others shift."""
    from bot.services import route_rules

    row = _run(lambda db: route_rules.move_rule(db, team_id=team, rule_id=rule_id, position=position, actor="cli"))
    _say(f"Rule {row.id} ({row.name}) is now at position {row.position}.")


@routes_cli.command("builtin")
def builtin_route(team: str = typer.Option(..., help="Slack team (workspace) id."),
                  state: str = typer.Argument(..., metavar="on|off")) -> None:
    """Turn the built-in "Sensitive meetings" rule on or off."""
    from bot.services import route_rules

    if state.lower() not in ("on", "off"):
        _fail("Say on or off, like `meetings-bot routes builtin --team T0123 off`.", 2)
    row = _run(lambda db: route_rules.set_builtin(db, team_id=team, on=state.lower() == "on", actor="cli"))
    _say(f"{row.name} is {'on' if row.enabled else 'off'}.")


@routes_cli.command("explain")
def explain_route(team: str = typer.Option(..., help="Slack team (workspace) id."),
                  provider: str = typer.Option(..., help="The provider the meeting is from."),
                  meeting: str = typer.Option(..., help="The provider's meeting id.")) -> None:
    """Where a meeting goes and which rule decides it; posts nothing."""
    lines = _run(lambda db: _explain(db, team=team, provider=provider, meeting_id=meeting))
    for line in lines:
        _say(line)


async def _explain(db, *, team: str, provider: str, meeting_id: str) -> list[str]:
    from sqlmodel import col, select

    from bot.providers.base import ProviderError
    from bot.providers.registry import ProviderFactory, UnknownProvider, provider_info
    from bot.services import decisions, route_rules, routing
    from bot.services.connections import open_provider
    from bot.services.route_rules import RuleError
    from bot.store.crypto import secret_box
    from bot.store.models import Connection, Workspace

    settings = get_settings()
    try:
        info = provider_info(provider)
    except UnknownProvider as exc:
        raise RuleError(str(exc)) from None
    async with db.session() as session:
        connections = list((await session.exec(select(Connection).where(
            Connection.team_id == team, Connection.provider == info.name).order_by(col(Connection.id)))).all())
        workspace = await session.get(Workspace, team)
    if not connections:
        raise RuleError(f"Workspace {team} has no {info.display_name} connection.")
    factory = ProviderFactory(settings)
    box = secret_box(settings)
    fetched, problem = None, None
    try:
        for connection in connections:
            client = open_provider(connection, box, factory)
            try:
                fetched = await client.get_meeting(meeting_id)
                break
            except ProviderError as exc:
                problem = exc.message
            finally:
                await client.aclose()
    finally:
        await factory.aclose()
    if fetched is None:
        raise RuleError(f"{info.display_name} did not give meeting {meeting_id}: {problem}")
    rules = await route_rules.engine_rules(db, team)
    internal = frozenset(workspace.internal_domains or ()) if workspace and workspace.internal_domains else None
    decision = decisions.evaluate(rules, connection, fetched, provider_name=info.display_name,
                                  internal_domains=internal)
    words = {routing.CHANNELS: "post to " + ", ".join(f"#{c}" for c in decision.channels),
             routing.DM_OWNER: "DM the owner", routing.HOLD: "hold for approval", routing.SKIP: "skip",
             routing.NONE: "nowhere (no rule matched and the connection has no channel)"}
    lines = [f"Meeting: {fetched.title} ({meeting_id})",
             f"Decision: {words[decision.action]}",
             f"Rule: {decision.rule_name}"]
    stored = await decisions.find(db, connection_id=connection.id, meeting_id=fetched.id)
    if stored is not None:
        lines.append(f"Stored on first delivery (kept; rule changes apply to later meetings): {stored.rule_name}, "
                     f"{stored.state}" + (f", to {', '.join(stored.destinations)}" if stored.destinations else ""))
    lines.append("Rules, in order:")
    lines += [f"  {line}" for line in decision.explain()]
    return lines


@routes_cli.command("domains")
def internal_domains(team: str = typer.Option(..., help="Slack team (workspace) id."),
                     set_: str | None = typer.Option(None, "--set",
                                                        help="Comma-separated domains, like example.com,example.org.")
                     ) -> None:
    """Show or set the workspace's internal email domains (for --external)."""
    from bot.services import audit
    from bot.services.routing import normal_domain
    from bot.store.models import Workspace

    async def work(db):
        async with db.session() as session:
            workspace = await session.get(Workspace, team)
            if workspace is None:
                workspace = Workspace(team_id=team)
            if set_ is not None:
                workspace.internal_domains = sorted({normal_domain(d) for d in set_.split(",") if normal_domain(d)})
                session.add(workspace)
            domains = workspace.internal_domains
        if set_ is not None:
            await audit.record(db, team_id=team, actor="cli", action="internal_domains",
                               detail="internal domains: " + (", ".join(domains or []) or "none"))
        return domains

    domains = _run(work)
    _say("Internal domains: " + (", ".join(domains) if domains else "not learned yet (learned from the "
                                 "members' email addresses when a rule needs them)"))
