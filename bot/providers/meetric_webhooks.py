"""Meetric's webhooks (docs/providers/meetric.md, "Webhooks"): `X-Webhook-Signature: sha256=<hex>` of the raw body,
`X-Webhook-Timestamp` (unix seconds; older than 5 minutes is refused), `X-Webhook-Delivery-Id`
(the dedupe key), and `conversation.completed` with the conversation under `data.conversation`."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping

from bot.providers.webhooks import Action, BadWebhook, WebhookEvent, content_fingerprint, load_object, parse_iso

ACTIONS = {"conversation.completed": Action.DIGEST}
TOLERANCE_SECONDS = 300  # the replay window (an assumption: docs/providers/meetric.md, "Webhooks")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value.strip() if value else None


class MeetricWebhooks:
    actions = ACTIONS

    def __init__(self, *, tolerance: float = TOLERANCE_SECONDS, clock=time.time) -> None:
        self.tolerance = tolerance
        self.clock = clock

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        given = _header(headers, "X-Webhook-Signature")
        stamp = _header(headers, "X-Webhook-Timestamp")
        if not given or not stamp:
            return False
        try:
            sent = float(stamp)
        except ValueError:
            return False
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
        data = payload["data"] if isinstance(payload.get("data"), dict) else {}
        conversation = data["conversation"] if isinstance(data.get("conversation"), dict) else data
        meta = payload["_meta"] if isinstance(payload.get("_meta"), dict) else {}
        meeting_id = str(conversation.get("id") or data.get("conversation_id") or "").strip()[:255] or None
        delivery = _header(headers, "X-Webhook-Delivery-Id") or meta.get("delivery_id")
        dedupe = (f"delivery:{str(delivery)[:200]}" if delivery else
                  f"{event_type}:{meeting_id or '-'}:{content_fingerprint(conversation)}")
        flat = {**conversation, "subscription_id": meta.get("subscription_id"), "delivery_id": delivery}
        return WebhookEvent(event_type=event_type, meeting_id=meeting_id, object_id=None, dedupe_key=dedupe,
                            data=flat, title=str(conversation.get("title") or "") or None,
                            started_at=parse_iso(conversation.get("date")))
