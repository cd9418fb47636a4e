"""A Slack workspace's standing with the bot: who installed it first, and pausing it when the app
leaves. No Slack here: the callers pass what Slack told them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import col

from bot.providers.cache import ReadCache
from bot.services import audit
from bot.store.db import Database
from bot.store.models import Connection, Workspace, utcnow
from bot.store.states import ConnectionStatus

log = logging.getLogger(__name__)


async def first_installer(db: Database, team_id: str) -> str | None:
    """The Slack user who installed the app in the workspace the first time (re-installs never
    change it; see bot/slack/installations.py)."""
    async with db.session() as session:
        workspace = await session.get(Workspace, team_id)
    return workspace.installed_by if workspace is not None else None


async def pause_workspace(db: Database, team_id: str, *, why: str, caches: Iterable[ReadCache] = ()) -> int:
    """Pause the workspace's active connections (webhooks for it are refused and nothing tries to
    post with a dead token); `caches` holding its connection or answers are emptied."""
    async with db.session() as session:
        statement = update(Connection).where(col(Connection.team_id) == team_id,
                                             col(Connection.status) == ConnectionStatus.ACTIVE)
        result = await session.exec(statement.values(status=ConnectionStatus.PAUSED, updated_at=utcnow()))
        paused = result.rowcount or 0
    if paused:
        await audit.record(db, team_id=team_id, actor="slack", action="paused", detail=why)
    for cache in caches:
        cache.clear()
    log.info("workspace %s: %s; %d connection(s) paused", team_id, why, paused)
    return paused
