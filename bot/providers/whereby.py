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
   fetched without the API key.

Whereby has no todos, highlights or topics: those commands answer with NotSupported.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from bot.providers.base import (
    Account,
    AuthError,
    BadRequest,
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
    parse_retry_after,
    response_error,
    transport_error,
)
from bot.providers.webhooks import parse_iso
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

# transcription id → summary id, per API key (fingerprinted), shared by every client in the process.
_known_summaries: "OrderedDict[tuple[str, str], str]" = OrderedDict()
_known_lock = threading.Lock()
_KNOWN_MAX = 5000


def _remember(ident: str, transcription_id: str, summary_id: str) -> None:
    with _known_lock:
        _known_summaries[(ident, transcription_id)] = summary_id
        _known_summaries.move_to_end((ident, transcription_id))
        while len(_known_summaries) > _KNOWN_MAX:
            _known_summaries.popitem(last=False)


def _recall(ident: str, transcription_id: str) -> str | None:
    with _known_lock:
        return _known_summaries.get((ident, transcription_id))


def _forget(ident: str, transcription_id: str) -> None:
    with _known_lock:
        _known_summaries.pop((ident, transcription_id), None)


def forget_summaries() -> None:
    """Drop what this process remembers (tests: a restart)."""
    with _known_lock:
        _known_summaries.clear()


