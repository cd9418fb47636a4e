"""The safety net for webhooks that never came: per connection, list the provider's recent
meetings and queue any ended meeting that has no digest yet. Meetings from before the connection
was made are never back-posted.

Its cost follows the connections that may need it, not the ones there are: one replica runs it
(a leader lock); the connections are spread over the interval (each run takes one slice, so
every connection comes round once per RECONCILE_EVERY); a connection whose webhooks arrived
recently is skipped (they are evidently getting through); several connections are listed at
once (each provider client paces its own key); and one query per hundred connections finds which
listed meetings already have a digest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import col, select

from bot.delivery import inbox, outbox
from bot.jobs.leader import RECONCILE_LOCK, leader
from bot.providers.base import ProviderError
from bot.providers.registry import provider_info
from bot.providers.webhooks import Action, WebhookEvent
from bot.services import decisions
from bot.services.connections import open_provider
from bot.store.models import Connection, utcnow
from bot.store.states import ConnectionStatus

log = logging.getLogger(__name__)

RECONCILE_EVERY = timedelta(minutes=15)  # how often each connection comes round
SLICES = 15  # runs per RECONCILE_EVERY, each taking every SLICES-th connection
CONCURRENCY = 20  # connections listed at once
CHECK_BATCH = 100  # connections whose listings are checked against the outbox in one query
LOOK_BACK = 50  # recent meetings listed per connection


def current_slice(now: datetime, *, every: timedelta = RECONCILE_EVERY, slices: int = SLICES) -> int:
    """Which slice a run at `now` takes: consecutive runs take consecutive slices."""
    return int(now.timestamp() // (every.total_seconds() / slices)) % slices


async def reconcile_all(deps, *, now: datetime | None = None, slice_index: int = 0, slices: int = 1,
                        quiet_for: timedelta | None = RECONCILE_EVERY, concurrency: int = CONCURRENCY) -> int:
    """One run, on one replica at a time: the connections of slice `slice_index` of `slices`
    (all of them by default) with no webhook within `quiet_for`. Returns how many meetings it
    queued."""
    async with leader(deps.db, RECONCILE_LOCK) as is_leader:
        if not is_leader:
            return 0  # another replica is on it
        return await _reconcile(deps, now=now or utcnow(), slice_index=slice_index, slices=slices,
                                quiet_for=quiet_for, concurrency=concurrency)


async def reconcile_slice(deps, *, every: timedelta = RECONCILE_EVERY) -> int:
    """The scheduled job (every `every / SLICES`): this run's slice of the connections."""
    now = utcnow()
    return await reconcile_all(deps, now=now, slice_index=current_slice(now, every=every), slices=SLICES,
                               quiet_for=every)


async def _reconcile(deps, *, now: datetime, slice_index: int, slices: int, quiet_for: timedelta | None,
                     concurrency: int) -> int:
    # A connection with a channel, or a member's own account (which posts to its owner by DM).
    query = select(Connection).where(col(Connection.status) == ConnectionStatus.ACTIVE, or_(
        col(Connection.default_channel).is_not(None),
        and_(col(Connection.personal).is_(True), col(Connection.owner_id).is_not(None))))
    if slices > 1:
        query = query.where(col(Connection.id) % slices == slice_index)
    if quiet_for is not None:
        query = query.where(or_(col(Connection.last_webhook_at).is_(None),
                                col(Connection.last_webhook_at) < now - quiet_for))
    async with deps.db.session() as session:
        connections = list((await session.exec(query.order_by(col(Connection.id)))).all())
    gate = asyncio.Semaphore(concurrency)

    async def listing(connection: Connection) -> tuple[Connection, list[str]]:
        async with gate:
            try:
                return connection, await ended_meetings(deps, connection, now=now)
            except ProviderError as exc:
                # One workspace's broken key or provider outage does not stop the others.
                log.warning("reconcile skipped team %s: %s", connection.team_id, exc.message)
            except Exception:
                log.exception("reconcile failed for team %s", connection.team_id)
            return connection, []

    listed = [(c, ids) for c, ids in await asyncio.gather(*(listing(c) for c in connections)) if ids]
    queued = 0
    for start in range(0, len(listed), CHECK_BATCH):
        batch = listed[start:start + CHECK_BATCH]
        # One query for a whole batch of connections' listings: which meetings have a digest.
        listings = {c.id: ids for c, ids in batch if c.id is not None}
        have = await outbox.digested_pairs(deps.db, listings)
        # Routed elsewhere (held, skipped, a DM) counts as done too: the decision is kept.
        have |= await decisions.decided_pairs(deps.db, listings)
        for connection, ids in batch:
            missing = [m for m in ids if (connection.id, m) not in have]
            try:
                queued += await _queue(deps, connection, missing)
            except Exception:
                log.exception("reconcile could not queue meetings for team %s", connection.team_id)
    if queued:
        deps.inbox_wakeup.set()
    return queued


async def ended_meetings(deps, connection: Connection, *, now: datetime, look_back: int = LOOK_BACK) -> list[str]:
    """The provider's recent meetings of this connection that have ended since it was made."""
    if not _posts_somewhere(connection) or _digest_event(connection) is None:
        return []
    provider = open_provider(connection, deps.box, deps.factory)
    try:
        page = await provider.list_meetings(limit=look_back)
    finally:
        await provider.aclose()
    ended = []
    for meeting in page.items:
        if meeting.started_at is None:
            continue
        ended_at = meeting.started_at + timedelta(seconds=meeting.duration_seconds or 0)
        if ended_at < connection.created_at:
            continue  # over before the connection existed: not back-posted
        if ended_at > now:
            continue  # still running
        ended.append(meeting.id)
    return list(dict.fromkeys(ended))


def _posts_somewhere(connection: Connection) -> bool:
    return bool(connection.default_channel) or (connection.personal and bool(connection.owner_id))


def _digest_event(connection: Connection) -> str | None:
    # The provider's own event for "post this meeting's digest" (Hedy: session.ended).
    return next((t for t, a in provider_info(connection.provider).webhooks.actions.items() if a is Action.DIGEST),
                None)


async def _queue(deps, connection: Connection, meeting_ids: list[str]) -> int:
    """Queue each meeting as if its webhook had come (a dedupe key per meeting: queued once)."""
    event_type = _digest_event(connection)
    if event_type is None or connection.id is None:
        return 0
    queued = 0
    for meeting_id in meeting_ids:
        event = WebhookEvent(event_type=event_type, meeting_id=meeting_id, object_id=None,
                             dedupe_key=f"reconcile:{meeting_id}"[:255], data={})
        # No webhook, so no request id to keep: a new one, named for where it came from, joins the
        # lines of its processing the way a webhook's id does (see bot/delivery/workers.py).
        stored = await inbox.store(deps.db, connection_id=connection.id, team_id=connection.team_id,
                                   provider=connection.provider, event=event, known=True, from_webhook=False,
                                   request_id=f"reconcile-{uuid.uuid4().hex}",
                                   raw_body=json.dumps({"event": event_type, "sessionId": meeting_id,
                                                        "source": "reconcile"}).encode())
        queued += 0 if stored.duplicate else 1
    if queued:
        log.info("reconcile queued %d meetings without a digest for team %s", queued, connection.team_id)
    return queued
