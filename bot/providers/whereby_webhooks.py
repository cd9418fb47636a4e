"""Whereby's webhooks (docs/providers/whereby.md, "Webhooks").

- Signature: `Whereby-Signature: t=<unix seconds>,v1=<hex>`, where v1 is HMAC-SHA256 (key: the
  webhook's signing secret) of `"{t}.{raw body}"`. Compared in constant time on the raw bytes
  (Whereby's own sample re-serialises the JSON, which can differ from what was signed). A `t`
  further than the tolerance from now is refused: WHEREBY_SIGNATURE_TOLERANCE_SECONDS, 300 by
  default (the doc's sample uses 60 s and leaves the threshold to the receiver). Several `v1`
  entries (a secret being rotated) are accepted if any matches.
- Envelope: `{id, apiVersion, createdAt, type, data}`. Whereby says events may come more than
  once and out of order, so the dedupe key is the news, not the delivery: one
  `transcription.finished` per transcription, one `room.session.ended` per room session.
- Events: `transcription.finished` → the digest (the worker then starts and polls the summary),
  `transcription.failed` → a short notice, `room.session.started` / `room.session.ended` → short
  notes where the connection enables them. The rest (participants joining, knocking, recordings)
  are stored and ignored. There is no summary event: summaries are polled.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping

from pydantic import Field

from bot.providers.parsing import WebhookId, WebhookIds, as_object
from bot.providers.webhooks import (
    Action,
    BadWebhook,
    WebhookEvent,
    content_fingerprint,
    load_object,
)

ACTIONS = {
    "transcription.finished": Action.DIGEST,
    "transcription.failed": Action.FAILED,
    "room.session.started": Action.STARTED,
    "room.session.ended": Action.ENDED,
}
SIGNATURE_HEADER = "Whereby-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
# `t` in ASCII digits, at most 12 of them: str.isdigit() also takes "²" and "٣" (which int()
# then refuses), and int() refuses more than 4,300 digits; either would be a 500, not a 401.
_STAMP = re.compile(r"[0-9]{1,12}")


def room_title(room_name: str | None) -> str | None:
    """Whereby meetings have no titles; the room (`/team-sync-3f2a…`) stands in for one."""
    name = (room_name or "").strip().strip("/")
    return f"Meeting in {name}" if name else None


def configured_tolerance() -> float:
    """WHEREBY_SIGNATURE_TOLERANCE_SECONDS, read like every other setting (environment, .env)."""
    try:
        from bot.settings import get_settings

        return float(get_settings().whereby_signature_tolerance_seconds)
    except Exception:  # an unreadable setting would have stopped the server long before a webhook
        return float(DEFAULT_TOLERANCE_SECONDS)


def parse_signature(value: str | None) -> tuple[int | None, list[str]]:
    """`t=1606227791,v1=94a2…` → (1606227791, ["94a2…"]); (None, []) for anything else."""
    stamp: int | None = None
    signatures: list[str] = []
    for part in (value or "").split(","):
        key, _, val = part.strip().partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "t" and _STAMP.fullmatch(val):
            stamp = int(val)
        elif key == "v1" and val:
            signatures.append(val.lower())
    return stamp, signatures


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """The header value Whereby would send for `body` at `timestamp` (used by the stand-in too)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _Ids(WebhookIds):
    transcription: WebhookId = Field(None, validation_alias="transcriptionId")
    room_session: WebhookId = Field(None, validation_alias="roomSessionId")
    meeting: WebhookId = Field(None, validation_alias="meetingId")
    room: WebhookId = Field(None, validation_alias="roomName")


class WherebyWebhooks:
    actions: Mapping[str, Action] = ACTIONS

    def __init__(self, *, tolerance: float | None = None, clock: Callable[[], float] = time.time) -> None:
        self.tolerance = tolerance  # None: the WHEREBY_SIGNATURE_TOLERANCE_SECONDS setting
        self.clock = clock

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        value = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower())
        stamp, given = parse_signature(value)
        if stamp is None or not given:
            return False
        tolerance = self.tolerance if self.tolerance is not None else configured_tolerance()
        if abs(self.clock() - stamp) > tolerance:
            return False  # too old (a replay) or from a clock far in the future
        expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest().encode()
        matched = False
        for signature in given:  # no early exit: every entry costs the same
            matched |= hmac.compare_digest(expected, signature.encode())
        return matched

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        payload = load_object(body)
        event_type = payload.get("type") or payload.get("event")
        if not isinstance(event_type, str) or not event_type.strip():
            raise BadWebhook("the body names no event type")
        event_type = event_type.strip()[:64]
        data = as_object(payload.get("data"))

        ids = _Ids.read(data)
        envelope_id = payload.get("id") if isinstance(payload.get("id"), (str, int)) else None
        room_session = ids.room_session
        hints: dict[str, str] = {}
        if event_type.startswith("transcription."):
            meeting_id = ids.transcription
            subject = meeting_id
        elif event_type.startswith("room.session."):
            meeting_id = room_session or ids.meeting
            subject = room_session  # without a session id, one room has many sessions: fall back below
            room = ids.room
            if room_session and room:  # the API finds a room session by room name and session id
                hints = {"room_session": room_session, "room": room}
        else:
            meeting_id = ids.transcription or room_session or ids.meeting
            subject = None
        # Everything here is inside the signed string (`t.` + body), so every key below is signed.
        if subject:
            dedupe = f"{event_type}:{subject}"
        elif envelope_id is not None:
            dedupe = f"{event_type}:id:{str(envelope_id)[:150]}"
        else:
            dedupe = f"{event_type}:{meeting_id or '-'}:{content_fingerprint(data)}"
        return WebhookEvent(
            event_type=event_type,
            meeting_id=meeting_id,
            object_id=None,
            dedupe_key=dedupe[:255],
            data={**data, "envelope_id": envelope_id, "created_at": payload.get("createdAt")},
            hints=hints,
        )
