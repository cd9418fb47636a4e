"""A loopback stand-in for the Slack Web API, response_urls and the OAuth redirect.

`FakeSlack` is a Starlette app. Serve it on a real port (`fake.serve()` or
`ThreadedServer(fake.app)` + `fake.set_base_url(...)`) and point the real clients at it:
`AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)`. It answers the way Slack does
where the bot relies on it (see docs/slack.md):

* `POST|GET /api/<method>`: form-encoded, JSON or query-string arguments; token from
  `Authorization: Bearer` or a `token` field. Errors come back as HTTP 200 `{"ok": false}`,
  rate limits as HTTP 429 + `Retry-After`, injected server errors as plain-text 5xx.
* Block Kit is checked with explicit rules modelled on what real Slack rejects
  (`invalid_blocks`, `msg_blocks_too_long`, `msg_too_long`, `no_text`, ...).
* `POST /response/<id>`: response_urls handed out by `new_response_url()`; 5 uses, 30 minutes.
* `GET /oauth/v2/authorize`: redirects to `redirect_uri?code=...&state=...` so the whole
  OAuth install can run against the fake; `oauth.v2.access` exchanges the code.

Everything is recorded (thread-safe: the server runs in its own thread) in `calls`,
`responses`, `errors` and `warnings`; `wait_for_call` / `wait_for_response` (and their
`_async` twins for tests whose event loop also runs the bot) poll until something arrives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import math
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.fakes.server import ThreadedServer

__all__ = [
    "ApiCall",
    "ResponsePost",
    "FakeWarning",
    "FakeSlack",
    "validate_blocks",
    "validate_message",
    "validate_view",
    "MESSAGE_BLOCKS_MAX",
    "VIEW_BLOCKS_MAX",
]

# --------------------------------------------------------------------------------------
# Limits (docs/slack.md, "Block Kit sizes")
# --------------------------------------------------------------------------------------
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MESSAGE_TEXT_MAX = 40_000
MESSAGE_TEXT_SOFT_MAX = 4_000
MESSAGE_BLOCKS_CHARS_MAX = 12_000  # undocumented aggregate; Slack was seen failing at ~13.2k
ATTACHMENTS_MAX = 100
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
TRIGGER_ID_TTL = 3.0

SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ID_MAX = 255
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
PLACEHOLDER_MAX = 150
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
MARKDOWN_BLOCK_MAX = 12_000
LABEL_MAX = 2000


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------
@dataclass
class ApiCall:
    """One Web API call as the fake saw it. `args` has parsed JSON fields (blocks, view...)."""

    method: str
    args: dict
    ok: bool
    error: str | None
    at: float
    status: int = 200
    team_id: str | None = None
    response: dict | None = None
    injected: bool = False  # rejected by fail_next() or per-channel pacing, not by a bot bug
    details: list[str] = field(default_factory=list)  # Block Kit errors for invalid_blocks


@dataclass
class ResponsePost:
    """One POST to a response_url."""

    url_id: str
    body: dict
    ok: bool
    error: str | None
    at: float
    status: int = 200
    injected: bool = False
    details: list[str] = field(default_factory=list)


@dataclass
class FakeWarning:
    """Something Slack accepts but flags, e.g. blocks sent without fallback `text`."""

    where: str  # API method or "response_url"
    kind: str  # "missing_fallback_text" | "long_text"
    detail: str
    at: float


@dataclass
class _Workspace:
    team_id: str
    team_name: str
    bot_user_id: str
    bot_id: str
    domain: str


@dataclass
class _ResponseUrl:
    url_id: str
    created: float
    uses: int = 0
    channel: str | None = None
    message_ts: str | None = None
    user_id: str | None = None


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str
    remaining: int
    extra: dict = field(default_factory=dict)  # more fields of the error body, e.g. {"needed": "users:read"}


# --------------------------------------------------------------------------------------
# Block Kit validation (explicit rules; real Slack's error strings end in a json-pointer)
# --------------------------------------------------------------------------------------
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


def _compact(value: Any) -> str:
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
        if len(_compact(blocks)) > blocks_chars_max:
            return "msg_blocks_too_long", [f"blocks serialize to {len(_compact(blocks))} characters"], warnings
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


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------
def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class FakeSlack:
    """Loopback Slack Web API. See the module docstring."""

    METHODS = (
        "api.test", "auth.test", "auth.revoke",
        "chat.postMessage", "chat.postEphemeral", "chat.update", "chat.delete", "chat.getPermalink",
        "views.open", "views.update", "views.push", "views.publish",
        "users.info", "users.list", "users.lookupByEmail", "conversations.info", "conversations.list", "conversations.join",
        "oauth.v2.access",
    )
    _JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0001",
        team_name: str = "Demo Team",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        per_channel_post_interval: float | None = None,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
        blocks_chars_max: int = MESSAGE_BLOCKS_CHARS_MAX,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.per_channel_post_interval = per_channel_post_interval
        self.client_id = client_id
        self.client_secret = client_secret
        self.blocks_chars_max = blocks_chars_max
        # For a stand-in in another process (benchmarks): a response_url id the fake never
        # handed out is accepted as new instead of 404, since the caller cannot ask for one.
        self.open_response_urls = False
        #: seconds to wait before answering any API call / response_url post
        self.latency: float = 0.0
        #: per-method extra latency, e.g. {"views.open": 4.0} to expire a trigger_id
        self.method_latency: dict[str, float] = {}
        #: redirect target for /oauth/v2/authorize when the request carries none
        self.oauth_redirect_uri: str | None = None
        #: Slack's per-method rate tiers for the directory methods: (calls, per seconds). Past it, a
        #: 429 with Retry-After, like Slack (users.list is Tier 2, users.lookupByEmail Tier 3).
        self.tier_limits: dict[str, tuple[int, float]] = {"users.list": (20, 60.0), "users.lookupByEmail": (50, 60.0)}
        self._tier_calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)

        self.base_url: str | None = None
        self._lock = threading.RLock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: ThreadedServer | None = None

        self.calls: list[ApiCall] = []
        self.responses: list[ResponsePost] = []
        self.warnings: list[FakeWarning] = []
        self.users: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        #: (channel, ts) -> message as stored after post/update
        self.messages: dict[tuple[str, str], dict] = {}
        #: view id -> view; home tabs also in home_views[user_id]
        self.views: dict[str, dict] = {}
        self.home_views: dict[str, dict] = {}
        self._tokens: dict[str, _Workspace] = {}
        self._revoked: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._last_post: dict[str, float] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._oauth_codes: dict[str, dict] = {}

        self.add_workspace(team_id, team_name=team_name, bot_token=bot_token, bot_user_id=bot_user_id, bot_id=bot_id)
        self.add_user(bot_user_id, name="meetings-bot", is_bot=True)

        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/response/{url_id}", self._response_endpoint, methods=["POST"]),
                Route("/oauth/v2/authorize", self._authorize_endpoint, methods=["GET"]),
                Route("/_fake/stats", self._stats_endpoint, methods=["GET"]),
                Route("/_fake/posts", self._posts_endpoint, methods=["GET"]),
            ]
        )

    # -- serving ----------------------------------------------------------------------
    def set_base_url(self, url: str) -> None:
        self.base_url = url.rstrip("/")

    def serve(self, *, host: str = "127.0.0.1", port: int | None = None) -> ThreadedServer:
        """Start serving on a loopback port; returns the started ThreadedServer (call .stop())."""
        server = ThreadedServer(self.app, host=host, port=port).start()
        self._server = server
        self.set_base_url(server.url)
        return server

    def __enter__(self) -> "FakeSlack":
        self.serve()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        if self.base_url is None:
            raise RuntimeError("FakeSlack has no base URL yet: call serve() or set_base_url()")
        return self.base_url

    @property
    def api_url(self) -> str:
        """Pass as `base_url` to AsyncWebClient (ends with '/')."""
        return self.url + "/api/"

    @property
    def authorize_url(self) -> str:
        """Pass as AsyncOAuthSettings(authorization_url=...)."""
        return self.url + "/oauth/v2/authorize"

    def client(self, token: str | None = None, **kwargs):
        """An AsyncWebClient pointed at this fake (bot token by default)."""
        from slack_sdk.web.async_client import AsyncWebClient

        return AsyncWebClient(token=token or self.bot_token, base_url=self.api_url, **kwargs)

    # -- world setup ------------------------------------------------------------------
    def add_workspace(
        self,
        team_id: str,
        *,
        team_name: str | None = None,
        bot_token: str | None = None,
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
    ) -> str:
        """Register a workspace and a valid bot token for it; returns the token."""
        token = bot_token or f"xoxb-{team_id}-{next(self._ids)}"
        ws = _Workspace(
            team_id=team_id,
            team_name=team_name or team_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            domain=re.sub(r"[^a-z0-9-]", "-", (team_name or team_id).lower()),
        )
        with self._lock:
            self._tokens[token] = ws
            self._revoked.discard(token)
        return token

    def revoke_token(self, token: str) -> None:
        """Further calls with `token` get `token_revoked` (like after app_uninstalled)."""
        with self._lock:
            self._revoked.add(token)

    def add_user(
        self,
        user_id: str,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        tz: str = "America/Los_Angeles",
        tz_offset: int = -28800,
        name: str | None = None,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        teams: list[str] | None = None,
    ) -> dict:
        """A user as users.info returns them. With `enterprise_id`, an Enterprise Grid member:
        `enterprise_user` names the org and the workspaces (`teams`) they belong to."""
        name = name or user_id.lower()
        user = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name or name,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": tz_offset,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "real_name": real_name or name,
                "display_name": name,
                **({"email": email} if email else {}),
            },
        }
        if enterprise_id:
            user["enterprise_user"] = {"id": user_id, "enterprise_id": enterprise_id,
                                       "enterprise_name": f"{enterprise_id} org", "is_admin": is_admin,
                                       "is_owner": is_owner, "teams": list(teams or [team_id or self.team_id])}
        with self._lock:
            self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        is_private: bool = False,
        is_member: bool = True,
        *,
        is_archived: bool = False,
    ) -> dict:
        channel = {
            "id": channel_id,
            "name": name,
            "name_normalized": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": is_archived,
            "is_general": name == "general",
            "is_member": is_member,
            "created": 1700000000,
            "creator": "U0ADMIN",
        }
        with self._lock:
            self.channels[channel_id] = channel
        return channel

    def new_response_url(
        self, *, channel: str | None = None, message_ts: str | None = None, user_id: str | None = None
    ) -> str:
        """A fresh absolute response_url. With channel + message_ts, replace/delete_original act on it."""
        with self._lock:
            url_id = f"R{next(self._ids):06d}"
            self._response_urls[url_id] = _ResponseUrl(
                url_id, time.monotonic(), channel=channel, message_ts=message_ts, user_id=user_id
            )
        return f"{self.url}/response/{url_id}"

    def new_trigger_id(self) -> str:
        """A trigger_id the fake will police: single use, expires after 3 s."""
        with self._lock:
            trigger = f"{next(self._ids)}.{int(time.time())}.fake{next(self._ids):08x}"
            self._triggers[trigger] = (time.monotonic(), False)
        return trigger

    def new_oauth_code(
        self,
        *,
        team_id: str | None = None,
        team_name: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        user_id: str = "U0INSTALL",
        scope: str = "chat:write,chat:write.public,commands,users:read,channels:read",
        redirect_uri: str | None = None,
    ) -> str:
        """A one-time code that oauth.v2.access exchanges for an installation in `team_id`."""
        with self._lock:
            code = f"code-{next(self._ids)}-{int(time.time())}"
            self._oauth_codes[code] = {
                "team_id": team_id or self.team_id,
                "team_name": team_name or (self.team_name if not team_id or team_id == self.team_id else team_id),
                "bot_user_id": bot_user_id or self.bot_user_id,
                "bot_id": bot_id or self.bot_id,
                "user_id": user_id,
                "scope": scope,
                "redirect_uri": redirect_uri,
            }
        return code

    # -- faults -----------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str = "ratelimited",
        times: int = 1,
        extra: dict | None = None,
    ) -> None:
        """Make the next `times` calls to `method` fail ("response_url" for response_url posts).

        status 429: HTTP 429 + Retry-After + {"ok": false, "error": error};
        status >= 500: plain-text 5xx; status 200: HTTP 200 {"ok": false, "error": error, **extra}
        (missing_scope comes with {"needed": "<scope>", "provided": "<scopes>"}).
        """
        if status == 200 and error == "ratelimited":
            raise ValueError("fail_next(status=200) needs an error code, e.g. error='channel_not_found'")
        with self._lock:
            self._faults[method].append(_Fault(status, retry_after, error, times, dict(extra or {})))

    def reset(self) -> None:
        """Forget recorded calls, responses, warnings, faults and pacing (keeps users/channels/tokens)."""
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.warnings.clear()
            self._faults.clear()
            self._last_post.clear()

    # -- inspection -------------------------------------------------------------------
    def calls_to(self, method: str, *, ok: bool | None = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    @property
    def errors(self) -> list[ApiCall | ResponsePost]:
        """Every rejected API call or response_url post, in order."""
        with self._lock:
            items: list[ApiCall | ResponsePost] = [c for c in self.calls if not c.ok]
            items += [r for r in self.responses if not r.ok]
        return sorted(items, key=lambda x: x.at)

    @property
    def unexpected_errors(self) -> list[ApiCall | ResponsePost]:
        """Rejections not caused by fail_next() or per-channel pacing: bot bugs, usually. A
        users.lookupByEmail `users_not_found` is that method's answer for a stranger, not a bug."""
        return [e for e in self.errors if not e.injected and not (
            isinstance(e, ApiCall) and e.method == "users.lookupByEmail" and e.error == "users_not_found")]

    def channel_messages(self, channel: str) -> list[dict]:
        """Messages currently in `channel` (after updates/deletes), oldest first."""
        with self._lock:
            found = [m for (ch, _), m in self.messages.items() if ch == channel]
        return sorted(found, key=lambda m: m["ts"])

    def response_posts(self, url: str, *, ok: bool | None = True) -> list[dict]:
        url_id = self._url_id(url)
        with self._lock:
            return [r.body for r in self.responses if r.url_id == url_id and (ok is None or r.ok == ok)]

    def dump(self) -> str:
        """Readable summary of everything recorded (used in assertion messages)."""
        with self._lock:
            lines = [f"{len(self.calls)} API call(s):"]
            for c in self.calls:
                status = "ok" if c.ok else f"{c.status} {c.error}"
                lines.append(f"  {c.method} [{status}] {_short(c.args)}")
                lines += [f"      {d}" for d in c.details[:5]]
            lines.append(f"{len(self.responses)} response_url post(s):")
            for r in self.responses:
                status = "ok" if r.ok else f"{r.status} {r.error}"
                lines.append(f"  {r.url_id} [{status}] {_short(r.body)}")
            if self.warnings:
                lines.append(f"{len(self.warnings)} warning(s):")
                lines += [f"  {w.where}: {w.kind} {w.detail}" for w in self.warnings]
        return "\n".join(lines)

    def _match_calls(self, method: str, predicate: Callable[[ApiCall], bool] | None) -> list[ApiCall]:
        with self._lock:
            calls = [c for c in self.calls if c.method == method]
        return [c for c in calls if predicate is None or predicate(c)]

    def wait_for_call(
        self,
        method: str,
        timeout: float = 10.0,
        predicate: Callable[[ApiCall], bool] | None = None,
        count: int = 1,
    ) -> list[ApiCall]:
        """Block until `count` calls to `method` (matching `predicate(call)`) were seen; returns them all.

        Blocks the calling thread: if the bot runs on this thread's event loop, use
        `await wait_for_call_async(...)` instead.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self._match_calls(method, predicate)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(f"{count} call(s) to {method}", len(found), timeout))
            time.sleep(0.01)

    async def wait_for_call_async(
        self,
        method: str,
        timeout: float = 10.0,
        predicate: Callable[[ApiCall], bool] | None = None,
        count: int = 1,
    ) -> list[ApiCall]:
        deadline = time.monotonic() + timeout
        while True:
            found = self._match_calls(method, predicate)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_message(f"{count} call(s) to {method}", len(found), timeout, hint=False)
                )
            await asyncio.sleep(0.01)

    def wait_for_response(self, url: str, timeout: float = 10.0, count: int = 1) -> list[dict]:
        """Block until `count` accepted posts to this response_url; returns their JSON bodies."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.response_posts(url)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_message(f"{count} post(s) to response_url {url}", len(found), timeout)
                )
            time.sleep(0.01)

    async def wait_for_response_async(self, url: str, timeout: float = 10.0, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.response_posts(url)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_message(f"{count} post(s) to response_url {url}", len(found), timeout, hint=False)
                )
            await asyncio.sleep(0.01)

    def _timeout_message(self, wanted: str, got: int, timeout: float, hint: bool = True) -> str:
        msg = f"FakeSlack: waited {timeout}s for {wanted}, saw {got}.\n{self.dump()}"
        if hint:
            try:
                asyncio.get_running_loop()
                msg += (
                    "\n(hint: this wait blocked a running event loop; if the bot runs on it, "
                    "use the *_async variant)"
                )
            except RuntimeError:
                pass
        return msg

    # -- HTTP: Web API ----------------------------------------------------------------
    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        args, token, basic = await self._parse(request)
        delay = self.latency + self.method_latency.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            status, body, headers, ws, injected, details = self._dispatch(method, args, token, basic)
            ok = status == 200 and isinstance(body, dict) and bool(body.get("ok"))
            error = None if ok else (body.get("error") if isinstance(body, dict) else body)
            self.calls.append(
                ApiCall(
                    method=method,
                    args=args,
                    ok=ok,
                    error=error,
                    at=time.time(),
                    status=status,
                    team_id=ws.team_id if ws else None,
                    response=body if isinstance(body, dict) else None,
                    injected=injected,
                    details=details,
                )
            )
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=headers)
        return PlainTextResponse(body, status_code=status, headers=headers)

    async def _parse(self, request: Request) -> tuple[dict, str | None, tuple[str, str] | None]:
        args: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if raw:
            if ctype == "application/json":
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = {"__invalid__": "invalid_json"}
                if not isinstance(data, dict):
                    data = {"__invalid__": "invalid_json"}
                args.update(data)
            elif ctype.startswith("multipart/"):
                args["__invalid__"] = "invalid_form_data"  # file uploads are not faked
            else:
                args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        for key in self._JSON_FIELDS:
            if isinstance(args.get(key), str) and args[key].strip():
                with contextlib.suppress(ValueError):  # left as a string; validation reports it
                    args[key] = json.loads(args[key])
        token = None
        basic = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
                basic = (user, pw)
            except Exception:
                basic = ("", "")
        form_token = args.pop("token", None)
        token = token or form_token
        return args, token, basic

    def _dispatch(self, method: str, args: dict, token: str | None, basic) -> tuple:
        """-> (status, body, headers, workspace, injected, details). Called with the lock held."""
        if method not in self.METHODS:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}, None, False, []
        if "__invalid__" in args:
            return 200, {"ok": False, "error": args.pop("__invalid__")}, {}, None, False, []
        ws = None
        if method != "oauth.v2.access":
            if not token:
                return 200, {"ok": False, "error": "not_authed"}, {}, None, False, []
            if token in self._revoked:
                return 200, {"ok": False, "error": "token_revoked"}, {}, None, False, []
            ws = self._tokens.get(token)
            if ws is None:
                return 200, {"ok": False, "error": "invalid_auth"}, {}, None, False, []
        fault = self._take_fault(method)
        if fault is not None:
            status, body, headers = fault
            return status, body, headers, ws, True, []
        handler = getattr(self, "_m_" + method.replace(".", "_"))
        result = handler(args, ws, token, basic)
        if len(result) == 2:  # (body, details)
            body, details = result
            return 200, body, {}, ws, False, details
        status, body, headers = result  # paced
        return status, body, headers, ws, True, []

    def _take_fault(self, method: str) -> tuple[int, Any, dict] | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        if fault.status == 429:
            return 429, {"ok": False, "error": fault.error}, {"Retry-After": str(fault.retry_after)}
        if fault.status >= 500:
            return fault.status, f"{fault.status} fake upstream error", {}
        return fault.status, {"ok": False, "error": fault.error, **fault.extra}, {}

    # -- method handlers: return (body, details) or (status, body, headers) -----------------
    @staticmethod
    def _fail(error: str, details: list[str] | None = None) -> tuple[dict, list[str]]:
        body: dict[str, Any] = {"ok": False, "error": error}
        if details:
            body["errors"] = details
            body["response_metadata"] = {"messages": [f"[ERROR] {d}" for d in details]}
        return body, details or []

    def _warn(self, where: str, warnings: Iterable[tuple[str, str]]) -> None:
        for kind, detail in warnings:
            self.warnings.append(FakeWarning(where, kind, detail, time.time()))

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _resolve_channel(self, channel: Any) -> tuple[str | None, dict | None]:
        """-> (channel id, known channel dict or None). None id means channel_not_found."""
        if not isinstance(channel, str) or not channel:
            return None, None
        if channel.startswith("#") or not re.fullmatch(r"[A-Z][A-Z0-9]+", channel):
            name = channel.lstrip("#")
            for ch in self.channels.values():
                if ch["name"] == name:
                    return ch["id"], ch
            return None, None
        if channel[0] in "UW":  # posting to a user id lands in the DM with the bot
            return "D" + channel[1:], None
        return channel, self.channels.get(channel)

    def _message(self, ws: _Workspace, channel: str, ts: str, args: dict) -> dict:
        msg: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": args.get("text") or "",
            "user": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "app_id": self.app_id,
            "team": ws.team_id,
            "ts": ts,
            "channel": channel,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if args.get(key) not in (None, ""):
                msg[key] = copy.deepcopy(args[key])
        return msg

    def _m_api_test(self, args, ws, token, basic):
        return {"ok": True, "args": args}, []

    def _m_auth_test(self, args, ws, token, basic):
        return {
            "ok": True,
            "url": f"https://{ws.domain}.slack.com/",
            "team": ws.team_name,
            "user": self.users.get(ws.bot_user_id, {}).get("name", "bot"),
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }, []

    def _m_auth_revoke(self, args, ws, token, basic):
        if not _truthy(args.get("test")):
            self._revoked.add(token)
        return {"ok": True, "revoked": True}, []

    def _m_chat_postMessage(self, args, ws, token, basic):
        channel, known = self._resolve_channel(args.get("channel"))
        if channel is None:
            return self._fail("channel_not_found")
        if known is not None:
            if known["is_archived"]:
                return self._fail("is_archived")
            if known["is_private"] and not known["is_member"]:
                return self._fail("not_in_channel")
        interval = self.per_channel_post_interval
        now = time.monotonic()
        if interval and channel in self._last_post:
            elapsed = now - self._last_post[channel]
            if elapsed < interval:
                retry = max(1, math.ceil(interval - elapsed))
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)}
        error, details, warnings = validate_message(args, blocks_chars_max=self.blocks_chars_max)
        if error:
            return self._fail(error, details)
        self._warn("chat.postMessage", warnings)
        if args.get("thread_ts") and (channel, args["thread_ts"]) not in self.messages:
            return self._fail("thread_not_found")
        ts = self._next_ts()
        msg = self._message(ws, channel, ts, args)
        self.messages[(channel, ts)] = msg
        self._last_post[channel] = now
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(msg)}, []

    def _m_chat_getPermalink(self, args, ws, token, basic):
        # Slack's permalink shape. Any ts in a channel the bot can post to gets one: tests store
        # digests that this stand-in never posted.
        channel, _known = self._resolve_channel(args.get("channel"))
        ts = args.get("message_ts")
        if channel is None:
            return self._fail("channel_not_found")
        if not isinstance(ts, str) or not re.fullmatch(r"\d+\.\d+", ts):
            return self._fail("message_not_found")
        return {"ok": True, "channel": channel,
                "permalink": f"https://{ws.domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"}, []

    def _m_chat_postEphemeral(self, args, ws, token, basic):
        channel, known = self._resolve_channel(args.get("channel"))
        if channel is None:
            return self._fail("channel_not_found")
        user = args.get("user")
        if not user:
            return self._fail("user_not_found")
        if known is not None and not known["is_member"]:
            return self._fail("not_in_channel")
        error, details, warnings = validate_message(args, blocks_chars_max=self.blocks_chars_max)
        if error:
            return self._fail(error, details)
        self._warn("chat.postEphemeral", warnings)
        return {"ok": True, "message_ts": self._next_ts()}, []

    def _m_chat_update(self, args, ws, token, basic):
        if str(args.get("channel") or "")[:1] in ("U", "W"):
            # Slack: "For direct messages, ensure that this value is a DM ID (starts with D)".
            return self._fail("channel_not_found")
        channel, _ = self._resolve_channel(args.get("channel"))
        if channel is None:
            return self._fail("channel_not_found")
        key = (channel, str(args.get("ts", "")))
        if key not in self.messages:
            return self._fail("message_not_found")
        error, details, warnings = validate_message(args, blocks_chars_max=self.blocks_chars_max)
        if error:
            return self._fail(error, details)
        self._warn("chat.update", warnings)
        msg = self.messages[key]
        msg["text"] = args.get("text") or ""
        for k in ("blocks", "attachments", "metadata"):  # omitted blocks are kept, [] removes them
            if k in args and args[k] not in (None, ""):
                msg[k] = copy.deepcopy(args[k])
        msg["edited"] = {"user": ws.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": key[1],
            "text": msg["text"],
            "message": copy.deepcopy(msg),
        }, []

    def _m_chat_delete(self, args, ws, token, basic):
        channel, _ = self._resolve_channel(args.get("channel"))
        if channel is None:
            return self._fail("channel_not_found")
        key = (channel, str(args.get("ts", "")))
        if self.messages.pop(key, None) is None:
            return self._fail("message_not_found")
        return {"ok": True, "channel": channel, "ts": key[1]}, []

    def _check_trigger(self, trigger_id: Any) -> str | None:
        if not trigger_id or not isinstance(trigger_id, str):
            return "invalid_arguments"
        if trigger_id in self._triggers:
            issued, used = self._triggers[trigger_id]
            if used:
                return "exchanged_trigger_id"
            if time.monotonic() - issued > TRIGGER_ID_TTL:
                return "expired_trigger_id"
            self._triggers[trigger_id] = (issued, True)
        return None

    def _store_view(self, ws: _Workspace, view: dict, *, view_id: str | None = None, root: str | None = None,
                    previous: str | None = None) -> dict:
        view_id = view_id or f"V{next(self._ids):010d}"
        stored = {
            "id": view_id,
            "team_id": ws.team_id,
            "type": view.get("type"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{next(self._ids):08x}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root or view_id,
            "previous_view_id": previous,
            "app_id": self.app_id,
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def _view_arg(self, args) -> tuple[dict | None, tuple | None]:
        view = args.get("view")
        if view is None:
            return None, self._fail("invalid_arguments", ["missing required field [json-pointer:/view]"])
        errors = validate_view(view)
        if errors:
            return None, self._fail("invalid_arguments", errors)
        return view, None

    def _m_views_open(self, args, ws, token, basic):
        problem = self._check_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
        if problem:
            return self._fail(problem)
        view, failure = self._view_arg(args)
        if failure:
            return failure
        if view.get("type") != "modal":
            return self._fail("invalid_arguments", ["must be modal [json-pointer:/view/type]"])
        return {"ok": True, "view": copy.deepcopy(self._store_view(ws, view))}, []

    def _m_views_push(self, args, ws, token, basic):
        problem = self._check_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
        if problem:
            return self._fail(problem)
        view, failure = self._view_arg(args)
        if failure:
            return failure
        return {"ok": True, "view": copy.deepcopy(self._store_view(ws, view))}, []

    def _m_views_update(self, args, ws, token, basic):
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        existing = None
        if view_id:
            existing = self.views.get(view_id)
        elif external_id:
            existing = next((v for v in self.views.values() if v.get("external_id") == external_id), None)
        else:
            return self._fail("invalid_arguments", ["must provide view_id or external_id"])
        if existing is None:
            return self._fail("not_found")
        if args.get("hash") and args["hash"] != existing["hash"]:
            return self._fail("hash_conflict")
        view, failure = self._view_arg(args)
        if failure:
            return failure
        stored = self._store_view(
            ws, view, view_id=existing["id"], root=existing["root_view_id"], previous=existing["previous_view_id"]
        )
        return {"ok": True, "view": copy.deepcopy(stored)}, []

    def _m_views_publish(self, args, ws, token, basic):
        user_id = args.get("user_id")
        if not user_id:
            return self._fail("invalid_arguments", ["missing required field [json-pointer:/user_id]"])
        if user_id not in self.users:
            return self._fail("user_not_found")
        view, failure = self._view_arg(args)
        if failure:
            return failure
        if view.get("type") != "home":
            return self._fail("invalid_arguments", ["must be home [json-pointer:/view/type]"])
        existing = self.home_views.get(user_id)
        if existing and args.get("hash") and args["hash"] != existing["hash"]:
            return self._fail("hash_conflict")
        stored = self._store_view(ws, view, view_id=existing["id"] if existing else None)
        self.home_views[user_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}, []

    def _m_users_info(self, args, ws, token, basic):
        user = self.users.get(args.get("user", ""))
        if user is None:
            return self._fail("user_not_found")
        return {"ok": True, "user": copy.deepcopy(user)}, []

    def _tier_wait(self, ws: _Workspace, method: str) -> int | None:
        """Seconds to wait when `method` is past its tier in this workspace, else None (and counted)."""
        calls, per = self.tier_limits.get(method, (0, 0.0))
        if not calls:
            return None
        now = time.monotonic()
        window = self._tier_calls[(ws.team_id, method)]
        while window and now - window[0] >= per:
            window.popleft()
        if len(window) >= calls:
            return max(1, math.ceil(per - (now - window[0])))
        window.append(now)
        return None

    def _m_users_list(self, args, ws, token, basic):
        # Slack's contract: `limit` (at most 1000; Slack suggests 200), an opaque `cursor` from
        # response_metadata.next_cursor, "" on the last page; an unknown cursor is invalid_cursor.
        if (retry := self._tier_wait(ws, "users.list")) is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)}
        try:
            limit = min(max(int(args.get("limit") or 0) or 1000, 1), 1000)
        except (TypeError, ValueError):
            return self._fail("invalid_arguments")
        members = [u for u in self.users.values() if u.get("team_id") == ws.team_id
                   or ws.team_id in (u.get("enterprise_user") or {}).get("teams", [])]
        cursor = str(args.get("cursor") or "")
        start = 0
        if cursor:
            try:
                start = int(base64.b64decode(cursor.encode()).decode().removeprefix("users:"))
            except (ValueError, UnicodeDecodeError):
                return self._fail("invalid_cursor")
        page = [copy.deepcopy(u) for u in members[start:start + limit]]
        following = start + limit
        next_cursor = base64.b64encode(f"users:{following}".encode()).decode() if following < len(members) else ""
        return {"ok": True, "members": page, "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor}}, []

    def _m_users_lookupByEmail(self, args, ws, token, basic):
        if (retry := self._tier_wait(ws, "users.lookupByEmail")) is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)}
        email = str(args.get("email") or "").strip().lower()
        if not email:
            return self._fail("invalid_arguments")
        for user in self.users.values():
            if (user.get("profile") or {}).get("email", "").lower() == email and not user.get("deleted"):
                return {"ok": True, "user": copy.deepcopy(user)}, []
        return self._fail("users_not_found")

    def add_members(self, count: int, *, prefix: str = "UM", domain: str = "members.example") -> list[str]:
        """`count` ordinary members (for directory benchmarks): Member 1 … with emails."""
        ids = []
        for number in range(1, count + 1):
            user_id = f"{prefix}{number:06d}"
            self.add_user(user_id, name=f"member{number}", real_name=f"Member {number}",
                          email=f"member{number}@{domain}")
            ids.append(user_id)
        return ids

    def _m_conversations_info(self, args, ws, token, basic):
        channel = self.channels.get(args.get("channel", ""))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return self._fail("channel_not_found")
        return {"ok": True, "channel": copy.deepcopy(channel)}, []

    def _m_conversations_list(self, args, ws, token, basic):
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = _truthy(args.get("exclude_archived"))
        visible = []
        for ch in self.channels.values():
            if ch["is_private"] and ("private_channel" not in types or not ch["is_member"]):
                continue
            if not ch["is_private"] and "public_channel" not in types:
                continue
            if exclude_archived and ch["is_archived"]:
                continue
            visible.append(copy.deepcopy(ch))
        limit = int(args.get("limit") or 100)
        start = int(args.get("cursor") or 0)
        page = visible[start : start + limit]
        cursor = str(start + limit) if start + limit < len(visible) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}, []

    def _m_conversations_join(self, args, ws, token, basic):
        channel = self.channels.get(args.get("channel", ""))
        if channel is None:
            return self._fail("channel_not_found")
        if channel["is_private"]:
            return self._fail("method_not_supported_for_channel_type")
        if channel["is_archived"]:
            return self._fail("is_archived")
        channel["is_member"] = True
        return {"ok": True, "channel": copy.deepcopy(channel)}, []

    def _m_oauth_v2_access(self, args, ws, token, basic):
        client_id, client_secret = basic or (args.get("client_id"), args.get("client_secret"))
        if not client_id:
            return self._fail("invalid_client_id")
        if client_id != self.client_id:
            return self._fail("invalid_client_id")
        if client_secret != self.client_secret:
            return self._fail("bad_client_secret")
        if args.get("grant_type") == "refresh_token":
            return self._fail("invalid_grant_type")  # token rotation is not faked
        grant = self._oauth_codes.pop(args.get("code") or "", None)
        if grant is None:
            return self._fail("invalid_code")
        if grant["redirect_uri"] and args.get("redirect_uri") != grant["redirect_uri"]:
            return self._fail("bad_redirect_uri")
        bot_token = self.add_workspace(
            grant["team_id"],
            team_name=grant["team_name"],
            bot_user_id=grant["bot_user_id"],
            bot_id=grant["bot_id"],
        )
        if grant["bot_user_id"] not in self.users:
            self.add_user(grant["bot_user_id"], name="meetings-bot", is_bot=True, team_id=grant["team_id"])
        return {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": grant["user_id"]},
            "scope": grant["scope"],
            "token_type": "bot",
            "access_token": bot_token,
            "bot_user_id": grant["bot_user_id"],
            "team": {"id": grant["team_id"], "name": grant["team_name"]},
            "enterprise": None,
            "is_enterprise_install": False,
        }, []

    # -- HTTP: OAuth redirect -----------------------------------------------------------
    async def _authorize_endpoint(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("invalid_client_id", status_code=400)
        redirect_uri = q.get("redirect_uri") or self.oauth_redirect_uri
        if not redirect_uri:
            return PlainTextResponse("bad_redirect_uri (pass redirect_uri or set oauth_redirect_uri)", 400)
        code = self.new_oauth_code(
            team_id=q.get("team") or None,
            user_id=q.get("user") or "U0INSTALL",  # who approves (a test's stand-in for the signed-in person)
            scope=q.get("scope") or "chat:write",
            redirect_uri=q.get("redirect_uri") or None,
        )
        params = {"code": code}
        if q.get("state") is not None:
            params["state"] = q["state"]
        parts = urlsplit(redirect_uri)
        query = parts.query + ("&" if parts.query else "") + urlencode(params)
        return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)

    # -- HTTP: response_url -----------------------------------------------------------
    def _url_id(self, url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]

    async def _response_endpoint(self, request: Request) -> Response:
        url_id = request.path_params["url_id"]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = {"__raw__": raw.decode("utf-8", "replace")}
        delay = self.latency + self.method_latency.get("response_url", 0.0)
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            status, text, injected, details = self._handle_response_post(url_id, body)
            self.responses.append(
                ResponsePost(
                    url_id=url_id,
                    body=body,
                    ok=status == 200,
                    error=None if status == 200 else text,
                    at=time.time(),
                    status=status,
                    injected=injected,
                    details=details,
                )
            )
        return PlainTextResponse(text, status_code=status)

    async def _stats_endpoint(self, request: Request) -> Response:
        """Counts for a stand-in running in another process (benchmarks)."""
        with self._lock:
            posts = list(self.responses)
        return JSONResponse({
            "response_posts": len(posts),
            "response_posts_ok": sum(1 for p in posts if p.ok),
            "response_urls_answered": len({p.url_id for p in posts if p.ok}),
            "last_response_at": max((p.at for p in posts), default=None),
            "api_calls": len(self.calls),
        })

    async def _posts_endpoint(self, request: Request) -> Response:
        """Every chat.postMessage as answered (benchmarks): when, where, status and fallback text."""
        with self._lock:
            calls = [c for c in self.calls if c.method == "chat.postMessage"]
        return JSONResponse([
            {"at": c.at, "status": c.status, "ok": c.ok, "error": c.error, "channel": c.args.get("channel"),
             "thread_ts": c.args.get("thread_ts"), "text": str(c.args.get("text") or "")[:300]}
            for c in calls
        ])

    def _handle_response_post(self, url_id: str, body: dict) -> tuple[int, str, bool, list[str]]:
        entry = self._response_urls.get(url_id)
        if entry is None and self.open_response_urls:
            entry = self._response_urls[url_id] = _ResponseUrl(url_id, time.monotonic())
        if entry is None:
            return 404, "no_such_url", False, []
        if time.monotonic() - entry.created > RESPONSE_URL_TTL:
            return 404, "expired_url", False, []
        if entry.uses >= RESPONSE_URL_USES:
            return 404, "used_url", False, []
        fault = self._take_fault("response_url")
        if fault is not None:
            status, fbody, _ = fault
            return status, str(fbody.get("error") or "") if isinstance(fbody, dict) else str(fbody), True, []
        if "__raw__" in body:
            return 400, "invalid_payload", False, []
        if not _truthy(body.get("delete_original")):
            error, details, warnings = validate_message(body, blocks_chars_max=self.blocks_chars_max)
            if error:
                return 400, error, False, details
            self._warn("response_url", warnings)
        entry.uses += 1
        key = (entry.channel, entry.message_ts) if entry.channel and entry.message_ts else None
        if key and key in self.messages:
            if _truthy(body.get("delete_original")):
                del self.messages[key]
            elif _truthy(body.get("replace_original")):
                msg = self.messages[key]
                msg["text"] = body.get("text") or ""
                msg["blocks"] = copy.deepcopy(body.get("blocks") or [])
        return 200, "ok", False, []


def _short(value: Any, limit: int = 160) -> str:
    text = _compact(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
