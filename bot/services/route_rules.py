"""The stored routing rules of a workspace (and of its members' personal connections): list, add,
remove, move, the built-in "Sensitive meetings" rule on or off. Every change is audited. No Slack.

Positions count from 1 within a list (the workspace's, or one personal connection's) and are kept
dense: adding, removing or moving a rule renumbers the others.
"""

from __future__ import annotations

import re
import weakref

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.services import audit, routing
from bot.services.routing import Conditions, Rule
from bot.store.db import Database
from bot.store.models import RouteRule, utcnow

_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class RuleError(ValueError):
    """Input a rule cannot have; the message says what to do instead."""


_MENTION = re.compile(r"^<#([A-Z0-9]+)(?:\|[^>]*)?>$")


def channel_refs(values: list[str]) -> list[tuple[str, bool]]:
    """`--channel` values as people type them: repeated, comma- or space-separated, `C0123`,
    `#C0123` (as `routes list` shows them), `<#C0123|sales>` (pasted from Slack), or a name
    (`#sales`, `sales`). Returns (id or name without #, is it an id), in the order given; names
    still need Slack to become ids."""
    refs: list[tuple[str, bool]] = []
    for value in values:
        for token in re.split(r"[,\s]+", value):
            mention = _MENTION.match(token)
            bare = mention.group(1) if mention else token.lstrip("#")
            if bare:
                refs.append((bare, bool(_CHANNEL.match(bare))))
    return refs


def _scope(query, connection_id: int | None):
    return query.where(col(RouteRule.connection_id).is_(None) if connection_id is None
                       else col(RouteRule.connection_id) == connection_id)


# Workspaces whose built-in rule is known to exist, per database: deliveries and commands then
# read the rules without writing. (It is never deleted, only turned off.)
_ensured: weakref.WeakKeyDictionary[Database, set[str]] = weakref.WeakKeyDictionary()


async def ensure_builtin(db: Database, team_id: str) -> None:
    """The built-in rule exists for every workspace, first and on, from its first use on."""
    if team_id in _ensured.get(db, ()):
        return
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    builtin = routing.sensitive_rule()
    now = utcnow()
    async with db.session() as session:
        await session.exec(insert(RouteRule).values(
            team_id=team_id, connection_id=None, position=1, name=builtin.name,
            conditions=builtin.conditions.to_json(), action=builtin.action, channels=[], approver=None,
            builtin=routing.SENSITIVE, enabled=True, auto_approve_hours=None, created_by="meetings-bot",
            created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["team_id", "builtin"]))
    _ensured.setdefault(db, set()).add(team_id)


async def list_rules(db: Database, team_id: str, *, connection_id: int | None = None,
                     every: bool = False) -> list[RouteRule]:
    """A list in order: the workspace's (connection_id None), or one personal connection's; with
    `every`, the personal rules of all connections first, then the workspace's."""
    await ensure_builtin(db, team_id)
    query = select(RouteRule).where(RouteRule.team_id == team_id)
    if not every:
        query = _scope(query, connection_id)
    query = query.order_by(col(RouteRule.connection_id).is_(None), col(RouteRule.connection_id),
                           col(RouteRule.position), col(RouteRule.id))
    async with db.session() as session:
        return list((await session.exec(query)).all())


def to_engine(row: RouteRule) -> Rule:
    return Rule(id=row.id, name=row.name, conditions=Conditions.from_json(row.conditions), action=row.action,
                channels=tuple(row.channels or ()), approver=row.approver, enabled=row.enabled,
                connection_id=row.connection_id, auto_approve_hours=row.auto_approve_hours, builtin=row.builtin)


async def engine_rules(db: Database, team_id: str) -> list[Rule]:
    return [to_engine(r) for r in await list_rules(db, team_id, every=True)]


