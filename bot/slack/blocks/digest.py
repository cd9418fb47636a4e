"""The channel digest a meeting gets when it ends, its thread replies and the minutes modal.

Pure functions of provider data, like `meetings.py`: whatever the provider sends, every
message stays within Slack's limits (BlockBudget), user text is escaped so it can never
mention or link, and whatever had to be cut is announced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.providers.base import Meeting, Todo
from bot.slack.blocks.meetings import MAX_BUTTON_VALUE, SECTION_LIMIT, highlight_line, todo_line
from bot.slack.blocks.message import MAX_BLOCK_CHARS, BlockBudget, Message, note
from bot.slack.blocks.text import (
    duration_text,
    escape,
    mention,
    mrkdwn_from_markdown,
    plain,
    slack_date,
    split_paragraphs,
    truncate,
)
from bot.slack.ids import ActionId, BlockId, CallbackId

RECAP_CHARS = 1_200
KEY_POINTS_CHARS = 1_800
TODOS_PER_MESSAGE = 20
HIGHLIGHTS_SHOWN = 40
MODAL_TITLE = "Meeting minutes"  # modal titles: 24 characters at most
MODAL_BLOCKS = 100
# Serialized views stay under ~24,000 characters: blocks get this much, the rest of the view
# (title, close, callback_id) and the closing note fit in what is left.
MODAL_BLOCK_CHARS = 22_000
MAX_LINK_CHARS = 1_000  # longer links are shown as their label only


# ---------------------------------------------------------------------------- shared pieces


def _title(title: str | None) -> str:
    return " ".join((title or "").split()) or "Untitled meeting"


def _date_fallback(moment: datetime | None) -> str:
    """The date as plain text for fallback `text`, in UTC (notifications do not render <!date>)."""
    if moment is None:
        return "date unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _details_line(meeting: Meeting, provider_name: str) -> str:
    """Date · duration · topic · provider, for a context block. Whitespace in the topic is
    collapsed so a provider's newline cannot spill into the line."""
    parts = [slack_date(meeting.started_at)]
    if duration := duration_text(meeting.duration_seconds):
        parts.append(duration)
    if meeting.topic and meeting.topic.name and meeting.topic.name.strip():
        parts.append(escape(truncate(" ".join(meeting.topic.name.split()), 80)))
    parts.append(f"via {escape(provider_name)}")
    return " · ".join(parts)


_LINK = re.compile(r"<([^<>]*)>")
_SAFE_TARGET = re.compile(r"(?:https?://|mailto:)\S+\Z", re.IGNORECASE)


def _safe_mrkdwn(markdown: str | None, *, title: str | None = None) -> str:
    """`mrkdwn_from_markdown`, then every `<…>` it wrote checked: only http(s) and mailto links
    stay links. The converter turns `[x](!channel)` into `<!channel|x>` (an @channel ping) and
    `[x](@U123)` into a user mention, so any other target is shown as its label, as text.
    Links longer than MAX_LINK_CHARS become their label too. A first heading that only repeats
    the meeting title (the header already shows it) is dropped."""
    text = mrkdwn_from_markdown(markdown)
    first, _, rest = text.partition("\n")
    if title and first.strip() == f"*{escape(_title(title))}*":
        text = rest.strip()

    def check(match: re.Match) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if not _SAFE_TARGET.match(target) or len(inner) > MAX_LINK_CHARS:
            # User text was escaped before conversion: what is inside carries no raw < or >.
            return " ".join((label or target).split()) or "link"
        return match.group(0)

    return _LINK.sub(check, text)


def _unbreakable_links(text: str) -> str:
    """Non-breaking spaces inside links: `split_paragraphs` cuts at whitespace and loops forever
    when a cut lands inside a link that starts a chunk. With links under MAX_LINK_CHARS and no
    whitespace in them, no cut can."""
    return _LINK.sub(lambda m: re.sub(r"\s", "\u00a0", m.group(0)), text)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _section(text: str, **kwargs) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text), **kwargs)


