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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
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
    NotFound,
    NotReady,
    NotSupported,
    Page,
    PermissionDenied,
    Person,
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
from bot.providers.parsing import IsoTime, Lenient, Number, Text, number
from bot.providers.parsing import text as clean_text
from bot.providers.people import MeetingPeople, OwnerFields

log = logging.getLogger(__name__)

RATE_LIMIT = 60  # requests a minute: the seed's Plus plan (Max: 300), until the headers say otherwise
PER_PAGE_MAX = 100
NOT_READY_RETRY = 60.0  # seconds between looks at a meeting Harmony is still processing
TRANSCRIPT_MAX_CHARS = 200_000
PROCESSING = frozenset({"processing", "pending", "queued", "uploaded", "uploading", "transcribing", "analyzing",
                        "in_progress", "recording", "started"})
FAILED_STATES = frozenset({"failed", "error"})
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
        items = [m for m in _list(body, self.style.resource) if isinstance(m, dict) and _Meeting.read(m).id]
        summaries = [_summary(m) for m in items]
        more = _has_more(body, page=page, per_page=per_page, count=len(items))
        return Page(items=summaries[:limit], next_cursor=f"{page + 1}:{per_page}" if more else None)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        path = "/" + quote(str(meeting_id), safe="")
        detail = _unwrap(await self._get(path), self.style.resource[:-1])
        if not isinstance(detail, dict) or not detail:
            raise Unavailable("harmony: unexpected meeting response", provider="harmony", code="invalid_response")
        fields = _Meeting.read(detail)
        status = (fields.status or "").lower()
        if status in PROCESSING:
            raise NotReady(f"Harmony is still processing this meeting ({status})", provider="harmony",
                           code="not_ready", retry_after=NOT_READY_RETRY)

        summary = fields.summary
        if not isinstance(summary, (dict, str)) or not summary:
            summary = _unwrap(await self._optional(path + "/summary"), "summary")
        recap, minutes, todos = _summary_parts(summary, meeting_id)

        insights = fields.insights
        if not isinstance(insights, list):
            insights = await self._optional(path + "/insights")
        highlights, insight_todos = _insights(insights, meeting_id)
        known = {t.text.casefold() for t in todos}
        todos += [t for t in insight_todos if t.text.casefold() not in known]

        transcript = fields.transcript
        if not transcript and self.fetch_transcript:
            transcript = await self._optional(path + "/transcript")

        base = _summary(detail)
        ended = _ended(fields, base)
        return Meeting(id=base.id, title=base.title, started_at=base.started_at,
                       duration_seconds=base.duration_seconds, topic=base.topic, ended_at=ended,
                       recap=recap, minutes=minutes, highlights=highlights, todos=todos,
                       url=fields.url, transcript=transcript_text(transcript),
                       language=fields.language,  # due dates' language (issue 12)
                       **routing_facts(fields))

    async def routing_meeting(self, meeting_id: str) -> Meeting:
        """What routing rules read (title, team, people, length), from the meeting's detail alone,
        even while Harmony is still processing it (`meetings-bot routes explain`)."""
        detail = _unwrap(await self._get("/" + quote(str(meeting_id), safe="")), self.style.resource[:-1])
        if not isinstance(detail, dict) or not detail:
            raise Unavailable("harmony: unexpected meeting response", provider="harmony", code="invalid_response")
        fields = _Meeting.read(detail)
        base = _summary(detail)
        return Meeting(id=base.id, title=base.title, started_at=base.started_at,
                       duration_seconds=base.duration_seconds, topic=base.topic, ended_at=_ended(fields, base),
                       url=fields.url, language=fields.language, **routing_facts(fields))

    async def meeting_status(self, meeting_id: str, *, hints: Mapping[str, str] | None = None) -> MeetingStatus:
        """The meeting's detail whatever its processing status: started, still processing or failed."""
        detail = _unwrap(await self._get("/" + quote(str(meeting_id), safe="")), self.style.resource[:-1])
        if not isinstance(detail, dict) or not detail:
            raise Unavailable("harmony: unexpected meeting response", provider="harmony", code="invalid_response")
        fields, base = _Meeting.read(detail), _summary(detail)
        failed = (fields.status or "").lower() in FAILED_STATES
        return MeetingStatus(id=base.id, title=base.title, started_at=base.started_at, ended_at=_ended(fields, base),
                             failed=failed, failure_reason=fields.failure_reason if failed else None)

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
    raw = body.get("pagination") or body.get("meta") if isinstance(body, dict) else None
    if isinstance(raw, dict):
        pagination = _Pagination.read(raw)
        if isinstance(pagination.has_more, bool):
            return pagination.has_more
        if pagination.total_pages is not None:
            return page < pagination.total_pages
        if pagination.total is not None:
            return page * per_page < pagination.total
    return count >= per_page  # no totals: a full page may have a next one


