"""Harmony (heyharmony.com), docs/providers/harmony.md.

Nothing of Harmony's API is verified: the seed page marks itself "📝 ASSUMPTION" in places and
newer help pages contradict it. So the contract is a setting, `HARMONY_API_STYLE`:

- `meetings` (the default, the seed's contract): `Authorization: Bearer <key>`, resources under
  `/api/v1/meetings` (`/{id}`, `/{id}/transcript|summary|insights`), `page`/`per_page` paging
  (`per_page` at most 100), errors as `{error:{code,message,details}}`, `X-RateLimit-*` headers.
- `conversations` (the newer public pages): `X-API-Key: lk_…`, resources under `/v1/conversations`
  with the same sub-resources, paging and envelopes (assumption: the public pages show only the
  list call).

Both read the body tolerantly (`{data:…}` or bare, several spellings of each field). Requests
are paced at `HARMONY_RATE_LIMIT` a minute (the seed's Plus plan: 60) and, when Harmony sends
`X-RateLimit-Remaining`/`X-RateLimit-Reset`, by those: the last requests of a window are spread
over what is left of it, and at zero callers wait for the reset.

A meeting becomes a `Meeting`: the summary's overview is the recap, its key points and decisions
the minutes, its action items (and insights typed as action items) the todos, the other
insights highlights, and the transcript is kept for the minutes modal. A meeting still being
processed raises NotReady, so a digest waits for it. Harmony has no todo or topic list.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from bot.providers.base import (
    Account,
    Highlight,
    Meeting,
    MeetingSummary,
    NotFound,
    NotReady,
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
    JsonApi,
    RetryPolicy,
    fingerprint,
    get_pacer,
    get_server_budget,
    parse_reset,
)
from bot.providers.people import owner_hints, people
from bot.providers.webhooks import parse_iso

log = logging.getLogger(__name__)

RATE_LIMIT = 60  # requests a minute: the seed's Plus plan (Max: 300), until the headers say otherwise
PER_PAGE_MAX = 100
NOT_READY_RETRY = 60.0  # seconds between looks at a meeting Harmony is still processing
TRANSCRIPT_MAX_CHARS = 200_000
PROCESSING = frozenset({"processing", "pending", "queued", "uploaded", "uploading", "transcribing", "analyzing",
                        "in_progress", "recording", "started"})
TODO_KINDS = frozenset({"action_item", "action_items", "action", "todo", "task", "next_step", "next_steps",
                        "follow_up", "followup"})


@dataclass(frozen=True)
class ApiStyle:
    name: str
    prefix: str  # path prefix under HARMONY_API_URL
    resource: str  # "meetings" | "conversations"
    header: str  # the auth header
    scheme: str  # "Bearer " or "" (the key as is)
    key_settings: str  # where an admin manages keys, for error sentences


STYLES = {
    "meetings": ApiStyle("meetings", "/api/v1", "meetings", "Authorization", "Bearer ",
                         "Settings → Integrations → API"),
    "conversations": ApiStyle("conversations", "/v1", "conversations", "X-API-Key", "",
                              "Workspace Settings → API"),
}


def api_base(url: str, style: ApiStyle) -> str:
    """HARMONY_API_URL with or without the style's path prefix: both readings work."""
    url = url.rstrip("/")
    return url if url.endswith(style.prefix) else url + style.prefix


