"""Todos across meetings, grouped by meeting."""

from __future__ import annotations

from slack_sdk.models.blocks import HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from bot.services.meetings import TodoGroup
from bot.slack.blocks.meetings import SECTION_LIMIT, todo_line
from bot.slack.blocks.message import BlockBudget, Message, note
from bot.slack.blocks.text import escape, slack_date, truncate


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
            heading = f"*{escape(truncate(group.meeting_title, 200))}* · {slack_date(group.meeting_started_at, with_time=False)}"
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
