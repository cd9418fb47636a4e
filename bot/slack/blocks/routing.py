"""Routing on Slack surfaces: the approval DM of a held meeting, what it becomes once someone
acted, the Post to… modal, and `/meetings explain`. Pure builders."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConversationFilter,
    ConversationSelectElement,
    InputBlock,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.slack.blocks.message import BlockBudget, Message, note
from bot.slack.blocks.text import escape, slack_date, truncate
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.store.models import RoutingDecision
from bot.store.states import DecisionState

APPROVAL_DIGEST_CHARS = 8_000  # the preview's share of a message; the rest is the approval's own

STATE_WORDS = {"posted": "posted", "held": "waiting for approval", "approved": "approved",
               "kept_private": "kept private", "skipped": "skipped"}


def decision_ref(decision_id: int) -> str:
    return f"d1.{decision_id}"


def parse_decision_ref(value: str | None) -> int | None:
    prefix, _, number = (value or "").partition(".")
    return int(number) if prefix == "d1" and number.isascii() and number.isdigit() and len(number) < 18 else None


def where(destinations: list[str] | tuple[str, ...]) -> str:
    places = [f"<@{d}> (DM)" if d[:1] in ("U", "W") else f"<#{d}>" for d in destinations]
    return ", ".join(places) or "nowhere"


def why_here(decision: RoutingDecision) -> str:
    """The digest's context line: the rule that put it there, or the default channel."""
    why = f"rule “{escape(decision.rule_name)}”" if decision.rule_id is not None else "default channel"
    if decision.state == "approved" and decision.acted_by:
        who = "automatically" if decision.acted_by == "auto" else f"by <@{decision.acted_by}>"
        why += f" · approved {who}"
    if decision.state == DecisionState.KEPT_PRIVATE:
        why = f"kept private by <@{decision.acted_by}>" if decision.acted_by else "kept private"
    return why


def approval_message(decision: RoutingDecision, digest: Message, *, reason: str) -> Message:
    """The held meeting's DM to its approver: what would be posted, where and why, and the four
    buttons. `digest` is the channel digest as it would be posted."""
    ref = decision_ref(decision.id or 0)
    head = SectionBlock(text=truncate(
        f"*This meeting waits for your approval.* It would go to {where(decision.destinations)}.\n"
        f"Rule “{escape(decision.rule_name)}” held it: {escape(reason)}.", 2900))
    buttons = ActionsBlock(block_id=BlockId.ROUTE_ACTIONS, elements=[
        ButtonElement(text="Approve", action_id=ActionId.ROUTE_APPROVE, value=ref, style="primary"),
        ButtonElement(text="Post to…", action_id=ActionId.ROUTE_POST_TO, value=ref),
        ButtonElement(text="Keep private", action_id=ActionId.ROUTE_KEEP_PRIVATE, value=ref),
        ButtonElement(text="Skip", action_id=ActionId.ROUTE_SKIP, value=ref, style="danger"),
    ])
    budget = BlockBudget(max_chars=APPROVAL_DIGEST_CHARS, reserve_blocks=4)
    budget.force(head)
    cut = False
    for block in digest.blocks:
        if isinstance(block, ActionsBlock):
            continue  # the digest's own buttons act on a posted digest; not here
        if not budget.add(block):
            cut = True
            break
    if cut:
        budget.force(note("The preview is cut short here; the posted digest has the rest."))
    budget.force(buttons)
    return Message(text=f"A meeting waits for your approval: {digest.text}", blocks=budget.blocks)


def acted_message(decision: RoutingDecision, *, title: str) -> Message:
    """The approval DM once someone decided: no buttons any more, and who did what."""
    who = "Approved automatically" if decision.acted_by == "auto" else None
    by = f"<@{decision.acted_by}>" if decision.acted_by and decision.acted_by != "auto" else "someone"
    text = {
        "approved": (who and f"{who}: posted to {where(decision.destinations)}.")
        or f"Approved by {by}: posted to {where(decision.destinations)}.",
        "kept_private": f"Kept private by {by}: the digest is in the approver's DMs only.",
        "skipped": f"Skipped by {by}: not posted anywhere.",
    }.get(decision.state, f"This meeting is {STATE_WORDS.get(decision.state, decision.state)}.")
    when = f" ({slack_date(decision.acted_at)})" if decision.acted_at else ""
    return Message(text=f"{escape(title)}: {text}",
                   blocks=[SectionBlock(text=truncate(f"*{escape(title)}*\n{text}{when}", 2900))])


def already_decided(decision: RoutingDecision) -> str:
    by = "automatically" if decision.acted_by == "auto" else f"by <@{decision.acted_by}>" if decision.acted_by else ""
    return (f"This meeting was already {STATE_WORDS.get(decision.state, decision.state)} {by}".rstrip()
            + ". Nothing changed.")


