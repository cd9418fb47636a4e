"""The Hedy client (docs/providers/hedy.md).

Hedy's public contract is pieced together from its own integrations and disagrees with itself
in places (envelopes per endpoint, snake_case vs camelCase, the unit of `duration`, whether the
list cursor works), so parsing here is deliberately tolerant and every quirk is commented.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, Field

from bot.providers.base import (
    Account,
    Highlight,
    Meeting,
    MeetingStatus,
    MeetingSummary,
    Page,
    ProviderError,
    RateLimited,
    Todo,
    Topic,
    Unavailable,
)
from bot.providers.http import (
    DEFAULT_TIMEOUT,
    RETRYABLE,
    JsonApi,
    RetryPolicy,
    error_for_status,
    fingerprint,
    get_pacer,
)
from bot.providers.parsing import (
    EpochOrIsoTime,
    Id,
    Lenient,
    Number,
    Text,
    number,
    text,
)
from bot.providers.people import MeetingPeople, OwnerFields

log = logging.getLogger(__name__)

RATE_LIMIT = 200  # requests per minute per key (docs/providers/hedy.md, "Rate limits and pacing")
RATE_BURST = 100  # half at once, the rest spread over the minute: see Pacer

# Status a 200-with-`success:false` body maps to, by Hedy error code (docs/providers/hedy.md, "Envelopes").
_CODE_STATUS = {"missing_api_key": 401, "invalid_api_key": 401, "authentication_failed": 401,
                "tier_limit_exceeded": 403, "rate_limit_exceeded": 429, "internal_error": 500}


# What "register the webhook for me" subscribes to, by post option (bot/services/post_options.py).
WEBHOOK_EVENTS = {"digest": ("session.ended", "session.exported"), "todos": ("todo.exported",),
                  "highlights": ("highlight.created",), "started": ("session.created",)}


class HedyProvider:
    name = "hedy"
    display_name = "Hedy"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.hedy.bot",
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 3,
        max_pacing_wait: float = 10.0,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = 10.0,
        backoff: float = 0.5,
        rate_limit: int = RATE_LIMIT,
        rate_period: float = 60.0,
        rate_burst: int | None = RATE_BURST,
    ) -> None:
        # Both "https://api.hedy.bot" and ".../v1" work, so the configured base is used as given.
        self._key = api_key.strip()  # pasted keys often carry a newline
        self._api = JsonApi(
            provider="hedy", base_url=base_url, secret=self._key,
            auth_headers={"Authorization": f"Bearer {self._key}"}, client=client,
            # Shared by every HedyProvider for this key in the process: Hedy limits per key.
            pacer=get_pacer(fingerprint(self._key, "hedy"), rate=rate_limit, period=rate_period, burst=rate_burst,
                            name="hedy"),
            policy=RetryPolicy(max_attempts=max_attempts, deadline=deadline, backoff=backoff),
            timeout=timeout, max_pacing_wait=max_pacing_wait, logger=log, body_error=self._wrapped_error)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    @property
    def pacer(self):
        return self._api.pacer

    def __repr__(self) -> str:
        return f"HedyProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ MeetingProvider

    async def check_key(self) -> Account:
        body = _unwrap(await self._get("/me"))
        account = _Account.read(body)
        return Account(id=account.id, email=account.email, name=account.name)

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        items, next_cursor = await self._list("/sessions", limit, cursor)
        return Page(items=[_summary(s) for s in items if isinstance(s, dict)], next_cursor=next_cursor)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        body = _unwrap(await self._get(f"/sessions/{_seg(meeting_id)}"))
        if not isinstance(body, dict):
            raise self._bad_shape("session")
        return _meeting(body)

    async def meeting_status(self, meeting_id: str, *, hints: Mapping[str, str] | None = None) -> MeetingStatus:
        """A session as GET /sessions/{id} shows it, live ones included (Hedy has no failed state)."""
        meeting = await self.get_meeting(meeting_id)
        return MeetingStatus(id=meeting.id, title=meeting.title, started_at=meeting.started_at,
                             ended_at=meeting.ended_at)

    async def list_todos(self) -> list[Todo]:
        # A bare array (docs/providers/hedy.md, "Envelopes"); no paging parameters work on it.
        return [_todo(t) for t in _items(await self._get("/todos"), "todos") if isinstance(t, dict)]

    async def list_topics(self) -> list[Topic]:
        return [t for t in (_topic(x) for x in _items(await self._get("/topics"), "topics")) if t]

    async def aclose(self) -> None:
        await self._api.aclose()

    # ------------------------------------------------------------------ extras

    async def list_session_todos(self, meeting_id: str) -> list[Todo]:
        # Undocumented shape: bare array, {data:[...]} or {data:{todos:[...]}} (docs/providers/hedy.md, "Envelopes").
        body = await self._get(f"/sessions/{_seg(meeting_id)}/todos")
        return [_todo(t, meeting_id) for t in _items(body, "todos") if isinstance(t, dict)]

    async def list_highlights(self, *, limit: int = 50, cursor: str | None = None) -> Page[Highlight]:
        items, next_cursor = await self._list("/highlights", limit, cursor)
        return Page(items=[_highlight(h) for h in items if isinstance(h, dict)], next_cursor=next_cursor)

    def webhook_events(self, posts: set[str]) -> list[str]:
        """Hedy's events (docs/providers/hedy.md, "Webhooks") for the post options chosen in the setup modal."""
        events = sorted({event for post in posts for event in WEBHOOK_EVENTS.get(post, ())})
        return events or list(WEBHOOK_EVENTS["digest"])

    async def create_webhook(self, url: str, events: list[str]) -> dict:
        """Register a webhook; returns Hedy's `{id,url,events,createdAt,updatedAt}` (no secret:
        the API never returns one, docs/providers/hedy.md, "Webhooks")."""
        # Not idempotent: a 5xx or timeout may still have created it, so only a 429 is retried.
        body = await self._request("POST", "/webhooks", json={"url": url, "events": list(events)},
                                   retry_on=(RateLimited,))
        data = _unwrap(body)
        if not isinstance(data, dict):
            raise self._bad_shape("webhook")
        return data

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._request("DELETE", f"/webhooks/{_seg(webhook_id)}")

    # ------------------------------------------------------------------ HTTP

    async def _list(self, path: str, limit: int, cursor: str | None) -> tuple[list, str | None]:
        """One page of a `{success,data,pagination:{hasMore,next}}` list."""
        params: dict[str, Any] = {"limit": max(1, min(100, int(limit))), "format": "standard"}
        if cursor:
            params["after"] = cursor
        body = await self._get(path, params=params)
        pagination = body.get("pagination") if isinstance(body, dict) else None
        next_cursor = None
        if isinstance(pagination, dict) and pagination.get("hasMore") and pagination.get("next"):
            next_cursor = str(pagination["next"])
        return _items(body, "sessions" if path == "/sessions" else "highlights"), next_cursor

    async def _get(self, path: str, *, params: dict | None = None) -> Any:
        return await self._request("GET", path, params=params)

    async def _request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                       retry_on: tuple[type[BaseException], ...] = RETRYABLE) -> Any:
        return await self._api.request(method, path, params=params, json=json, retry_on=retry_on)

    def _wrapped_error(self, body: Any) -> ProviderError | None:
        """Hedy sometimes answers 200 with `{success:false, error:{code,message}}`: the error its
        code stands for (docs/providers/hedy.md, "Envelopes")."""
        if not (isinstance(body, dict) and body.get("success") is False and isinstance(body.get("error"), dict)):
            return None
        error = body["error"]
        code = text(error.get("code"))
        status = _CODE_STATUS.get(code or "", 404 if (code or "").endswith("not_found") else 400)
        message = text(error.get("message")) or code
        if message and self._key:
            message = message.replace(self._key, "[redacted]")
        return error_for_status(status, provider="hedy", code=code, message=message)

    def _bad_shape(self, what: str) -> ProviderError:
        return Unavailable(f"hedy: unexpected {what} response", provider="hedy", code="invalid_response")


