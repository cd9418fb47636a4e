"""The safety net for webhooks that never came: every 15 minutes, per connection, list the
provider's recent meetings and queue any ended meeting that has no digest yet. Meetings from
before the connection was made are never back-posted."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlmodel import select

from bot.delivery import inbox, outbox
from bot.jobs.leader import RECONCILE_LOCK, leader
from bot.providers.base import ProviderError
from bot.providers.registry import provider_info
from bot.providers.webhooks import Action, WebhookEvent
from bot.services import decisions
from bot.services.connections import open_provider
from bot.store.models import Connection, utcnow

log = logging.getLogger(__name__)


async def reconcile_all(deps) -> int:
    """The scheduled job, on one replica at a time: returns how many meetings it queued."""
    async with leader(deps.db, RECONCILE_LOCK) as is_leader:
        if not is_leader:
            return 0  # another replica is on it
        return await _reconcile_all(deps)


async def _reconcile_all(deps) -> int:
    async with deps.db.session() as session:
        connections = list((await session.exec(select(Connection).where(Connection.status == "active"))).all())
    queued = 0
    for connection in connections:
        try:
            queued += await reconcile_connection(deps, connection)
        except ProviderError as exc:
            # One workspace's broken key or provider outage does not stop the others.
            log.warning("reconcile skipped team %s: %s", connection.team_id, exc.message)
        except Exception:
            log.exception("reconcile failed for team %s", connection.team_id)
    if queued:
        deps.inbox_wakeup.set()
    return queued


async def reconcile_connection(deps, connection: Connection, *, look_back: int = 50) -> int:
    if not connection.default_channel and not (connection.personal and connection.owner_id):
        return 0  # nowhere to post (a member's own account posts to its owner by DM)
    provider = open_provider(connection, deps.box, deps.factory)
    try:
        page = await provider.list_meetings(limit=look_back)
    finally:
        await provider.aclose()
    now = utcnow()
    queued = 0
    # The provider's own event for "post this meeting's digest" (Hedy: session.ended).
    event_type = next((t for t, a in provider_info(connection.provider).webhooks.actions.items()
                       if a is Action.DIGEST), None)
    if event_type is None:
        return 0
    for meeting in page.items:
        if meeting.started_at is None:
            continue
        ended_at = meeting.started_at + timedelta(seconds=meeting.duration_seconds or 0)
        if ended_at < connection.created_at:
            continue  # over before the connection existed: not back-posted
        if ended_at > now:
            continue  # still running
        if await outbox.has_digest(deps.db, connection_id=connection.id, meeting_id=meeting.id) or \
                await decisions.find(deps.db, connection_id=connection.id, meeting_id=meeting.id):
            continue  # posted, or routed elsewhere (held, skipped, a DM)
        event = WebhookEvent(event_type=event_type, meeting_id=meeting.id, object_id=None,
                             dedupe_key=f"reconcile:{meeting.id}"[:255], data={})
        stored = await inbox.store(deps.db, connection_id=connection.id, team_id=connection.team_id,
                                   provider=connection.provider, event=event, known=True, from_webhook=False,
                                   raw_body=json.dumps({"event": event_type, "sessionId": meeting.id,
                                                        "source": "reconcile"}).encode())
        queued += 0 if stored.duplicate else 1
    if queued:
        log.info("reconcile queued %d meetings without a digest for team %s", queued, connection.team_id)
    return queued
