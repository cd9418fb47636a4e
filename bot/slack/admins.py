"""Who may change the bot's setup in a workspace: its Slack admins and owners, and the person who
installed the app there the first time. A re-install never makes anyone an admin of the bot."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.deps import Deps
from bot.services.workspaces import first_installer
from bot.slack.blocks.text import is_user_id
from bot.slack.errors import SlackRefusal


def member_here(user: dict, *, team_id: str, enterprise_id: str | None) -> bool:
    """Whether users.info's `user` belongs to the workspace (or, on Enterprise Grid, to its org).
    A Slack Connect guest from another organization is shown with their own workspace's flags:
    their `is_admin` says nothing about this one."""
    if user.get("team_id") == team_id:
        return True
    org = user.get("enterprise_user") or {}
    return bool(enterprise_id) and isinstance(org, dict) and org.get("enterprise_id") == enterprise_id


async def is_admin(deps: Deps, *, team_id: str, user_id: str, enterprise_id: str | None = None) -> bool:
    """Asked of Slack (users.info in the workspace) on every admin step, so a demoted admin or a
    crafted request changes nothing."""
    if not team_id or not is_user_id(user_id):
        return False
    try:
        info = await deps.slack_client(team_id, interactive=True).users_info(user=user_id)
    except SlackApiError as exc:
        if SlackRefusal.of(exc).code in ("user_not_found", "user_not_visible"):
            return False  # not a member of this workspace
        raise
    user = info.get("user") or {}
    if user.get("deleted") or not member_here(user, team_id=team_id, enterprise_id=enterprise_id):
        return False
    if user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"):
        return True
    return await first_installer(deps.db, team_id) == user_id
