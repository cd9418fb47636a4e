"""Meeting list and meeting detail, as pure functions of provider data."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.providers.base import Highlight, Meeting, MeetingSummary, Page, Todo
from bot.slack.blocks.message import BlockBudget, Message, note
from bot.slack.blocks.text import (
    duration_text,
    escape,
    mrkdwn_from_markdown,
    plain,
    slack_date,
    split_paragraphs,
    truncate,
)
from bot.slack.ids import ActionId, BlockId

SECTION_LIMIT = 2900  # under Slack's 3000, leaving room for a heading line
MAX_BUTTON_VALUE = 2000


def meeting_line(meeting: MeetingSummary) -> str:
    parts = [slack_date(meeting.started_at)]
    if duration := duration_text(meeting.duration_seconds):
        parts.append(duration)
    if meeting.topic and meeting.topic.name:
        parts.append(escape(truncate(meeting.topic.name, 80)))
    return f"*{escape(truncate(meeting.title or 'Untitled meeting', 200))}*\n" + " · ".join(parts)


def more_value(*, cursor: str, limit: int, last_id: str | None) -> str | None:
    value = json.dumps({"c": cursor, "n": limit, "s": last_id}, separators=(",", ":"))
    return value if len(value) <= MAX_BUTTON_VALUE else None


def parse_more_value(value: str) -> tuple[str | None, int, str | None]:
    """(cursor, count, last meeting id) from a More button's value. ValueError for anything
    more_value() never makes: a value is only as trustworthy as the person who can forge it."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValueError("a More value that is not JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("a More value that is not an object")
    cursor, limit, last_id = data.get("c"), data.get("n") or 10, data.get("s")
    for text in (cursor, last_id):
        if text is not None and (not isinstance(text, str) or len(text) > MAX_BUTTON_VALUE):
            raise ValueError("a More cursor that is not a string")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError("a More count that is not a small whole number")
    return cursor, limit, last_id


def meeting_list(page: Page[MeetingSummary], *, provider_name: str, limit: int, continued: bool = False,
                 notice: str | None = None) -> Message:
    if not page.items:
        if continued:
            # Hedy may ignore its own cursor and repeat the newest meetings (docs/providers/hedy.md, "Paging").
            text = (f"No older meetings came back from {provider_name}; its API may only list the newest ones. "
                    "`/meetings list 30` shows up to 30 at once.")
            return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])
        text = (f"No meetings in {provider_name} yet. They show up here once {provider_name} "
                "has processed a recording.")
        return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])

    title = f"More meetings from {provider_name}" if continued else f"Recent meetings in {provider_name}"
    budget = BlockBudget(reserve_blocks=3)
    budget.add(HeaderBlock(text=PlainTextObject(text=title)))
    if notice:
        budget.add(note(notice))
    shown = 0
    for meeting in page.items:
        accessory = None
        if meeting.id and len(meeting.id) <= MAX_BUTTON_VALUE:
            accessory = ButtonElement(text="Show", action_id=ActionId.SHOW_MEETING, value=meeting.id)
        if not budget.add(SectionBlock(text=MarkdownTextObject(text=meeting_line(meeting)), accessory=accessory)):
            break
        shown += 1
    if shown < len(page.items):
        budget.force(note(f"Showing {shown} of {len(page.items)}: Slack limits how much one message holds."))
    last = page.items[shown - 1].id if shown else None
    if page.next_cursor and shown == len(page.items):
        value = more_value(cursor=page.next_cursor, limit=limit, last_id=last)
        if value:
            budget.force(ActionsBlock(block_id=BlockId.MORE, elements=[
                ButtonElement(text="More", action_id=ActionId.MORE_MEETINGS, value=value)]))
    return Message(text=f"{title}: {shown} meetings", blocks=budget.blocks)


# ---------------------------------------------------------------------------- detail

RECAP_BUDGET = 1_500
MINUTES_BUDGET = 5_000
HIGHLIGHTS_BUDGET = 1_500
TODOS_BUDGET = 1_800


def todo_line(todo: Todo) -> str:
    box = "☑" if todo.completed else "☐"
    text = escape(truncate(" ".join(todo.text.split()) or "(no text)", 300))
    if todo.completed:
        text = f"~{text}~"
    due = f" — _due {escape(truncate(todo.due, 60))}_" if todo.due else ""
    return f"{box} {text}{due}"


def highlight_line(highlight: Highlight) -> str:
    line = f"• *{escape(truncate(highlight.title or 'Highlight', 150))}*"
    if highlight.quote:
        line += f" — “{escape(truncate(' '.join(highlight.quote.split()), 300))}”"
    if highlight.insight:
        line += f"\n    _{escape(truncate(' '.join(highlight.insight.split()), 300))}_"
    return line


def _lines_within(lines: list[str], budget: int) -> tuple[str, int]:
    """Join as many lines as fit in `budget` characters; return the text and how many fit."""
    out: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out), len(out)


def meeting_detail(meeting: Meeting, *, provider_name: str) -> Message:
    budget = BlockBudget(reserve_blocks=2)
    cuts: list[str] = []
    budget.add(HeaderBlock(text=PlainTextObject(text=plain(meeting.title or "Untitled meeting", 150))))
    budget.add(ContextBlock(elements=[MarkdownTextObject(text=meeting_line(meeting).split("\n", 1)[1]
                                                         + f" · `{escape(truncate(meeting.id, 100))}`")]))

    def section(heading: str, body: str) -> None:
        for index, chunk in enumerate(split_paragraphs(body, SECTION_LIMIT)):
            text = f"*{heading}*\n{chunk}" if index == 0 else chunk
            if not budget.add(SectionBlock(text=MarkdownTextObject(text=text))):
                cuts.append(heading.lower())
                return

    if meeting.recap and meeting.recap.strip():
        recap = escape(meeting.recap.strip())
        if len(recap) > RECAP_BUDGET:
            cuts.append("recap")
        section("Recap", truncate(recap, RECAP_BUDGET))

    minutes = mrkdwn_from_markdown(meeting.minutes)
    if minutes:
        if len(minutes) > MINUTES_BUDGET:
            cuts.append("minutes")
        budget.add(DividerBlock())
        section("Meeting minutes", truncate(minutes, MINUTES_BUDGET))

    if meeting.highlights:
        text, count = _lines_within([highlight_line(h) for h in meeting.highlights], HIGHLIGHTS_BUDGET)
        if count < len(meeting.highlights):
            text += f"\n_…and {len(meeting.highlights) - count} more highlights_"
        budget.add(DividerBlock())
        section(f"Highlights ({len(meeting.highlights)})", text)

    if meeting.todos:
        text, count = _lines_within([todo_line(t) for t in meeting.todos], TODOS_BUDGET)
        if count < len(meeting.todos):
            text += f"\n_…and {len(meeting.todos) - count} more todos_"
        budget.add(DividerBlock())
        section(f"Todos ({len(meeting.todos)})", text)

    if not (meeting.recap or minutes or meeting.highlights or meeting.todos):
        budget.add(SectionBlock(text=MarkdownTextObject(
            text=f"{provider_name} has no recap or minutes for this meeting yet.")))
    if cuts:
        where = ", ".join(dict.fromkeys(cuts))
        budget.force(note(f"✂️ Shortened to fit in Slack ({where}). The full text is in {provider_name}."))
    # The fallback text is parsed for mentions in notifications: escape the title there too.
    return Message(text=f"{escape(meeting.title or 'Untitled meeting')} ({provider_name})", blocks=budget.blocks)
