"""What the bot asks Slack about people, within Slack's rate tiers: the member directory and
email lookups (todo owners, docs/owners.md), and for routing (docs/routing.md) who has an email
address, the workspace's own email domains and which channels a member can read.

users.list is Tier 2 (about 20 calls a minute) and is read in pages of 200 with its cursor, at
most once a day per workspace (bot/services/directory.py keeps the result). users.lookupByEmail is
Tier 3 (about 50 a minute); each answer is kept a day, so a weekly meeting's owners cost one call
each per week. Both are paced per workspace before the call, and a 429 waits its Retry-After.
Routing's questions are cached too; a failure there means "do not know".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.providers.http import Pacer, get_pacer
from bot.services import directory
from bot.store.models import Workspace, utcnow

log = logging.getLogger(__name__)

PAGE_SIZE = 200  # Slack's advice for users.list
MAX_PAGES = 500  # 100,000 members: past this, something is looping
MAX_RATE_LIMITED = 5  # 429s in a row before giving up until the next time
MAX_RETRY_AFTER = 120.0
# Calls a minute and burst, a little under Slack's tiers (Tier 2: 20+, Tier 3: 50+) so a burst
# followed by steady calls never touches the limit in any minute.
LIST_TIER = (18, 3)  # users.list, Tier 2
LOOKUP_TIER = (45, 5)  # users.lookupByEmail, Tier 3
# Public mail services are never a workspace's "internal" domain, even if members sign up with them.
PUBLIC_MAIL = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com",
                         "me.com", "live.com", "proton.me", "protonmail.com", "aol.com", "gmx.com"})
NOT_FOUND = frozenset({"users_not_found", "user_not_found", "user_not_visible", "account_inactive"})


def _pacer(team_id: str, method: str, tier: tuple[int, int]) -> Pacer:
    rate, burst = tier
    return get_pacer(f"slack:{team_id}:{method}", rate=rate, burst=burst, name=method)


def _retry_after(exc: SlackApiError) -> float | None:
    """Seconds a 429 asks to wait; None for any other error."""
    if getattr(exc.response, "status_code", None) != 429:
        return None
    headers = getattr(exc.response, "headers", {}) or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or "1"
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return 1.0


class StillRateLimited(RuntimeError):
    """Slack kept answering 429 after every wait its Retry-After asked for."""


async def _call(deps, team_id: str, method: str, tier: tuple[int, int], **kwargs) -> dict:
    """One paced call; a 429 waits its Retry-After and tries again (a few times)."""
    client = deps.slack_client(team_id)
    pacer = _pacer(team_id, method, tier)
    for _ in range(MAX_RATE_LIMITED):
        await pacer.acquire()
        try:
            # users_list / users_lookupByEmail: the SDK's own method for each
            response = await getattr(client, method.replace(".", "_"))(**kwargs)
        except SlackApiError as exc:
            wait = _retry_after(exc)
            if wait is None:
                raise
            log.info("slack: %s rate limited for team %s; waiting %.0f s", method, team_id, wait)
            await asyncio.sleep(wait)
            continue
        return dict(response.data) if isinstance(response.data, dict) else {}
    raise StillRateLimited(f"{method} stayed rate limited")


async def refresh_directory(deps, team_id: str, *, now: datetime | None = None, force: bool = False) -> int | None:
    """Read the workspace's members, page by page, unless they were read less than a day ago
    (or `force`). Returns how many people were stored; None when the stored copy is fresh."""
    now = now or utcnow()
    if not force and not await directory.needs_refresh(deps.db, team_id=team_id, now=now):
        return None
    members = await read_members(deps, team_id)
    await directory.replace_members(deps.db, team_id=team_id, members=members, now=now)
    log.info("slack: member directory of team %s read: %d people", team_id, len(members))
    return len(members)


async def read_members(deps, team_id: str) -> list[directory.Member]:
    """All of the workspace's members, page by page: Slack only, nothing stored (so a read can be
    stopped anywhere in it, bot/jobs/directory.py)."""
    members: list[directory.Member] = []
    cursor = ""
    for _ in range(MAX_PAGES):
        arguments: dict = {"limit": PAGE_SIZE}
        if cursor:
            arguments["cursor"] = cursor
        body = await _call(deps, team_id, "users.list", LIST_TIER, **arguments)
        members += [m for u in body.get("members") or [] if (m := directory.member_from_slack(u)) is not None]
        metadata: dict = body["response_metadata"] if isinstance(body.get("response_metadata"), dict) else {}
        cursor = str(metadata.get("next_cursor") or "")
        if not cursor:
            break
    return members


async def lookup_email(deps, team_id: str, email: str, *, now: datetime | None = None) -> str | None:
    """The member with this email address, or None (a stranger, a guest the bot cannot see, or
    a workspace whose install predates the users:read.email scope). Answers are kept a day."""
    now = now or utcnow()
    known, user_id = await directory.cached_email(deps.db, team_id=team_id, email=email, now=now)
    if known:
        return user_id
    try:
        body = await _call(deps, team_id, "users.lookupByEmail", LOOKUP_TIER, email=email)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = data.get("error")
        if error not in NOT_FOUND:
            # missing_scope (installed before users:read.email) and the like: no answer, nothing kept
            log.warning("slack: users.lookupByEmail failed for team %s: %s", team_id, error)
            return None
        user_id = None
    else:
        user: dict = body["user"] if isinstance(body.get("user"), dict) else {}
        user_id = None if user.get("deleted") or user.get("is_bot") else (str(user.get("id") or "") or None)
    await directory.store_email(deps.db, team_id=team_id, email=email, user_id=user_id, now=now)
    return user_id


async def user_by_email(deps, team_id: str, email: str | None) -> str | None:
    """The Slack user with this address in the workspace, or None (lookup_email: cached a day)."""
    if not email or not email.strip():
        return None
    try:
        return await lookup_email(deps, team_id, email.strip().lower())
    except StillRateLimited:  # do not know
        return None


async def internal_domains(deps, team_id: str) -> frozenset[str]:
    """The workspace's email domains: stored, or learned once from its members' addresses."""
    async with deps.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is not None and workspace.internal_domains is not None:
            return frozenset(workspace.internal_domains)
    domains: set[str] = set()
    cursor = None
    try:
        for _page in range(50):  # 10,000 members is plenty to learn a workspace's domains
            page = await _call(deps, team_id, "users.list", LIST_TIER, limit=PAGE_SIZE,
                               **({"cursor": cursor} if cursor else {}))
            for member in page.get("members") or []:
                email = ((member.get("profile") or {}).get("email") or "").lower()
                if "@" in email and not member.get("is_bot") and not member.get("deleted") \
                        and not member.get("is_restricted"):
                    domains.add(email.rsplit("@", 1)[1])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except (SlackApiError, StillRateLimited) as exc:
        log.warning("users.list failed for team %s: %s", team_id, type(exc).__name__)
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