class HarmonyProvider:
    name = "harmony"
    display_name = "Harmony"

    def __init__(self, api_key: str, *, base_url: str = "https://api.heyharmony.com", style: str = "meetings",
                 client: httpx.AsyncClient | None = None, max_attempts: int = 3, deadline: float = 10.0,
                 backoff: float = 0.5, max_pacing_wait: float = 10.0, rate_limit: int = RATE_LIMIT,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, fetch_transcript: bool = True) -> None:
        try:
            self.style = STYLES[style.strip().lower()]
        except KeyError:
            raise ValueError(f"HARMONY_API_STYLE must be one of {', '.join(STYLES)}, not {style!r}") from None
        self._key = api_key.strip()
        self.fetch_transcript = fetch_transcript
        ident = fingerprint(self._key, "harmony")  # limits are per key (seed: per plan): clients share them
        self._api = JsonApi(
            provider="harmony", base_url=api_base(base_url, self.style), secret=self._key,
            auth_headers={self.style.header: f"{self.style.scheme}{self._key}"}, client=client,
            pacer=get_pacer(ident, rate=max(1, rate_limit), burst=10, name="harmony"),
            budget=get_server_budget(ident, name="harmony"),
            policy=RetryPolicy(max_attempts=max_attempts, deadline=deadline, backoff=backoff),
            timeout=timeout, max_pacing_wait=max_pacing_wait, logger=log)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    @property
    def budget(self):
        return self._api.budget

    def __repr__(self) -> str:
        return f"HarmonyProvider(base_url={self.base_url!r}, style={self.style.name!r})"

    # ------------------------------------------------------------------ MeetingProvider

    async def check_key(self) -> Account:
        """Harmony documents no "who am I" call, so the key is checked by listing one meeting."""
        await self._get("", params={"page": 1, "per_page": 1})
        return Account(id=None, email=None, name=None)

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        page, per_page = _decode_cursor(cursor, default_per_page=max(1, min(int(limit), PER_PAGE_MAX)))
        body = await self._get("", params={"page": page, "per_page": per_page})
        items = [m for m in _list(body, self.style.resource) if isinstance(m, dict) and _id(m)]
        summaries = [_summary(m) for m in items]
        more = _has_more(body, page=page, per_page=per_page, count=len(items))
        return Page(items=summaries[:limit], next_cursor=f"{page + 1}:{per_page}" if more else None)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        path = "/" + quote(str(meeting_id), safe="")
        detail = _unwrap(await self._get(path), self.style.resource[:-1])
        if not isinstance(detail, dict) or not detail:
            raise Unavailable("harmony: unexpected meeting response", provider="harmony", code="invalid_response")
        status = (_text(detail.get("status") or detail.get("state")) or "").lower()
        if status in PROCESSING:
            raise NotReady(f"Harmony is still processing this meeting ({status})", provider="harmony",
                           code="not_ready", retry_after=NOT_READY_RETRY)

        summary = detail.get("summary")
        if not isinstance(summary, (dict, str)) or not summary:
            summary = _unwrap(await self._optional(path + "/summary"), "summary")
        recap, minutes, todos = _summary_parts(summary, meeting_id)

        insights = detail.get("insights")
        if not isinstance(insights, list):
            insights = await self._optional(path + "/insights")
        highlights, insight_todos = _insights(insights, meeting_id)
        known = {t.text.casefold() for t in todos}
        todos += [t for t in insight_todos if t.text.casefold() not in known]

        transcript = detail.get("transcript")
        if not transcript and self.fetch_transcript:
            transcript = await self._optional(path + "/transcript")

        base = _summary(detail)
        ended = parse_iso(_pick(detail, "ended_at", "end_time", "endTime"))
        if ended is None and base.started_at and base.duration_seconds:
            ended = base.started_at + timedelta(seconds=base.duration_seconds)
        return Meeting(id=base.id, title=base.title, started_at=base.started_at,
                       duration_seconds=base.duration_seconds, topic=base.topic, ended_at=ended,
                       recap=recap, minutes=minutes, highlights=highlights, todos=todos,
                       url=_text(_pick(detail, "url", "app_url", "web_url")), transcript=transcript_text(transcript),
                       # owners and due dates (issue 12)
                       participants=people(_pick(detail, "participants", "attendees") or []),
                       language=_text(_pick(detail, "language", "language_code", "locale")))

    async def list_todos(self) -> list[Todo]:
        raise NotSupported("Harmony has no action-item list in its API; todos come with each meeting's digest.",
                           provider="harmony", code="not_supported")

    async def list_topics(self) -> list[Topic]:
        raise NotSupported("Harmony has no topic list in its API.", provider="harmony", code="not_supported")

    async def aclose(self) -> None:
        await self._api.aclose()

    # ------------------------------------------------------------------ HTTP

    async def _get(self, path: str, *, params: dict | None = None) -> Any:
        return await self._api.request("GET", f"/{self.style.resource}{path}", params=params, error=self._error)

    async def _optional(self, path: str) -> Any:
        """A part of a meeting that may not exist (404) or that the key's role may not read (403)."""
        try:
            return await self._get(path)
        except (PermissionDenied, NotFound) as exc:
            log.info("harmony: %s skipped (%s)", path.rsplit("/", 1)[-1], exc.code or exc.status)
            return None

    def _error(self, response: httpx.Response) -> ProviderError:
        error = self._api.default_error(response)
        if isinstance(error, PermissionDenied):
            return PermissionDenied(
                f"the API key may not read {self.style.resource} (Harmony says: {error.message.split(': ', 1)[-1]}); "
                f"in Harmony, under {self.style.key_settings}, use a key whose role can read them (API access also "
                "depends on the plan)", provider="harmony", code=error.code or "forbidden", status=error.status)
        if isinstance(error, RateLimited) and error.retry_after is None:
            reset = parse_reset(response.headers.get("X-RateLimit-Reset"))
            if reset is not None:
                error.retry_after = max(0.0, reset - time.time())
        return error