def describe(row: RouteRule) -> str:
    action = {routing.CHANNELS: "post to " + ", ".join(f"#{c}" for c in row.channels or ()),
              routing.DM_OWNER: "DM the owner", routing.SKIP: "skip",
              routing.HOLD: "hold for approval" + (f" by {row.approver}" if row.approver else "")
              + (f", auto-approve after {row.auto_approve_hours} h" if row.auto_approve_hours else "")}
    return action.get(row.action, row.action)


def validate(*, name: str, action: str, channels: list[str], approver: str | None,
             conditions: Conditions, auto_approve_hours: int | None = None) -> None:
    if not name.strip():
        raise RuleError("Give the rule a name, like --name 'Sales calls'.")
    if len(name) > 200:
        raise RuleError("A rule's name is at most 200 characters.")
    if action not in routing.ACTIONS:
        raise RuleError("Choose one action: --channel C… (one or more), --dm-owner, --hold or --skip.")
    if action == routing.CHANNELS and not channels:
        raise RuleError("Name at least one channel to post to, like --channel C0123ABCD.")
    for channel in channels:
        if not _CHANNEL.match(channel):
            raise RuleError(f"{channel!r} is not a channel id; channel ids look like C0123ABCD.")
    if approver is not None and not _USER.match(approver):
        raise RuleError(f"{approver!r} is not a Slack user id; user ids look like U0123ABCD.")
    if approver is not None and action != routing.HOLD:
        raise RuleError("An approver goes with --hold only.")
    for value, option in ((conditions.max_participants, "--max-participants"),
                          (conditions.min_minutes, "--min-minutes"), (conditions.max_minutes, "--max-minutes"),
                          (auto_approve_hours, "auto-approve hours")):
        if value is not None and value < 0:
            raise RuleError(f"{option} cannot be negative.")
    if (conditions.min_minutes is not None and conditions.max_minutes is not None
            and conditions.min_minutes > conditions.max_minutes):
        raise RuleError("--min-minutes is more than --max-minutes: no meeting could match.")


async def _renumber(session, team_id: str, connection_id: int | None, ordered_ids: list[int]) -> None:
    rows = {r.id: r for r in (await session.exec(_scope(select(RouteRule).where(RouteRule.team_id == team_id),
                                                         connection_id))).all()}
    for position, rule_id in enumerate(ordered_ids, start=1):
        row = rows[rule_id]
        if row.position != position:
            row.position = position
            session.add(row)


async def _ids_in_order(session, team_id: str, connection_id: int | None) -> list[int]:
    query = _scope(select(RouteRule.id).where(RouteRule.team_id == team_id), connection_id)
    return list((await session.exec(query.order_by(RouteRule.position, RouteRule.id))).all())


def _insert_at(ids: list[int], rule_id: int, position: int | None) -> list[int]:
    rest = [i for i in ids if i != rule_id]
    index = len(rest) if position is None else max(0, min(position - 1, len(rest)))
    return [*rest[:index], rule_id, *rest[index:]]


async def add_rule(db: Database, *, team_id: str, actor: str, name: str, conditions: Conditions, action: str,
                   channels: list[str] | None = None, approver: str | None = None, position: int | None = None,
                   connection_id: int | None = None, auto_approve_hours: int | None = None) -> RouteRule:
    """Store a new rule at `position` (1 is first), or last. RuleError for input it cannot have."""
    channels = list(dict.fromkeys(channels or []))
    validate(name=name, action=action, channels=channels, approver=approver, conditions=conditions,
             auto_approve_hours=auto_approve_hours)
    if position is not None and position < 1:
        raise RuleError("Positions start at 1 (the first rule).")
    await ensure_builtin(db, team_id)
    async with db.session() as session:
        row = RouteRule(team_id=team_id, connection_id=connection_id, position=10**6, name=name.strip(),
                        conditions=conditions.to_json(), action=action, channels=channels, approver=approver,
                        auto_approve_hours=auto_approve_hours or None, created_by=actor[:64])
        session.add(row)
        await session.flush()
        assert row.id is not None, "a stored rule"
        ids = await _ids_in_order(session, team_id, connection_id)
        await _renumber(session, team_id, connection_id, _insert_at(ids, row.id, position))
        await session.flush()
        await session.refresh(row)
    await audit.record(db, team_id=team_id, actor=actor, action="route_added",
                       detail=f"rule {row.id} \"{row.name}\" at {row.position}: {conditions.describe()} → "
                              f"{describe(row)}")
    return row


