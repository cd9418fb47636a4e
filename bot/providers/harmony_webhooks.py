"""Harmony's webhooks (docs/providers/harmony.md, "Webhooks"). All of it is assumed, none verified:

- Signature: the seed says "`X-Harmony-Signature`: HMAC-SHA256 of the request body". Accepted as
  lower- or upper-case hex, with or without a `sha256=` prefix, or base64; the header names
  tried are configurable (`signature_headers`). No timestamp or replay window is documented, so
  duplicates are caught by the dedupe key only, and that key is made of the signed body alone:
  a delivery-id header is not signed, so a captured body resent with a new one must still be a
  duplicate.
- Payload: `{event, timestamp, data:{meeting_id, title, duration, …}}` (seed); the public pages'
  `conversation.*` names are read too, with `conversation_id`. A flat body also works.
- Events: `meeting.processed` → digest, `meeting.failed` → a short notice, `insight.generated` →
  the digest's thread, `meeting.started` → a "started" note where enabled; the `conversation.*`
  spellings (assumption) map the same way, `conversation.transcribed` included as a digest.
"""

from __future__ import annotations

import base64
import binascii
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
    "meeting.processed": Action.DIGEST,
    "meeting.failed": Action.FAILED,
    "insight.generated": Action.THREAD,
    "meeting.started": Action.STARTED,
    # The newer public pages name events <entity>.<action> with conversations (assumed mapping).
    "conversation.processed": Action.DIGEST,
    "conversation.transcribed": Action.DIGEST,
    "conversation.failed": Action.FAILED,
    "conversation.started": Action.STARTED,
}
SIGNATURE_HEADERS = ("X-Harmony-Signature",)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value.strip() if value else None


def _signature_matches(given: str, digest: bytes) -> bool:
    given = given.strip()
    if given.lower().startswith("sha256="):
        given = given[len("sha256="):]
    if hmac.compare_digest(digest.hex().encode(), given.lower().encode()):
        return True
    try:
        decoded = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(digest, decoded)


class _Ids(WebhookIds):
    meeting_id: WebhookId = Field(None, validation_alias=AliasChoices("meeting_id", "meetingId", "conversation_id",
                                                                      "conversationId"))
    own_id: WebhookId = Field(None, validation_alias="id")  # a flat meeting's own id
    insight_id: WebhookId = Field(None, validation_alias=AliasChoices("insight_id", "insightId", "id"))


class HarmonyWebhooks:
    actions: Mapping[str, Action] = ACTIONS

    def __init__(self, *, signature_headers: tuple[str, ...] = SIGNATURE_HEADERS) -> None:
        self.signature_headers = signature_headers

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        given = next((v for v in (_header(headers, n) for n in self.signature_headers) if v), None)
        if not given:
            return False
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return _signature_matches(given, digest)

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        payload = load_object(body)
        named = payload.get("event") or payload.get("type")
        event_type = named or _header(headers, "X-Harmony-Event")
        if not isinstance(event_type, str) or not event_type.strip():
            raise BadWebhook("the body names no event")
        event_type = event_type.strip()[:64]
        nested = payload.get("data") if isinstance(payload.get("data"), dict) else None
        data = dict(nested) if nested is not None else {k: v for k, v in payload.items() if k not in ("event", "type")}
        for inner in ("meeting", "conversation"):  # {data:{meeting:{id,…}}} is another reasonable shape
            if isinstance(data.get(inner), dict):
                data = {**data[inner], **{k: v for k, v in data.items() if k != inner}}

        ids = _Ids.read(data)
        is_insight = event_type.startswith("insight.")
        meeting_id = ids.meeting_id or (None if is_insight else ids.own_id)
        object_id = ids.insight_id if is_insight else None
        return WebhookEvent(
            event_type=event_type, meeting_id=meeting_id, object_id=object_id, data=data,
            dedupe_key=signed_dedupe_key(named.strip() if isinstance(named, str) else None,
                                         object_id or meeting_id, data))
