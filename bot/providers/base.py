"""What every meeting-notes provider gives the bot: domain models, typed errors, one interface.

The slash commands, digests and todo threads speak only these types, so Meetric, Harmony and
Whereby plug in by implementing `MeetingProvider` without touching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


# --------------------------------------------------------------------------- domain models


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    description: str | None = None
    session_count: int | None = None
    last_session_at: datetime | None = None


@dataclass(frozen=True)
class Highlight:
    id: str
    title: str
    meeting_id: str | None = None
    quote: str | None = None  # the cleaned quote where the provider has one, else the raw one
    main_idea: str | None = None
    insight: str | None = None
    at: datetime | None = None  # wall-clock time of the highlight
    offset_seconds: int | None = None  # position in the recording


@dataclass(frozen=True)
class Person:
    """Someone a provider names: a todo's owner hint or a meeting's participant. Either part may be
    missing; neither is checked here (bot/services/owners.py matches them to Slack members)."""

    name: str | None = None
    email: str | None = None


Participant = Person  # a meeting's participant is a Person too (routing's name for it)


@dataclass(frozen=True)
class Todo:
    id: str
    text: str
    meeting_id: str | None = None
    due: str | None = None  # free text exactly as the provider gives it ("Tomorrow", "2026-03-10")
    completed: bool = False
    topic: Topic | None = None
    # Who the provider says owns it (assignee, owner, assignee suggestions…), in its order.
    # Names in the todo's own text ("Anna will…") are read later, by bot/services/owner_hints.py.
    owner_hints: tuple[Person, ...] = ()


@dataclass(frozen=True)
class MeetingSummary:
    """A meeting as it appears in a list: enough for one line and a Show button."""

    id: str
    title: str
    started_at: datetime | None = None
    duration_seconds: int | None = None
    topic: Topic | None = None


@dataclass(frozen=True)
class Meeting(MeetingSummary):
    """A meeting with its content."""

    ended_at: datetime | None = None
    recap: str | None = None
    minutes: str | None = None  # Markdown
    highlights: list[Highlight] = field(default_factory=list)
    todos: list[Todo] = field(default_factory=list)
    url: str | None = None
    transcript: str | None = None  # plain text, one "Speaker: words" line per turn, where fetched
    # Who was in it (names, emails), the host included. Routing rules count and match them
    # (bot/services/routing.py); owner names are matched among them (bot/services/owners.py).
    # None: the provider does not report it.
    participants: tuple[Participant, ...] | None = None
    categories: tuple[str, ...] | None = None  # Hedy topic, Meetric department and type, Harmony team, Whereby room
    host_email: str | None = None  # the meeting's own person (Meetric's conversation user): its approver
    language: str | None = None  # the meeting's language as the provider reports it ("de", "es-ES")
    transcript_note: str | None = None  # why there is no transcript, when a user should know (a refused link)


@dataclass(frozen=True)
class MeetingStatus:
    """What the provider's API says about a meeting right now: all a short "started", "ended" or
    "could not process" note may show. Those notes are built from this, never from the webhook
    that prompted them (see WebhookEvent)."""

    id: str
    title: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failed: bool = False  # the provider gave up on the meeting's notes
    failure_reason: str | None = None  # the provider's own words for it, from its API


@dataclass(frozen=True)
class Account:
    id: str | None
    email: str | None
    name: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None  # pass back as `cursor` for the next page; None: no more

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


# --------------------------------------------------------------------------- errors


class ProviderError(Exception):
    """Base of every provider failure. `code` is the provider's own error code, if it sent one."""

    def __init__(self, message: str, *, provider: str = "", code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.status = status


class AuthError(ProviderError):
    """The API key is missing, wrong or revoked (401)."""


class PermissionDenied(ProviderError):
    """The key is valid but lacks a plan, scope or permission (403)."""


class NotFound(ProviderError):
    """The meeting, todo or other object does not exist (404)."""


class RateLimited(ProviderError):
    """The provider (or our own pacing) says: not now. `retry_after` in seconds, when known."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class QuotaExceeded(RateLimited):
    """A daily (or other long) quota is used up; nothing works for this key until `resets_at`."""

    def __init__(self, message: str, *, resets_at: datetime | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.resets_at = resets_at


class Unavailable(ProviderError):
    """The provider is down, timing out or answering 5xx."""

    retry_after: float | None = None  # a 503's Retry-After, when it sent one


class BadRequest(ProviderError):
    """The provider rejected what we sent (400/409/422): a bug or an input it does not accept."""


class NotSupported(ProviderError):
    """This provider has no such data (Whereby has no todos, for example)."""


class NotReady(ProviderError):
    """The meeting's notes are still being made (a summary in progress): ask again after
    `retry_after` seconds. Not a failure: the worker polls without using up attempts, up to
    `inbox.MAX_NOT_READY` after the event arrived."""

    def __init__(self, message: str, *, retry_after: float = 30.0, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


# --------------------------------------------------------------------------- the interface


@runtime_checkable
class MeetingProvider(Protocol):
    """One connection's view of a provider account. Implementations own their HTTP client."""

    name: str  # "hedy", "meetric", ...
    display_name: str  # "Hedy"

    async def check_key(self) -> Account:
        """Raise AuthError for a rejected key; return who the key belongs to."""

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        """Most recent first."""

    async def get_meeting(self, meeting_id: str) -> Meeting: ...

    async def meeting_status(self, meeting_id: str, *, hints: Mapping[str, str] | None = None) -> MeetingStatus:
        """The meeting as the API knows it now, even while its notes are still being made;
        NotFound if the API does not know it. `hints` are the extra look-up keys a webhook gave
        (WebhookEvent.hints)."""

    async def list_todos(self) -> list[Todo]:
        """Every action item the account has, across meetings (completed ones included)."""

    async def list_topics(self) -> list[Topic]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RegistersWebhooks(Protocol):
    """Optional: a provider whose API can create and delete the webhook pointing at the bot
    (Hedy's POST/DELETE /webhooks). Checked with isinstance; the others are set up by hand."""

    def webhook_events(self, posts: set[str]) -> list[str]:
        """The provider's event names for the post options chosen in the setup modal
        ("digest", "todos", "highlights", "started", ...); never empty."""

    async def create_webhook(self, url: str, events: list[str]) -> dict:
        """Register `url` for `events`; returns the provider's webhook object (with its `id`)."""

    async def delete_webhook(self, webhook_id: str) -> None: ...
