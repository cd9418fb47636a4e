"""The Hedy client (docs/providers/hedy.md).

Hedy's public contract is pieced together from its own integrations and disagrees with itself
in places (envelopes per endpoint, snake_case vs camelCase, the unit of `duration`, whether the
list cursor works), so parsing here is deliberately tolerant and every quirk is commented.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from bot.providers.base import (
    Account,
    Highlight,
    Meeting,
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
    Pacer,
    RetryPolicy,
    call_with_retries,
    error_for_status,
    fingerprint,
    get_pacer,
    response_error,
)
from bot.providers.people import owner_hints, people

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
        self.base_url = base_url.rstrip("/")
        self._key = api_key.strip()  # pasted keys often carry a newline
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._timeout = timeout
        self._max_pacing_wait = max_pacing_wait
        self._policy = RetryPolicy(max_attempts=max_attempts, deadline=deadline, backoff=backoff)
        # Shared by every HedyProvider for this key in the process: Hedy limits per key.
        self._pacer: Pacer = get_pacer(fingerprint(self._key, "hedy"), rate=rate_limit, period=rate_period,
                                       burst=rate_burst, name="hedy")

    def __repr__(self) -> str:
        return f"HedyProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ MeetingProvider

    async def check_key(self) -> Account:
        body = _unwrap(await self._get("/me"))
        body = body if isinstance(body, dict) else {}
        return Account(id=_text(body.get("id")), email=_text(body.get("email")), name=_text(body.get("name")))

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        items, next_cursor = await self._list("/sessions", limit, cursor)
        return Page(items=[_summary(s) for s in items if isinstance(s, dict)], next_cursor=next_cursor)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        body = _unwrap(await self._get(f"/sessions/{_seg(meeting_id)}"))
        if not isinstance(body, dict):
            raise self._bad_shape("session")
        return _meeting(body)

    async def list_todos(self) -> list[Todo]:
        # A bare array (docs/providers/hedy.md, "Envelopes"); no paging parameters work on it.
        return [_todo(t) for t in _items(await self._get("/todos"), "todos") if isinstance(t, dict)]

    async def list_topics(self) -> list[Topic]:
        return [t for t in (_topic(x) for x in _items(await self._get("/topics"), "topics")) if t]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

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
        url = self.base_url + path

        async def attempt(remaining: float) -> Any:
            await self._pacer.acquire(max_wait=min(self._max_pacing_wait, remaining))
            started = time.monotonic()
            # Auth goes on each request, not the client: the client may be shared across keys.
            response = await self._client.request(
                method, url, params=params, json=json, timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._key}", "Accept": "application/json"},
            )
            log.debug("hedy %s %s -> %s in %.0f ms", method, path, response.status_code,
                      (time.monotonic() - started) * 1000)
            return self._parse(response)

        return await call_with_retries(attempt, policy=self._policy, provider="hedy", retry_on=retry_on,
                                       logger=log, what=f"{method} {path}")

    def _parse(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise response_error(response, provider="hedy", redact=(self._key,))
        if not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            # A 2xx that is not JSON is a proxy or maintenance page, not Hedy: treat as an outage.
            raise Unavailable("hedy: answered with something that is not JSON", provider="hedy",
                              code="invalid_response", status=response.status_code) from None
        if isinstance(body, dict) and body.get("success") is False and isinstance(body.get("error"), dict):
            error = body["error"]
            code = _text(error.get("code"))
            status = _CODE_STATUS.get(code or "", 404 if (code or "").endswith("not_found") else 400)
            message = _text(error.get("message")) or code
            if message and self._key:
                message = message.replace(self._key, "[redacted]")
            raise error_for_status(status, provider="hedy", code=code, message=message)
        return body

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


def _pick(d: dict, *names: str) -> Any:
    """The first of several spellings that is present and not null."""
    for name in names:
        value = d.get(name)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    """Strings with content, else None: Hedy sends "" and null interchangeably."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _time(value: Any) -> datetime | None:
    """ISO 8601 (with Z) or epoch seconds/milliseconds; unparseable values become None."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=timezone.utc)
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _duration_seconds(raw: Any, start: datetime | None, end: datetime | None) -> int | None:
    """Seconds. Hedy's own sources disagree on the unit of `duration` (1800 for 30 minutes in
    one, 45 for 45 minutes in another), so the clock wins when both ends are known; otherwise
    values above 360 are taken as seconds (no 6-hour meetings) and smaller ones as minutes."""
    if start and end and end >= start:
        return int((end - start).total_seconds())
    value = _number(raw)
    if value is None or value < 0:
        return None
    return int(value) if value > 360 else int(value * 60)


def _topic(raw: Any) -> Topic | None:
    if isinstance(raw, dict):
        topic_id, name = _text(_pick(raw, "id", "topicId")), _text(_pick(raw, "name", "topicName"))
        if not (either := topic_id or name):
            return None
        count = _number(_pick(raw, "sessionCount", "session_count"))
        return Topic(id=topic_id or either, name=name or either, description=_text(raw.get("description")),
                     session_count=int(count) if count is not None else None,
                     last_session_at=_time(_pick(raw, "lastSessionDate", "last_session_date")))
    if isinstance(raw, str) and raw.strip():
        return Topic(id=raw.strip(), name=raw.strip())
    return None


def _session_topic(d: dict) -> Topic | None:
    """`topic:{id,name}` (REST) or `topicId`/`topicName` (Make app, webhooks), or nothing."""
    topic = _topic(_pick(d, "topic", "topicInfo"))
    if topic:
        return topic
    topic_id, name = _text(_pick(d, "topicId", "topic_id")), _text(_pick(d, "topicName", "topic_name"))
    if either := topic_id or name:
        return Topic(id=topic_id or either, name=name or either)
    return None


def _summary_fields(d: dict) -> dict:
    start = _time(_pick(d, "startTime", "start_time", "createdAt"))
    end = _time(_pick(d, "endTime", "end_time"))
    return {
        "id": str(_pick(d, "sessionId", "id", "session_id") or ""),
        "title": _text(d.get("title")) or "Untitled meeting",
        "started_at": start,
        "duration_seconds": _duration_seconds(d.get("duration"), start, end),
        "topic": _session_topic(d),
    }


def _summary(d: dict) -> MeetingSummary:
    return MeetingSummary(**_summary_fields(d))


def _meeting(d: dict) -> Meeting:
    fields = _summary_fields(d)
    meeting_id = fields["id"]
    highlights = _pick(d, "highlights") or []
    todos = _pick(d, "user_todos", "userTodos", "todos") or []
    return Meeting(
        **fields,
        ended_at=_time(_pick(d, "endTime", "end_time")),
        recap=_text(d.get("recap")),
        minutes=_text(_pick(d, "meeting_minutes", "meetingMinutes", "minutes")),
        highlights=[_highlight(h, meeting_id) for h in highlights if isinstance(h, dict)],
        todos=[_todo(t, meeting_id, fields["topic"]) for t in todos if isinstance(t, dict)],
        url=_text(_pick(d, "url", "sessionUrl")),
        # owners and due dates (issue 12): who was there, and the language due dates are in
        participants=people(_pick(d, "participants", "attendees") or []),
        language=_text(_pick(d, "language", "languageCode", "language_code", "locale")),
    )


def _highlight(d: dict, meeting_id: str | None = None) -> Highlight:
    insight = _pick(d, "aiInsight", "aiInsights", "ai_insight")
    if isinstance(insight, list):  # the plural spelling might be a list
        insight = "\n".join(str(i) for i in insight if i)
    offset_ms = _number(_pick(d, "timeIndex", "time_index"))
    quote_text = _text(_pick(d, "cleanedQuote", "cleaned_quote")) or _text(_pick(d, "rawQuote", "raw_quote"))
    main_idea = _text(_pick(d, "mainIdea", "main_idea"))
    return Highlight(
        id=str(_pick(d, "id", "highlightId", "highlight_id") or ""),
        title=_text(d.get("title")) or main_idea or quote_text or "Highlight",
        meeting_id=_text(_pick(d, "sessionId", "session_id")) or meeting_id,
        quote=quote_text,
        main_idea=main_idea,
        insight=_text(insight),
        at=_time(d.get("timestamp")),
        offset_seconds=int(offset_ms // 1000) if offset_ms is not None else None,  # timeIndex is in ms
    )


def _todo(d: dict, meeting_id: str | None = None, topic: Topic | None = None) -> Todo:
    due = _pick(d, "dueDate", "due_date", "due")
    return Todo(
        id=str(_pick(d, "id", "todoId", "todo_id") or ""),
        text=_text(_pick(d, "text", "title", "description")) or "",
        meeting_id=_text(_pick(d, "sessionId", "session_id")) or meeting_id,
        due=str(due) if due is not None and str(due).strip() else None,  # free text, kept as given
        completed=bool(_pick(d, "completed", "isCompleted", "done")),
        topic=_topic(d.get("topic")) or topic,
        owner_hints=owner_hints(d),  # owners (issue 12)
    )