async def _get(session, team_id: str, rule_id: int) -> RouteRule:
    row = (await session.exec(select(RouteRule).where(RouteRule.team_id == team_id,
                                                      RouteRule.id == rule_id))).first()
    if row is None:
        raise RuleError(f"There is no rule {rule_id} in this workspace; `routes list` shows the ids.")
    return row


async def remove_rule(db: Database, *, team_id: str, rule_id: int, actor: str) -> RouteRule:
    async with db.session() as session:
        row = await _get(session, team_id, rule_id)
        if row.builtin:
            raise RuleError(f'"{row.name}" is built in: turn it off with `routes builtin off` instead.')
        await session.delete(row)
        await session.flush()
        await _renumber(session, team_id, row.connection_id, await _ids_in_order(session, team_id,
                                                                                 row.connection_id))
    await audit.record(db, team_id=team_id, actor=actor, action="route_removed",
                       detail=f"rule {row.id} \"{row.name}\" removed")
    return row


async def move_rule(db: Database, *, team_id: str, rule_id: int, position: int, actor: str) -> RouteRule:
    if position < 1:
        raise RuleError("Positions start at 1 (the first rule).")
    async with db.session() as session:
        row = await _get(session, team_id, rule_id)
        before = row.position
        assert row.id is not None, "a stored rule"
        ids = await _ids_in_order(session, team_id, row.connection_id)
        await _renumber(session, team_id, row.connection_id, _insert_at(ids, row.id, position))
        await session.flush()
        await session.refresh(row)
    await audit.record(db, team_id=team_id, actor=actor, action="route_moved",
                       detail=f"rule {row.id} \"{row.name}\" moved from {before} to {row.position}")
    return row


async def set_builtin(db: Database, *, team_id: str, on: bool, actor: str) -> RouteRule:
    await ensure_builtin(db, team_id)
    async with db.session() as session:
        row = (await session.exec(select(RouteRule).where(RouteRule.team_id == team_id,
                                                          RouteRule.builtin == routing.SENSITIVE))).one()
        changed = row.enabled != on
        row.enabled = on
        row.updated_at = utcnow()
        session.add(row)
    if changed:
        await audit.record(db, team_id=team_id, actor=actor, action="route_builtin",
                           detail=f"\"{row.name}\" turned {'on' if on else 'off'}")
    return row


async def get_rule(db: Database, *, team_id: str, rule_id: int) -> RouteRule:
    async with db.session() as session:
        return await _get(session, team_id, rule_id)


async def update_rule(db: Database, *, team_id: str, rule_id: int, actor: str, name: str, conditions: Conditions,
                      action: str, channels: list[str] | None = None, approver: str | None = None,
                      auto_approve_hours: int | None = None) -> RouteRule:
    """Change a rule in place (its position stays). The built-in rule keeps its conditions."""
    channels = list(dict.fromkeys(channels or []))
    validate(name=name, action=action, channels=channels, approver=approver, conditions=conditions,
             auto_approve_hours=auto_approve_hours)
    async with db.session() as session:
        row = await _get(session, team_id, rule_id)
        if not row.builtin:
            row.conditions = conditions.to_json()
        row.name, row.action, row.channels, row.approver = name.strip(), action, channels, approver
        row.auto_approve_hours = auto_approve_hours or None
        row.updated_at = utcnow()
        session.add(row)
        await session.flush()
        await session.refresh(row)
    await audit.record(db, team_id=team_id, actor=actor, action="route_changed",
                       detail=f"rule {row.id} \"{row.name}\": {Conditions.from_json(row.conditions).describe()} → "
                              f"{describe(row)}")
    return row
