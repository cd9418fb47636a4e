"""Meetric's partner REST API (docs/providers/meetric.md): `mt_` bearer tokens with scopes, a base
under `/api/v1/rest`, conversations from the last 30 days, at most 25 per page with
`pagination.next_cursor`, a limit of 60 requests a minute per token (429 with `Retry-After`, or
`retryAfter` in the body) and a daily quota of unique conversations (403 `quota_exceeded`).

A conversation becomes a `Meeting`: the stored summary is the recap, insights typed as action
items are todos and the other insights highlights, the topics are the minutes, and the
transcript (with the `transcripts` scope) is kept for the minutes modal. Only the
`conversations` scope is required; a token without `insights` or `transcripts` still gets its
digests, just without those parts.

Meetric has no todo or topic API; those commands answer with NotSupported, which the bot words.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
    NotSupported,
    Page,
    PermissionDenied,
    Person,
    ProviderError,
    QuotaExceeded,
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
)
from bot.providers.parsing import Id, IsoTime, Lenient, Text, parse_iso, text
from bot.providers.people import MAX_PARTICIPANTS, OwnerFields, Participants

log = logging.getLogger(__name__)

RATE_LIMIT = 60  # requests per minute per token (docs/providers/meetric.md, "Rate limits and pacing")
PAGE_MAX = 25
REST_PATH = "/api/v1/rest"
TRANSCRIPT_MAX_CHARS = 200_000  # a very long call is cut here: the modal shows far less anyway
TOKEN_SETTINGS = "Settings → REST API → API Tokens"
# Insight types that are things to do (assumption: the public excerpts do not list the types).
TODO_KINDS = frozenset({"action_item", "action_items", "action", "todo", "task", "next_step", "next_steps",
                        "follow_up", "followup"})


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
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, fetch_transcript: bool = True) -> None:
        self._key = api_key.strip()
        self.fetch_transcript = fetch_transcript
        ident = fingerprint(self._key, "meetric")  # Meetric limits per token: every client for it shares these
        self._api = JsonApi(
            provider="meetric", base_url=rest_base(base_url), secret=self._key,
            auth_headers={"Authorization": f"Bearer {self._key}"}, client=client,
            pacer=get_pacer(ident, rate=rate_limit, burst=10, name="meetric"),
            budget=get_server_budget(ident, name="meetric"),  # a 429's Retry-After holds every caller
            policy=RetryPolicy(max_attempts=max_attempts, deadline=deadline, backoff=backoff),
            timeout=timeout, max_pacing_wait=max_pacing_wait, logger=log)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def __repr__(self) -> str:
        return f"MeetricProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ MeetingProvider

    async def check_key(self) -> Account:
        """`/account` needs no scope, so a token is also asked for one conversation: a token
        without the `conversations` scope is refused here, with the scope named, not at the
        first digest."""
        body = await self._get("/account", scope=None)
        account = _Account.read(body)
        await self._get("/conversations", scope="conversations", params={"limit": 1})
        return Account(id=account.id, email=account.email, name=account.name)

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        params: dict[str, Any] = {"limit": max(1, min(int(limit), PAGE_MAX))}
        if cursor:
            params["cursor"] = cursor
        body = await self._get("/conversations", scope="conversations", params=params)
        pagination = _Pagination.read(body.get("pagination") if isinstance(body, dict) else None)
        next_cursor = None if pagination.has_more is False else pagination.next_cursor
        summaries = [_summary(c) for c in _list(body, "conversations") if isinstance(c, dict) and c.get("id")]
        return Page(items=summaries[:limit], next_cursor=next_cursor)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        path = f"/conversations/{quote(str(meeting_id), safe='')}"
        body = await self._get(path, scope="conversations")
        data = _unwrap(body, "conversation")
        if not isinstance(data, dict) or not data:
            raise Unavailable("meetric: unexpected conversation response", provider="meetric", code="invalid_response")
        conversation = _Conversation.read(data)

        summary = _summary_text(conversation.summary)
        if summary is None:
            summary = _summary_text(_unwrap(await self._optional(path + "/summary", "conversations"), "summary"))

        insights = conversation.insights
        if not isinstance(insights, (list, dict)):
            insights = await self._optional(path + "/insights", "insights")
        highlights, todos, topics = _insights(insights, meeting_id)

        transcript = conversation.transcript
        if not transcript and self.fetch_transcript:
            transcript = await self._optional(path + "/transcript", "transcripts")

        base = _summary(data)
        minutes = "## Topics\n" + "\n".join(f"- {t}" for t in topics) if topics else None
        return Meeting(id=base.id, title=base.title, started_at=base.started_at,
                       duration_seconds=base.duration_seconds, topic=base.topic,
                       ended_at=(base.started_at + timedelta(seconds=base.duration_seconds)
                                 if base.started_at and base.duration_seconds else None),
                       recap=summary, minutes=minutes, highlights=highlights, todos=todos,
                       url=conversation.url, transcript=transcript_text(transcript),
                       language=conversation.language,  # due dates' language (issue 12)
                       **routing_facts(conversation))

    async def meeting_status(self, meeting_id: str, *, hints: Mapping[str, str] | None = None) -> MeetingStatus:
        body = await self._get(f"/conversations/{quote(str(meeting_id), safe='')}", scope="conversations")
        data = _unwrap(body, "conversation")
        if not isinstance(data, dict) or not data:
            raise Unavailable("meetric: unexpected conversation response", provider="meetric", code="invalid_response")
        base = _summary(data)
        return MeetingStatus(id=base.id, title=base.title, started_at=base.started_at,
                             ended_at=(base.started_at + timedelta(seconds=base.duration_seconds)
                                       if base.started_at and base.duration_seconds else None))

    async def list_todos(self) -> list[Todo]:
        raise NotSupported("Meetric has no action-item list in its API; todos come with each meeting's digest.",
                           provider="meetric", code="not_supported")

    async def list_topics(self) -> list[Topic]:
        raise NotSupported("Meetric has no topic list in its API.", provider="meetric", code="not_supported")

    async def aclose(self) -> None:
        await self._api.aclose()

    # ------------------------------------------------------------------ extras

    async def recording_url(self, meeting_id: str) -> str | None:
        """The recording's URL: needs the `recordings` scope and include_recordings on the token
        (the seed's "dual gate"); each missing half is its own sentence."""
        body = await self._get(f"/conversations/{quote(str(meeting_id), safe='')}/recording-url", scope="recordings")
        return _Recording.read(_unwrap(body, "recording")).url

    # ------------------------------------------------------------------ HTTP

    async def _get(self, path: str, *, scope: str | None, params: dict | None = None) -> Any:
        return await self._api.request("GET", path, params=params, error=lambda r: self._error(r, scope))

    async def _optional(self, path: str, scope: str) -> Any:
        """A part of a meeting the token may not be allowed to read, or that may not exist yet."""
        try:
            return await self._get(path, scope=scope)
        except PermissionDenied as exc:
            log.info("meetric: %s skipped (%s)", path.rsplit("/", 1)[-1], exc.code)
            return None
        except NotFound:
            return None

    def _error(self, response: httpx.Response, scope: str | None) -> ProviderError:
        error = self._api.default_error(response)
        code = (error.code or "").lower()
        details = _details(response)
        if code == "recordings_not_allowed":
            return PermissionDenied(f"the API token may not read recordings; in Meetric, under {TOKEN_SETTINGS}, "
                                    "give it the `recordings` scope and turn on include_recordings",
                                    provider="meetric", code=code, status=error.status)
        if code == "quota_exceeded":
            resets_at = quota_reset(details)
            quota = details.get("daily_quota")
            what = f"daily quota of {quota} conversations" if quota else "daily quota of conversations"
            return QuotaExceeded(f"the API token's {what} is used up; it resets at "
                                 f"{resets_at:%H:%M} UTC", provider="meetric", code=code, status=error.status,
                                 resets_at=resets_at,
                                 retry_after=max(0.0, (resets_at - datetime.now(UTC)).total_seconds()))
        if isinstance(error, PermissionDenied):
            needed = text(details.get("required_scope") or details.get("scope")) or scope
            if needed:
                return PermissionDenied(f"the API token lacks the `{needed}` scope; in Meetric, under "
                                        f"{TOKEN_SETTINGS}, create a token with `{needed}` and save it with "
                                        "`/meetings setup`", provider="meetric", code=code or "missing_scope",
                                        status=error.status)
        return error


# --------------------------------------------------------------------------- parsing


def quota_reset(details: dict, now: datetime | None = None) -> datetime:
    """When a used-up daily quota comes back: the time Meetric gives, if it gives one, else the
    next midnight UTC (assumption: the seed says "per day" without naming the clock)."""
    for key in ("resets_at", "reset_at", "quota_resets_at", "resetAt"):
        when = parse_iso(details.get(key))
        if when is not None:
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _details(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    details = body.get("details") if isinstance(body, dict) else None
    return details if isinstance(details, dict) else {}


def _spellings(*names: str) -> Any:
    return Field(None, validation_alias=AliasChoices(*names))


class _MeetricModel(Lenient):
    empty_is_absent = True  # Meetric's bodies use "" for nothing as often as null


class _Account(_MeetricModel):
    id: Text = None
    email: Text = None
    name: Text = _spellings("brand_name", "name")


class _Pagination(_MeetricModel):
    next_cursor: Text = _spellings("next_cursor", "nextCursor", "next")
    has_more: Any = None


class _Conversation(_MeetricModel):
    id: Id = ""
    title: Text = None
    company: Text = None
    date: IsoTime = _spellings("date", "started_at")
    duration: Any = None
    department: Any = None
    summary: Any = None  # a string, or an object carrying one
    insights: Any = None
    transcript: Any = _spellings("transcript", "transcript_data")
    url: Text = _spellings("url", "app_url")
    # the meeting's own person ({id, name, email}) and the others: routing and owners (issue 12)
    user: Participants | None = None
    participants: Participants | None = None
    conversation_type: Text = None
    language: Text = _spellings("language", "locale")


class _SummaryText(_MeetricModel):
    text: Text = _spellings("summary", "text", "content")


class _Recording(_MeetricModel):
    url: Text = _spellings("recording_url", "url")


class _Insight(_MeetricModel, OwnerFields):
    id: Text = None
    kind: Text = _spellings("type", "kind", "category")
    text: Text = _spellings("text", "content", "value", "title")
    title: Text = None
    due: Text = _spellings("due", "due_date")


class _TopicName(_MeetricModel):
    name: Text = _spellings("name", "title")


class _Sentence(_MeetricModel):
    text: Text = _spellings("text", "content", "message")
    speaker: Text = _spellings("speaker_name", "speaker", "name")


def _unwrap(body: Any, inner: str) -> Any:
    """`{<inner>: …}` or `{data: …}` around an object, or the bare object."""
    if isinstance(body, dict):
        for key in (inner, "data"):
            if isinstance(body.get(key), dict):
                return body[key]
    return body


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


def _summary_text(value: Any) -> str | None:
    """The stored summary: a string, or an object carrying one."""
    return _SummaryText.read(value).text if isinstance(value, dict) else text(value)


def _stable_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def _insights(body: Any, meeting_id: str) -> tuple[list[Highlight], list[Todo], list[str]]:
    """Insights typed as action items become todos, the others highlights; topics are names."""
    highlights: list[Highlight] = []
    todos: list[Todo] = []
    for item in _list(body, "insights"):
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            continue
        insight = _Insight.read(item)
        kind = (insight.kind or "").lower()
        said = insight.text
        if not said:
            continue
        ident = insight.id or _stable_id("insight", f"{kind}:{said}")
        if kind in TODO_KINDS:
            todos.append(Todo(id=ident, text=said, meeting_id=meeting_id, due=insight.due,
                              owner_hints=insight.owners))  # owners (issue 12)
        else:
            label = insight.title if insight.title != said else None
            highlights.append(Highlight(id=ident, title=label or kind.replace("_", " ").capitalize() or "Insight",
                                        meeting_id=meeting_id, insight=said))
    topics: list[str] = []
    raw_topics = body.get("topics") if isinstance(body, dict) else None
    for topic in raw_topics if isinstance(raw_topics, list) else []:
        name = _TopicName.read(topic).name if isinstance(topic, dict) else text(topic)
        if name and name not in topics:
            topics.append(name)
    return highlights, todos, topics


def transcript_text(body: Any) -> str | None:
    """Sentences as "Speaker: words" lines, consecutive sentences of one speaker joined. Meetric
    nests them under `transcript.sentences` (docs/providers/meetric.md), and says some sources use `messages` or
    `transcript_data`; a plain string passes through."""
    if isinstance(body, str):
        return body.strip()[:TRANSCRIPT_MAX_CHARS] or None
    items = None
    for candidate in (body, _unwrap(body, "transcript"), _unwrap(body, "transcript_data")):
        if isinstance(candidate, list):
            items = candidate
            break
        if isinstance(candidate, dict):
            for key in ("sentences", "messages", "segments", "utterances"):
                if isinstance(candidate.get(key), list):
                    items = candidate[key]
                    break
            if items is None and isinstance(candidate.get("transcript"), str):
                return candidate["transcript"].strip()[:TRANSCRIPT_MAX_CHARS] or None
        if items is not None:
            break
    lines: list[str] = []
    speaker_now: str | None = None
    size = 0
    for item in items or []:
        if not isinstance(item, dict):
            continue
        sentence = _Sentence.read(item)
        if not sentence.text:
            continue
        speaker = sentence.speaker or "Speaker"
        if speaker == speaker_now and lines:
            lines[-1] += " " + sentence.text
        else:
            lines.append(f"{speaker}: {sentence.text}")
            speaker_now = speaker
        size += len(sentence.text) + len(speaker) + 3
        if size > TRANSCRIPT_MAX_CHARS:
            break
    return "\n".join(lines)[:TRANSCRIPT_MAX_CHARS] or None


def _summary(data: dict) -> MeetingSummary:
    conversation = _Conversation.read(data)
    duration = conversation.duration
    department = conversation.department if isinstance(conversation.department, dict) else None
    return MeetingSummary(
        id=conversation.id, title=conversation.title or conversation.company or "Untitled conversation",
        started_at=conversation.date,
        duration_seconds=int(duration) if isinstance(duration, (int, float)) and duration >= 0 else None,
        topic=Topic(id=str(department.get("id") or department.get("name")), name=str(department.get("name")))
        if department and department.get("name") else None)


# ------------------------------------------------------------------ routing facts (bot/services/routing.py)
def routing_facts(conversation: _Conversation) -> dict:
    """Who took part (the conversation's user and its participants), the category (department and
    conversation type) and the meeting's own person, for routing rules."""
    user = conversation.user[0] if conversation.user else None
    department = _TopicName.read(conversation.department)
    categories = tuple(c for c in (department.name, conversation.conversation_type) if c)
    known = conversation.user is not None or conversation.participants is not None
    found: list[Person] = []
    for person in (*(conversation.user or ()), *(conversation.participants or ())):
        if person not in found:  # the user is often among the participants too
            found.append(person)
    return {"participants": tuple(found[:MAX_PARTICIPANTS]) if known else None,
            "categories": categories, "host_email": user.email if user else None}