# ---------------------------------------------------------------------------- digest


_HEADING = re.compile(r"\*[^*\n]+\*")  # how mrkdwn_from_markdown writes a Markdown heading


def _key_points(minutes: str) -> str:
    """The first lines of the minutes (headings and bullets) within KEY_POINTS_CHARS, cut at a
    line boundary; a cut ends in a line with "…" and a pointer to the Full minutes button."""
    lines: list[str] = []
    used = 0
    cut = False
    for line in minutes.split("\n"):
        if used + len(line) + 1 > KEY_POINTS_CHARS:
            if not lines:  # one very long first line: cut it at a word boundary instead
                lines.append(truncate(line, KEY_POINTS_CHARS))
            cut = True
            break
        lines.append(line)
        used += len(line) + 1
    if cut:
        # Do not end on a heading whose content was cut away.
        while len(lines) > 1 and (not lines[-1].strip() or _HEADING.fullmatch(lines[-1].strip())):
            lines.pop()
    text = "\n".join(lines).rstrip()
    if cut:
        text += "\n…\n_The rest is behind the *Full minutes* button._"
    return text


def _counts_line(todos: int, highlights: int) -> str:
    if not todos and not highlights:
        return "No todos or highlights for this meeting."
    parts = [_count(todos, "todo") if todos else "No todos"]
    if highlights:
        parts.append(_count(highlights, "highlight"))
    return " · ".join(parts) + " in the thread"


def digest_message(meeting: Meeting, *, provider_name: str, routed_by: str | None = None) -> Message:
    """The channel digest: title, when, recap, key points of the minutes, what is in the thread,
    and a Full minutes button (only when there are minutes or a transcript). `routed_by` (mrkdwn,
    already escaped) says why it is here: the routing rule, or "default channel"."""
    title = _title(meeting.title)
    minutes = _safe_mrkdwn(meeting.minutes, title=meeting.title)
    # The closing blocks always go in: the budget for the rest leaves room for them.
    tail: list[Block] = [note(_counts_line(len(meeting.todos), len(meeting.highlights)))]
    if routed_by:
        tail.append(note(f"Why here: {routed_by}"))
    if minutes or (meeting.transcript or "").strip():  # the modal shows the transcript after the minutes
        value = meeting.id if meeting.id and len(meeting.id) <= MAX_BUTTON_VALUE else None
        tail.append(ActionsBlock(elements=[
            ButtonElement(text="Full minutes", action_id=ActionId.FULL_MINUTES, value=value)]))
    budget = BlockBudget(max_chars=MAX_BLOCK_CHARS - sum(BlockBudget.size(b) for b in tail),
                         reserve_blocks=len(tail) + 1)
    budget.add(HeaderBlock(text=PlainTextObject(text=plain(title, 150))))
    budget.add(ContextBlock(elements=[MarkdownTextObject(text=_details_line(meeting, provider_name))]))

    recap = (meeting.recap or "").strip()
    if recap:
        budget.add(_section(truncate(escape(recap), RECAP_CHARS)))
    if minutes:
        budget.add(_section(f"*Key points*\n{_key_points(minutes)}"))
    if not recap and not minutes:
        budget.add(_section(f"{escape(provider_name)} has no summary for this meeting yet."))

    for block in tail:
        budget.force(block)
    text = f"Meeting notes: {escape(truncate(title, 200))} ({_date_fallback(meeting.started_at)})"
    return Message(text=text, blocks=budget.blocks)


# ---------------------------------------------------------------------------- thread replies


def todo_messages(meeting: Meeting, *, provider_name: str) -> list[Message]:
    """The todos for the digest's thread as the provider lists them, without buttons: up to 20
    per message, one section per todo with block_id `todo:<index in meeting.todos>`."""
    return todo_pages([TodoView(text=t.text, due=t.due, done=t.completed) for t in meeting.todos],
                      meeting_title=meeting.title, provider_name=provider_name)


