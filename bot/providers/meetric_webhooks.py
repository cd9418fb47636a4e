"""Meetric's webhooks (docs/providers/meetric.md, "Webhooks"): `X-Webhook-Signature: sha256=<hex>` of the raw body,
`X-Webhook-Timestamp` (unix seconds; outside 5 minutes of now is refused), `X-Webhook-Delivery-Id`,
and `conversation.completed` with the conversation under `data.conversation`.

The signature covers the raw body only: the timestamp and delivery-id headers are not signed,
so anyone who captured one delivery can resend it with fresh ones. The window therefore only
stops lazy replays; what makes a replay harmless is the dedupe key, which is taken from the
signed body (event, conversation id, a hash of the conversation), never from those headers."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

from bot.providers.parsing import as_object
from bot.providers.webhooks import (
    Action,
    BadWebhook,
    WebhookEvent,
    load_object,
    signed_dedupe_key,
)

ACTIONS = {"conversation.completed": Action.DIGEST}
TOLERANCE_SECONDS = 300  # the replay window (an assumption: docs/providers/meetric.md, "Webhooks")
# Unix seconds (10 digits today) or milliseconds (13), with an optional fraction. A strict form
# rather than float(): float() also reads "nan", "inf" and "1e400", and NaN compares false with
# everything, so `abs(now - nan) > tolerance` would let it through.
_STAMP = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,9})?")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value.strip() if value else None


class MeetricWebhooks:
    actions: Mapping[str, Action] = ACTIONS

    def __init__(self, *, tolerance: float = TOLERANCE_SECONDS, clock=time.time) -> None:
        self.tolerance = tolerance
        self.clock = clock

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        given = _header(headers, "X-Webhook-Signature")
        stamp = _header(headers, "X-Webhook-Timestamp")
        if not given or not stamp:
            return False
        if not _STAMP.fullmatch(stamp):
            return False
        sent = float(stamp)
        if sent > 1e11:  # milliseconds, another reasonable reading
            sent /= 1000
        if abs(self.clock() - sent) > self.tolerance:
            return False
        if given.lower().startswith("sha256="):
            given = given[len("sha256="):]
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.strip().lower().encode())

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        payload = load_object(body)
        event_type = payload.get("event") or payload.get("type") or _header(headers, "X-Webhook-Event")
        if not isinstance(event_type, str) or not event_type.strip():
            raise BadWebhook("the body names no event")
        event_type = event_type.strip()[:64]
        data = as_object(payload.get("data"))
        conversation = as_object(data.get("conversation")) or data
        meta = as_object(payload.get("_meta"))
        meeting_id = str(conversation.get("id") or data.get("conversation_id") or "").strip()[:255] or None
        named = payload.get("event") or payload.get("type")
        flat = {**conversation, "subscription_id": meta.get("subscription_id"), "delivery_id": meta.get("delivery_id")}
        return WebhookEvent(event_type=event_type, meeting_id=meeting_id, object_id=None,
                            dedupe_key=signed_dedupe_key(named if isinstance(named, str) else None, meeting_id,
                                                         conversation),
                            data=flat)
