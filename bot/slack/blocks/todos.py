"""Todos across meetings, grouped by meeting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_sdk.models.blocks import HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from bot.services.meetings import TodoGroup
from bot.slack.blocks.meetings import SECTION_LIMIT, todo_line
from bot.slack.blocks.message import BlockBudget, Message, note
from bot.slack.blocks.text import escape, mention, slack_date, truncate

if TYPE_CHECKING:
    from bot.slack.blocks.digest import TodoView


def todo_groups(groups: list[TodoGroup], *, provider_name: str, include_done: bool) -> Message:
    scope = "All todos" if include_done else "Open todos"
    total = sum(len(g.todos) for g in groups)
    if not groups:
        text = ("No todos yet." if include_done else "No open todos. Nice work!") + \
            f" Action items from {provider_name} meetings show up here."
        return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])

    budget = BlockBudget(reserve_blocks=2)
    budget.add(HeaderBlock(text=PlainTextObject(text=f"{scope} ({total})")))
    shown = 0
    for group in groups:
        if group.meeting_title:
            day = slack_date(group.meeting_started_at, with_time=False)
            heading = f"*{escape(truncate(group.meeting_title, 200))}* · {day}"
        elif group.meeting_id:
            heading = f"*Meeting `{escape(truncate(group.meeting_id, 100))}`*"
        else:
            heading = "*Not tied to a meeting*"
        lines: list[str] = []
        used = len(heading)
        for todo in group.todos:
            line = todo_line(todo)
            if used + len(line) + 1 > SECTION_LIMIT:
                break
            lines.append(line)
            used += len(line) + 1
        if not lines or not budget.add(SectionBlock(text=MarkdownTextObject(text="\n".join([heading, *lines])))):
            break
        shown += len(lines)
    if shown < total:
        budget.force(note(f"Showing {shown} of {total} todos: Slack limits how much one message holds. "
                          f"The rest are in {provider_name}."))
    return Message(text=f"{scope}: {total}", blocks=budget.blocks)


def owner_todos(views: list[tuple[str, TodoView]], *, owner: str, asker: str, notice: str | None = None) -> Message:
    """Open todos someone owns, each under its meeting's title, with the same buttons as in threads.
    `views`: (meeting title, todo). `notice`: what the last click did, when the list is shown again."""
    who = "you" if owner == asker else mention(owner)
    done = f"{notice}\n" if notice else ""  # mrkdwn the caller built (a mention, escaped todo text)
    if not views:
        text = (f"{done}No open todos owned by {who}. Owners are set with *Assign* on the todos in a digest's thread.")
        return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])
    heading = f"Open todos for {'you' if owner == asker else 'them'} ({len(views)})"
    budget, shown = titled_todo_list(heading, views, list_owner=owner, notice=notice)
    if shown < len(views):
        budget.force(note(f"{len(views) - shown} more not shown; mark some done to see the rest."))
    return Message(text=f"{heading}: owned by {who}", blocks=budget.blocks)


def titled_todo_list(heading: str, views: list[tuple[str, TodoView]], *, list_owner: str | None = None,
                     notice: str | None = None) -> tuple[BlockBudget, int]:
    """A header, then each todo under its meeting's title with its buttons, as many as fit in one
    message (a todo's blocks are never split). Returns the blocks so far and how many todos fit;
    one block is left for the caller's closing note. `list_owner` marks the block ids of an
    owner's list (see todo_blocks); `notice` goes under the header."""
    from bot.slack.blocks.digest import todo_blocks

    budget = BlockBudget(reserve_blocks=2)
    budget.add(HeaderBlock(text=PlainTextObject(text=heading)))
    if notice:
        budget.add(note(notice))
    shown = 0
    for index, (title, view) in enumerate(views):
        blocks = [note(f"*{escape(truncate(title or 'Untitled meeting', 200))}*"),
                  *todo_blocks(view, index, list_owner=list_owner)]
        if (len(budget.blocks) + len(blocks) > budget.max_blocks
                or budget.chars + sum(budget.size(b) for b in blocks) > budget.max_chars):
            break
        for block in blocks:
            budget.add(block)
        shown += 1
    return budget, shown


def change_notice(action: str, *, assignee: str | None, todo_text: str) -> str:
    """What a click on a todo did, for the person who clicked (mrkdwn: the todo's text escaped,
    the owner a mention only when it is a real user id)."""
    done = {"done": "Marked done.", "reopen": "Reopened.", "assign": f"Assigned to {mention(assignee)}.",
            "unassign": "No owner now.", "snooze_tomorrow": "Snoozed until tomorrow.",
            "snooze_week": "Snoozed until next week."}.get(action, "Changed.")
    text = " ".join(todo_text.split())
    return f"{done} ({escape(text if len(text) <= 80 else text[:79] + '…')})"