@dataclass(frozen=True)
class TodoView:
    """One todo as a thread page shows it; `ref` (the bot's TodoState, as its buttons carry it)
    turns the buttons on."""

    text: str
    due: str | None = None
    done: bool = False
    ref: str | None = None
    done_by: str | None = None
    done_at: datetime | None = None
    assignee: str | None = None
    snoozed_until: datetime | None = None
    # owners (bot/services/owners.py): `assignee` is a confirmed owner; a name match waits in
    # `suggested_owner` (with where it was read); `needs_owner` when nothing (or two people) matched
    suggested_owner: str | None = None
    owner_quote: str | None = None
    needs_owner: bool = False
    carried_over: str | None = None  # "carried over from «Weekly sync» of 10 Nov (17 days open)"


def _owner_status(todo: TodoView) -> str | None:
    if todo.assignee:
        return f"Owner: {mention(todo.assignee)}"
    if todo.suggested_owner:
        said = f' (from "{escape(truncate(todo.owner_quote, 60))}")' if todo.owner_quote else ""
        return f"Suggested: {mention(todo.suggested_owner)}{said}"
    if todo.needs_owner:
        return "Needs owner"
    return None


def _todo_text(todo: TodoView) -> str:
    line = todo_line(Todo(id="", text=todo.text, due=todo.due, completed=todo.done))
    status = []
    if todo.done and todo.done_by:
        status.append(f"Done by {mention(todo.done_by)}"
                      + (f", {slack_date(todo.done_at)}" if todo.done_at else ""))
    elif owner := _owner_status(todo):
        status.append(owner)
    if not todo.done and todo.snoozed_until:
        status.append(f"snoozed until {slack_date(todo.snoozed_until, with_time=False)}")
    if todo.carried_over:
        status.append(escape(todo.carried_over))
    return line + ("\n_" + " · ".join(status) + "_" if status else "")


def todo_blocks(todo: TodoView, index: int, *, list_owner: str | None = None) -> list[Block]:
    """A todo's section (Done or Reopen beside it) and its row of Assign, Assign to me and the
    snooze menu. In an owner's list (`list_owner`), the block ids end in `@<owner>`, so a click
    on an ephemeral list (Slack sends no message with those) can render the list again."""
    text = _todo_text(todo)
    suffix = f"@{list_owner}" if list_owner else ""
    if todo.ref is None:
        return [_section(text, block_id=f"todo:{index}{suffix}")]
    value = todo.ref
    toggle = (ButtonElement(text="Reopen", action_id=ActionId.TODO_REOPEN, value=value) if todo.done else
              ButtonElement(text="Done", action_id=ActionId.TODO_DONE, value=value, style="primary"))
    more = [Option(value=f"tomorrow:{value}", label="Snooze until tomorrow"),
            Option(value=f"week:{value}", label="Snooze until next week")]
    if todo.assignee:
        more.append(Option(value=f"unassign:{value}", label="Remove the owner"))
    answers: list = []
    if todo.suggested_owner and not todo.done:  # only the suggested person may press these
        answers = [ButtonElement(text="Accept", action_id=ActionId.TODO_ACCEPT, value=value, style="primary"),
                   ButtonElement(text="Not me", action_id=ActionId.TODO_NOT_ME, value=value)]
    return [
        _section(text, block_id=f"todo:{index}{suffix}", accessory=toggle),
        ActionsBlock(block_id=f"{BlockId.TODO_ACTIONS_PREFIX}{value}{suffix}", elements=[
            *answers,
            UserSelectElement(action_id=ActionId.TODO_ASSIGN, placeholder="Assign…",
                              initial_user=todo.assignee or None),
            ButtonElement(text="Assign to me", action_id=ActionId.TODO_ASSIGN_ME, value=value),
            OverflowMenuElement(action_id=ActionId.TODO_MORE, options=more),
        ]),
    ]


