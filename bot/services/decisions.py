"""Each meeting's routing decision: made once, on its first delivery, and kept; then the approver's
choice on a held meeting, made exactly once. Who may see a meeting follows from it. No Slack here:
the callers look up Slack users and domains and pass them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.providers.base import Meeting
from bot.services import routing
from bot.services.routing import Decision, Default, Facts
from bot.store.db import Database
from bot.store.models import Connection, RoutingDecision, utcnow
from bot.store.states import DecisionState

# The states (bot/store/states.py), by their short names.
POSTED, HELD, APPROVED = DecisionState.POSTED, DecisionState.HELD, DecisionState.APPROVED
KEPT_PRIVATE, SKIPPED = DecisionState.KEPT_PRIVATE, DecisionState.SKIPPED
PRIVATE_STATES = (HELD, KEPT_PRIVATE, SKIPPED)  # visible only to the approver and admins

APPROVER_ACTIONS = {"approve": APPROVED, "post_to": APPROVED, "keep_private": KEPT_PRIVATE, "skip": SKIPPED}


def default_for(connection: Connection) -> Default:
    """No rule matched: a workspace connection posts to its channel; a personal one to its
    channel if its owner chose one, else to its owner by DM."""
    if connection.default_channel:
        return Default(routing.CHANNELS, (connection.default_channel,))
    if connection.personal and connection.owner_id:
        return Default(routing.DM_OWNER)
    return Default(routing.NONE)


def needs_internal_domains(rules: list[routing.Rule]) -> bool:
    def uses(c: routing.Conditions) -> bool:
        return c.external or any(uses(g) for g in c.any_of)
    return any(r.enabled and uses(r.conditions) for r in rules)


def evaluate(rules: list[routing.Rule], connection: Connection, meeting: Meeting, *, provider_name: str,
             internal_domains: frozenset[str] | None) -> Decision:
    facts = Facts.of(meeting, provider=connection.provider, provider_name=provider_name,
                     connection_id=connection.id)
    return routing.decide(rules, facts, default=default_for(connection), internal_domains=internal_domains)


async def find(db: Database, *, connection_id: int, meeting_id: str) -> RoutingDecision | None:
    async with db.session() as session:
        return (await session.exec(select(RoutingDecision).where(
            RoutingDecision.connection_id == connection_id, RoutingDecision.meeting_id == meeting_id))).first()


async def decided_pairs(db: Database, listings: dict[int, list[str]]) -> set[tuple[int, str]]:
    """Which (connection, meeting) of these listings have a routing decision (reconcile): one query."""
    meeting_ids = sorted({m for ids in listings.values() for m in ids})
    if not meeting_ids:
        return set()
    async with db.session() as session:
        rows = (await session.exec(select(RoutingDecision.connection_id, RoutingDecision.meeting_id).where(
            col(RoutingDecision.connection_id).in_(sorted(listings)),
            col(RoutingDecision.meeting_id).in_(meeting_ids)))).all()
    return {(c, m) for c, m in rows if m in listings.get(c, ())}


async def get(db: Database, *, team_id: str, decision_id: int) -> RoutingDecision | None:
    async with db.session() as session:
        return (await session.exec(select(RoutingDecision).where(
            RoutingDecision.team_id == team_id, RoutingDecision.id == decision_id))).first()


async def record(db: Database, *, connection: Connection, meeting: Meeting, decision: Decision,
                 approver: str | None) -> RoutingDecision:
    """Store the decision unless one is stored already (another worker or replica, or an earlier
    delivery): the first one stands, and is returned."""
    if decision.action == routing.HOLD:
        # Approve sends it where it would have gone without the hold: the default channel, or the
        # owner's DMs for a member's own account without one.
        default = default_for(connection)
        state, destinations = HELD, (list(default.channels) if default.action == routing.CHANNELS
                                     else [connection.owner_id] if default.action == routing.DM_OWNER
                                     and connection.owner_id else [])
    elif decision.action == routing.SKIP:
        state, destinations = SKIPPED, []
    elif decision.action == routing.DM_OWNER:
        state, destinations = POSTED, [connection.owner_id] if connection.owner_id else []
    else:
        state, destinations = POSTED, list(decision.channels)
    hours = decision.rule.auto_approve_hours if decision.rule and decision.action == routing.HOLD else None
    now = utcnow()
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    async with db.session() as session:
        await session.exec(insert(RoutingDecision).values(
            team_id=connection.team_id, connection_id=connection.id, meeting_id=meeting.id,
            meeting_title=(meeting.title or "")[:500], rule_id=decision.rule.id if decision.rule else None,
            rule_name=decision.rule_name[:200], action=decision.action, destinations=destinations, state=state,
            approver=approver if state == HELD else None,
            auto_approve_at=now + timedelta(hours=hours) if hours else None,
            trace=decision.explain(), decided_at=now,
        ).on_conflict_do_nothing(index_elements=["connection_id", "meeting_id"]))
    assert connection.id is not None, "a stored connection"
    stored = await find(db, connection_id=connection.id, meeting_id=meeting.id)
    assert stored is not None
    return stored


async def fallback_approver(db: Database, team_id: str) -> str | None:
    """For a connection without an owner: the admin who connected it (the audit log), else the installer."""
    from bot.store.models import AuditEntry, Workspace

    async with db.session() as session:
        actor = (await session.exec(select(AuditEntry.actor).where(
            col(AuditEntry.team_id) == team_id, col(AuditEntry.action) == "connected",
            col(AuditEntry.actor).like("U%")).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()))).first()
        if actor:
            return actor
        workspace = await session.get(Workspace, team_id)
        return workspace.installed_by if workspace else None


def may_act(decision: RoutingDecision, user_id: str, *, is_admin: bool) -> bool:
    return is_admin or (bool(decision.approver) and decision.approver == user_id)


@dataclass
class Acted:
    decision: RoutingDecision
    changed: bool  # False: someone (or a second click) acted first; `decision` says what was done


async def act(db: Database, *, team_id: str, decision_id: int, user_id: str, choice: str,
              channel: str | None = None) -> Acted | None:
    """The approver's choice on a held meeting. One conditional UPDATE: of a double click, or of
    two replicas handling clicks at once, exactly one changes the state. None: no such decision."""
    state = APPROVER_ACTIONS[choice]
    values: dict = {"state": state, "acted_by": user_id[:64], "acted_at": utcnow()}
    if choice == "post_to":
        if not channel:
            raise ValueError("post_to needs a channel")
        values["destinations"] = [channel]
    elif choice == "keep_private":
        values["destinations"] = []
    statement = (update(RoutingDecision)
                 .where(col(RoutingDecision.id) == decision_id, col(RoutingDecision.team_id) == team_id,
                        col(RoutingDecision.state) == HELD)
                 .values(**values).returning(RoutingDecision))
    async with db.session() as session:
        won = (await session.scalars(statement.execution_options(synchronize_session=False))).first()
    if won is not None:
        return Acted(won, True)
    current = await get(db, team_id=team_id, decision_id=decision_id)
    return Acted(current, False) if current is not None else None


async def due_for_auto_approval(db: Database, *, limit: int = 100) -> list[RoutingDecision]:
    async with db.session() as session:
        return list((await session.exec(select(RoutingDecision).where(
            col(RoutingDecision.state) == HELD, col(RoutingDecision.auto_approve_at).is_not(None),
            col(RoutingDecision.auto_approve_at) <= utcnow()).order_by(col(RoutingDecision.id)).limit(limit))).all())


async def held_for(db: Database, *, team_id: str, user_id: str | None = None, limit: int = 50) -> list[RoutingDecision]:
    """Meetings waiting for approval: those `user_id` approves, or all the workspace's."""
    query = select(RoutingDecision).where(RoutingDecision.team_id == team_id, RoutingDecision.state == HELD)
    if user_id is not None:
        query = query.where(RoutingDecision.approver == user_id)
    async with db.session() as session:
        return list((await session.exec(query.order_by(col(RoutingDecision.decided_at).desc()).limit(limit))).all())


