"""Signed inbound requests, built the way Slack sends them to the bot.

Every builder returns `(body: bytes, headers: dict)`, signed with the v0 scheme
(docs/slack.md, "Signing") via slack_sdk's own `SignatureVerifier.generate_signature`. Use them with
`AsyncBoltRequest(body=body.decode(), headers=headers)` or POST them over HTTP
(`httpx.post(url, content=body, headers=headers)`).

Enterprise Grid and Slack Connect shapes: `enterprise_id` adds the org (`enterprise`,
`team.enterprise_id`), `is_enterprise_install` marks an org-wide install, and `user_team_id`
sets the acting user's own team (`user.team_id`), which Slack reports as the user's home
workspace or org (Grid) or their own company's workspace (a Slack Connect guest): it differs
from `team_id`, the workspace the command, message or modal belongs to.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

__all__ = [
    "DEFAULT_APP_ID",
    "block_action",
    "event_callback",
    "sign",
    "slash_command",
    "url_verification",
    "view_submission",
]

DEFAULT_APP_ID = "A0APP"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def sign(signing_secret: str, body: bytes, *, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with `body` (X-Slack-Signature, X-Slack-Request-Timestamp, Content-Type)."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body.decode("utf-8"))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",  # None only without a timestamp and body
    }


def _form(signing_secret: str, fields: dict[str, Any], timestamp: int | None) -> tuple[bytes, dict[str, str]]:
    body = urlencode({k: v for k, v in fields.items() if v is not None}).encode()
    return body, sign(signing_secret, body, content_type=FORM, timestamp=timestamp)


def _interaction(signing_secret: str, payload: dict, timestamp: int | None) -> tuple[bytes, dict[str, str]]:
    return _form(signing_secret, {"payload": json.dumps(payload, separators=(",", ":"))}, timestamp)


def _trigger() -> str:
    return f"{int(time.time() * 1000)}.{int(time.time())}.faketrigger"


def _domain(team_id: str) -> str:
    return team_id.lower()


def _team(team_id: str, enterprise_id: str | None) -> dict:
    team: dict[str, Any] = {"id": team_id, "domain": _domain(team_id)}
    if enterprise_id:
        team.update(enterprise_id=enterprise_id, enterprise_name=f"{enterprise_id} org")
    return team


def _enterprise(enterprise_id: str | None) -> dict | None:
    return {"id": enterprise_id, "name": f"{enterprise_id} org"} if enterprise_id else None


def _user(user_id: str, team_id: str) -> dict:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def slash_command(
    signing_secret: str,
    *,
    text: str,
    team_id: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    command: str = "/meetings",
    trigger_id: str | None = None,
    timestamp: int | None = None,
    team_domain: str | None = None,
    channel_name: str = "general",
    user_name: str | None = None,
    api_app_id: str = DEFAULT_APP_ID,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """A slash command invocation (form-encoded, every field Slack sends)."""
    fields = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": team_domain or _domain(team_id),
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "true" if is_enterprise_install else "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger(),
    }
    if enterprise_id:
        fields["enterprise_id"] = enterprise_id
        fields["enterprise_name"] = enterprise_id
    return _form(signing_secret, fields, timestamp)


def block_action(
    signing_secret: str,
    *,
    team_id: str,
    user_id: str,
    channel_id: str | None,
    action_id: str,
    value: str | None,
    block_id: str = "b",
    response_url: str | None,
    message: dict | None = None,
    container: dict | None = None,
    trigger_id: str | None = None,
    timestamp: int | None = None,
    action_type: str = "button",
    selected_option: dict | None = None,
    selected_user: str | None = None,
    ephemeral: bool = False,
    channel_name: str = "general",
    api_app_id: str = DEFAULT_APP_ID,
    user_team_id: str | None = None,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """A block_actions payload for a click in a message (`message` is the message clicked on).

    With `ephemeral=True` the payload has no `message` (Slack omits it for ephemeral messages).
    For a select, pass action_type="static_select" and selected_option={"text": {...}, "value": ...};
    for a user picker, action_type="users_select" and selected_user="U…" (None when cleared).
    """
    now = f"{time.time():.6f}"
    if message is None and not ephemeral:
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "ts": "1700000000.000100",
            "bot_id": "B0BOT",
            "user": "U0BOT",
            "blocks": [],
        }
    if container is None:
        container = {
            "type": "message",
            "message_ts": (message or {}).get("ts", "1700000000.000100"),
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        }
    action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "type": action_type, "action_ts": now}
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
        if value is not None:
            action["value"] = value
    elif action_type == "users_select":
        action["selected_user"] = selected_user
    elif selected_option is not None:
        action["selected_option"] = selected_option
    elif value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_team_id or team_id),
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "container": container,
        "trigger_id": trigger_id or _trigger(),
        "team": _team(team_id, enterprise_id),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": is_enterprise_install,
        "state": {"values": {}},
        "actions": [action],
    }
    if channel_id is not None:
        payload["channel"] = {"id": channel_id, "name": channel_name}
    if message is not None and not ephemeral:
        payload["message"] = message
    if response_url is not None:
        payload["response_url"] = response_url
    return _interaction(signing_secret, payload, timestamp)


def view_submission(
    signing_secret: str,
    *,
    team_id: str,
    user_id: str,
    callback_id: str,
    values: dict[str, dict[str, dict]],
    private_metadata: str = "",
    view_id: str = "V0000000001",
    blocks: list[dict] | None = None,
    title: str = "Meetings",
    trigger_id: str | None = None,
    response_urls: list[dict] | None = None,
    timestamp: int | None = None,
    api_app_id: str = DEFAULT_APP_ID,
    user_team_id: str | None = None,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """A view_submission payload. `values` is view.state.values:
    {block_id: {action_id: {"type": "plain_text_input", "value": "..."}}}.
    With an org-wide install (`is_enterprise_install`), the view's app_installed_team_id is the org."""
    view = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks or [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": values},
        "hash": f"{int(time.time())}.fakehash",
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "submit": {"type": "plain_text", "text": "Save", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": enterprise_id if is_enterprise_install and enterprise_id else team_id,
        "bot_id": "B0BOT",
    }
    payload = {
        "type": "view_submission",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, user_team_id or team_id),
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or _trigger(),
        "view": view,
        "response_urls": response_urls or [],
        "is_enterprise_install": is_enterprise_install,
        "enterprise": _enterprise(enterprise_id),
    }
    return _interaction(signing_secret, payload, timestamp)


def event_callback(
    signing_secret: str,
    *,
    team_id: str,
    event: dict,
    event_id: str | None = None,
    timestamp: int | None = None,
    bot_user_id: str = "U0BOT",
    api_app_id: str = DEFAULT_APP_ID,
    retry_num: int | None = None,
    retry_reason: str | None = None,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """An Events API delivery (JSON). retry_num/retry_reason add X-Slack-Retry-* like a redelivery."""
    now = int(time.time()) if timestamp is None else int(timestamp)
    payload = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        **({"enterprise_id": enterprise_id} if enterprise_id else {}),
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": None if is_enterprise_install else team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": is_enterprise_install,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-fake-{team_id}",
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = sign(signing_secret, body, content_type=JSON, timestamp=timestamp)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return body, headers


def url_verification(signing_secret: str, *, challenge: str = "fake-challenge", timestamp: int | None = None):
    """The Events API URL verification handshake."""
    handshake = {"token": "deprecated-verification-token", "challenge": challenge, "type": "url_verification"}
    body = json.dumps(handshake).encode()
    return body, sign(signing_secret, body, content_type=JSON, timestamp=timestamp)
