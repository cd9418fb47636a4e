"""The follow-up messages: a morning reminder DM and a channel's weekly recap. Pure builders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.blocks.digest import TodoView
from bot.slack.blocks.message import Message, note
from bot.slack.blocks.text import escape, truncate
from bot.slack.blocks.todos import titled_todo_list

RECAP_MEETINGS_SHOWN = 20
RECAP_OWNERS_SHOWN = 15


def reminder_message(todos: list[tuple[str, TodoView]]) -> tuple[Message, int]:
    """A person's todos for today, each under its meeting's title (in the order given), with the
    same buttons as in threads. Returns the message and how many of the todos it shows (the first
    ones); the rest do not fit in one message."""
    heading = f"Your todos for today ({len(todos)})"
    budget, shown = titled_todo_list(heading, todos)
    budget.force(note(("" if shown == len(todos) else f"{len(todos) - shown} more not shown. ")
                      + "Due, overdue, or without a date for over a week. Snooze one to skip it for a while; "
                        "`/meetings reminders off` stops these messages."))
    return Message(text=f"{heading}: good morning, here is what is on your plate.", blocks=budget.blocks), shown


@dataclass(frozen=True)
class RecapMeeting:
    title: str | None
    link: str | None = None  # the digest's permalink


def _recap_line(meeting: RecapMeeting) -> str:
    # Kept clear of link syntax: "|" and ">" would end the link's label early.
    title = escape(truncate(meeting.title or "A meeting", 150)).replace("|", "¦")
    return f"• <{meeting.link}|{title}>" if meeting.link else f"• {title}"


def recap_message(meetings: list[RecapMeeting], *, opened: int, closed: int,
                  open_by_owner: Counter[str | None]) -> Message:
    """A channel's week: its meetings (oldest first), todos opened and closed, open todos by owner."""
    lines = [_recap_line(m) for m in meetings[:RECAP_MEETINGS_SHOWN]]
    if len(meetings) > RECAP_MEETINGS_SHOWN:
        lines.append(f"…and {len(meetings) - RECAP_MEETINGS_SHOWN} more")
    owner_lines = [f"• <@{escape(owner)}>: {count}" if owner else f"• no owner: {count}"
                   for owner, count in open_by_owner.most_common(RECAP_OWNERS_SHOWN)]
    blocks = [
        HeaderBlock(text=PlainTextObject(text=f"Your week in meetings ({len(meetings)})")),
        SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 2900))),
        SectionBlock(fields=[MarkdownTextObject(text=f"*Todos opened:*\n{opened}"),
                             MarkdownTextObject(text=f"*Todos closed:*\n{closed}")]),
        SectionBlock(text=MarkdownTextObject(text=truncate(
            "*Open todos by owner*\n" + ("\n".join(owner_lines) or "None. Nice work!"), 2900))),
        note("`/meetings recap off` in this channel stops the weekly recap (admins)."),
    ]
    return Message(text=f"Your week in meetings: {len(meetings)} meetings, {opened} todos opened, {closed} closed",
                   blocks=blocks)
