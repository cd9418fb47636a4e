"""`meetings-bot routes …`: the workspace's routing rules from the server. An outside contract
(operators' scripts and outside tests use it): keep the commands, options and outputs as they are.

    routes list --team T…
    routes add --team T… --name NAME [conditions…] (--channel C…… | --dm-owner | --hold [--approver U…] | --skip)
               [--position N]                  prints the new rule's id (only that, on stdout)
    routes remove --team T… ID
    routes move --team T… ID --position N
    routes builtin --team T… on|off
    routes explain --team T… --provider P --meeting ID     posts nothing
    routes domains --team T… [--set a.com,b.com]

`--team` may come anywhere after `routes`, before or after the command and its arguments.
Errors are one line on stderr ("Error: …") and a non-zero exit: 2 for a command line that cannot
be right, 1 for one the database or a provider refused.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

import typer

from bot.cli_common import visible
from bot.settings import get_settings

routes_cli = typer.Typer(help="Routing rules: where each meeting goes. Every command needs --team T…, given "
                              "before the command (routes --team T… list) or after it.", no_args_is_help=True)

TEAM_HELP = "Slack team (workspace) id, like T0123ABCD (required, here or before the command)."


@routes_cli.callback()
def routes_group(ctx: typer.Context,
                 team: str | None = typer.Option(None, metavar="T…", help="Slack team (workspace) id, like "
                                                                         "T0123ABCD, for the command that follows.")
                 ) -> None:
    """Routing rules: where each meeting goes."""
    ctx.obj = {"team": team}


def _team(ctx: typer.Context, team: str | None) -> str:
    """The command's --team, else the one given before the command; a usage error without either."""
    chosen = team if team is not None else ((ctx.parent.obj or {}).get("team") if ctx.parent else None)
    if chosen is None or not chosen.strip():
        _fail(f"Missing option '--team'. Say which workspace, like `{ctx.command_path} --team T0123ABCD`.", 2)
    return chosen.strip()


def _say(line: str) -> None:
    # Plain lines (tabs kept, no wrapping): scripts read this output. Rule names, phrases and
    # meeting titles come from Slack users and providers: their control characters are shown as
    # escapes, never sent to the terminal.
    typer.echo(_shown(line))


def _shown(text: str) -> str:
    return "".join(ch if ch == "\t" else visible(ch) for ch in text)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"Error: {_shown(message)}", err=True)
    raise typer.Exit(code)


async def _with_db(settings, work):
    from bot.cli_common import checked_database

    db = await checked_database(settings)  # or DatabaseUnavailable: one sentence (bot.cli.main)
    try:
        return await work(db)
    finally:
        await db.dispose()


def _run(work, *, team: str | None = None):
    """`work(db)` against the database; a RuleError is the one-line failure. With `team`, a
    workspace that has no connection is said on stderr (a mistyped --team shows at once)."""
    from bot.cli_common import load_settings
    from bot.services.route_rules import RuleError
    from bot.store.crypto import EncryptionKeyError, SecretBoxError

    settings = load_settings()  # or the settings' problem, one sentence

    async def checked(db):
        if team is not None and not await _connected(db, team):
            typer.echo(f"Warning: workspace {team} has no provider connection yet (`meetings-bot connections "
                       "list` shows the connected ones); its rules apply once it has one.", err=True)
        return await work(db)

    try:
        return asyncio.run(_with_db(settings, checked))
    except RuleError as exc:
        _fail(str(exc))
    except EncryptionKeyError as exc:
        _fail(str(exc), 2)
    except SecretBoxError as exc:  # a stored Slack token the key cannot open (looking up #names)
        _fail(str(exc))


async def _connected(db, team: str) -> bool:
    from sqlmodel import select

    from bot.store.models import Connection

    async with db.session() as session:
        return (await session.exec(select(Connection.id).where(Connection.team_id == team).limit(1))).first() \
            is not None


def _rule_id(value: str) -> int:
    text = value.strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        _fail(f"{value!r} is not a rule id: ids are the numbers in the first column of `routes list`.", 2)
    return int(text)


@routes_cli.command("list")
def list_routes(ctx: typer.Context, team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP)) -> None:
    """One tab-separated line per rule, in the order they are tried: id, position, name, conditions, action."""
    from bot.services import route_rules
    from bot.services.routing import Conditions

    workspace = _team(ctx, team)
    rows = _run(lambda db: route_rules.list_rules(db, workspace, every=True), team=workspace)
    for row in rows:
        scope = f" [connection {row.connection_id}]" if row.connection_id is not None else ""
        state = "" if row.enabled else " (off)"
        fields = (str(row.id), str(row.position), f"{row.name}{scope}{state}",
                  Conditions.from_json(row.conditions).describe(), route_rules.describe(row))
        _say("\t".join(_one_field(f) for f in fields))


