"""A todo state's owner as its views show it (bot/slack/blocks/digest.py TodoView's owner fields)."""

from __future__ import annotations

from datetime import datetime

from bot.services.carryover import CARRIED
from bot.services.owners import NEEDS_OWNER, SUGGESTED
from bot.store.models import TodoState, utcnow


def carried_note(state: TodoState, *, now: datetime | None = None) -> str | None:
    """"carried over from «Weekly sync» of 10 Nov (17 days open)" for a repeated commitment."""
    if state.status == CARRIED:
        return "said again in a later meeting, and tracked there"
    if state.carried_from_id is None or state.carried_since is None:
        return None
    days = max(0, ((now or utcnow()) - state.carried_since).days)
    title = (state.carried_from_title or "an earlier meeting")[:80]
    since = state.carried_since
    return f"carried over from «{title}» of {since.day} {since:%b} ({days} day{'s' if days != 1 else ''} open)"


def owner_fields(state: TodoState) -> dict:
    suggested = state.owner_confidence == SUGGESTED and not state.assignee
    return dict(suggested_owner=state.suggested_owner if suggested else None,
                owner_quote=state.owner_quote if suggested else None,
                needs_owner=state.owner_confidence == NEEDS_OWNER and not state.assignee,
                carried_over=carried_note(state))
