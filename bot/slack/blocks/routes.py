"""`/meetings routes`: the rules in order, each with a menu (edit, move up/down, delete), and the
form to add or edit one. Pure builders."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ConversationMultiSelectElement,
    InputBlock,
    NumberInputElement,
    Option,
    OverflowMenuElement,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.services import route_rules, routing
from bot.services.routing import Conditions
from bot.slack.blocks.message import note
from bot.slack.blocks.text import escape, truncate
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.store.models import RouteRule

MAX_RULES_SHOWN = 40  # a modal holds 100 blocks; two per rule and a few more
ACTION_LABELS = {routing.CHANNELS: "Post to channels", routing.DM_OWNER: "DM the owner only",
                 routing.HOLD: "Hold for approval", routing.SKIP: "Skip (post nothing)"}


def routes_modal(rules: list[RouteRule], *, scope: int | None, personal: bool, notice: str | None = None) -> dict:
    """The list. `scope`: the personal connection whose rules these are; None: the workspace's."""
    whose = "your personal account's" if personal else "this workspace's"
    blocks: list = [SectionBlock(text=f"The first rule that matches a meeting decides where {whose} digests go. "
                                      "No match: the connection's default channel (or your DMs).")]
    if notice:
        blocks.append(note(notice))
    for rule in rules[:MAX_RULES_SHOWN]:
        conditions = Conditions.from_json(rule.conditions).describe()
        state = "" if rule.enabled else " _(off)_"
        text = (f"*{rule.position}. {escape(truncate(rule.name, 150))}*{state}\n"
                f"{escape(truncate(conditions, 1200))} → {escape(route_rules.describe(rule))}")
        menu = [Option(value=f"edit:{rule.id}", label="Turn off" if rule.builtin and rule.enabled else
                       "Turn on" if rule.builtin else "Edit"),
                Option(value=f"up:{rule.id}", label="Move up"), Option(value=f"down:{rule.id}", label="Move down")]
        if not rule.builtin:
            menu.append(Option(value=f"delete:{rule.id}", label="Delete"))
        blocks.append(SectionBlock(block_id=f"{BlockId.ROUTE_RULE_PREFIX}{rule.id}", text=truncate(text, 2900),
                                   accessory=OverflowMenuElement(action_id=ActionId.ROUTE_RULE_MENU, options=menu)))
    if len(rules) > MAX_RULES_SHOWN:
        blocks.append(note(f"…and {len(rules) - MAX_RULES_SHOWN} more: `meetings-bot routes list` shows all."))
    blocks.append(ActionsBlock(block_id=BlockId.ROUTE_RULE_ADD, elements=[
        ButtonElement(text="Add rule", action_id=ActionId.ROUTE_RULE_ADD, value="add", style="primary")]))
    return View(type="modal", callback_id=CallbackId.ROUTES_MODAL, title="Routing rules",
                close="Done", private_metadata=json.dumps({"scope": scope}), blocks=blocks).to_dict()