def _one_field(text: str) -> str:
    # A tab or line break inside a name or phrase would break the one-line, five-field format.
    return " ".join(text.split()) if any(ch in text for ch in "\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029") \
        else text


@routes_cli.command("add", no_args_is_help=True)
def add_route(
    ctx: typer.Context,
    team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP),
    name: str = typer.Option(..., metavar="NAME", help="The rule's name, shown on every digest it routes."),
    provider: str | None = typer.Option(None, metavar="P",
                                        help="Only meetings from this provider: hedy, meetric, harmony or whereby."),
    title_contains: list[str] = typer.Option([], "--title-contains", metavar="TEXT",
                                             help="A word or phrase in the title, as whole words, any case "
                                                  "(repeat: any of them)."),
    category: str | None = typer.Option(None, metavar="NAME",
                                        help="Hedy topic, Meetric department or type, Harmony team, Whereby room."),
    participant_domain: list[str] = typer.Option([], "--participant-domain", metavar="D",
                                                 help="A participant from this domain, like acme.com "
                                                      "(repeat or comma-separate: any of them)."),
    external: bool = typer.Option(False, "--external", help="Someone from outside the workspace's domains."),
    max_participants: int | None = typer.Option(None, metavar="N", help="At most N people."),
    min_minutes: int | None = typer.Option(None, metavar="N", help="At least N minutes long."),
    max_minutes: int | None = typer.Option(None, metavar="N", help="At most N minutes long."),
    channel: list[str] = typer.Option([], "--channel", metavar="C…",
                                      help="Action: post to this channel: an id like C0123ABCD, or #name when "
                                           "SLACK_BOT_TOKEN is set (repeat or comma-separate for several)."),
    dm_owner: bool = typer.Option(False, "--dm-owner", help="Action: DM the connection's owner only."),
    hold: bool = typer.Option(False, "--hold", help="Action: hold for approval."),
    approver: str | None = typer.Option(None, metavar="U…",
                                        help="With --hold: who approves, a user id like U0123ABCD."),
    skip: bool = typer.Option(False, "--skip", help="Action: post nothing."),
    position: int | None = typer.Option(None, metavar="N",
                                        help="Where it goes: 1 is first; without it, last."),
) -> None:
    """Add a rule; prints its id (only the id, on stdout).

    Give exactly one action: --channel (one or more), --dm-owner, --hold or --skip."""
    from bot.services import route_rules, routing
    from bot.services.routing import Conditions

    workspace = _team(ctx, team)
    actions = [a for a, on in ((routing.CHANNELS, bool(channel)), (routing.DM_OWNER, dm_owner),
                               (routing.HOLD, hold), (routing.SKIP, skip)) if on]
    if len(actions) != 1:
        _fail("Give exactly one action: --channel C… (repeat for several), --dm-owner, --hold or --skip.", 2)
    if position is not None and position < 1:
        _fail(f"--position {position}: positions start at 1 (the first rule).", 2)
    if provider is not None:
        from bot.providers.registry import UnknownProvider, provider_info

        try:
            provider = provider_info(provider.strip()).name
        except UnknownProvider as exc:
            _fail(str(exc), 2)
    domains = [routing.normal_domain(part.rsplit("@", 1)[-1]) for value in participant_domain
               for part in value.split(",")]
    conditions = Conditions(provider=provider, title_contains=tuple(dict.fromkeys(
                                " ".join(t.split()) for t in title_contains if t.strip())),
                            category=" ".join(category.split()) if category and category.strip() else None,
                            participant_domains=tuple(dict.fromkeys(d for d in domains if d)),
                            external=external, max_participants=max_participants, min_minutes=min_minutes,
                            max_minutes=max_minutes)
    if approver is not None:
        approver = approver.strip().removeprefix("<@").removesuffix(">").split("|", 1)[0].lstrip("@")
    refs = route_rules.channel_refs(channel)
    if channel and not refs:
        _fail("--channel needs a channel, like --channel C0123ABCD.", 2)

    async def work(db):
        channels = await _channel_ids(db, workspace, refs)
        return await route_rules.add_rule(db, team_id=workspace, actor="cli", name=" ".join(name.split()),
                                          conditions=conditions,
                                          action=actions[0], channels=channels, approver=approver,
                                          position=position)

    row = _run(work, team=workspace)
    _say(str(row.id))
    if position is not None and row.position != position:
        typer.echo(f"Note: there are {row.position} rules, so this one is last, at position {row.position}.",
                   err=True)


