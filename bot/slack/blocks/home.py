"""The App Home tab: connection status, the latest digests, and for admins the setup button.
A pure builder; home views hold at most 100 blocks, this one stays far below."""

from __future__ import annotations

import json
from collections.abc import Sequence

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
from slack_sdk.models.views import View

from bot.services import post_options
from bot.slack.blocks.text import escape, slack_date, truncate
from bot.slack.ids import ActionId
from bot.store.models import Connection, SlackMessage, TodoState
from bot.store.states import ConnectionStatus

MAX_DIGESTS = 10
MAX_TODOS = 15


def _digest_line(message: SlackMessage) -> str:
    try:
        title = json.loads(message.payload).get("text") or "A meeting"
    except ValueError:
        title = "A meeting"
    title = title.removeprefix("Meeting notes: ")
    link = f"https://slack.com/archives/{message.channel}/p{(message.ts or '').replace('.', '')}"
    when = slack_date(message.sent_at) if message.sent_at else ""
    # The fallback text was escaped when the digest was built; only keep it clear of link syntax.
    title = truncate(title.replace("|", "¦"), 150)
    return f"• <{link}|{title}> in <#{message.channel}>{' · ' + when if when else ''}"


def home_view(*, connection: Connection | None, provider_name: str | None, digests: list[SlackMessage],
              viewer_is_admin: bool, my_todos: Sequence[TodoState] = (), waiting: int = 0) -> dict:
    blocks: list = [HeaderBlock(text=PlainTextObject(text="Meetings bot"))]
    if waiting:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f":hourglass: *{waiting} meeting{'s wait' if waiting != 1 else ' waits'} for your approval.* "
                 "The approval DMs have the buttons; `/meetings status` lists them.")))
    if connection is None:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text="This workspace isn't connected to a meeting-notes service yet. "
                 + ("Press *Set up* to connect one." if viewer_is_admin else
                    "Ask a workspace admin to run `/meetings setup`."))))
    else:
        channel = f"<#{connection.default_channel}>" if connection.default_channel else "no channel yet"
        last = slack_date(connection.last_webhook_at) if connection.last_webhook_at else "none yet"
        state = "active" if connection.status == ConnectionStatus.ACTIVE else escape(connection.status)
        posts = ", ".join(o.label.lower() for o in post_options.POST_OPTIONS
                          if o.name in post_options.chosen(connection.options)) or "nothing"
        blocks.append(SectionBlock(fields=[
            MarkdownTextObject(text=f"*Service:*\n{escape(provider_name or connection.provider)} ({state})"),
            MarkdownTextObject(text=f"*Digests go to:*\n{channel}"),
            MarkdownTextObject(text=f"*Last webhook:*\n{last}"),
            MarkdownTextObject(text=f"*Connected:*\n{slack_date(connection.created_at, with_time=False)}"),
        ]))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Posting: {posts}")]))
    if viewer_is_admin:
        blocks.append(ActionsBlock(elements=[ButtonElement(text="Set up", action_id=ActionId.OPEN_SETUP,
                                                           value="setup", style="primary")]))
    blocks.append(DividerBlock())
    blocks.append(HeaderBlock(text=PlainTextObject(text="Latest digests")))
    if digests:
        lines = [_digest_line(m) for m in digests[:MAX_DIGESTS]]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 2900))))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No digests yet. They appear here once a "
                                                                "meeting ends and its digest is posted.")))
    blocks.append(DividerBlock())
    blocks.append(HeaderBlock(text=PlainTextObject(text=f"Your open todos ({len(my_todos)})")))
    if my_todos:
        lines = [f"• {escape(truncate(' '.join(t.text.split()), 200))}"
                 + (f" — _due {escape(truncate(t.due, 60))}_" if t.due else "")
                 + f" · {escape(truncate(t.meeting_title or 'Untitled meeting', 80))}" for t in my_todos[:MAX_TODOS]]
        if len(my_todos) > MAX_TODOS:
            lines.append(f"…and {len(my_todos) - MAX_TODOS} more: `/meetings todos mine` lists them all.")
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 2900))))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="Mark them done in the digest's thread or from `/meetings todos mine`.")]))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text="None. Todos you take with *Assign to me* in a digest's thread show up here.")))
    return View(type="home", blocks=blocks).to_dict()