def _spellings(*names: str) -> Any:
    return Field(None, validation_alias=AliasChoices(*names))


class _HarmonyModel(Lenient):
    empty_is_absent = True  # "" means nothing, like null: the next spelling is read


class _Meeting(_HarmonyModel, MeetingPeople):
    """A meeting (seed: `meeting_id`, `title`, `date`) or a conversation (public pages)."""

    id: Text = _spellings("id", "meeting_id", "conversation_id", "meetingId", "conversationId")
    title: Text = _spellings("title", "name", "subject")
    started_at: IsoTime = _spellings("date", "started_at", "start_time", "startTime", "created_at")
    ended_at: IsoTime = _spellings("ended_at", "end_time", "endTime")
    duration: Number = _spellings("duration", "duration_seconds", "durationSeconds")
    team: Any = None  # participants and language: MeetingPeople
    status: Text = _spellings("status", "state")
    failure_reason: Text = _spellings("error_message", "failure_reason", "error", "reason")
    url: Text = _spellings("url", "app_url", "web_url")
    summary: Any = None
    insights: Any = None
    transcript: Any = None


class _Pagination(_HarmonyModel):
    has_more: Any = _spellings("has_more", "hasMore")
    total_pages: Number = _spellings("total_pages", "totalPages")
    total: Number = None


class _Summary(_HarmonyModel):
    recap: Text = _spellings("overview", "summary", "text", "content", "short_summary")
    minutes: Text = _spellings("minutes", "notes", "markdown")
    action_items: Any = _spellings("action_items", "actionItems", "todos", "tasks")


class _Line(_HarmonyModel):
    text: Text = _spellings("text", "content", "title", "description")


class _ActionItem(_Line, OwnerFields):
    id: Text = None
    due: Text = _spellings("due_date", "due", "dueDate")
    completed: Any = _spellings("completed", "done")
    status: Text = None


class _Insight(_HarmonyModel):
    id: Text = None
    kind: Text = _spellings("type", "kind", "category")
    text: Text = _spellings("content", "text", "description", "value", "summary")
    title: Text = None
    quote: Text = _spellings("quote", "excerpt")
    created_at: IsoTime = None
    offset: Any = _spellings("offset_seconds", "time_offset", "timestamp")


class _Turn(_HarmonyModel):
    text: Text = _spellings("text", "content")
    speaker: Text = _spellings("speaker", "speaker_name", "name")