def rule_form(rule: RouteRule | None, *, scope: int | None, root_view: str) -> dict:
    """Add (rule None) or edit a rule."""
    c = Conditions.from_json(rule.conditions) if rule else Conditions()
    actions = [Option(value=value, label=label) for value, label in ACTION_LABELS.items()]
    chosen = next((o for o in actions if rule and o.value == rule.action), actions[0])
    external = Option(value="external", label="Someone from outside the workspace")

    def text_input(block: str, action: str, label: str, value: str | None, hint: str, placeholder: str):
        return InputBlock(block_id=block, label=label, optional=True, hint=hint, element=PlainTextInputElement(
            action_id=action, initial_value=value or None, max_length=500, placeholder=placeholder))

    def number(block: str, action: str, label: str, value: int | None):
        return InputBlock(block_id=block, label=label, optional=True, element=NumberInputElement(
            action_id=action, is_decimal_allowed=False, min_value="0",
            initial_value=str(value) if value is not None else None))

    blocks = [
        InputBlock(block_id=BlockId.ROUTE_FORM_NAME, label="Name",
                   element=PlainTextInputElement(action_id=ActionId.ROUTE_FORM_NAME, max_length=200,
                                                 initial_value=rule.name if rule else None,
                                                 placeholder="Sales calls")),
        text_input(BlockId.ROUTE_FORM_TITLE, ActionId.ROUTE_FORM_TITLE, "Title contains any of",
                   ", ".join(c.title_contains), "Words or phrases, separated by commas; whole words, any case.",
                   "sales call, demo"),
        text_input(BlockId.ROUTE_FORM_CATEGORY, ActionId.ROUTE_FORM_CATEGORY, "Category", c.category,
                   "Hedy topic, Meetric department or type, Whereby room, Harmony team.", "B2B Sales"),
        text_input(BlockId.ROUTE_FORM_DOMAINS, ActionId.ROUTE_FORM_DOMAINS, "A participant from",
                   ", ".join(c.participant_domains), "Email domains, separated by commas.", "acme.com"),
        InputBlock(block_id=BlockId.ROUTE_FORM_EXTERNAL, label="External participants", optional=True,
                   element=CheckboxesElement(action_id=ActionId.ROUTE_FORM_EXTERNAL, options=[external],
                                             initial_options=[external] if c.external else None)),
        number(BlockId.ROUTE_FORM_MAX_PEOPLE, ActionId.ROUTE_FORM_MAX_PEOPLE, "At most this many people",
               c.max_participants),
        number(BlockId.ROUTE_FORM_MIN_MINUTES, ActionId.ROUTE_FORM_MIN_MINUTES, "At least this many minutes",
               c.min_minutes),
        number(BlockId.ROUTE_FORM_MAX_MINUTES, ActionId.ROUTE_FORM_MAX_MINUTES, "At most this many minutes",
               c.max_minutes),
        InputBlock(block_id=BlockId.ROUTE_FORM_ACTION, label="Then",
                   element=RadioButtonsElement(action_id=ActionId.ROUTE_FORM_ACTION, options=actions,
                                               initial_option=chosen)),
        InputBlock(block_id=BlockId.ROUTE_FORM_CHANNELS, label="Channels", optional=True,
                   hint="For Post to channels. The bot must be able to post there.",
                   element=ConversationMultiSelectElement(
                       action_id=ActionId.ROUTE_FORM_CHANNELS, max_selected_items=10,
                       initial_conversations=list(rule.channels or []) or None if rule else None,
                       filter={"include": ["public", "private"], "exclude_bot_users": True})),
        InputBlock(block_id=BlockId.ROUTE_FORM_APPROVER, label="Approver", optional=True,
                   hint="For Hold for approval. Empty: the meeting's own person, else the connection's owner.",
                   element=UserSelectElement(action_id=ActionId.ROUTE_FORM_APPROVER,
                                             initial_user=rule.approver if rule and rule.approver else None)),
    ]
    if rule is not None and rule.builtin:
        blocks = [blocks[0], note("The built-in rule's conditions are fixed: "
                                  + escape(truncate(c.describe(), 2000))), *blocks[8:]]
    return View(type="modal", callback_id=CallbackId.ROUTE_RULE_FORM,
                title="Edit rule" if rule else "Add a rule", submit="Save", close="Back",
                private_metadata=json.dumps({"rule": rule.id if rule else None, "scope": scope, "root": root_view}),
                blocks=blocks).to_dict()


def form_values(view: dict) -> dict:
    state = (view.get("state") or {}).get("values") or {}

    def element(block: str, action: str) -> dict:
        return (state.get(block) or {}).get(action) or {}

    def words(block: str, action: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in (element(block, action).get("value") or "").split(",") if w.strip())

    def number(block: str, action: str) -> int | None:
        value = (element(block, action).get("value") or "").strip()
        return int(value) if value.isascii() and value.isdigit() and len(value) < 9 else None

    conditions = Conditions(
        title_contains=words(BlockId.ROUTE_FORM_TITLE, ActionId.ROUTE_FORM_TITLE),
        category=(element(BlockId.ROUTE_FORM_CATEGORY, ActionId.ROUTE_FORM_CATEGORY).get("value") or "").strip()
        or None,
        participant_domains=tuple(routing.normal_domain(d) for d in
                                  words(BlockId.ROUTE_FORM_DOMAINS, ActionId.ROUTE_FORM_DOMAINS)),
        external=bool(element(BlockId.ROUTE_FORM_EXTERNAL, ActionId.ROUTE_FORM_EXTERNAL).get("selected_options")),
        max_participants=number(BlockId.ROUTE_FORM_MAX_PEOPLE, ActionId.ROUTE_FORM_MAX_PEOPLE),
        min_minutes=number(BlockId.ROUTE_FORM_MIN_MINUTES, ActionId.ROUTE_FORM_MIN_MINUTES),
        max_minutes=number(BlockId.ROUTE_FORM_MAX_MINUTES, ActionId.ROUTE_FORM_MAX_MINUTES))
    return {
        "name": (element(BlockId.ROUTE_FORM_NAME, ActionId.ROUTE_FORM_NAME).get("value") or "").strip(),
        "conditions": conditions,
        "action": (element(BlockId.ROUTE_FORM_ACTION, ActionId.ROUTE_FORM_ACTION).get("selected_option")
                   or {}).get("value") or "",
        "channels": list(element(BlockId.ROUTE_FORM_CHANNELS, ActionId.ROUTE_FORM_CHANNELS)
                         .get("selected_conversations") or []),
        "approver": element(BlockId.ROUTE_FORM_APPROVER, ActionId.ROUTE_FORM_APPROVER).get("selected_user"),
    }
