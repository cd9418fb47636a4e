"""What the bot needs from a provider's webhooks: verify the signature on the raw body, and read
an event's type, the meeting it concerns and a dedupe key. Each provider supplies one of these."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.providers.parsing import parse_iso  # noqa: F401  (its old home: keep importable from here)

# Fields that change between deliveries of the same news (a double-clicked export, a retry).
VOLATILE_FIELDS = frozenset({"exportedAt", "exported_at", "timestamp", "deliveredAt", "sentAt", "sent_at"})


class BadWebhook(ValueError):
    """The body is not a webhook this provider sends (not JSON, not an object, no event name)."""


class Action(StrEnum):
    """What the bot does with an event, whatever the provider calls it."""

    DIGEST = "digest"  # post or refresh the meeting's digest and its thread
    THREAD = "thread"  # news for an existing digest's thread (a todo, a highlight, an insight)
    STARTED = "started"  # a short "meeting started" note, where the connection enables it
    ENDED = "ended"  # a short "meeting ended" note (for providers whose notes come later)
    FAILED = "failed"  # the provider could not process the meeting: a short notice


@dataclass(frozen=True)
class WebhookEvent:
    """What the bot keeps of a webhook: which meeting to look up and how to recognise a copy.

    Deliberately no title, reason or time: anyone holding a webhook URL (a connection without a
    signing secret) can send any body, so nothing the bot posts may come from it. Every message
    is built from the provider's API (bot/delivery/digests.py); the body only says where to look.
    """

    event_type: str
    meeting_id: str | None
    object_id: str | None  # the todo or highlight id, for those events
    dedupe_key: str
    data: dict  # the event's fields, flattened out of any envelope
    # Look-up keys the API needs besides the meeting id (Whereby's room sessions are found by
    # room name). Only ever sent back to the provider's API, never shown.
    hints: dict[str, str] = field(default_factory=dict)


class WebhookAdapter(Protocol):
    # Event type → what to do. Events not listed are stored, acknowledged and ignored.
    @property
    def actions(self) -> Mapping[str, Action]: ...

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...


def signed_dedupe_key(event_type: str | None, subject: str | None, signed: dict) -> str:
    """The dedupe key of an event, made only of what the provider's signature covers: the event
    name as the body gives it, the meeting (or todo, highlight) it concerns, and a hash of the
    body's content. Unsigned headers (delivery ids, a fresh timestamp, an event-name header) are
    left out on purpose, so a captured body resent with new headers is a duplicate (stored once,
    fetched once) however it is dressed."""
    name = (event_type or "unnamed")[:64]
    return f"{name}:{(subject or '-')[:150]}:{content_fingerprint(signed)}"


def content_fingerprint(data: dict) -> str:
    """Hash of what an event says, minus the fields that differ between copies of it."""
    stable = {k: v for k, v in data.items() if k not in VOLATILE_FIELDS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load_object(body: bytes) -> dict:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadWebhook("the body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise BadWebhook("the body is not a JSON object")
    return parsed
