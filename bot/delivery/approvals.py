"""A held meeting's approver decides: Approve, Post to…, Keep private, Skip. The choice is made
exactly once (decisions.act), then the meeting is fetched again and delivered where it now goes,
and the approval DM is edited to say who did what. Also: approvals that run out (auto-approve)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import select

from bot.delivery import digests, outbox
from bot.providers.registry import provider_info
from bot.services import audit, decisions
from bot.services.connections import open_provider
from bot.slack.blocks.routing import STATE_WORDS, acted_message, already_decided, where
from bot.store.models import Connection, RoutingDecision

log = logging.getLogger(__name__)

GONE = ("That meeting is no longer tracked here: its connection was removed. Nothing was changed.")


@dataclass
class Outcome:
    text: str  # the sentence the clicking user sees
    changed: bool = False


async def decide(deps, *, team_id: str, decision_id: int, user_id: str, choice: str, is_admin,
                 channel: str | None = None) -> Outcome:
    """`is_admin`: an async callable, asked only when the user is not the approver."""
    decision = await decisions.get(deps.db, team_id=team_id, decision_id=decision_id)
    if decision is None:
        return Outcome(GONE)
    if decision.state != decisions.HELD:
        return Outcome(already_decided(decision))
    if not (decision.approver == user_id or await is_admin()):
        who = f"<@{decision.approver}>" if decision.approver else "the connection's owner"
        return Outcome(f"Only {who} or a workspace admin can decide where this meeting goes. Nothing was changed.")
    acted = await decisions.act(deps.db, team_id=team_id, decision_id=decision_id, user_id=user_id, choice=choice,
                                channel=channel)
    if acted is None:
        return Outcome(GONE)
    if not acted.changed:
        return Outcome(already_decided(acted.decision))
    await after_acting(deps, acted.decision)
    return Outcome(f"Done: {acted_message(acted.decision, title=acted.decision.meeting_title).text}", changed=True)


async def after_acting(deps, decision: RoutingDecision) -> None:
    """Audit, deliver where the meeting now goes, and edit the approval DM."""
    await audit.record(deps.db, team_id=decision.team_id, actor=decision.acted_by or "?",
                       action=f"route_{decision.state}",
                       detail=f"\"{decision.meeting_title[:200]}\" {STATE_WORDS.get(decision.state, decision.state)}"
                              + (f", to {where(decision.destinations)}" if decision.destinations else ""))
    async with deps.db.session() as session:
        connection = (await session.exec(select(Connection).where(Connection.id == decision.connection_id))).first()
    if connection is None:
        return
    if decision.approver:
        await outbox.want(deps.db, connection_id=connection.id, team_id=connection.team_id,
                          meeting_id=decision.meeting_id, channel=decision.approver, kind="approval",
                          priority=digests.PRIORITY_DIGEST,
                          payload=acted_message(decision, title=decision.meeting_title).to_slack())
    if decision.state != decisions.SKIPPED:
        info = provider_info(connection.provider)
        provider = open_provider(connection, deps.box, deps.factory)
        try:
            meeting = await provider.get_meeting(decision.meeting_id)
        finally:
            await provider.aclose()
        await digests.deliver(deps, connection=connection, decision=decision, meeting=meeting,
                              provider_name=info.display_name)
    deps.outbox_wakeup.set()


async def auto_approve(deps) -> int:
    """Approve the held meetings whose rule's wait ran out; returns how many."""
    count = 0
    for decision in await decisions.due_for_auto_approval(deps.db):
        if decision.id is None:
            continue
        acted = await decisions.act(deps.db, team_id=decision.team_id, decision_id=decision.id, user_id="auto",
                                    choice="approve")
        if acted is not None and acted.changed:
            try:
                await after_acting(deps, acted.decision)
            except Exception:
                log.warning("auto-approved meeting of team %s could not be delivered yet", decision.team_id,
                            exc_info=True)
            count += 1
    return count
