"""Every failure a user can meet, as a plain sentence that says what happened and what to do.

This is the one place errors turn into words; listeners let exceptions reach Bolt's error
handler, which calls `describe`.
"""

from __future__ import annotations

import logging
import secrets

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
from bot.slack.installations import NotInstalled
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
    if isinstance(exc, TimeoutError):
        return sentence("The meeting service is taking too long to answer. Try again in a minute.")
    if isinstance(exc, SecretBoxError):
        return sentence("I can't read this workspace's stored API key: the server's encryption key changed. "
                        "An admin needs to save the key again with `/meetings setup`.")
    reference = secrets.token_hex(4)
    log.error("unexpected error (reference %s, team %s)", reference, team_id, exc_info=exc)
    return sentence(f"Something went wrong on my side. Please try again; if it keeps failing, give your admin "
                    f"this reference: `{reference}`.")
