"""Short replies: help, usage errors, topics, status, and the sentences users see when
something goes wrong. Every one says what happened and what to do."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.providers.base import Topic
from bot.services.meetings import KeyCheck
from bot.slack.blocks.message import BlockBudget, Message, note
from bot.slack.blocks.text import escape, mention, plain, slack_date, truncate
from bot.store.models import AuditEntry, Connection
from bot.store.states import ConnectionStatus

HELP_COMMANDS = [
    ("/meetings list [N]", "your N most recent meetings (10 if you leave it out), with a Show button on each",
     "/meetings list 5"),
    ("/meetings show <meeting id>", "recap, minutes, highlights and todos of one meeting",
     "/meetings show sess_abc123"),
    ("/meetings todos [open|all]", "action items across meetings, grouped by meeting (open ones by default)",
     "/meetings todos all"),
    ("/meetings todos mine|@someone", "open todos someone owns (set with Assign in a digest's thread), with buttons",
     "/meetings todos mine"),
    ("/meetings topics", "topics with how many meetings each has", "/meetings topics"),
    ("/meetings status", "which service is connected, whether its key works, where digests go", "/meetings status"),
    ("/meetings explain [meeting id]", "why a meeting's digest went where it did (every rule, in order)",
     "/meetings explain sess_abc123"),
    ("/meetings connect", "connect your own meeting-notes account; its digests come to you or your channels",
     "/meetings connect"),
    ("/meetings routes", "the routing rules: where each meeting goes (admins: the workspace's)", "/meetings routes"),
    ("/meetings reminders on|off", "a DM at 9:00 your time with the todos you own that are due",
     "/meetings reminders off"),
    ("/meetings recap on|off", "admins: the Monday recap in this channel", "/meetings recap off"),
    ('/meetings alias "Name" @someone', "the name meeting notes use for a person, so their todos find them "
     "(yourself, or anyone for admins)", '/meetings alias "Anna K" @anna'),
    ("/meetings setup", "admins: connect a service, choose the channel and what to post", "/meetings setup"),
    ("/meetings disconnect", "admins: remove the connection and its stored key", "/meetings disconnect"),
    ("/meetings help", "this list", "/meetings help"),
]


def help_message(intro: str | None = None) -> Message:
    lines = [f"• `{usage}`: {what}. Example: `{example}`" for usage, what, example in HELP_COMMANDS]
    blocks: list[Block] = []
    if intro:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=intro)))
    blocks += [
        HeaderBlock(text=PlainTextObject(text="What /meetings can do")),
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
        note("Answers here are only visible to you."),
    ]
    return Message(text=(intro + " " if intro else "") + "Type /meetings list, show, todos, topics, status or help.",
                   blocks=blocks)


def unknown_command(text: str) -> Message:
    shown = escape(truncate(" ".join(text.split()), 100))
    return help_message(intro=f"I didn't understand `{shown}`. Here is what I can do:")


def sentence(text: str) -> Message:
    """A plain one-paragraph answer (usage errors, failures, confirmations)."""
    return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=truncate(text, 2900)))])


def notice_modal(title: str, text: str) -> dict:
    """A modal that only says something (it replaces a submitted one: `response_action: update`)."""
    return View(type="modal", title=plain(title, 24), close="Close",
                blocks=[SectionBlock(text=MarkdownTextObject(text=truncate(text, 2900)))]).to_dict()


def not_connected(team_id: str) -> Message:
    return sentence(
        "This workspace isn't connected to a meeting-notes service yet, so I have no meetings to show. "
        "A workspace admin can connect one with `/meetings setup`, or on the server with "
        f"`meetings-bot connect --team {escape(team_id)} --provider hedy --api-key <key> --channel <channel id>` "
        "(the key is in Hedy under Settings → API Access)."
    )


def topic_list(topics: list[Topic], *, provider_name: str) -> Message:
    if not topics:
        return sentence(f"No topics in {provider_name} yet. "
                        f"Topics group related meetings; create them in {provider_name}.")
    budget = BlockBudget(reserve_blocks=2)
    budget.add(HeaderBlock(text=PlainTextObject(text=f"Topics in {provider_name} ({len(topics)})")))
    lines = []
    for topic in topics:
        count = topic.session_count
        sessions = "meetings unknown" if count is None else f"{count} meeting{'s' if count != 1 else ''}"
        entry = f"• *{escape(truncate(topic.name or 'Unnamed topic', 120))}*: {sessions}"
        if topic.last_session_at:
            entry += f", last {slack_date(topic.last_session_at, with_time=False)}"
        lines.append(entry)
    shown = 0
    chunk: list[str] = []
    for line in [*lines, None]:
        if line is None or sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            if chunk and not budget.add(SectionBlock(text=MarkdownTextObject(text="\n".join(chunk)))):
                break
            shown += len(chunk)
            chunk = []
        if line is not None:
            chunk.append(line)
    if shown < len(topics):
        budget.force(note(f"Showing {shown} of {len(topics)} topics."))
    return Message(text=f"Topics in {provider_name}: {len(topics)}", blocks=budget.blocks)


def status_message(connection: Connection, key: KeyCheck, *, provider_name: str, dead_events: int = 0,
                   dead_messages: Sequence[tuple[str, str]] = (), changes: Sequence[AuditEntry] = ()) -> Message:
    if key.state == "ok":
        who = f" ({escape(key.account.email)})" if key.account and key.account.email else ""
        key_text = f"✅ works{who}"
    elif key.state == "rejected":
        key_text = (f"❌ rejected by {provider_name}. An admin needs a new key from {provider_name} "
                    "and to save it with `/meetings setup`.")
    else:
        key_text = f"⚠️ couldn't check: {provider_name} did not answer. Try again in a few minutes."
    channel = f"<#{connection.default_channel}>" if connection.default_channel else "not set"
    last = slack_date(connection.last_webhook_at) if connection.last_webhook_at else "none yet"
    paused = "" if connection.status == ConnectionStatus.ACTIVE else f"\n*State:* {escape(connection.status)}"
    blocks = [
        HeaderBlock(text=PlainTextObject(text="Meetings bot status")),
        SectionBlock(fields=[
            MarkdownTextObject(text=f"*Provider:*\n{provider_name}"),
            MarkdownTextObject(text=f"*API key:*\n{key_text}"),
            MarkdownTextObject(text=f"*Default channel:*\n{channel}"),
            MarkdownTextObject(text=f"*Last webhook:*\n{last}"),
        ]),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"Connected {slack_date(connection.created_at, with_time=False)}"
                 f" · key ends in …{escape(connection.api_key_hint) or '????'}{paused}")]),
    ]
    problems = []
    if dead_events:
        problems.append(f"⚠️ {dead_events} webhook event{' failed' if dead_events == 1 else 's failed'} after every "
                        "retry. An admin can see them with `meetings-bot inbox list --status dead` and try again "
                        "with `meetings-bot inbox retry`.")
    for channel, error in list(dict.fromkeys(dead_messages))[:5]:
        advice = {"not_in_channel": "invite the bot to that channel (`/invite @meetings-bot`)",
                  "channel_not_found": "the channel is gone; connect again with another --channel",
                  "is_archived": "the channel is archived; connect again with another --channel"}.get(
            error, "check the server log")
        problems.append(f"⚠️ Slack refused a message for <#{escape(channel)}>: `{escape(error)}`. To fix: {advice}.")
    if problems:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(problems), 2900))))
    if changes:
        blocks.append(setup_changes(changes))
    return Message(text=f"{provider_name} connected; API key: {key.state}", blocks=blocks)


def actor_text(actor: str | None) -> str:
    """Who made a setup change: a person (a mention), the server's CLI, or Slack itself (an
    uninstall or a revoked token pauses the connection)."""
    return {"cli": "the server (CLI)", "slack": "Slack"}.get(actor or "") or mention(actor, otherwise="unknown")


def setup_changes(changes: Sequence[AuditEntry]) -> SectionBlock:
    """The last audit entries, newest first. Details are written by the bot (channel mentions
    on purpose) and never hold a secret."""
    lines = [f"• {slack_date(c.at)}: {escape(c.action.replace('_', ' '))} by "
             f"{actor_text(c.actor)}"
             f"{' (' + c.detail + ')' if c.detail else ''}" for c in changes]
    return SectionBlock(text=MarkdownTextObject(text=truncate("*Recent setup changes*\n" + "\n".join(lines), 2900)))


def not_connected_status(team_id: str, changes: Sequence[AuditEntry] = ()) -> Message:
    """`/meetings status` with no active connection: how to connect, and what happened last."""
    message = not_connected(team_id)
    if not changes:
        return message
    return Message(text=message.text, blocks=[*message.blocks, setup_changes(changes)])
