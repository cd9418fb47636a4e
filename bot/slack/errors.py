"""Every failure a user can meet, as a plain sentence that says what happened and what to do.

This is the one place errors turn into words; listeners let exceptions reach Bolt's error
handler, which calls `describe`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.providers.base import (
    AuthError,
    BadRequest,
    NotFound,
    NotReady,
    NotSupported,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Unavailable,
)
from bot.providers.registry import PROVIDERS
from bot.services.connections import NotConnected
from bot.slack.blocks.message import Message
from bot.slack.blocks.replies import not_connected, sentence
from bot.slack.blocks.text import escape
from bot.slack.installations import NotInstalled
from bot.slack.responder import ResponseUrlError
from bot.store.crypto import SecretBoxError

log = logging.getLogger(__name__)


def _name(exc: ProviderError) -> str:
    info = PROVIDERS.get(exc.provider or "")
    return info.display_name if info else "The meeting service"


def _from_now(seconds: float | None) -> str:
    if not seconds:
        return ""
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f" (in about {hours} h {minutes} min)" if hours else f" (in about {minutes + 1} min)"


@dataclass(frozen=True)
class SlackRefusal:
    """What Slack's Web API answered, read defensively: the body of an error may be JSON, plain
    text or HTML, and slack_sdk keeps a raw aiohttp response when it could not parse it."""

    method: str
    status: int | None
    code: str | None  # Slack's "error" field, when the body was JSON
    needed: str | None  # for missing_scope: the scopes Slack asked for
    retry_after: int | None

    @classmethod
    def of(cls, exc: SlackApiError) -> SlackRefusal:
        response = exc.response
        data = getattr(response, "data", None)
        data = data if isinstance(data, dict) else {}
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        headers = getattr(response, "headers", None) or {}
        retry_after = None
        try:
            value = headers.get("Retry-After") or headers.get("retry-after")
            retry_after = int(value[0] if isinstance(value, list) else value) if value else None
        except (TypeError, ValueError, AttributeError):
            retry_after = None
        url = str(getattr(response, "api_url", None) or getattr(response, "url", None) or "")
        code, needed = data.get("error"), data.get("needed")
        return cls(method=url.rstrip("/").rsplit("/", 1)[-1] or "a Web API method",
                   status=status if isinstance(status, int) else None,
                   code=code if isinstance(code, str) else None,
                   needed=needed if isinstance(needed, str) else None, retry_after=retry_after)

    @property
    def outage(self) -> bool:
        return (self.status or 0) >= 500 or self.code in _OUTAGE_CODES


_OUTAGE_CODES = {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
_DEAD_TOKEN_CODES = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                     "no_permission", "org_login_required", "ekm_access_denied"}
_SCOPE_FOR = {"users.info": "users:read", "users.list": "users:read", "users.lookupByEmail": "users:read.email",
              "conversations.info": "channels:read", "chat.postMessage": "chat:write",
              "chat.postEphemeral": "chat:write", "chat.update": "chat:write"}


def describe_slack(refusal: SlackRefusal, *, team_id: str | None = None) -> Message:
    """A Slack Web API error as what the user (or their admin) can do about it."""
    if refusal.status == 429 or refusal.code == "ratelimited":
        log.warning("Slack rate-limited %s after retries (team %s)", refusal.method, team_id)
        wait = f"about {refusal.retry_after + 1} seconds" if refusal.retry_after else "a minute"
        return sentence(f"Slack is limiting how fast I can call it right now. Try again in {wait}.")
    if refusal.code == "missing_scope":
        scopes = refusal.needed or _SCOPE_FOR.get(refusal.method) or "the one it names"
        listed = ", ".join(f"`{escape(s.strip())}`" for s in scopes.split(",") if s.strip())
        log.warning("Slack refused %s for a missing scope %s (team %s)", refusal.method, scopes, team_id)
        return sentence(f"The app is missing the Slack permission {listed}, so Slack refused. An admin needs to "
                        "add it under Bot Token Scopes on the app's *OAuth & Permissions* page (api.slack.com/apps), "
                        "then reinstall the app to the workspace.")
    if refusal.code in ("expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"):
        return sentence("Slack gives an app only 3 seconds to open a window after a click or a command, and that "
                        "time ran out. Please try again.")
    if refusal.code in ("not_in_channel", "channel_not_found"):
        return sentence("I'm not in that channel, or can't see it. Type `/invite @meetings-bot` in the channel, "
                        "then try again.")
    if refusal.code == "is_archived":
        return sentence("That channel is archived, so I can't post there. Unarchive it, or have an admin choose "
                        "another channel with `/meetings setup`.")
    if refusal.code in _DEAD_TOKEN_CODES:
        log.warning("Slack no longer accepts the bot token of team %s (%s)", team_id, refusal.code)
        return sentence("Slack no longer accepts this app's token for this workspace: the app was removed or its "
                        "token revoked. An admin can install the app again (the server's /slack/install page, or a "
                        "new Bot User OAuth Token in SLACK_BOT_TOKEN).")
    if refusal.code in ("user_not_found", "users_not_found", "user_not_visible"):
        return sentence("Slack doesn't know that person in this workspace. Pick someone from this workspace.")
    if refusal.outage or refusal.code is None:
        log.warning("Slack answered %s to %s with %s (team %s): Slack is down or failing", refusal.status,
                    refusal.method, refusal.code or "a body that is not JSON", team_id)
        return sentence("Slack isn't answering properly right now (it may be having an outage). "
                        "Try again in a few minutes.")
    log.warning("Slack refused %s with %s (team %s)", refusal.method, refusal.code, team_id)
    return sentence(f"Slack refused that request (`{escape(refusal.code)}`). Try again; if it keeps happening, "
                    "tell your admin, who will find it in the server log.")


def log_failure(exc: BaseException, *, what: str, team_id: str | None = None) -> None:
    """For work nobody is waiting to be told about: Slack's own troubles are one WARNING line
    (nothing the bot can fix), anything else an ERROR with its traceback."""
    if isinstance(exc, SlackApiError):
        refusal = SlackRefusal.of(exc)
        log.warning("%s failed: Slack answered %s to %s with %s (team %s)", what, refusal.status, refusal.method,
                    refusal.code or "a body that is not JSON", team_id)
    elif isinstance(exc, ResponseUrlError):
        log.warning("%s failed: %s (team %s)", what, exc, team_id)
    elif isinstance(exc, (aiohttp.ClientError, TimeoutError)):
        log.warning("%s failed: Slack could not be reached (%s, team %s)", what, type(exc).__name__, team_id)
    else:
        log.error("%s failed (team %s)", what, team_id, exc_info=exc)


def describe(exc: BaseException, *, team_id: str | None = None) -> Message:
    if isinstance(exc, NotConnected):
        return not_connected(exc.team_id)
    if isinstance(exc, NotInstalled):
        return sentence("The app is no longer installed in this workspace. An admin can install it again "
                        "from the server's /slack/install page.")
    if isinstance(exc, AuthError):
        name = _name(exc)
        return sentence(f"{name} rejected this workspace's API key, so I can't read meetings. An admin needs to "
                        f"create a new key in {name} and save it with `/meetings setup`.")
    if isinstance(exc, PermissionDenied):
        name = _name(exc)
        return sentence(f"{name} accepted the key but won't share this data: {exc.message}. "
                        f"An admin should check the plan and permissions of the {name} account.")
    if isinstance(exc, NotFound):
        return sentence(f"{_name(exc)} has no meeting with that id. Use `/meetings list` and press Show "
                        "on the meeting you want.")
    if isinstance(exc, QuotaExceeded):
        name = _name(exc)
        return sentence(f"{name} says {exc.message}{_from_now(exc.retry_after)}. Until then I can't read meetings "
                        f"from it; an admin can ask {name} for a higher quota.")
    if isinstance(exc, RateLimited):
        wait = f"about {int(exc.retry_after) + 1} seconds" if exc.retry_after else "a minute"
        return sentence(f"{_name(exc)} is limiting how fast I can ask it for data right now. "
                        f"Try again in {wait}.")
    if isinstance(exc, Unavailable):
        return sentence(f"I couldn't reach {_name(exc)}: it is down or answering with errors. "
                        "Try again in a few minutes; if it keeps happening, tell your admin.")
    if isinstance(exc, NotSupported):
        return sentence(exc.message)
    if isinstance(exc, NotReady):
        return sentence(f"{_name(exc)} is still working on this meeting's notes. Try again in a few minutes.")
    if isinstance(exc, BadRequest):
        return sentence(f"{_name(exc)} didn't accept that request ({exc.message}). "
                        "Check the command with `/meetings help`.")
    if isinstance(exc, SlackApiError):
        return describe_slack(SlackRefusal.of(exc), team_id=team_id)
    if isinstance(exc, aiohttp.ClientError):
        log.warning("Slack could not be reached (%s, team %s)", type(exc).__name__, team_id)
        return sentence("I couldn't reach Slack just now (it may be having an outage). Try again in a few minutes.")
    if isinstance(exc, TimeoutError):
        return sentence("The meeting service is taking too long to answer. Try again in a minute.")
    if isinstance(exc, SecretBoxError):
        return sentence("I can't read this workspace's stored API key: the server's encryption key changed. "
                        "An admin needs to save the key again with `/meetings setup`.")
    reference = secrets.token_hex(4)
    log.error("unexpected error (reference %s, team %s)", reference, team_id, exc_info=exc)
    return sentence(f"Something went wrong on my side. Please try again; if it keeps failing, give your admin "
                    f"this reference: `{reference}`.")