async def recent(db: Database, *, team_id: str, limit: int = 50) -> list[RoutingDecision]:
    async with db.session() as session:
        return list((await session.exec(select(RoutingDecision).where(RoutingDecision.team_id == team_id)
                                        .order_by(col(RoutingDecision.decided_at).desc(),
                                                  col(RoutingDecision.id).desc())
                                        .limit(limit))).all())


# --------------------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Viewer:
    user_id: str
    is_admin: bool
    readable_channels: frozenset[str] = frozenset()  # channels the viewer can read (None-safe)


def may_see(decision: RoutingDecision | None, connection: Connection, viewer: Viewer) -> bool:
    """A held, kept-private or skipped meeting: its approver and admins only. A personal
    connection's meetings: its owner and admins, and anyone who can read a channel it went to."""
    if viewer.is_admin:
        return True
    if decision is not None and decision.state in PRIVATE_STATES:
        return decision.approver == viewer.user_id or (decision.approver is None
                                                       and connection.owner_id == viewer.user_id)
    if not connection.personal or connection.visible_to_all or connection.owner_id == viewer.user_id:
        return True
    if decision is None:
        return False
    return any(d in viewer.readable_channels for d in decision.destinations or ())


async def hidden_meetings(db: Database, *, connection: Connection, viewer: Viewer) -> frozenset[str]:
    """The meeting ids of a connection's decided meetings the viewer may not see."""
    if viewer.is_admin:
        return frozenset()
    query = select(RoutingDecision).where(RoutingDecision.team_id == connection.team_id,
                                          RoutingDecision.connection_id == connection.id)
    if not connection.personal or connection.visible_to_all or connection.owner_id == viewer.user_id:
        query = query.where(col(RoutingDecision.state).in_(PRIVATE_STATES))
    async with db.session() as session:
        rows = (await session.exec(query)).all()
    return frozenset(r.meeting_id for r in rows if not may_see(r, connection, viewer))


async def restricted_count(db: Database, *, connection: Connection) -> int:
    """How many of the connection's meetings some member may not see (0: no need to ask who is admin)."""
    query = select(RoutingDecision.id).where(RoutingDecision.team_id == connection.team_id,
                                             RoutingDecision.connection_id == connection.id)
    if not connection.personal or connection.visible_to_all:
        query = query.where(col(RoutingDecision.state).in_(PRIVATE_STATES))
    async with db.session() as session:
        return len((await session.exec(query.limit(1))).all())