def todo_pages(todos: list[TodoView], *, meeting_title: str | None, provider_name: str) -> list[Message]:
    """Todo thread messages: up to 20 todos each, fewer when their text is long; a todo's blocks
    (with buttons: a section and a row of actions) never split across messages."""
    if not todos:
        return []
    groups: list[tuple[int, list[Block]]] = []
    start = 0
    while start < len(todos):
        budget = BlockBudget(reserve_blocks=2)  # the header and the closing note
        index = start
        while index < len(todos) and index - start < TODOS_PER_MESSAGE:
            blocks = todo_blocks(todos[index], index)
            if (len(budget.blocks) + len(blocks) > budget.max_blocks
                    or budget.chars + sum(budget.size(b) for b in blocks) > budget.max_chars):
                if index == start:  # cannot happen (a todo is far below a message's size), but never loop
                    for block in blocks:
                        budget.force(block)
                    index += 1
                break
            for block in blocks:
                budget.add(block)
            index += 1
        groups.append((start, budget.blocks))
        start = index

    title = escape(truncate(_title(meeting_title), 150))
    interactive = any(t.ref is not None for t in todos)
    footer = note(f"Due dates as {escape(provider_name)} gives them."
                  + (f" Tracked in Slack: done, owners and snoozes live here, not in {escape(provider_name)}."
                     if interactive else ""))
    messages = []
    for first, blocks in groups:
        count = sum(1 for b in blocks if (getattr(b, "block_id", "") or "").startswith("todo:"))
        heading = (f"Todos ({len(todos)})" if len(groups) == 1 else
                   f"Todos ({first + 1}–{first + count} of {len(todos)})")
        messages.append(Message(text=f"{heading}: {title}",
                                blocks=[HeaderBlock(text=PlainTextObject(text=heading)), *blocks, footer]))
    return messages


def highlights_message(meeting: Meeting, *, provider_name: str) -> Message | None:
    """All highlights in one thread message, one section each; past 40 (or the size budget)
    the rest are counted in a closing note."""
    highlights = meeting.highlights
    if not highlights:
        return None
    heading = f"Highlights ({len(highlights)})"
    budget = BlockBudget(reserve_blocks=2)
    budget.add(HeaderBlock(text=PlainTextObject(text=heading)))
    shown = 0
    for highlight in highlights[:HIGHLIGHTS_SHOWN]:
        # highlight_line can outgrow a section when the text is mostly escaped characters.
        if not budget.add(_section(truncate(highlight_line(highlight), SECTION_LIMIT))):
            break
        shown += 1
    if shown < len(highlights):
        budget.force(note(f"…and {len(highlights) - shown} more. All of them are in {escape(provider_name)}."))
    text = f"{heading}: {escape(truncate(_title(meeting.title), 150))}"
    return Message(text=text, blocks=budget.blocks)


def meeting_started_message(*, title: str | None, started_at: datetime | None, provider_name: str) -> Message:
    name = escape(truncate(_title(title), 200))
    provider = escape(provider_name)
    when = f" started {slack_date(started_at)}" if started_at else " has started"
    text = f"🎙️ *{name}*{when} — the digest follows when {provider} has processed it."
    fallback_when = f" started ({_date_fallback(started_at)})" if started_at else " has started"
    fallback = f"{name}{fallback_when} — the digest follows when {provider} has processed it."
    return Message(text=fallback, blocks=[_section(text)])


def meeting_ended_message(*, title: str | None, ended_at: datetime | None, provider_name: str) -> Message:
    """A short note when a meeting ends, for providers whose notes come a while later (Whereby:
    the summary follows the transcription). Says that the digest follows only if there are notes."""
    name = escape(truncate(_title(title), 200))
    provider = escape(provider_name)
    when = f" ended {slack_date(ended_at)}" if ended_at else " has ended"
    tail = f"If it was transcribed, its digest follows once {provider} has summarised it."
    fallback_when = f" ended ({_date_fallback(ended_at)})" if ended_at else " has ended"
    return Message(text=f"{name}{fallback_when}. {tail}", blocks=[_section(f"🏁 *{name}*{when}. {tail}")])


