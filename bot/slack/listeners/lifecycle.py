"""The app leaving a workspace: on app_uninstalled or tokens_revoked (bot tokens), the workspace's
connections are paused, so webhooks for it are refused and nothing tries to post with a dead token."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from sqlalchemy import update
from sqlmodel import col

from bot.services import audit
from bot.deps import Deps
from bot.store.models import Connection, utcnow

log = logging.getLogger(__name__)


async def pause_workspace(deps: Deps, team_id: str, *, why: str) -> int:
    async with deps.db.session() as session:
        result = await session.exec(update(Connection).where(col(Connection.team_id) == team_id,
                                                             col(Connection.status) == "active")
                                    .values(status="paused", updated_at=utcnow()))
        paused = result.rowcount or 0
    if paused:
        await audit.record(deps.db, team_id=team_id, actor="slack", action="paused", detail=why)
    deps.connections.clear()
    deps.answers.clear()
    log.info("workspace %s: %s; %d connection(s) paused", team_id, why, paused)
    return paused


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_uninstalled")
    async def uninstalled(body):
        team_id = body.get("team_id") or ""
        await deps.installations.async_delete_all(enterprise_id=body.get("enterprise_id"), team_id=team_id)
        await pause_workspace(deps, team_id, why="the app was uninstalled")

    @app.event("tokens_revoked")
    async def revoked(body, event):
        if (event.get("tokens") or {}).get("bot"):
            team_id = body.get("team_id") or ""
            await deps.installations.async_delete_bot(enterprise_id=body.get("enterprise_id"), team_id=team_id)
            await pause_workspace(deps, team_id, why="the bot token was revoked")
