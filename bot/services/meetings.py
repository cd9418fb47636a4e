"""What the `/meetings` commands ask of a provider, shaped for display. No Slack here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.providers.base import (
    Account,
    AuthError,
    MeetingProvider,
    MeetingSummary,
    Page,
    ProviderError,
    Todo,
)


@dataclass
class TodoGroup:
    meeting_id: str | None
    meeting_title: str | None
    meeting_started_at: datetime | None
    todos: list[Todo] = field(default_factory=list)


async def recent_meetings(
    provider: MeetingProvider, *, limit: int, cursor: str | None = None, after_id: str | None = None
) -> Page[MeetingSummary]:
    """One page of meetings, newest first.

    `after_id` is the last meeting the previous page showed. Hedy may ignore its own cursor and
    answer with the newest meetings again (docs/providers/hedy.md, "Paging"); dropping everything up to that
    meeting keeps a page from repeating, and an empty result then means "that is all".
    """
    page = await provider.list_meetings(limit=limit, cursor=cursor)
    if after_id is None:
        return page
    ids = [m.id for m in page.items]
    if after_id in ids:
        rest = page.items[ids.index(after_id) + 1 :]
        return Page(items=rest, next_cursor=page.next_cursor if rest else None)
    return page


async def todos_by_meeting(provider: MeetingProvider, *, include_done: bool) -> list[TodoGroup]:
    """Action items grouped by meeting, newest meeting first; todos without a meeting last."""
    todos = await provider.list_todos()
    if not include_done:
        todos = [t for t in todos if not t.completed]
    if not todos:
        return []
    titles: dict[str, MeetingSummary] = {}
    try:
        # One list call names the meetings; todos only carry the meeting id.
        page = await provider.list_meetings(limit=100)
        titles = {m.id: m for m in page.items}
    except ProviderError:
        pass  # the todos are still worth showing with bare meeting ids

    groups: dict[str | None, TodoGroup] = {}
    for todo in todos:
        group = groups.get(todo.meeting_id)
        if group is None:
            meeting = titles.get(todo.meeting_id or "")
            group = TodoGroup(
                meeting_id=todo.meeting_id,
                meeting_title=meeting.title if meeting else None,
                meeting_started_at=meeting.started_at if meeting else None,
            )
            groups[todo.meeting_id] = group
        group.todos.append(todo)

    def order(group: TodoGroup):
        known = group.meeting_started_at is not None
        stamp = group.meeting_started_at.timestamp() if group.meeting_started_at is not None else 0.0
        return (group.meeting_id is None, not known, -stamp)

    return sorted(groups.values(), key=order)


@dataclass
class KeyCheck:
    state: str  # "ok" | "rejected" | "unreachable"
    account: Account | None = None
    detail: str | None = None


async def check_key(provider: MeetingProvider) -> KeyCheck:
    try:
        return KeyCheck(state="ok", account=await provider.check_key())
    except AuthError as exc:
        return KeyCheck(state="rejected", detail=exc.message)
    except ProviderError as exc:
        return KeyCheck(state="unreachable", detail=exc.message)
