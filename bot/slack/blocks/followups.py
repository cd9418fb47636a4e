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
    ones); the rest do not fit in one message. Todos only suggested to them (a name match they
    have not answered) come with Accept / Not me and are counted apart."""
    asked = sum(1 for _title, view in todos if view.suggested_owner)
    heading = f"Your todos for today ({len(todos) - asked})" if len(todos) > asked else "Are these yours?"
    notice = (f"{asked} of these were suggested to you from meeting notes and wait for your answer: "
              "Accept or Not me." if asked else None)
    budget, shown = titled_todo_list(heading, todos, notice=notice)
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


RECAP_UNOWNED_SHOWN = 10


def _unowned_lines(needs_owner: list[tuple[str, int]]) -> str:
    lines = [f"• {escape(truncate(text, 150))} ({days} day{'s' if days != 1 else ''} open)"
             for text, days in needs_owner[:RECAP_UNOWNED_SHOWN]]
    if len(needs_owner) > RECAP_UNOWNED_SHOWN:
        lines.append(f"…and {len(needs_owner) - RECAP_UNOWNED_SHOWN} more")
    return "\n".join(lines)


def recap_message(meetings: list[RecapMeeting], *, opened: int, closed: int,
                  open_by_owner: Counter[str | None], needs_owner: list[tuple[str, int]] | None = None) -> Message:
    """A channel's week: its meetings (oldest first), todos opened and closed, open todos by owner.
    `needs_owner`: (text, days open) of the open todos nobody owns, oldest first: listed before
    the rest, since they are the ones nobody will do."""
    lines = [_recap_line(m) for m in meetings[:RECAP_MEETINGS_SHOWN]]
    if len(meetings) > RECAP_MEETINGS_SHOWN:
        lines.append(f"…and {len(meetings) - RECAP_MEETINGS_SHOWN} more")
    owner_lines = [f"• <@{escape(owner)}>: {count}" if owner else f"• no owner: {count}"
                   for owner, count in open_by_owner.most_common(RECAP_OWNERS_SHOWN)]
    blocks = [
        HeaderBlock(text=PlainTextObject(text=f"Your week in meetings ({len(meetings)})")),
        *([SectionBlock(text=MarkdownTextObject(text=truncate(
            f"*Needs an owner ({len(needs_owner)})*\n" + _unowned_lines(needs_owner), 2900)))]
          if needs_owner else []),
        SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 2900))),
        SectionBlock(fields=[MarkdownTextObject(text=f"*Todos opened:*\n{opened}"),
                             MarkdownTextObject(text=f"*Todos closed:*\n{closed}")]),
        SectionBlock(text=MarkdownTextObject(text=truncate(
            "*Open todos by owner*\n" + ("\n".join(owner_lines) or "None. Nice work!"), 2900))),
        note("`/meetings recap off` in this channel stops the weekly recap (admins)."),
    ]
    return Message(text=f"Your week in meetings: {len(meetings)} meetings, {opened} todos opened, {closed} closed",
                   blocks=blocks)
