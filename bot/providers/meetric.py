"""Meetric's partner REST API (providers.md §4): `mt_` bearer tokens with scopes, a base under
`/api/v1/rest`, conversations from the last 30 days, at most 25 per page with a cursor, and a
limit of 60 requests a minute per token (429 with `retryAfter` in the body).

Meetric has no todo or topic API; those commands answer with NotSupported, which the bot words.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import httpx

from bot.providers.base import (
    Account,
    Highlight,
    Meeting,
    MeetingSummary,
    NotSupported,
    Page,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Todo,
    Topic,
    Unavailable,
)
from bot.providers.http import (
    DEFAULT_TIMEOUT,
    Pacer,
    RetryPolicy,
    call_with_retries,
    fingerprint,
    get_pacer,
    response_error,
)
from bot.providers.webhooks import parse_iso

log = logging.getLogger(__name__)

RATE_LIMIT = 60  # requests per minute per token (providers.md 4.3; the default, configurable upstream)
PAGE_MAX = 25
REST_PATH = "/api/v1/rest"
RETRYABLE = (RateLimited, Unavailable)


def rest_base(url: str) -> str:
    """MEETRIC_API_URL with or without `/api/v1/rest`: both readings of the setting work."""
    url = url.rstrip("/")
    return url if url.endswith(REST_PATH) else url + REST_PATH


class MeetricProvider:
    name = "meetric"
    display_name = "Meetric"

    def __init__(self, api_key: str, *, base_url: str = "https://app.meetric.com/api/v1/rest",
                 client: httpx.AsyncClient | None = None, max_attempts: int = 3, deadline: float = 10.0,
                 backoff: float = 0.5, max_pacing_wait: float = 10.0, rate_limit: int = RATE_LIMIT,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> None:
        self.base_url = rest_base(base_url)
        self._key = api_key.strip()
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._timeout = timeout
        self._max_pacing_wait = max_pacing_wait
        self._policy = RetryPolicy(max_attempts=max_attempts, deadline=deadline, backoff=backoff)
        self._pacer: Pacer = get_pacer(fingerprint(self._key, "meetric"), rate=rate_limit, burst=10, name="meetric")

    def __repr__(self) -> str:
        return f"MeetricProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ MeetingProvider

    async def check_key(self) -> Account:
        body = await self._get("/account", scope=None)
        data = body if isinstance(body, dict) else {}
        return Account(id=_text(data.get("id")), email=_text(data.get("email")),
                       name=_text(data.get("brand_name") or data.get("name")))

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        params: dict[str, Any] = {"limit": max(1, min(limit, PAGE_MAX))}
        if cursor:
            params["cursor"] = cursor
        body = await self._get("/conversations", scope="conversations", params=params)
        items = _list(body, "conversations")
        pagination = body.get("pagination") if isinstance(body, dict) else None
        next_cursor = None
        if isinstance(pagination, dict):
            next_cursor = _text(pagination.get("next_cursor") or pagination.get("nextCursor")
                                or pagination.get("next"))
        summaries = [_summary(c) for c in items if isinstance(c, dict) and c.get("id")]
        return Page(items=summaries[:limit], next_cursor=next_cursor)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        path = f"/conversations/{quote(str(meeting_id), safe='')}"
        body = await self._get(path, scope="conversations")
        data = body.get("conversation", body) if isinstance(body, dict) else {}
        if not isinstance(data, dict):
            raise Unavailable("meetric: unexpected conversation response", provider="meetric", code="invalid_response")
        summary = _text(data.get("summary"))
        if summary is None:
            summary_body = await self._get(path + "/summary", scope="conversations")
            summary = _text(summary_body.get("summary") if isinstance(summary_body, dict) else summary_body)
        highlights: list[Highlight] = []
        todos: list[Todo] = []
        try:
            insights = await self._get(path + "/insights", scope="insights")
        except PermissionDenied:
            insights = None  # a token without the insights scope still gets its digests
        for index, item in enumerate(_list(insights, "insights")):
            if not isinstance(item, dict):
                continue
            kind = (_text(item.get("type") or item.get("kind")) or "").lower()
            text = _text(item.get("text") or item.get("content") or item.get("title")) or ""
            if not text:
                continue
            if kind in ("action_item", "action", "todo", "next_step", "next_steps"):
                todos.append(Todo(id=_text(item.get("id")) or f"insight-{index}", text=text, meeting_id=meeting_id,
                                  due=_text(item.get("due") or item.get("due_date"))))
            else:
                highlights.append(Highlight(id=_text(item.get("id")) or f"insight-{index}",
                                            title=_text(item.get("title")) or kind.replace("_", " ").capitalize()
                                            or "Insight", meeting_id=meeting_id, insight=text))
        base = _summary(data)
        return Meeting(id=base.id, title=base.title, started_at=base.started_at,
                       duration_seconds=base.duration_seconds, topic=base.topic, recap=summary, minutes=None,
                       highlights=highlights, todos=todos)

    async def list_todos(self) -> list[Todo]:
        raise NotSupported("Meetric has no action-item list in its API; todos come with each meeting's digest.",
                           provider="meetric", code="not_supported")

    async def list_topics(self) -> list[Topic]:
        raise NotSupported("Meetric has no topic list in its API.", provider="meetric", code="not_supported")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # ------------------------------------------------------------------ HTTP

    async def _get(self, path: str, *, scope: str | None, params: dict | None = None) -> Any:
        url = self.base_url + path

        async def attempt(remaining: float) -> Any:
            await self._pacer.acquire(max_wait=min(self._max_pacing_wait, remaining))
            started = time.monotonic()
            response = await self._client.get(url, params=params, timeout=self._timeout,
                                              headers={"Authorization": f"Bearer {self._key}",
                                                       "Accept": "application/json"})
            log.debug("meetric GET %s -> %s in %.0f ms", path, response.status_code,
                      (time.monotonic() - started) * 1000)
            if response.status_code >= 400:
                raise self._error(response, scope)
            try:
                return response.json() if response.content else None
            except ValueError:
                raise Unavailable("meetric: answered with something that is not JSON", provider="meetric",
                                  code="invalid_response", status=response.status_code) from None

        return await call_with_retries(attempt, policy=self._policy, provider="meetric", retry_on=RETRYABLE,
                                       logger=log, what=f"GET {path}")

    def _error(self, response: httpx.Response, scope: str | None) -> ProviderError:
        error = response_error(response, provider="meetric", redact=(self._key,))
        code = (error.code or "").lower()
        if code == "recordings_not_allowed":
            return PermissionDenied("meetric: this token may not read recordings. In Meetric, under Settings → "
                                    "REST API → API Tokens, give it the `recordings` scope and turn on "
                                    "include_recordings.", provider="meetric", code=code, status=error.status)
        if code == "quota_exceeded":
            return RateLimited("meetric: the token's daily quota of conversations is used up; it resets at the "
                               "start of the next day (UTC).", provider="meetric", code=code, status=error.status,
                               retry_after=getattr(error, "retry_after", None))
        if isinstance(error, PermissionDenied) and scope:
            return PermissionDenied(f"meetric: the API token lacks the `{scope}` scope. In Meetric, under "
                                    f"Settings → REST API → API Tokens, create a token with `{scope}` and save it "
                                    "with `/meetings setup`.", provider="meetric", code=code or "missing_scope",
                                    status=error.status)
        return error


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _list(body: Any, inner: str) -> list:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in (inner, "data", "items", "results"):
            if isinstance(body.get(key), list):
                return body[key]
            if isinstance(body.get(key), dict) and isinstance(body[key].get(inner), list):
                return body[key][inner]
    return []



def _summary(data: dict) -> MeetingSummary:
    duration = data.get("duration")
    department = data.get("department") if isinstance(data.get("department"), dict) else None
    title = _text(data.get("title")) or _text(data.get("company")) or "Untitled conversation"
    return MeetingSummary(
        id=str(data.get("id")), title=title, started_at=parse_iso(data.get("date") or data.get("started_at")),
        duration_seconds=int(duration) if isinstance(duration, (int, float)) else None,
        topic=Topic(id=str(department.get("id") or department.get("name")), name=str(department.get("name")))
        if department and department.get("name") else None)
