"""Who may see which meeting, for the slash commands, the App Home and todo lists.

A held, kept-private or skipped meeting is visible only to its approver and admins. A meeting the
bot has not delivered yet has no decision; the rules are tried on its title alone, and one they
would hold or skip is treated the same way (its approver would be the connection's owner), so
`/meetings todos` never shows a "1:1 with Sam" to the whole workspace. A member's personal
connection: its owner, admins, and whoever can read a channel a meeting of it went to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlmodel import col, select

from bot.providers.base import Meeting
from bot.providers.registry import provider_info
from bot.services import decisions, route_rules, routing
from bot.services.decisions import Viewer
from bot.slack import directory
from bot.store.models import Connection, RoutingDecision, TodoState

log = logging.getLogger(__name__)

PRIVATE = ("That meeting is private: only its approver and workspace admins can see it. "
           "`/meetings explain <meeting id>` says why, if you are one of them.")


async def viewer_is_admin(deps, team_id: str, user_id: str) -> bool:
    from bot.slack.admins import is_admin

    if not user_id:
        return False
    try:
        return await is_admin(deps, team_id=team_id, user_id=user_id)
    except Exception:
        log.warning("could not tell whether a user of team %s is an admin; treating as a member", team_id,
                    exc_info=True)
        return False


class Visibility:
    """One viewer's view of one connection's meetings, for one command."""

    def __init__(self, deps, connection: Connection, user_id: str) -> None:
        self.deps = deps
        self.connection = connection
        self.user_id = user_id
        self._admin: bool | None = None
        self._decisions: dict[str, RoutingDecision] | None = None
        self._rules: list[routing.Rule] | None = None

    async def _is_admin(self) -> bool:
        if self._admin is None:
            self._admin = await viewer_is_admin(self.deps, self.connection.team_id, self.user_id)
        return self._admin

    async def _load(self, meeting_ids: Iterable[str]) -> dict[str, RoutingDecision]:
        ids = [m for m in meeting_ids if m]
        async with self.deps.db.session() as session:
            rows = (await session.exec(select(RoutingDecision).where(
                RoutingDecision.team_id == self.connection.team_id,
                RoutingDecision.connection_id == self.connection.id,
                col(RoutingDecision.meeting_id).in_(ids)))).all() if ids else []
        return {r.meeting_id: r for r in rows}

    async def hidden(self, meetings: Iterable[tuple[str, str | None]]) -> set[str]:
        """Of (meeting id, title) pairs, the ids this viewer may not see."""
        meetings = [(m, t) for m, t in meetings if m]
        if not meetings:
            return set()
        owner = self.connection.owner_id == self.user_id and bool(self.user_id)
        found = await self._load(m for m, _ in meetings)
        hidden: set[str] = set()
        readable: frozenset[str] | None = None
        for meeting_id, title in meetings:
            decision = found.get(meeting_id)
            if decision is None:
                personal = self.connection.personal and not self.connection.visible_to_all
                if not owner and (personal or await self._would_be_private(meeting_id, title)):
                    hidden.add(meeting_id)
                continue
            if decision.state in decisions.PRIVATE_STATES or (
                    self.connection.personal and not self.connection.visible_to_all and not owner):
                if readable is None and decision.state not in decisions.PRIVATE_STATES:
                    readable = await directory.readable_channels(
                        self.deps, self.connection.team_id, self.user_id,
                        {d for r in found.values() for d in r.destinations or ()})
                viewer = Viewer(self.user_id, is_admin=False, readable_channels=readable or frozenset())
                if not decisions.may_see(decision, self.connection, viewer):
                    hidden.add(meeting_id)
        if hidden and await self._is_admin():
            return set()
        return hidden

    async def _would_be_private(self, meeting_id: str, title: str | None) -> bool:
        if self._rules is None:
            self._rules = await route_rules.engine_rules(self.deps.db, self.connection.team_id)
        preview = decisions.evaluate(self._rules, self.connection, Meeting(id=meeting_id, title=title or ""),
                                     provider_name=provider_info(self.connection.provider).display_name,
                                     internal_domains=None)
        return preview.action in (routing.HOLD, routing.SKIP)


async def visible_todos(deps, *, team_id: str, user_id: str, states: list[TodoState]) -> list[TodoState]:
    """Todo states of meetings the viewer may see (an owner's list, the App Home)."""
    by_connection: dict[int, list[TodoState]] = {}
    for state in states:
        by_connection.setdefault(state.connection_id, []).append(state)
    hidden: set[tuple[int, str]] = set()
    for connection_id, group in by_connection.items():
        async with deps.db.session() as session:
            connection = await session.get(Connection, connection_id)
        if connection is None or connection.team_id != team_id:
            hidden.update((connection_id, s.meeting_id) for s in group)
            continue
        view = Visibility(deps, connection, user_id)
        ids = await view.hidden({(s.meeting_id, s.meeting_title) for s in group})
        hidden.update((connection_id, m) for m in ids)
    return [s for s in states if (s.connection_id, s.meeting_id) not in hidden]