# --------------------------------------------------------------------------- parsing


def _decode_cursor(cursor: str | None, *, default_per_page: int) -> tuple[int, int]:
    """Our cursor is "page:per_page", so every page of one listing has the same size."""
    if cursor:
        page, _, size = cursor.partition(":")
        try:
            return max(1, int(page)), max(1, min(int(size or default_per_page), PER_PAGE_MAX))
        except ValueError:
            pass
    return 1, default_per_page


def _has_more(body: Any, *, page: int, per_page: int, count: int) -> bool:
    if count == 0:
        return False
    pagination = body.get("pagination") or body.get("meta") if isinstance(body, dict) else None
    if isinstance(pagination, dict):
        for key in ("has_more", "hasMore"):
            if isinstance(pagination.get(key), bool):
                return pagination[key]
        pages = _number(pagination.get("total_pages") or pagination.get("totalPages"))
        if pages is not None:
            return page < pages
        total = _number(pagination.get("total"))
        if total is not None:
            return page * per_page < total
    return count >= per_page  # no totals: a full page may have a next one


def _pick(d: dict, *names: str) -> Any:
    for name in names:
        value = d.get(name)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _id(d: dict) -> str | None:
    return _text(_pick(d, "id", "meeting_id", "conversation_id", "meetingId", "conversationId"))


def _unwrap(body: Any, inner: str) -> Any:
    if isinstance(body, dict):
        for key in ("data", inner):
            if isinstance(body.get(key), dict):
                return body[key]
    return body


def _list(body: Any, inner: str) -> list:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("data", inner, "items", "results"):
            value = body.get(key)
            if isinstance(value, list):
                return value
            if isinstance(value, dict) and isinstance(value.get(inner), list):
                return value[inner]
    return []


def _summary(d: dict) -> MeetingSummary:
    duration = _number(_pick(d, "duration", "duration_seconds", "durationSeconds"))
    topic = d.get("team") if isinstance(d.get("team"), dict) else None
    return MeetingSummary(
        id=_id(d) or "",
        title=_text(_pick(d, "title", "name", "subject")) or "Untitled meeting",
        started_at=parse_iso(_pick(d, "date", "started_at", "start_time", "startTime", "created_at")),
        duration_seconds=int(duration) if duration is not None and duration >= 0 else None,
        topic=Topic(id=str(topic.get("id") or topic.get("name")), name=str(topic.get("name")))
        if topic and topic.get("name") else None,
    )


def _stable_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def _strings(value: Any) -> list[str]:
    """A list of strings or of objects with text, as lines."""
    if isinstance(value, str):
        return [line.strip(" -•\t") for line in value.splitlines() if line.strip(" -•\t")]
    out = []
    for item in value if isinstance(value, list) else []:
        text = _text(item) if not isinstance(item, dict) else _text(_pick(item, "text", "content", "title",
                                                                           "description"))
        if text:
            out.append(text)
    return out


def _todo(item: Any, meeting_id: str, prefix: str) -> Todo | None:
    if isinstance(item, dict):
        text = _text(_pick(item, "text", "content", "title", "description"))
        due = _text(_pick(item, "due_date", "due", "dueDate"))
        ident = _text(item.get("id"))
        done = bool(_pick(item, "completed", "done")) or (_text(item.get("status")) or "").lower() in ("done",
                                                                                                       "completed")
    else:
        text, due, ident, done = _text(item), None, None, False
    if not text:
        return None
    return Todo(id=ident or _stable_id(prefix, text), text=text, meeting_id=meeting_id, due=due, completed=done,
                owner_hints=owner_hints(item))  # owners (issue 12)