def _ended(fields: _Meeting, base: MeetingSummary):
    if fields.ended_at is None and base.started_at and base.duration_seconds:
        return base.started_at + timedelta(seconds=base.duration_seconds)
    return fields.ended_at


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
    fields = _Meeting.read(d)
    duration = fields.duration
    topic = fields.team if isinstance(fields.team, dict) else None
    return MeetingSummary(
        id=fields.id or "",
        title=fields.title or "Untitled meeting",
        started_at=fields.started_at,
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
        text = _Line.read(item).text if isinstance(item, dict) else clean_text(item)
        if text:
            out.append(text)
    return out


def _todo(item: Any, meeting_id: str, prefix: str) -> Todo | None:
    owners: tuple[Person, ...] = ()
    if isinstance(item, dict):
        action = _ActionItem.read(item)
        text, due, ident, owners = action.text, action.due, action.id, action.owners  # owners: issue 12
        done = bool(action.completed) or (action.status or "").lower() in ("done", "completed")
    else:
        text, due, ident, done = clean_text(item), None, None, False
    if not text:
        return None
    return Todo(id=ident or _stable_id(prefix, text), text=text, meeting_id=meeting_id, due=due, completed=done,
                owner_hints=owners)


_MINUTES_SECTIONS = (("key_points", "Key points"), ("keyPoints", "Key points"), ("highlights", "Key points"),
                     ("decisions", "Decisions"), ("topics", "Topics"), ("next_steps", "Next steps"),
                     ("questions", "Open questions"))


def _summary_parts(summary: Any, meeting_id: str) -> tuple[str | None, str | None, list[Todo]]:
    """(recap, minutes Markdown, todos) from the summary. The seed shows no summary body, so
    (assumption) it is a string, or an object with an overview and lists of key points,
    decisions and action items."""
    if isinstance(summary, str):
        return clean_text(summary), None, []
    if not isinstance(summary, dict):
        return None, None, []
    parts = _Summary.read(summary)
    recap = parts.recap
    sections, seen = [], set()
    for key, heading in _MINUTES_SECTIONS:
        lines = _strings(summary.get(key))
        if lines and heading not in seen:
            seen.add(heading)
            sections.append(f"## {heading}\n" + "\n".join(f"- {line}" for line in lines))
    minutes = parts.minutes
    if minutes is None and sections:
        minutes = "\n\n".join(sections)
    raw_todos = parts.action_items
    todos = [t for t in (_todo(i, meeting_id, "action") for i in (raw_todos if isinstance(raw_todos, list)
                                                                   else _strings(raw_todos))) if t]
    return recap, minutes, todos


def _insights(body: Any, meeting_id: str) -> tuple[list[Highlight], list[Todo]]:
    highlights: list[Highlight] = []
    todos: list[Todo] = []
    for item in _list(body, "insights"):
        if not isinstance(item, dict):
            continue
        insight = _Insight.read(item)
        kind, text, title = (insight.kind or "").lower(), insight.text, insight.title
        if not text and not title:
            continue
        if kind in TODO_KINDS:
            todo = _todo({**item, "text": text or title}, meeting_id, "insight")
            if todo:
                todos.append(todo)
            continue
        quote_text = insight.quote
        highlights.append(Highlight(
            id=insight.id or _stable_id("insight", f"{kind}:{title}:{text}"),
            title=title or kind.replace("_", " ").capitalize() or "Insight", meeting_id=meeting_id,
            quote=quote_text, insight=text if text != title else None, at=insight.created_at,
            offset_seconds=_offset(insight.offset)))
    return highlights, todos


def _offset(value: Any) -> int | None:
    """Seconds into the recording from 12.5 or "00:01:05"."""
    seconds = number(value)
    if seconds is not None:
        return int(seconds)
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
        turn = _Turn.read(item)
        text = turn.text
        if not text:
            continue
        speaker = turn.speaker or "Speaker"
        if speaker == current and lines:
            lines[-1] += " " + text
        else:
            lines.append(f"{speaker}: {text}")
            current = speaker
        size += len(text) + len(speaker) + 3
        if size > TRANSCRIPT_MAX_CHARS:
            break
    return "\n".join(lines)[:TRANSCRIPT_MAX_CHARS] or None


# ------------------------------------------------------------------ routing facts (bot/services/routing.py)
def routing_facts(fields: _Meeting) -> dict:
    """Harmony's participants where the meeting lists them, and its team as the category."""
    team = clean_text(fields.team.get("name")) if isinstance(fields.team, dict) else None
    return {"participants": fields.participants,
            "categories": (team,) if team else (() if isinstance(fields.team, dict) else None)}
