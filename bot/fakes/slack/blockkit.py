"""Block Kit validation with explicit rules; error strings end in a json-pointer, like real Slack's."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.fakes.slack.limits import (
    ACTIONS_ELEMENTS_MAX,
    ATTACHMENTS_MAX,
    BUTTON_TEXT_MAX,
    BUTTON_VALUE_MAX,
    CONTEXT_ELEMENTS_MAX,
    HEADER_TEXT_MAX,
    ID_MAX,
    LABEL_MAX,
    MARKDOWN_BLOCK_MAX,
    MESSAGE_BLOCKS_CHARS_MAX,
    MESSAGE_BLOCKS_MAX,
    MESSAGE_TEXT_MAX,
    MESSAGE_TEXT_SOFT_MAX,
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    OPTIONS_MAX,
    PLACEHOLDER_MAX,
    PRIVATE_METADATA_MAX,
    SECTION_FIELD_TEXT_MAX,
    SECTION_FIELDS_MAX,
    SECTION_TEXT_MAX,
    URL_MAX,
    VIEW_BLOCKS_MAX,
    VIEW_TITLE_MAX,
)

_ACTION_ELEMENTS = {
    "button", "checkboxes", "datepicker", "datetimepicker", "overflow", "radio_buttons",
    "static_select", "external_select", "users_select", "conversations_select", "channels_select",
    "multi_static_select", "multi_external_select", "multi_users_select",
    "multi_conversations_select", "multi_channels_select", "timepicker", "workflow_button",
}
_ACCESSORY_ELEMENTS = _ACTION_ELEMENTS | {"image"}
_INPUT_ONLY_ELEMENTS = {
    "plain_text_input", "email_text_input", "url_text_input", "number_input",
    "rich_text_input", "file_input",
}
_INPUT_ELEMENTS = (_ACTION_ELEMENTS - {"button", "overflow", "workflow_button"}) | _INPUT_ONLY_ELEMENTS
_BLOCK_TYPES = {
    "section", "header", "context", "divider", "actions", "image", "input", "rich_text",
    "markdown", "video", "file", "context_actions",
}


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    # -- primitives ---------------------------------------------------------------
    def string(self, value: Any, ptr: str, max_len: int, *, required: bool = False, min_len: int = 0) -> None:
        if value is None:
            if required:
                self.err("missing required field", ptr)
            return
        if not isinstance(value, str):
            self.err("must be a string", ptr)
            return
        if len(value) > max_len:
            self.err(f"must be less than {max_len + 1} characters", ptr)
        elif len(value) < min_len:
            self.err(f"must be more than {min_len - 1} characters", ptr)

    def text(
        self, obj: Any, ptr: str, max_len: int, *, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.err("missing required field", ptr)
            return
        if not isinstance(obj, dict):
            self.err("must be a text object", ptr)
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn"):
            self.err("must be one of [plain_text, mrkdwn]", ptr + "/type")
        elif plain_only and kind != "plain_text":
            self.err("must be plain_text", ptr + "/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.err("must be a string", ptr + "/text")
        elif text == "":
            self.err("must be more than 0 characters", ptr + "/text")
        elif len(text) > max_len:
            self.err(f"must be less than {max_len + 1} characters", ptr + "/text")
        if kind == "plain_text" and "verbatim" in obj:
            self.err("verbatim is only allowed on mrkdwn", ptr + "/verbatim")

    def block_id(self, block: dict, ptr: str, seen: set[str]) -> None:
        if "block_id" not in block:
            return
        bid = block["block_id"]
        self.string(bid, ptr + "/block_id", ID_MAX, min_len=1)
        if isinstance(bid, str):
            if bid in seen:
                self.err(f"duplicate block_id '{bid}'", ptr + "/block_id")
            seen.add(bid)

    def list_of(self, value: Any, ptr: str, max_items: int, *, min_items: int = 1) -> list:
        if not isinstance(value, list):
            self.err("must be an array", ptr)
            return []
        if len(value) > max_items:
            self.err(f"must be less than {max_items + 1} items", ptr)
        if len(value) < min_items:
            self.err(f"must provide at least {min_items} items", ptr)
        return value

    def confirm(self, obj: Any, ptr: str) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            self.err("must be an object", ptr)
            return
        self.text(obj.get("title"), ptr + "/title", 100, plain_only=True)
        self.text(obj.get("text"), ptr + "/text", 300)
        self.text(obj.get("confirm"), ptr + "/confirm", 30, plain_only=True)
        self.text(obj.get("deny"), ptr + "/deny", 30, plain_only=True)
        if obj.get("style") not in (None, "primary", "danger"):
            self.err("must be one of [primary, danger]", ptr + "/style")

    def option(self, obj: Any, ptr: str, *, plain_only: bool) -> None:
        if not isinstance(obj, dict):
            self.err("must be an option object", ptr)
            return
        self.text(obj.get("text"), ptr + "/text", OPTION_TEXT_MAX, plain_only=plain_only)
        self.string(obj.get("value"), ptr + "/value", OPTION_VALUE_MAX, required=True, min_len=1)
        self.text(obj.get("description"), ptr + "/description", OPTION_TEXT_MAX, plain_only=plain_only, required=False)
        self.string(obj.get("url"), ptr + "/url", URL_MAX)

    def options(self, el: dict, ptr: str, max_items: int, *, plain_only: bool = True) -> None:
        has_opts, has_groups = "options" in el, "option_groups" in el
        if el["type"] in ("static_select", "multi_static_select"):
            if has_opts == has_groups:
                self.err("must provide exactly one of options or option_groups", ptr)
        elif not has_opts:
            self.err("missing required field", ptr + "/options")
        if has_opts:
            for i, opt in enumerate(self.list_of(el["options"], ptr + "/options", max_items)):
                self.option(opt, f"{ptr}/options/{i}", plain_only=plain_only)
        if has_groups:
            for g, group in enumerate(self.list_of(el["option_groups"], ptr + "/option_groups", OPTIONS_MAX)):
                gptr = f"{ptr}/option_groups/{g}"
                if not isinstance(group, dict):
                    self.err("must be an object", gptr)
                    continue
                self.text(group.get("label"), gptr + "/label", OPTION_TEXT_MAX, plain_only=True)
                for i, opt in enumerate(self.list_of(group.get("options"), gptr + "/options", OPTIONS_MAX)):
                    self.option(opt, f"{gptr}/options/{i}", plain_only=True)

    # -- elements ---------------------------------------------------------------------
    def element(self, el: Any, ptr: str, allowed: set[str], action_ids: set[str]) -> None:
        if not isinstance(el, dict):
            self.err("must be an element object", ptr)
            return
        kind = el.get("type")
        if kind not in allowed:
            self.err(f"unsupported element type '{kind}' here", ptr + "/type")
            return
        if "action_id" in el:
            aid = el["action_id"]
            self.string(aid, ptr + "/action_id", ID_MAX, min_len=1)
            if isinstance(aid, str):
                if aid in action_ids:
                    self.err(f"duplicate action_id '{aid}' in block", ptr + "/action_id")
                action_ids.add(aid)
        self.confirm(el.get("confirm"), ptr + "/confirm")
        if "placeholder" in el:
            self.text(el["placeholder"], ptr + "/placeholder", PLACEHOLDER_MAX, plain_only=True)
        if kind == "button":
            self.text(el.get("text"), ptr + "/text", BUTTON_TEXT_MAX, plain_only=True)
            self.string(el.get("value"), ptr + "/value", BUTTON_VALUE_MAX)
            self.string(el.get("url"), ptr + "/url", URL_MAX)
            self.string(el.get("accessibility_label"), ptr + "/accessibility_label", BUTTON_TEXT_MAX)
            if el.get("style") not in (None, "primary", "danger"):
                self.err("must be one of [primary, danger]", ptr + "/style")
        elif kind == "image":
            self._image_source(el, ptr)
        elif kind in ("static_select", "multi_static_select"):
            self.options(el, ptr, OPTIONS_MAX)
        elif kind == "overflow":
            self.options(el, ptr, 5)
        elif kind in ("radio_buttons", "checkboxes"):
            self.options(el, ptr, 10, plain_only=False)
        elif kind == "datepicker" and "initial_date" in el:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(el["initial_date"])):
                self.err("must be YYYY-MM-DD", ptr + "/initial_date")
        elif kind == "timepicker" and "initial_time" in el:
            if not re.fullmatch(r"\d{2}:\d{2}", str(el["initial_time"])):
                self.err("must be HH:mm", ptr + "/initial_time")
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                if key in el and (not isinstance(el[key], int) or not 0 <= el[key] <= 3000):
                    self.err("must be an integer between 0 and 3000", f"{ptr}/{key}")
            self.string(el.get("initial_value"), ptr + "/initial_value", 3000)
        if kind.startswith("multi_") and "max_selected_items" in el \
                and (not isinstance(el["max_selected_items"], int) or el["max_selected_items"] < 1):
            self.err("must be at least 1", ptr + "/max_selected_items")

    def _image_source(self, el: dict, ptr: str) -> None:
        if "image_url" in el:
            self.string(el["image_url"], ptr + "/image_url", URL_MAX, min_len=1)
        elif "slack_file" not in el:
            self.err("must provide image_url or slack_file", ptr)
        self.string(el.get("alt_text"), ptr + "/alt_text", 2000, required=True, min_len=1)

    # -- blocks -----------------------------------------------------------------------
    def block(self, block: Any, ptr: str, seen_ids: set[str], surface: str) -> None:
        if not isinstance(block, dict):
            self.err("must be a block object", ptr)
            return
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            self.err(f"unsupported block type '{kind}'", ptr + "/type")
            return
        self.block_id(block, ptr, seen_ids)
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.err("must provide text or fields", ptr)
            if "text" in block:
                self.text(block["text"], ptr + "/text", SECTION_TEXT_MAX)
            if "fields" in block:
                fields = self.list_of(block["fields"], ptr + "/fields", SECTION_FIELDS_MAX)
                for i, f in enumerate(fields):
                    self.text(f, f"{ptr}/fields/{i}", SECTION_FIELD_TEXT_MAX)
            if "accessory" in block:
                self.element(block["accessory"], ptr + "/accessory", _ACCESSORY_ELEMENTS, action_ids)
        elif kind == "header":
            self.text(block.get("text"), ptr + "/text", HEADER_TEXT_MAX, plain_only=True)
        elif kind == "context":
            elements = self.list_of(block.get("elements"), ptr + "/elements", CONTEXT_ELEMENTS_MAX)
            for i, el in enumerate(elements):
                eptr = f"{ptr}/elements/{i}"
                if isinstance(el, dict) and el.get("type") == "image":
                    self._image_source(el, eptr)
                else:
                    self.text(el, eptr, SECTION_TEXT_MAX)
        elif kind == "actions":
            elements = self.list_of(block.get("elements"), ptr + "/elements", ACTIONS_ELEMENTS_MAX)
            for i, el in enumerate(elements):
                self.element(el, f"{ptr}/elements/{i}", _ACTION_ELEMENTS, action_ids)
        elif kind == "image":
            self._image_source(block, ptr)
            self.text(block.get("title"), ptr + "/title", 2000, plain_only=True, required=False)
        elif kind == "input":
            self.text(block.get("label"), ptr + "/label", LABEL_MAX, plain_only=True)
            self.text(block.get("hint"), ptr + "/hint", LABEL_MAX, plain_only=True, required=False)
            if "element" not in block:
                self.err("missing required field", ptr + "/element")
            else:
                self.element(block["element"], ptr + "/element", _INPUT_ELEMENTS, action_ids)
        elif kind == "markdown":
            self.string(block.get("text"), ptr + "/text", MARKDOWN_BLOCK_MAX, required=True, min_len=1)
        elif kind == "rich_text":
            self.list_of(block.get("elements"), ptr + "/elements", 100)


def validate_blocks(blocks: Any, *, surface: str = "message", pointer: str = "/blocks") -> list[str]:
    """Slack-style error strings for `blocks` on a `surface` ("message", "modal" or "home")."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.err("must be an array", pointer)
        return checker.errors
    max_blocks = MESSAGE_BLOCKS_MAX if surface == "message" else VIEW_BLOCKS_MAX
    if len(blocks) > max_blocks:
        checker.err(f"must be less than {max_blocks + 1} items", pointer)
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}", seen, surface)
    return checker.errors


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def validate_message(
    payload: dict, *, blocks_chars_max: int = MESSAGE_BLOCKS_CHARS_MAX
) -> tuple[str | None, list[str], list[tuple[str, str]]]:
    """Check a message payload (text / blocks / attachments) like chat.postMessage does.

    Returns (error code or None, Block Kit error strings, warnings as (kind, detail)).
    """
    warnings: list[tuple[str, str]] = []
    text = payload.get("text")
    blocks = payload.get("blocks")
    attachments = payload.get("attachments")
    if text is not None and not isinstance(text, str):
        text = str(text)
    has_text = bool(text and text.strip())
    has_blocks = blocks not in (None, "", [])
    has_attachments = attachments not in (None, "", [])
    if not (has_text or has_blocks or has_attachments):
        return "no_text", [], warnings
    if text and len(text) > MESSAGE_TEXT_MAX:
        return "msg_too_long", [], warnings
    if text and len(text) > MESSAGE_TEXT_SOFT_MAX:
        warnings.append(("long_text", f"text is {len(text)} chars; Slack truncates long messages, keep <= 4000"))
    if blocks is not None and blocks != "":
        if isinstance(blocks, str):
            return "invalid_blocks_format", ["blocks must be a JSON array [json-pointer:/blocks]"], warnings
        errors = validate_blocks(blocks, surface="message")
        if errors:
            return "invalid_blocks", errors, warnings
        if len(compact_json(blocks)) > blocks_chars_max:
            return "msg_blocks_too_long", [f"blocks serialize to {len(compact_json(blocks))} characters"], warnings
        if has_blocks and not has_text:
            warnings.append(
                ("missing_fallback_text", "blocks sent without top-level text (notifications/screen readers)")
            )
    if has_attachments:
        if isinstance(attachments, str) or not isinstance(attachments, list):
            return "invalid_attachments", ["attachments must be a JSON array"], warnings
        if len(attachments) > ATTACHMENTS_MAX:
            return "too_many_attachments", [], warnings
        errors = []
        for i, att in enumerate(attachments):
            if isinstance(att, dict) and "blocks" in att:
                errors += validate_blocks(att["blocks"], pointer=f"/attachments/{i}/blocks")
        if errors:
            return "invalid_blocks", errors, warnings
    return None, [], warnings


def validate_view(view: Any) -> list[str]:
    """Slack-style error strings for a modal or Home tab view."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.err("must be a view object", "/view")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.err("must be one of [modal, home]", "/view/type")
        return checker.errors
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", VIEW_TITLE_MAX, plain_only=True)
    for key in ("submit", "close"):
        checker.text(view.get(key), f"/view/{key}", VIEW_TITLE_MAX, plain_only=True, required=False)
    checker.string(view.get("private_metadata"), "/view/private_metadata", PRIVATE_METADATA_MAX)
    checker.string(view.get("callback_id"), "/view/callback_id", ID_MAX)
    checker.string(view.get("external_id"), "/view/external_id", ID_MAX)
    blocks = view.get("blocks")
    if blocks is None:
        checker.err("missing required field", "/view/blocks")
    else:
        checker.errors += validate_blocks(blocks, surface=kind, pointer="/view/blocks")
        if (
            kind == "modal"
            and isinstance(blocks, list)
            and "submit" not in view
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        ):
            checker.err("a modal with input blocks must have a submit button", "/view/submit")
    return checker.errors
