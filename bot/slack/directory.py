"""What routing asks Slack about people: who has an email address, the workspace's own email
domains, which channels a member can read. Kept small and cached; failures mean "do not know"."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.store.models import Workspace

log = logging.getLogger(__name__)

# Public mail services are never a workspace's "internal" domain, even if members sign up with them.
PUBLIC_MAIL = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com",
                         "me.com", "live.com", "proton.me", "protonmail.com", "aol.com", "gmx.com"})


async def user_by_email(deps, team_id: str, email: str | None) -> str | None:
    """The Slack user with this address in the workspace (users.lookupByEmail), or None."""
    if not email:
        return None
    try:
        found = await deps.slack_client(team_id).users_lookupByEmail(email=email)
    except SlackApiError as exc:
        if (exc.response.data or {}).get("error") not in ("users_not_found", "user_not_found"):
            log.warning("users.lookupByEmail failed for team %s: %s", team_id, (exc.response.data or {}).get("error"))
        return None
    user = found.get("user") or {}
    return user.get("id") if not user.get("deleted") else None


async def internal_domains(deps, team_id: str) -> frozenset[str]:
    """The workspace's email domains: stored, or learned once from its members' addresses."""
    async with deps.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is not None and workspace.internal_domains is not None:
            return frozenset(workspace.internal_domains)
    domains: set[str] = set()
    cursor = None
    try:
        client = deps.slack_client(team_id)
        for _page in range(50):  # 10,000 members is plenty to learn a workspace's domains
            page = await client.users_list(limit=200, **({"cursor": cursor} if cursor else {}))
            for member in page.get("members") or []:
                email = ((member.get("profile") or {}).get("email") or "").lower()
                if "@" in email and not member.get("is_bot") and not member.get("deleted") \
                        and not member.get("is_restricted"):
                    domains.add(email.rsplit("@", 1)[1])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except SlackApiError as exc:
        log.warning("users.list failed for team %s: %s", team_id, (exc.response.data or {}).get("error"))
        return frozenset()
    domains -= PUBLIC_MAIL
    async with deps.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is not None and domains:
            workspace.internal_domains = sorted(domains)
            session.add(workspace)
    return frozenset(domains)


async def member_of(deps, team_id: str, user_id: str) -> frozenset[str]:
    """The channels the user is in (users.conversations), cached for a few minutes."""
    async def load() -> frozenset[str]:
        client = deps.slack_client(team_id)
        mine: set[str] = set()
        cursor = None
        for _page in range(20):
            page = await client.users_conversations(user=user_id, types="public_channel,private_channel",
                                                    limit=200, **({"cursor": cursor} if cursor else {}))
            mine.update(c["id"] for c in page.get("channels") or [] if c.get("id"))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return frozenset(mine)

    return await deps.user_channels.get((team_id, user_id), load)


async def readable_channels(deps, team_id: str, user_id: str, channels: set[str]) -> frozenset[str]:
    """Of `channels`, those the user can read: public ones, and private ones they are in."""
    if not channels:
        return frozenset()
    try:
        mine = await member_of(deps, team_id, user_id)
    except SlackApiError:
        mine = frozenset()
    readable = set(channels & mine)
    for channel in channels - mine:
        if channel[:1] in ("U", "W", "D"):
            continue  # a DM is never someone else's to read
        try:
            info = await deps.slack_client(team_id).conversations_info(channel=channel)
        except SlackApiError:
            continue
        if not (info.get("channel") or {}).get("is_private"):
            readable.add(channel)
    return frozenset(readable)
