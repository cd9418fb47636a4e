"""The Whereby Embedded REST API (docs/providers/whereby.md): Bearer key, `{results, cursor}` paging, a
point budget per organization (GET 1, DELETE 2, POST 3 points a request; 100 a minute on Build
plans, 1000 on Grow/Enterprise), and bodiless 401/403/404 answers.

What the bot calls a meeting is a Whereby transcription: it is what has notes. Its id comes in
the `transcription.finished` webhook and in `GET /transcriptions`. A meeting's notes are the
transcription's summary, which the bot has to ask for:

1. `GET /transcriptions/{id}`: still `in_progress` → NotReady (the inbox asks again later).
2. Find the transcription's summary: remembered in this process, else looked up in
   `GET /summaries` (newest sessions first, stopping at sessions older than this one), else
   created with `POST /summaries`. Whereby keeps one summary per transcription and refuses a
   second, so duplicate or racing events (two workers, a webhook and the reconcile job) end up
   with the same summary: a refused create is followed by another look-up. A create is never
   retried after a timeout or 5xx (it may have worked); the next poll looks it up first.
3. `GET /summaries/{id}`: `in_progress` → NotReady; `ready` or `completed` (the docs disagree)
   → the digest; `failed` → the digest without a summary, saying so, with the transcript.
4. The transcript file, through `/transcriptions/{id}/access-link`: a pre-signed storage URL,
   fetched without the API key, and only over https from a public address (bot/providers/downloads.py).

Whereby has no todos, highlights or topics: those commands answer with NotSupported.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, Field

from bot.providers.base import (
    Account,
    AuthError,
    BadRequest,
    Meeting,
    MeetingStatus,
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
from bot.providers.downloads import (
    DownloadFailed,
    DownloadPolicy,
    RefusedDownload,
    fetch_text,
)
from bot.providers.http import (
    DEFAULT_TIMEOUT,
    JsonApi,
    RetryPolicy,
    fingerprint,
    get_pacer,
    get_server_budget,
    parse_retry_after,
    response_error,
    transport_error,
)
from bot.providers.parsing import Id, IsoTime, Lenient, Text, as_object
from bot.providers.parsing import text as clean_text
from bot.providers.whereby_webhooks import room_title

log = logging.getLogger(__name__)

POINTS_PER_MINUTE = 100  # the Build plan; Grow/Enterprise have 1000 (WHEREBY_POINTS_PER_MINUTE)
POINT_COSTS = {"GET": 1, "HEAD": 1, "DELETE": 2, "POST": 3, "PUT": 3, "PATCH": 3}
PAGE_MAX = 100
SUMMARY_SCAN_PAGES = 5  # at most this many pages of /summaries (100 each) per look-up
FINISHED = frozenset({"ready", "completed"})  # the guide says ready, the OpenAPI example completed
FAILED = "failed"
DEFAULT_TEMPLATE = "General Bulleted"
TRANSCRIPT_MAX_CHARS = 200_000
NO_TODOS = ("Whereby has no todos: it makes meeting summaries, not lists of action items. The action items "
            "Whereby writes are in each meeting's summary, in its digest.")

class SummaryIds:
    """Transcription id → summary id, per API key (fingerprinted), shared by every client that uses
    `SUMMARY_IDS`. A new one knows nothing, like a restarted process."""

    MAX = 5000

    def __init__(self) -> None:
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, ident: str, transcription_id: str, summary_id: str) -> None:
        with self._lock:
            self._ids[(ident, transcription_id)] = summary_id
            self._ids.move_to_end((ident, transcription_id))
            while len(self._ids) > self.MAX:
                self._ids.popitem(last=False)

    def recall(self, ident: str, transcription_id: str) -> str | None:
        with self._lock:
            return self._ids.get((ident, transcription_id))

    def forget(self, ident: str, transcription_id: str) -> None:
        with self._lock:
            self._ids.pop((ident, transcription_id), None)


SUMMARY_IDS = SummaryIds()  # the process's own


class WherebyProvider:
    name = "whereby"
    display_name = "Whereby"

    def __init__(self, api_key: str, *, base_url: str = "https://api.whereby.dev/v1",
                 client: httpx.AsyncClient | None = None, points_per_minute: int = POINTS_PER_MINUTE,
                 rate_period: float = 60.0,
                 summary_template: str | None = DEFAULT_TEMPLATE, poll_seconds: float = 30.0,
                 fetch_transcript: bool = True, max_attempts: int = 3, deadline: float = 10.0,
                 backoff: float = 0.5, max_pacing_wait: float = 10.0,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 download_policy: DownloadPolicy | None = None) -> None:
        self._key = api_key.strip()
        self.download_policy = download_policy or DownloadPolicy()  # no private hosts: see downloads.py
        self.summary_template = (summary_template or "").strip() or None
        self.poll_seconds = poll_seconds
        self.fetch_transcript = fetch_transcript
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        # Whereby's budget is per organization, shared by all its keys; the bot can only see the
        # key, so every client for the same key in this process shares one pacer and one budget.
        self._ident = fingerprint(self._key, "whereby")
        # A little under the budget (5%, at least one POST's worth): the server counts a request
        # when it arrives, so network jitter at the edge of its window must not tip it over.
        paced = max(1, points_per_minute - max(POINT_COSTS["POST"], points_per_minute // 20))
        self._api = JsonApi(
            provider="whereby", base_url=base_url, secret=self._key,
            auth_headers={"Authorization": f"Bearer {self._key}"}, client=self._client,
            pacer=get_pacer(self._ident, rate=paced, period=rate_period, burst=max(3, paced // 2), name="whereby"),
            budget=get_server_budget(self._ident, name="whereby"),  # X-RateLimit-Remaining, Retry-After
            policy=RetryPolicy(max_attempts=max_attempts, deadline=deadline, backoff=backoff),
            timeout=timeout, max_pacing_wait=max_pacing_wait, logger=log, costs=POINT_COSTS)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def __repr__(self) -> str:
        return f"WherebyProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ MeetingProvider

    async def check_key(self) -> Account:
        """Whereby has no "who am I"; one transcription read proves the key and its access (1 point)."""
        await self._get("/transcriptions", params={"limit": 1})
        return Account(id=None, email=None, name=None)

    async def list_meetings(self, *, limit: int = 10, cursor: str | None = None) -> Page[MeetingSummary]:
        """Transcriptions, newest session first. Failed ones have nothing to show and are left out."""
        params: dict[str, Any] = {"limit": max(1, min(int(limit), PAGE_MAX)), "sortBy": "startDate:desc"}
        if cursor:
            params["cursor"] = cursor
        body = await self._get("/transcriptions", params=params)
        items = [t for t in _results(body) if t.get("transcriptionId") and _state(t) != FAILED]
        return Page(items=[_meeting_summary(t) for t in items][:limit], next_cursor=_cursor(body))

    async def get_meeting(self, meeting_id: str) -> Meeting:
        transcription = await self._get(f"/transcriptions/{_seg(meeting_id)}")
        if not isinstance(transcription, dict) or not transcription.get("transcriptionId"):
            raise Unavailable("whereby: unexpected transcription response", provider="whereby",
                              code="invalid_response")
        state = _state(transcription)
        if state == FAILED:
            return _meeting(transcription, note="Whereby could not transcribe this meeting, so there are no notes "
                                                "for it.")
        if state not in FINISHED:
            raise NotReady("Whereby is still transcribing this meeting", provider="whereby", code="transcribing",
                           retry_after=self.poll_seconds)
        if (_Transcription.read(transcription).storage_type or "WHEREBY_HOSTED").upper() != "WHEREBY_HOSTED":
            return _meeting(transcription, note="This transcript is kept in your own storage, and Whereby only "
                                                "summarises transcripts it stores, so there is no summary here.")
        try:
            summary = await self._summary_for(transcription)
        except PermissionDenied:
            # Summaries are a closed beta: without them the digest still says when the meeting was
            # and carries the transcript.
            return _meeting(transcription, fetched=await self._transcript(transcription),
                            note="Whereby summaries are not enabled for this organization (they are in beta), so "
                                 "there is only the transcript, behind Full minutes.")
        state = _state(summary)
        if state == FAILED:
            # Terminal. The meeting still gets its digest (so nothing polls or re-queues it), with
            # the transcript and a line saying the summary failed.
            return _meeting(transcription, fetched=await self._transcript(transcription),
                            note="Whereby could not summarise this meeting. The transcript is behind Full minutes.")
        if state not in FINISHED:
            raise NotReady("Whereby is still writing this meeting's summary", provider="whereby",
                           code="summarising", retry_after=self.poll_seconds)
        return _meeting(transcription, minutes=summary_markdown(summary.get("summary")),
                        fetched=await self._transcript(transcription))

    async def routing_meeting(self, meeting_id: str) -> Meeting:
        """What routing rules read (room, times), from the transcription alone: no summary is
        asked for or waited on (`meetings-bot routes explain` changes nothing at Whereby)."""
        transcription = await self._get(f"/transcriptions/{_seg(meeting_id)}")
        if not isinstance(transcription, dict) or not transcription.get("transcriptionId"):
            raise Unavailable("whereby: unexpected transcription response", provider="whereby",
                              code="invalid_response")
        return _meeting(transcription)

    async def meeting_status(self, meeting_id: str, *, hints: Mapping[str, str] | None = None) -> MeetingStatus:
        """A room session (for the room.session.* notes: `hints` carry its room, which the insights
        API needs) or a transcription (for transcription.failed)."""
        hints = hints or {}
        if hints.get("room_session") == meeting_id and hints.get("room"):
            body = await self._get("/insights/room-sessions",
                                   params={"roomName": hints["room"], "roomSessionId": meeting_id})
            found = next((r for r in _results(body) if str(r.get("roomSessionId")) == meeting_id), None)
            if found is None:
                raise NotFound("whereby: no such room session", provider="whereby", code="not_found")
            session = _RoomSession.read(found)
            return MeetingStatus(id=meeting_id, title=room_title(session.room_name) or "Whereby meeting",
                                 started_at=session.started_at, ended_at=session.ended_at)
        transcription = await self._get(f"/transcriptions/{_seg(meeting_id)}")
        if not isinstance(transcription, dict) or not transcription.get("transcriptionId"):
            raise Unavailable("whereby: unexpected transcription response", provider="whereby",
                              code="invalid_response")
        base = _meeting_summary(transcription)
        _start, end, _duration = _times(transcription)
        return MeetingStatus(id=base.id, title=base.title, started_at=base.started_at, ended_at=end,
                             failed=_state(transcription) == FAILED)

    async def list_todos(self) -> list[Todo]:
        raise NotSupported(NO_TODOS, provider="whereby", code="not_supported")

    async def list_topics(self) -> list[Topic]:
        raise NotSupported("Whereby has no topics; meetings are listed by room.", provider="whereby",
                           code="not_supported")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # ------------------------------------------------------------------ summaries

    async def _summary_for(self, transcription: dict) -> dict:
        """The transcription's summary, created if it has none; never a second one."""
        tid = str(transcription["transcriptionId"])
        known = SUMMARY_IDS.recall(self._ident, tid)
        if known:
            try:
                return await self._get(f"/summaries/{_seg(known)}")
            except NotFound:
                SUMMARY_IDS.forget(self._ident, tid)  # deleted in Whereby since: look again
        found = await self._find_summary(transcription)
        if found is not None:
            return found
        try:
            created = await self._api.request(
                "POST", "/summaries", json=self._create_body(tid), error=self._error,
                retry_on=(RateLimited,))  # a 5xx or timeout may still have created it: no blind retry
        except BadRequest:
            # Most likely a summary made meanwhile by another worker (Whereby allows one per
            # transcription; the error code for that is undocumented).
            found = await self._find_summary(transcription)
            if found is None:
                raise
            return found
        summary_id = clean_text(created.get("summaryId")) if isinstance(created, dict) else None
        if not summary_id:
            raise Unavailable("whereby: creating the summary gave no summaryId", provider="whereby",
                              code="invalid_response")
        log.info("whereby: summary %s started for transcription %s", summary_id, tid)
        SUMMARY_IDS.remember(self._ident, tid, summary_id)
        return {"summaryId": summary_id, "transcriptionId": tid, "state": "in_progress"}

    def _create_body(self, transcription_id: str) -> dict:
        body = {"transcriptionId": transcription_id}
        if self.summary_template:
            body["template"] = self.summary_template
        return body

    async def _find_summary(self, transcription: dict) -> dict | None:
        """Look the summary up by transcription in `GET /summaries`, newest sessions first; stop at
        sessions that started before this one (its summary cannot be further down)."""
        tid = str(transcription["transcriptionId"])
        since = _Transcription.read(transcription).start
        cursor = None
        for _page in range(SUMMARY_SCAN_PAGES):
            params: dict[str, Any] = {"limit": PAGE_MAX, "sortBy": "startDate:desc"}
            if cursor:
                params["cursor"] = cursor
            body = await self._get("/summaries", params=params)
            results = _results(body)
            for summary in results:
                if str(summary.get("transcriptionId")) == tid and summary.get("summaryId"):
                    SUMMARY_IDS.remember(self._ident, tid, str(summary["summaryId"]))
                    return summary
            cursor = _cursor(body)
            oldest = _Transcription.read(results[-1]).start if results else None
            if cursor is None or (since and oldest and _aware(oldest) < _aware(since)):
                return None
        log.warning("whereby: no summary found for %s in %d pages of summaries", tid, SUMMARY_SCAN_PAGES)
        return None

    # ------------------------------------------------------------------ transcript

    async def _transcript(self, transcription: dict) -> tuple[str | None, str | None]:
        """(the transcript file, None), or (None, why not) for the minutes modal. Optional: a
        failure here never blocks a digest. The file comes from a pre-signed storage link, fetched
        without the API key (it must not leave for storage) and only from a public https host
        (bot/providers/downloads.py)."""
        if not self.fetch_transcript:
            return None, None
        tid = _seg(str(transcription["transcriptionId"]))
        try:
            link = await self._get(f"/transcriptions/{tid}/access-link", params={"validForSeconds": 300})
            url = clean_text(link.get("accessLink")) if isinstance(link, dict) else None
            if not url:
                return None, None
            return transcript_text(await fetch_text(self._client, url, policy=self.download_policy)), None
        except RefusedDownload as refused:
            log.warning("whereby: transcript of %s not fetched: %s", tid, refused.reason)
            return None, f"The transcript was not fetched: {refused.reason}."
        except DownloadFailed as failed:
            log.info("whereby: transcript download of %s answered %s", tid, failed.status)
            return None, None
        except (ProviderError, httpx.HTTPError, TimeoutError) as exc:
            if isinstance(exc, (httpx.HTTPError, TimeoutError)):
                exc = transport_error(exc, provider="whereby")
            log.info("whereby: transcript of %s skipped (%s)", tid, exc.code or type(exc).__name__)
            return None, None

    # ------------------------------------------------------------------ HTTP

    async def _get(self, path: str, *, params: dict | None = None) -> Any:
        return await self._api.request("GET", path, params=params, error=self._error)

    def _error(self, response: httpx.Response) -> ProviderError:
        """Whereby's errors have no body, except the 429's `{error, data:{msLeft}}`; the wording
        comes from the status."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        said = clean_text(body.get("error")) if isinstance(body, dict) and isinstance(body.get("error"), str) else None
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            data = as_object(body.get("data")) if isinstance(body, dict) else {}
            if wait is None and isinstance(data.get("msLeft"), (int, float)):
                wait = max(0.0, data["msLeft"] / 1000)
            return RateLimited("whereby: the organization's API points for this minute are used up",
                               provider="whereby", code="rate_limited", status=status, retry_after=wait)
        if status == 401:
            return AuthError("whereby: the API key is missing or invalid", provider="whereby",
                             code="unauthorized", status=status)
        if status == 403:
            what = ("summaries are in beta and need Whereby to enable them for the organization"
                    if "/summaries" in str(response.request.url) else "the plan does not include this")
            return PermissionDenied(what, provider="whereby", code="forbidden", status=status)
        if status == 404:
            return NotFound(f"whereby: {said or 'not found'}", provider="whereby", code="not_found", status=status)
        return response_error(response, provider="whereby", redact=(self._key,))


# --------------------------------------------------------------------------- parsing


def _seg(value: str) -> str:
    return quote(str(value), safe="")


class _Transcription(Lenient):
    """A transcription as W-OAS spells it (and a summary, which has the same dates and state)."""

    empty_is_absent = True
    id: Id = Field("", validation_alias="transcriptionId")
    room_name: Text = Field(None, validation_alias="roomName")
    start: IsoTime = Field(None, validation_alias="startDate")
    end: IsoTime = Field(None, validation_alias="endDate")
    duration: Any = Field(None, validation_alias="durationInSeconds")
    state: Text = Field(None, validation_alias=AliasChoices("state", "status"))
    storage_type: Text = Field(None, validation_alias="storageType")
    language: Text = None  # due dates are read in it (issue 12)


class _RoomSession(Lenient):
    room_name: Text = Field(None, validation_alias="roomName")
    started_at: IsoTime = Field(None, validation_alias="startedAt")
    ended_at: IsoTime = Field(None, validation_alias="endedAt")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _state(obj: Any) -> str:
    return (_Transcription.read(obj).state or "").lower()


def _results(body: Any) -> list[dict]:
    results = body.get("results") if isinstance(body, dict) else body
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _cursor(body: Any) -> str | None:
    return clean_text(body.get("cursor")) if isinstance(body, dict) else None


def _times(t: dict) -> tuple[datetime | None, datetime | None, int | None]:
    fields = _Transcription.read(t)
    start, end, seconds = fields.start, fields.end, fields.duration
    duration = int(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None
    if duration is None and start and end and end >= start:
        duration = int((end - start).total_seconds())
    if end is None and start and duration is not None:
        end = start + timedelta(seconds=duration)
    return start, end, duration


def _meeting_summary(t: dict) -> MeetingSummary:
    start, _end, duration = _times(t)
    return MeetingSummary(id=str(t["transcriptionId"]),
                          title=room_title(_Transcription.read(t).room_name) or "Whereby meeting",
                          started_at=start, duration_seconds=duration)


def _meeting(t: dict, *, minutes: str | None = None, fetched: tuple[str | None, str | None] = (None, None),
             note: str | None = None) -> Meeting:
    """`fetched` is the transcript and, when it could not be fetched, the sentence saying why."""
    base = _meeting_summary(t)
    _start, end, _duration = _times(t)
    transcript, transcript_note = fetched
    return Meeting(id=base.id, title=base.title, started_at=base.started_at, duration_seconds=base.duration_seconds,
                   ended_at=end, recap=note, minutes=minutes, transcript=transcript, transcript_note=transcript_note,
                   language=_Transcription.read(t).language,  # due dates' language (issue 12)
                   **routing_facts(t))


_SOAP_TITLES = {"chief_complaint": "Chief complaint", "subjective": "Subjective", "objective": "Objective",
                "assessment": "Assessment", "plan": "Plan", "medications": "Medications", "allergies": "Allergies"}


def summary_markdown(value: Any) -> str | None:
    """A summary object as Markdown: `summary.summary` (bulleted or narrative text with sections),
    then the SOAP or Extended SOAP sections of the medical templates."""
    if isinstance(value, str):
        return value.strip() or None
    if not isinstance(value, dict):
        return None
    parts: list[str] = []
    if text := clean_text(value.get("summary")):
        parts.append(_headings(text))
    for key in ("SOAP", "extended_SOAP"):
        sections = value.get(key)
        if isinstance(sections, dict):
            for name, body in sections.items():
                if body_text := clean_text(body):
                    parts.append(f"## {_SOAP_TITLES.get(name, name.replace('_', ' ').capitalize())}\n{body_text}")
    return "\n\n".join(parts) or None


_BULLET = re.compile(r"\s*(?:[-*•]|\d+[.)])\s+")


def _headings(text: str) -> str:
    """Whereby writes section names as bare lines ("Key Points Discussed" above its bullets):
    a short line that is not a bullet, does not end a sentence and is followed by bullets
    becomes a Markdown heading, so the digest shows it as one."""
    lines = text.replace("\r\n", "\n").split("\n")
    out = []
    for index, line in enumerate(lines):
        following = next((n for n in lines[index + 1:] if n.strip()), "")
        bare = line.strip()
        if (bare and len(bare) <= 60 and not bare.startswith("#") and not _BULLET.match(line)
                and not bare.endswith((".", "!", "?")) and _BULLET.match(following)):
            out.append(f"## {bare.rstrip(':')}")
        else:
            out.append(line)
    return "\n".join(out)


_EMPHASIS = re.compile(r"\*\*([^*\n]+)\*\*")


def transcript_text(markdown: str | None) -> str | None:
    """Whereby's transcript file (Markdown) as plain lines: headings and bold markers dropped."""
    if not markdown:
        return None
    lines = []
    for line in markdown.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        lines.append(_EMPHASIS.sub(r"\1", stripped))
    text = "\n".join(lines).strip()
    return text[:TRANSCRIPT_MAX_CHARS] or None


# ------------------------------------------------------------------ routing facts (bot/services/routing.py)
def routing_facts(t: dict) -> dict:
    """The room name is Whereby's category; transcriptions do not say who took part."""
    room = (_Transcription.read(t).room_name or "").strip("/")
    return {"categories": (room,) if room else ()}