def post_to_modal(decision_id: int, *, title: str) -> dict:
    view = View(type="modal", callback_id=CallbackId.ROUTE_POST_TO_MODAL, title=PlainTextObject(text="Post to…"),
                submit=PlainTextObject(text="Post"), close=PlainTextObject(text="Cancel"),
                private_metadata=json.dumps({"ref": decision_ref(decision_id)}),
                blocks=[
                    SectionBlock(text=truncate(f"Where should *{escape(title)}* go?", 2900)),
                    InputBlock(block_id=BlockId.ROUTE_POST_TO_CHANNEL, label=PlainTextObject(text="Channel"),
                               element=ConversationSelectElement(
                                   action_id=ActionId.ROUTE_POST_TO_CHANNEL,
                                   filter=ConversationFilter(include=["public", "private"],
                                                             exclude_bot_users=True),
                                   placeholder=PlainTextObject(text="Pick a channel"))),
                ])
    return view.to_dict()


def explain_message(decision: RoutingDecision) -> Message:
    """`/meetings explain <id>`: every rule in order, matched or not and why, the decision, where
    it went, who acted and when."""
    lines = [f"*Why “{escape(truncate(decision.meeting_title, 200))}” went where it did*",
             f"Decided {slack_date(decision.decided_at)}: *{escape(decision.rule_name)}* → "
             f"{STATE_WORDS.get(decision.state, decision.state)}"
             + (f", to {where(decision.destinations)}" if decision.destinations else "") + "."]
    if decision.approver:
        lines.append(f"Approver: <@{decision.approver}>.")
    if decision.acted_by:
        who = "automatically" if decision.acted_by == "auto" else f"by <@{decision.acted_by}>"
        lines.append(f"{STATE_WORDS.get(decision.state, decision.state).capitalize()} {who}"
                     + (f" {slack_date(decision.acted_at)}" if decision.acted_at else "") + ".")
    rules = "\n".join(escape(line) for line in decision.trace) or "No rules applied to this meeting."
    budget = BlockBudget(reserve_blocks=1)
    budget.add(SectionBlock(text=truncate("\n".join(lines), 2900)))
    budget.add(SectionBlock(text=truncate("*Rules, in order*\n" + rules, 2900)))
    budget.force(note(f"Meeting `{escape(decision.meeting_id)}` · rule changes apply to later meetings only."))
    return Message(text=f"Why {escape(truncate(decision.meeting_title, 200))} went where it did", blocks=budget.blocks)


def recent_decisions(decisions: list[RoutingDecision]) -> Message:
    if not decisions:
        return Message(text="No routing decisions yet.", blocks=[SectionBlock(
            text="No meeting has been routed yet. Each meeting's decision shows here after its first delivery.")])
    rows = [f"• *{escape(truncate(d.meeting_title, 80))}* (`{escape(truncate(d.meeting_id, 60))}`): "
            f"{escape(d.rule_name)} → {STATE_WORDS.get(d.state, d.state)}"
            + (f", {where(d.destinations)}" if d.destinations else "") for d in decisions]
    return Message(text="The last routing decisions", blocks=[
        SectionBlock(text=truncate("*The last routing decisions*\n" + "\n".join(rows), 2900)),
        note("`/meetings explain <meeting id>` shows every rule and why."),
    ])


def status_blocks(*, held: list[RoutingDecision], connections: list[tuple], viewer: str) -> list:
    """What `/meetings status` adds: the meetings waiting for approval, and every connection the
    asker may see (owner, provider, account, where it delivers). `connections`: (Connection, name)."""
    blocks: list = []
    if held:
        lines = [f"• *{escape(truncate(d.meeting_title, 80))}* (`{escape(truncate(d.meeting_id, 60))}`): "
                 f"rule “{escape(d.rule_name)}”, waits for "
                 + ("you" if d.approver == viewer else f"<@{d.approver}>" if d.approver else "an admin")
                 for d in held[:10]]
        more = f"\n…and {len(held) - 10} more." if len(held) > 10 else ""
        count = f"{len(held)} meeting{'s wait' if len(held) != 1 else ' waits'} for approval"
        blocks.append(SectionBlock(text=truncate(f"*{count}*\n" + "\n".join(lines) + more, 2900)))
    if len(connections) > 1 or any(c.personal or c.owner_id for c, _ in connections):
        lines = []
        for connection, name in connections[:20]:
            owner = f"<@{connection.owner_id}>" if connection.owner_id else "no owner"
            account = escape(truncate(connection.account_email or connection.provider_account or "", 60)) or "?"
            goes = (f"<#{connection.default_channel}>" if connection.default_channel
                    else "its owner's DMs" if connection.personal else "no channel")
            kind = "personal" if connection.personal else "shared"
            lines.append(f"• {escape(name)} ({kind}) · {account} · owner {owner} · digests to {goes}")
        blocks.append(SectionBlock(text=truncate("*Connections*\n" + "\n".join(lines), 2900)))
    return blocks
