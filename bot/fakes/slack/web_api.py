"""The Slack Web API methods the stand-in answers (auth, chat, views, users, conversations, oauth),
as a part of `FakeSlack`: each takes the call's arguments and workspace and returns
(body, details) or (status, body, headers)."""

from __future__ import annotations

import base64
import copy
import math
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from bot.fakes.slack.blockkit import validate_message, validate_view
from bot.fakes.slack.limits import TRIGGER_ID_TTL
from bot.fakes.slack.records import (
    FakeWarning,
    SlackWorkspace,
)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class WebApiMethods:
    """The `_m_<method>` handlers `FakeSlack._dispatch` calls. The state they share is set up by
    `FakeSlack.__init__`; declared here so that each half can be read (and type-checked) alone."""

    app_id: str
    client_id: str
    client_secret: str
    blocks_chars_max: int
    per_channel_post_interval: float | None
    warnings: list[FakeWarning]
    users: dict[str, dict]
    channels: dict[str, dict]
    channel_members: dict[str, set[str]]
    messages: dict[tuple[str, str], dict]
    views: dict[str, dict]
    home_views: dict[str, dict]
    _ts: Iterator[int]
    _ids: Iterator[int]
    _revoked: set[str]
    _last_post: dict[str, float]
    _triggers: dict[str, tuple[float, bool]]
    _oauth_codes: dict[str, dict]
    tier_limits: dict[str, tuple[int, float]]
    _tier_calls: dict[tuple[str, str], deque[float]]

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

    def _message(self, ws: SlackWorkspace, channel: str, ts: str, args: dict) -> dict:
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

    def _store_view(self, ws: SlackWorkspace, view: dict, *, view_id: str | None = None, root: str | None = None,
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

    def _tier_wait(self, ws: SlackWorkspace, method: str) -> int | None:
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

    def _m_users_conversations(self, args, ws, token, basic):
        user = str(args.get("user") or ws.bot_user_id)
        types = set(str(args.get("types") or "public_channel").split(","))
        mine = []
        for channel_id, ch in self.channels.items():
            member = user in self.channel_members.get(channel_id, set()) or (user == ws.bot_user_id
                                                                              and ch["is_member"])
            kind = "private_channel" if ch["is_private"] else "public_channel"
            if member and kind in types:
                mine.append(copy.deepcopy(ch))
        limit = int(args.get("limit") or 100)
        start = int(args.get("cursor") or 0)
        cursor = str(start + limit) if start + limit < len(mine) else ""
        return {"ok": True, "channels": mine[start:start + limit], "response_metadata": {"next_cursor": cursor}}, []

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