async def _channel_ids(db, team: str, refs: list[tuple[str, bool]]) -> list[str]:
    """Channel ids for `--channel` values; names are looked up in Slack, or the sentence says why not."""
    from bot.services.route_rules import RuleError

    names = [text for text, is_id in refs if not is_id]
    if not names:
        return [text for text, _ in refs]
    from bot.slack.checks import channel_ids_by_name
    from bot.store.crypto import secret_box

    settings = get_settings()
    shown = ", ".join(f"#{n}" for n in names)
    try:
        found = await channel_ids_by_name(settings, db, secret_box(settings), team, names)
    except LookupError as exc:
        raise RuleError(f"{shown}: a channel name needs Slack to become an id, and {exc}. Give the channel id "
                        "instead, like --channel C0123ABCD (Slack shows it at the bottom of the channel's About "
                        "tab).") from None
    missing = [f"#{n}" for n in names if n not in found]
    if missing:
        raise RuleError(f"Slack shows no channel {', '.join(missing)} in workspace {team} (archived channels, "
                        "and private ones the bot is not in, are not shown): check the name, or give the channel "
                        "id, like --channel C0123ABCD.")
    return [text if is_id else found[text] for text, is_id in refs]


@routes_cli.command("remove", no_args_is_help=True)
def remove_route(ctx: typer.Context,
                 rule_id: str = typer.Argument(..., metavar="ID", help="The rule's id (routes list)."),
                 team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP)) -> None:
    """Remove a rule; the ones after it move up."""
    from bot.services import route_rules

    workspace, number = _team(ctx, team), _rule_id(rule_id)
    row = _run(lambda db: route_rules.remove_rule(db, team_id=workspace, rule_id=number, actor="cli"),
               team=workspace)
    _say(f"Removed rule {row.id} ({row.name}).")


@routes_cli.command("move", no_args_is_help=True)
def move_route(ctx: typer.Context,
               rule_id: str = typer.Argument(..., metavar="ID", help="The rule's id (routes list)."),
               position: int = typer.Option(..., metavar="N", help="Its new position; 1 is first. A number past "
                                                                   "the end puts it last."),
               team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP)) -> None:
    """Move a rule to another position; the others shift."""
    from bot.services import route_rules

    workspace, number = _team(ctx, team), _rule_id(rule_id)
    if position < 1:
        _fail(f"--position {position}: positions start at 1 (the first rule).", 2)
    row = _run(lambda db: route_rules.move_rule(db, team_id=workspace, rule_id=number, position=position,
                                                actor="cli"), team=workspace)
    _say(f"Rule {row.id} ({row.name}) is now at position {row.position}.")


SWITCH = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False, "1": True, "0": False,
          "enable": True, "disable": False, "enabled": True, "disabled": False}


@routes_cli.command("builtin", no_args_is_help=True)
def builtin_route(ctx: typer.Context,
                  state: str = typer.Argument(..., metavar="on|off", help="on or off (also true/false, yes/no)."),
                  team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP)) -> None:
    """Turn the built-in "Sensitive meetings" rule on or off."""
    from bot.services import route_rules

    workspace = _team(ctx, team)
    on = SWITCH.get(state.strip().lower())
    if on is None:
        _fail(f"{state!r}: say on or off, like `meetings-bot routes builtin --team {workspace} off`.", 2)
    row = _run(lambda db: route_rules.set_builtin(db, team_id=workspace, on=on, actor="cli"), team=workspace)
    _say(f"{row.name} is {'on' if row.enabled else 'off'}.")


@routes_cli.command("explain", no_args_is_help=True)
def explain_route(ctx: typer.Context,
                  provider: str = typer.Option(..., metavar="P", help="The provider the meeting is from: hedy, "
                                                                      "meetric, harmony or whereby."),
                  meeting: str = typer.Option(..., metavar="ID", help="The provider's meeting id."),
                  team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP)) -> None:
    """Where a meeting goes and which rule decides it (the lines Decision: and Rule:); posts nothing."""
    workspace = _team(ctx, team)
    lines = _run(lambda db: _explain(db, team=workspace, provider=provider.strip(), meeting_id=meeting.strip()))
    for line in lines:
        _say(line)


ACTION_WORDS = {"channels": "post to {channels}", "dm_owner": "DM the owner", "hold": "hold for approval",
                "skip": "skip", "none": "nowhere (no rule matched and the connection has no channel)"}


def _action_words(action: str, channels) -> str:
    return ACTION_WORDS.get(action, action).format(channels=", ".join(f"#{c}" for c in channels))


