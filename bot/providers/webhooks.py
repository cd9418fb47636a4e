"""What the bot needs from a provider's webhooks: verify the signature on the raw body, and read
an event's type, the meeting it concerns and a dedupe key. Each provider supplies one of these."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Mapping, Protocol

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
    event_type: str
    meeting_id: str | None
    object_id: str | None  # the todo or highlight id, for those events
    dedupe_key: str
    data: dict  # the event's fields, flattened out of any envelope
    title: str | None = None  # for notes posted from the event alone (started, ended, failed)
    started_at: datetime | None = None
    reason: str | None = None  # why the provider failed, for the failed notice
    ended_at: datetime | None = None  # for the "meeting ended" note


class WebhookAdapter(Protocol):
    # Event type → what to do. Events not listed are stored, acknowledged and ignored.
    @property
    def actions(self) -> Mapping[str, Action]: ...

    def verify(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...


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


def parse_iso(value) -> datetime | None:
    """An ISO 8601 timestamp as providers send it ("Z" or an offset); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