# --------------------------------------------------------------------------- parsing


def _seg(value: str) -> str:
    """An id as one path segment, so an id can never reach another endpoint."""
    return quote(str(value), safe="")


def _unwrap(body: Any) -> Any:
    """Bare objects are the norm for detail endpoints; accept `{success,data}` too."""
    if isinstance(body, dict) and "data" in body and ("success" in body or len(body) == 1):
        return body["data"]
    return body


def _items(body: Any, inner: str) -> list:
    """A list from a bare array, `{data:[...]}` or `{data:{<inner>:[...]}}`."""
    for candidate in (body, _unwrap(body)):
        if isinstance(candidate, list):
            return candidate
        if isinstance(candidate, dict) and isinstance(candidate.get(inner), list):
            return candidate[inner]
    return []


def _spellings(*names: str) -> Any:
    return Field(None, validation_alias=AliasChoices(*names))


class _Account(Lenient):
    id: Text = None
    email: Text = None
    name: Text = None


class _TopicFields(Lenient):
    id: Text = _spellings("id", "topicId")
    name: Text = _spellings("name", "topicName")
    description: Text = None
    session_count: Number = _spellings("sessionCount", "session_count")
    last_session_at: EpochOrIsoTime = _spellings("lastSessionDate", "last_session_date")