def meeting_failed_message(*, title: str | None, started_at: datetime | None, provider_name: str,
                           reason: str | None = None) -> Message:
    """A short notice in place of a digest: the provider could not process the meeting."""
    name = escape(truncate(_title(title), 200))
    provider = escape(provider_name)
    when = f" ({slack_date(started_at)})" if started_at else ""
    why = f" It said: _{escape(truncate(' '.join(reason.split()), 300))}_" if reason and reason.strip() else ""
    text = (f"⚠️ {provider} could not process *{name}*{when}, so there is no digest for it.{why} "
            f"The recording may still be in {provider}.")
    fallback_when = f" ({_date_fallback(started_at)})" if started_at else ""
    fallback = f"{provider} could not process {name}{fallback_when}, so there is no digest for it."
    return Message(text=fallback, blocks=[_section(text)])


# ---------------------------------------------------------------------------- minutes modal


def _modal(blocks: list[Block]) -> dict:
    return View(type="modal", callback_id=CallbackId.MINUTES_MODAL.value, title=MODAL_TITLE, close="Close",
                blocks=blocks).to_dict()


def _fill(budget: BlockBudget, text: str) -> bool:
    """Add `text` as sections; False when it had to be cut (the start of the chunk that did not
    fit fills what is left, cut at a line or word boundary)."""
    for chunk in split_paragraphs(text, SECTION_LIMIT):
        if budget.add(_section(chunk)):
            continue
        limit = min(len(chunk), budget.remaining_chars() - 200)
        while limit > 300 and not budget.add(_section(truncate(chunk, limit))):
            limit = limit * 3 // 4
        return False
    return True


def minutes_modal(meeting: Meeting, *, provider_name: str) -> dict:
    """The full minutes, then the transcript if the provider gave one, for views.open /
    views.update: at most 100 blocks and ~24,000 characters, cut at a paragraph with a closing
    note when they are longer."""
    budget = BlockBudget(max_blocks=MODAL_BLOCKS, max_chars=MODAL_BLOCK_CHARS, reserve_blocks=1)
    budget.add(HeaderBlock(text=PlainTextObject(text=plain(_title(meeting.title), 150))))
    budget.add(ContextBlock(elements=[MarkdownTextObject(text=_details_line(meeting, provider_name))]))
    minutes = _unbreakable_links(_safe_mrkdwn(meeting.minutes, title=meeting.title))
    transcript = escape((meeting.transcript or "").strip())
    if not minutes and not transcript:
        budget.add(_section(f"{escape(provider_name)} has no minutes for this meeting yet."))
    cut = not _fill(budget, minutes)
    if transcript and not cut:
        # After the minutes, the transcript (Meetric, Harmony), as far as the modal has room.
        cut = not budget.add(_section("*Transcript*")) or not _fill(budget, transcript)
    elif meeting.transcript_note and not cut:
        cut = not budget.add(note(f"⚠️ {escape(truncate(meeting.transcript_note, 500))}"))
    if cut:
        budget.force(note(f"✂️ Shortened to fit in Slack; the full text is in {escape(provider_name)}."))
    return _modal(budget.blocks)


def minutes_loading_modal(*, title: str | None = None, provider_name: str | None = None) -> dict:
    """Opened at once (trigger_ids last 3 seconds), then replaced by views.update."""
    blocks: list[Block] = []
    if title and title.strip():
        blocks.append(HeaderBlock(text=PlainTextObject(text=plain(title, 150))))
    source = f" from {escape(provider_name)}" if provider_name else ""
    blocks.append(_section(f"⏳ Fetching the minutes{source}…"))
    return _modal(blocks)


def minutes_unavailable_modal(sentence: str) -> dict:
    """`sentence` is escaped (it may quote a provider's error), so it cannot carry links."""
    text = truncate(escape(sentence.strip()), SECTION_LIMIT) or "The minutes are not available right now."
    return _modal([_section(text)])
