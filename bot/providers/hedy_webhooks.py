"""Hedy's webhooks (docs/providers/hedy.md, "Webhooks"): a hex HMAC-SHA256 of the raw body in X-Hedy-Signature,
no timestamp, flat payloads (`{event, sessionId, ...}`) and an older nested form
(`{event, timestamp, data: {...}}`). Webhooks created through Hedy's API have no secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import AliasChoices, Field

from bot.providers.parsing import WebhookId, WebhookIds
from bot.providers.webhooks import (
    Action,
    BadWebhook,
    WebhookEvent,
    load_object,
    signed_dedupe_key,
)

ACTIONS = {
    "session.created": Action.STARTED,
    "session.ended": Action.DIGEST,
    "session.exported": Action.DIGEST,
    "highlight.created": Action.THREAD,
    "todo.exported": Action.THREAD,
}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value.strip() if value else None


class _Ids(WebhookIds):
    session_id: WebhookId = Field(None, validation_alias=AliasChoices("sessionId", "session_id", "id"))
    meeting_id: WebhookId = Field(None, validation_alias=AliasChoices("sessionId", "session_id"))
    # A highlight, a todo.
    object_id: WebhookId = Field(None, validation_alias=AliasChoices("id", "highlightId", "todoId"))


class HedyWebhooks:
    actions: Mapping[str, Action] = ACTIONS

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        given = _header(headers, "X-Hedy-Signature")
        if not given:
            return False
        # Hedy sends bare hex; accept a "sha256=" prefix and upper case too (every reasonable reading).
        if given.lower().startswith("sha256="):
            given = given[len("sha256="):]
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.lower().encode())

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        payload = load_object(body)
        nested = payload.get("data") if isinstance(payload.get("data"), dict) else None
        data = {**payload, **nested} if nested is not None else payload
        data.pop("data", None)
        named = payload.get("event") or payload.get("type")
        event_type = named or _header(headers, "X-Hedy-Event")
        if not isinstance(event_type, str) or not event_type.strip():
            raise BadWebhook("the body names no event")
        event_type = event_type.strip()[:64]

        ids = _Ids.read(data)
        if event_type.startswith("session."):
            meeting_id, object_id = ids.session_id, None
        else:
            meeting_id, object_id = ids.meeting_id, ids.object_id
        # The X-Hedy-Event header is not signed: only the body's own event name counts for the key.
        signed_name = named.strip() if isinstance(named, str) else None
        return WebhookEvent(
            event_type=event_type,
            meeting_id=meeting_id,
            object_id=object_id,
            dedupe_key=signed_dedupe_key(signed_name, object_id or meeting_id, data),
            data=data,
        )
