"""The DM a suggested owner gets, once per meeting: "You were named as owner of 3 todos from
«Weekly sync»", with Accept all, and per todo Accept / Not me / Reassign. Pure builder."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    MarkdownTextObject,
    SectionBlock,
    UserSelectElement,
)

from bot.providers.base import Todo
from bot.slack.blocks.digest import TodoView
from bot.slack.blocks.meetings import todo_line
from bot.slack.blocks.message import BlockBudget, Message, note
from bot.slack.blocks.text import escape, mention, truncate
from bot.slack.ids import ActionId, BlockId


def _named(count: int) -> str:
    return f"{count} todo" if count == 1 else f"{count} todos"


def _answer(todo: TodoView, person: str) -> str:
    if todo.assignee == person:
        return "_You own this._"
    if todo.assignee:
        return f"_Owner: {mention(todo.assignee)}_"
    if todo.suggested_owner == person:
        said = f' (from "{escape(truncate(todo.owner_quote, 60))}")' if todo.owner_quote else ""
        return f"_Suggested for you{said}_"
    return "_Needs owner_"


def _todo_blocks(todo: TodoView, index: int, person: str) -> list[Block]:
    line = todo_line(Todo(id="", text=todo.text, due=todo.due, completed=todo.done))
    blocks: list[Block] = [SectionBlock(block_id=f"todo:{index}",
                                        text=MarkdownTextObject(text=f"{line}\n{_answer(todo, person)}"))]
    if todo.ref and todo.suggested_owner == person and not todo.done:
        blocks.append(ActionsBlock(block_id=f"{BlockId.TODO_ACTIONS_PREFIX}{todo.ref}", elements=[
            ButtonElement(text="Accept", action_id=ActionId.TODO_ACCEPT, value=todo.ref, style="primary"),
            ButtonElement(text="Not me", action_id=ActionId.TODO_NOT_ME, value=todo.ref),
            UserSelectElement(action_id=ActionId.TODO_ASSIGN, placeholder="Reassign…"),
        ]))
    return blocks


def owner_request_message(person: str, meeting_title: str | None, todos: list[TodoView]) -> Message:
    """`todos`: the ones suggested to `person` from one meeting (answered ones included, so the
    message shows what became of them after a click)."""
    title = escape(truncate(meeting_title or "a meeting", 150))
    heading = f"You were named as owner of {_named(len(todos))} from «{title}»"
    waiting = [t for t in todos if t.suggested_owner == person and t.ref and not t.done]
    budget = BlockBudget(reserve_blocks=3)
    budget.add(SectionBlock(text=MarkdownTextObject(
        text=f"{heading}. Is that right? Accepted todos come back in your morning reminders.")))
    if len(waiting) > 1:
        budget.add(ActionsBlock(block_id="owners_all", elements=[
            ButtonElement(text=f"Accept all {len(waiting)}", action_id=ActionId.OWNERS_ACCEPT_ALL,
                          value=waiting[0].ref or "", style="primary")]))
    shown = 0
    for index, todo in enumerate(todos):
        blocks = _todo_blocks(todo, index, person)
        if len(budget.blocks) + len(blocks) > budget.max_blocks or \
                budget.chars + sum(budget.size(b) for b in blocks) > budget.max_chars:
            break
        for block in blocks:
            budget.add(block)
        shown += 1
    more = f"{len(todos) - shown} more are in the meeting's thread. " if shown < len(todos) else ""
    budget.force(note(more + "Not me: the todo goes back to the channel as needing an owner, and your name "
                             "is not suggested for it again. Wrong name? `/meetings alias \"Name\" @you` fixes it."))
    return Message(text=f"{heading}.", blocks=budget.blocks)