async def _explain(db, *, team: str, provider: str, meeting_id: str) -> list[str]:
    """The lines of `routes explain`: a delivered meeting's kept decision (and what today's rules
    would say, if different), or what the rules would decide now. Reads the provider; writes nothing."""
    from sqlmodel import col, select

    from bot.providers.base import ProviderError
    from bot.providers.registry import ProviderFactory, UnknownProvider, provider_info
    from bot.services import decisions, route_rules
    from bot.services.connections import open_provider
    from bot.services.route_rules import RuleError
    from bot.store.crypto import SecretBoxError, secret_box
    from bot.store.models import Connection, RoutingDecision, Workspace

    settings = get_settings()
    try:
        info = provider_info(provider)
    except UnknownProvider as exc:
        raise RuleError(str(exc)) from None
    async with db.session() as session:
        connections = list((await session.exec(select(Connection).where(
            Connection.team_id == team, Connection.provider == info.name).order_by(col(Connection.id)))).all())
        workspace = await session.get(Workspace, team)
        stored = (await session.exec(select(RoutingDecision).where(
            RoutingDecision.team_id == team, RoutingDecision.meeting_id == meeting_id,
            col(RoutingDecision.connection_id).in_([c.id for c in connections])))).first() if connections else None
    if not connections:
        raise RuleError(f"Workspace {team} has no {info.display_name} connection "
                        f"(`meetings-bot connect --team {team} --provider {info.name}` makes one).")
    if stored is not None:  # the connection that delivered it first
        connections.sort(key=lambda c: c.id != stored.connection_id)
    factory = ProviderFactory(settings)
    fetched, problem, connection = None, None, connections[0]
    try:
        box = secret_box(settings)
        for candidate in connections:
            client = open_provider(candidate, box, factory)
            try:
                # Only what the rules read: a provider that makes notes on request (Whereby's
                # summaries) is not asked to make them, and one still processing still answers.
                read = getattr(client, "routing_meeting", client.get_meeting)
                fetched, connection = await read(meeting_id), candidate
                break
            except ProviderError as exc:
                problem = exc.message
            finally:
                await client.aclose()
    except SecretBoxError as exc:
        raise RuleError(f"{info.display_name}'s key cannot be read: {exc}.") from None
    finally:
        await factory.aclose()
    if fetched is None and stored is None:
        raise RuleError(f"{info.display_name} did not give meeting {meeting_id}: {problem}")
    title = fetched.title if fetched is not None else stored.meeting_title if stored is not None else ""
    lines = [f"Meeting: {title} ({meeting_id})"]
    decision = None
    if fetched is not None:
        rules = await route_rules.engine_rules(db, team)
        internal = frozenset(workspace.internal_domains) if workspace and workspace.internal_domains else None
        decision = decisions.evaluate(rules, connection, fetched, provider_name=info.display_name,
                                      internal_domains=internal)
    if stored is None:
        assert decision is not None, "a fetched meeting"
        lines += [f"Decision: {_action_words(decision.action, decision.channels)}", f"Rule: {decision.rule_name}",
                  "Rules, in order:", *(f"  {line}" for line in decision.explain())]
        return lines
    acted = f" by {stored.acted_by}" if stored.acted_by else ""
    lines += [f"Decision: {_action_words(stored.action, stored.destinations if stored.action == 'channels' else ())}"
              f" (made on its first delivery, {stored.decided_at:%Y-%m-%d %H:%M} UTC, and kept; now "
              f"{stored.state}{acted})",
              f"Rule: {stored.rule_name or 'default'}"]
    if decision is None:
        lines.append(f"Today's rules: not checked ({info.display_name} did not give the meeting: {problem})")
    elif (decision.action, decision.rule_name) != (stored.action, stored.rule_name):
        lines.append(f"Today's rules would {_action_words(decision.action, decision.channels)} "
                     f"(rule: {decision.rule_name}); rule changes apply to later meetings only.")
    lines += ["Rules, in order, when it was decided:", *(f"  {line}" for line in stored.trace or ())]
    return lines


@routes_cli.command("domains")
def internal_domains(ctx: typer.Context, team: str | None = typer.Option(None, metavar="T…", help=TEAM_HELP),
                     set_: str | None = typer.Option(None, "--set", metavar="D,D…",
                                                        help="Comma-separated domains, like example.com,example.org.")
                     ) -> None:
    """Show or set the workspace's internal email domains (for --external)."""
    from bot.services import audit
    from bot.services.routing import normal_domain
    from bot.store.models import Workspace

    team = _team(ctx, team)

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