class WherebyProvider:
    name = "whereby"
    display_name = "Whereby"

    def __init__(self, api_key: str, *, base_url: str = "https://api.whereby.dev/v1",
                 client: httpx.AsyncClient | None = None, points_per_minute: int = POINTS_PER_MINUTE,
                 rate_period: float = 60.0,
                 summary_template: str | None = DEFAULT_TEMPLATE, poll_seconds: float = 30.0,
                 fetch_transcript: bool = True, max_attempts: int = 3, deadline: float = 10.0,
                 backoff: float = 0.5, max_pacing_wait: float = 10.0,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> None:
        self._key = api_key.strip()
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
        if (_text(transcription.get("storageType")) or "WHEREBY_HOSTED").upper() != "WHEREBY_HOSTED":
            return _meeting(transcription, note="This transcript is kept in your own storage, and Whereby only "
                                                "summarises transcripts it stores, so there is no summary here.")
        try:
            summary = await self._summary_for(transcription)
        except PermissionDenied:
            # Summaries are a closed beta: without them the digest still says when the meeting was
            # and carries the transcript.
            return _meeting(transcription, transcript=await self._transcript(transcription),
                            note="Whereby summaries are not enabled for this organization (they are in beta), so "
                                 "there is only the transcript, behind Full minutes.")
        state = _state(summary)
        if state == FAILED:
            # Terminal. The meeting still gets its digest (so nothing polls or re-queues it), with
            # the transcript and a line saying the summary failed.
            return _meeting(transcription, transcript=await self._transcript(transcription),
                            note="Whereby could not summarise this meeting. The transcript is behind Full minutes.")
        if state not in FINISHED:
            raise NotReady("Whereby is still writing this meeting's summary", provider="whereby",
                           code="summarising", retry_after=self.poll_seconds)
        return _meeting(transcription, minutes=summary_markdown(summary.get("summary")),
                        transcript=await self._transcript(transcription))

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
        known = _recall(self._ident, tid)
        if known:
            try:
                return await self._get(f"/summaries/{_seg(known)}")
            except NotFound:
                _forget(self._ident, tid)  # deleted in Whereby since: look again
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
        summary_id = _text(created.get("summaryId")) if isinstance(created, dict) else None
        if not summary_id:
            raise Unavailable("whereby: creating the summary gave no summaryId", provider="whereby",
                              code="invalid_response")
        log.info("whereby: summary %s started for transcription %s", summary_id, tid)
        _remember(self._ident, tid, summary_id)
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
        since = parse_iso(transcription.get("startDate"))
        cursor = None
        for _page in range(SUMMARY_SCAN_PAGES):
            params: dict[str, Any] = {"limit": PAGE_MAX, "sortBy": "startDate:desc"}
            if cursor:
                params["cursor"] = cursor
            body = await self._get("/summaries", params=params)
            results = _results(body)
            for summary in results:
                if str(summary.get("transcriptionId")) == tid and summary.get("summaryId"):
                    _remember(self._ident, tid, str(summary["summaryId"]))
                    return summary
            cursor = _cursor(body)
            oldest = parse_iso(results[-1].get("startDate")) if results else None
            if cursor is None or (since and oldest and _aware(oldest) < _aware(since)):
                return None
        log.warning("whereby: no summary found for %s in %d pages of summaries", tid, SUMMARY_SCAN_PAGES)
        return None

    # ------------------------------------------------------------------ transcript

    async def _transcript(self, transcription: dict) -> str | None:
        """The transcript file, if Whereby stores it. Optional: a failure here never blocks a digest."""
        if not self.fetch_transcript:
            return None
        tid = _seg(str(transcription["transcriptionId"]))
        try:
            link = await self._get(f"/transcriptions/{tid}/access-link", params={"validForSeconds": 300})
            url = _text(link.get("accessLink")) if isinstance(link, dict) else None
            if not url or not url.lower().startswith(("https://", "http://")):
                return None
            # A pre-signed storage URL: no Authorization header (the key must not leave for storage).
            response = await self._client.get(url, timeout=self._timeout, follow_redirects=True)
        except (ProviderError, httpx.HTTPError, TimeoutError) as exc:
            if isinstance(exc, (httpx.HTTPError, TimeoutError)):
                exc = transport_error(exc, provider="whereby")
            log.info("whereby: transcript of %s skipped (%s)", tid, exc.code or type(exc).__name__)
            return None
        if response.status_code >= 400:
            log.info("whereby: transcript download of %s answered %s", tid, response.status_code)
            return None
        return transcript_text(response.text)

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
        said = _text(body.get("error")) if isinstance(body, dict) and isinstance(body.get("error"), str) else None
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            data = body["data"] if isinstance(body, dict) and isinstance(body.get("data"), dict) else {}
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


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _state(obj: Any) -> str:
    return (_text(obj.get("state") or obj.get("status")) or "").lower() if isinstance(obj, dict) else ""


def _results(body: Any) -> list[dict]:
    results = body.get("results") if isinstance(body, dict) else body
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _cursor(body: Any) -> str | None:
    return _text(body.get("cursor")) if isinstance(body, dict) else None


def _times(t: dict) -> tuple[datetime | None, datetime | None, int | None]:
    start, end = parse_iso(t.get("startDate")), parse_iso(t.get("endDate"))
    seconds = t.get("durationInSeconds")
    duration = int(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None
    if duration is None and start and end and end >= start:
        duration = int((end - start).total_seconds())
    if end is None and start and duration is not None:
        end = start + timedelta(seconds=duration)
    return start, end, duration


def _meeting_summary(t: dict) -> MeetingSummary:
    start, _end, duration = _times(t)
    return MeetingSummary(id=str(t["transcriptionId"]), title=room_title(_text(t.get("roomName"))) or "Whereby meeting",
                          started_at=start, duration_seconds=duration)


def _meeting(t: dict, *, minutes: str | None = None, transcript: str | None = None,
             note: str | None = None) -> Meeting:
    base = _meeting_summary(t)
    _start, end, _duration = _times(t)
    return Meeting(id=base.id, title=base.title, started_at=base.started_at, duration_seconds=base.duration_seconds,
                   ended_at=end, recap=note, minutes=minutes, transcript=transcript,
                   language=_text(t.get("language")))  # due dates' language (issue 12)


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
    if text := _text(value.get("summary")):
        parts.append(_headings(text))
    for key in ("SOAP", "extended_SOAP"):
        sections = value.get(key)
        if isinstance(sections, dict):
            for name, body in sections.items():
                if body_text := _text(body):
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