class _Session(MeetingPeople):
    """A session as GET /sessions/{id}, the list and the webhooks spell it (REST camelCase, the
    Make app's snake_case)."""

    id: Id = Field("", validation_alias=AliasChoices("sessionId", "id", "session_id"))
    title: Text = None
    start: EpochOrIsoTime = _spellings("startTime", "start_time", "createdAt")
    end: EpochOrIsoTime = _spellings("endTime", "end_time")
    duration: Any = None
    topic: Any = _spellings("topic", "topicInfo")  # `{id,name}` (REST) or a bare name
    topic_id: Text = _spellings("topicId", "topic_id")  # the Make app and webhooks
    topic_name: Text = _spellings("topicName", "topic_name")
    recap: Text = None
    minutes: Text = _spellings("meeting_minutes", "meetingMinutes", "minutes")
    highlights: Any = None
    todos: Any = _spellings("user_todos", "userTodos", "todos")
    url: Text = _spellings("url", "sessionUrl")


class _Highlight(Lenient):
    id: Id = Field("", validation_alias=AliasChoices("id", "highlightId", "highlight_id"))
    title: Text = None
    session_id: Text = _spellings("sessionId", "session_id")
    cleaned_quote: Text = _spellings("cleanedQuote", "cleaned_quote")
    raw_quote: Text = _spellings("rawQuote", "raw_quote")
    main_idea: Text = _spellings("mainIdea", "main_idea")
    insight: Any = _spellings("aiInsight", "aiInsights", "ai_insight")  # the plural spelling might be a list
    time_index_ms: Number = _spellings("timeIndex", "time_index")  # position in the recording, in ms
    timestamp: EpochOrIsoTime = None


class _Todo(OwnerFields):
    id: Id = Field("", validation_alias=AliasChoices("id", "todoId", "todo_id"))
    text: Text = _spellings("text", "title", "description")
    session_id: Text = _spellings("sessionId", "session_id")
    due: Any = _spellings("dueDate", "due_date", "due")
    completed: Any = _spellings("completed", "isCompleted", "done")
    topic: Any = None