_MINUTES_SECTIONS = (("key_points", "Key points"), ("keyPoints", "Key points"), ("highlights", "Key points"),
                     ("decisions", "Decisions"), ("topics", "Topics"), ("next_steps", "Next steps"),
                     ("questions", "Open questions"))


def _summary_parts(summary: Any, meeting_id: str) -> tuple[str | None, str | None, list[Todo]]:
    """(recap, minutes Markdown, todos) from the summary. The seed shows no summary body, so
    (assumption) it is a string, or an object with an overview and lists of key points,
    decisions and action items."""
    if isinstance(summary, str):
        return _text(summary), None, []
    if not isinstance(summary, dict):
        return None, None, []
    recap = _text(_pick(summary, "overview", "summary", "text", "content", "short_summary"))
    sections, seen = [], set()
    for key, heading in _MINUTES_SECTIONS:
        lines = _strings(summary.get(key))
        if lines and heading not in seen:
            seen.add(heading)
            sections.append(f"## {heading}\n" + "\n".join(f"- {line}" for line in lines))
    minutes = _text(_pick(summary, "minutes", "notes", "markdown"))
    if minutes is None and sections:
        minutes = "\n\n".join(sections)
    raw_todos = _pick(summary, "action_items", "actionItems", "todos", "tasks")
    todos = [t for t in (_todo(i, meeting_id, "action") for i in (raw_todos if isinstance(raw_todos, list)
                                                                   else _strings(raw_todos))) if t]
    return recap, minutes, todos


def _insights(body: Any, meeting_id: str) -> tuple[list[Highlight], list[Todo]]:
    highlights: list[Highlight] = []
    todos: list[Todo] = []
    for item in _list(body, "insights"):
        if not isinstance(item, dict):
            continue
        kind = (_text(_pick(item, "type", "kind", "category")) or "").lower()
        text = _text(_pick(item, "content", "text", "description", "value", "summary"))
        title = _text(item.get("title"))
        if not text and not title:
            continue
        if kind in TODO_KINDS:
            todo = _todo({**item, "text": text or title}, meeting_id, "insight")
            if todo:
                todos.append(todo)
            continue
        quote_text = _text(_pick(item, "quote", "excerpt"))
        highlights.append(Highlight(
            id=_text(item.get("id")) or _stable_id("insight", f"{kind}:{title}:{text}"),
            title=title or kind.replace("_", " ").capitalize() or "Insight", meeting_id=meeting_id,
            quote=quote_text, insight=text if text != title else None, at=parse_iso(item.get("created_at")),
            offset_seconds=_offset(_pick(item, "offset_seconds", "time_offset", "timestamp"))))
    return highlights, todos


def _offset(value: Any) -> int | None:
    """Seconds into the recording from 12.5 or "00:01:05"."""
    number = _number(value)
    if number is not None:
        return int(number)
    if isinstance(value, str) and ":" in value:
        try:
            parts = [float(p) for p in value.split(":")]
        except ValueError:
            return None
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
        return int(seconds)
    return None


def transcript_text(body: Any) -> str | None:
    """The seed's `{meeting_id, transcript:[{speaker, text, timestamp}]}` (or a bare list, or a
    string) as "Speaker: words" lines, consecutive lines of one speaker joined."""
    if isinstance(body, dict):
        inner = body.get("transcript", body.get("data"))
        if isinstance(inner, dict):
            inner = inner.get("segments") or inner.get("entries") or inner.get("sentences") or inner.get("text")
        body = inner
    if isinstance(body, str):
        return body.strip()[:TRANSCRIPT_MAX_CHARS] or None
    lines: list[str] = []
    current: str | None = None
    size = 0
    for item in body if isinstance(body, list) else []:
        if not isinstance(item, dict):
            continue
        text = _text(_pick(item, "text", "content"))
        if not text:
            continue
        speaker = _text(_pick(item, "speaker", "speaker_name", "name")) or "Speaker"
        if speaker == current and lines:
            lines[-1] += " " + text
        else:
            lines.append(f"{speaker}: {text}")
            current = speaker
        size += len(text) + len(speaker) + 3
        if size > TRANSCRIPT_MAX_CHARS:
            break
    return "\n".join(lines)[:TRANSCRIPT_MAX_CHARS] or None
