"""The app leaving a workspace: on app_uninstalled or tokens_revoked (bot tokens), the workspace's
tokens are forgotten and its connections paused (bot/services/workspaces.py)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.services.workspaces import pause_workspace


def register(app: AsyncApp, deps: Deps) -> None:
    caches = (deps.connections, deps.answers)

    @app.event("app_uninstalled")
    async def uninstalled(context):
        team_id = context["workspace"]
        await deps.installations.async_delete_all(enterprise_id=context["enterprise_id"], team_id=team_id)
        await pause_workspace(deps.db, team_id, why="the app was uninstalled", caches=caches)

    @app.event("tokens_revoked")
    async def revoked(event, context):
        if (event.get("tokens") or {}).get("bot"):
            team_id = context["workspace"]
            await deps.installations.async_delete_bot(enterprise_id=context["enterprise_id"], team_id=team_id)
            await pause_workspace(deps.db, team_id, why="the bot token was revoked", caches=caches)