def _duration_seconds(raw: Any, start: datetime | None, end: datetime | None) -> int | None:
    """Seconds. Hedy's own sources disagree on the unit of `duration` (1800 for 30 minutes in
    one, 45 for 45 minutes in another), so the clock wins when both ends are known; otherwise
    values above 360 are taken as seconds (no 6-hour meetings) and smaller ones as minutes."""
    if start and end and end >= start:
        return int((end - start).total_seconds())
    value = number(raw)
    if value is None or value < 0:
        return None
    return int(value) if value > 360 else int(value * 60)


def _topic(raw: Any) -> Topic | None:
    if isinstance(raw, dict):
        fields = _TopicFields.read(raw)
        if not fields.id and not fields.name:
            return None
        topic_id, name = fields.id or fields.name, fields.name or fields.id
        count = fields.session_count
        return Topic(id=topic_id or "", name=name or "", description=fields.description,
                     session_count=int(count) if count is not None else None, last_session_at=fields.last_session_at)
    if isinstance(raw, str) and raw.strip():
        return Topic(id=raw.strip(), name=raw.strip())
    return None


def _session_topic(session: _Session) -> Topic | None:
    """`topic:{id,name}` (REST) or `topicId`/`topicName` (Make app, webhooks), or nothing."""
    topic = _topic(session.topic)
    if topic:
        return topic
    if session.topic_id or session.topic_name:
        return Topic(id=session.topic_id or session.topic_name or "", name=session.topic_name or session.topic_id or "")
    return None


def _summary_fields(session: _Session) -> dict:
    return {
        "id": session.id,
        "title": session.title or "Untitled meeting",
        "started_at": session.start,
        "duration_seconds": _duration_seconds(session.duration, session.start, session.end),
        "topic": _session_topic(session),
    }


def _summary(d: dict) -> MeetingSummary:
    return MeetingSummary(**_summary_fields(_Session.read(d)))


def _meeting(d: dict) -> Meeting:
    session = _Session.read(d)
    fields = _summary_fields(session)
    meeting_id = fields["id"]
    highlights = session.highlights if isinstance(session.highlights, list) else []
    todos = session.todos if isinstance(session.todos, list) else []
    return Meeting(
        **fields,
        ended_at=session.end,
        recap=session.recap,
        minutes=session.minutes,
        highlights=[_highlight(h, meeting_id) for h in highlights if isinstance(h, dict)],
        todos=[_todo(t, meeting_id, fields["topic"]) for t in todos if isinstance(t, dict)],
        url=session.url,
        # owners and due dates (issue 12): who was there, and the language due dates are in
        participants=session.participants,
        language=session.language,
        **routing_facts(fields["topic"]),
    )


def _highlight(d: dict, meeting_id: str | None = None) -> Highlight:
    h = _Highlight.read(d)
    insight = h.insight
    if isinstance(insight, list):
        insight = "\n".join(str(i) for i in insight if i)
    quote_text = h.cleaned_quote or h.raw_quote
    offset_ms = h.time_index_ms
    return Highlight(
        id=h.id,
        title=h.title or h.main_idea or quote_text or "Highlight",
        meeting_id=h.session_id or meeting_id,
        quote=quote_text,
        main_idea=h.main_idea,
        insight=text(insight),
        at=h.timestamp,
        offset_seconds=int(offset_ms // 1000) if offset_ms is not None else None,
    )


def _todo(d: dict, meeting_id: str | None = None, topic: Topic | None = None) -> Todo:
    t = _Todo.read(d)
    return Todo(
        id=t.id,
        text=t.text or "",
        meeting_id=t.session_id or meeting_id,
        due=str(t.due) if t.due is not None and str(t.due).strip() else None,  # free text, kept as given
        completed=bool(t.completed),
        topic=_topic(t.topic) or topic,
        owner_hints=t.owners,  # owners (issue 12)
    )


# ------------------------------------------------------------------ routing facts (bot/services/routing.py)
def routing_facts(topic: Topic | None) -> dict:
    """Hedy's topic is the category; sessions do not say who took part."""
    return {"categories": (topic.name,) if topic and topic.name else ()}
