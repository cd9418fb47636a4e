"""A loopback stand-in for the Whereby Embedded REST API and its webhooks (docs/providers/whereby.md,
"The stand-in"). Run it with `ThreadedServer(fake.app)`; the API lives under `/v1`
(`fake.api_url`, what WHEREBY_API_URL points at).

- Auth: `Authorization: Bearer <key>`. No or an unknown key → 401, a key in `forbidden_keys` →
  403, an unknown id → 404, all with empty bodies, as W-OAS documents them.
- Meetings: POST → 201 (an `endDate` in the future is required; `hostRoomUrl`/`viewerRoomUrl`
  only when `fields` asks), list, get, DELETE → 204.
- Recordings, transcriptions and summaries: lists as `{results, cursor}` (`cursor` null on the
  last page, `limit` 1–100 and 50 by default, `sortBy field:asc|desc` checked per endpoint, 400
  otherwise; without `sortBy` oldest first). Transcriptions have `state` in_progress → ready /
  failed, and an access link (`{accessLink, expires}` in ms) to a `.md` file the fake serves
  like pre-signed storage: no API key needed, an expired or altered link is 403.
- Summaries: POST → 201 `{summaryId}`, a second one for the same transcription refused
  (`duplicate_summary_status`, 409 by default: the real code is undocumented). A summary starts
  `in_progress` with an empty `summary` and becomes `finished_state` ("ready", or "completed",
  switchable) after `summary_ready_after_polls` GETs of it, or `summary_ready_after_seconds`;
  transcriptions marked `summary_fails` end `failed`. `summaries_enabled=False` → 403 (the beta).
- Points: one budget per organization (every key shares it), `points_per_minute` over a sliding
  minute, GET 1, DELETE 2, POST/PUT 3. Over budget → 429 with `{"error": "Rate limit active for
  throttle key: organization:1", "data": {"msLeft": N}}` and `Retry-After` (seconds),
  `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (an HTTP date). Answers
  carry the `X-RateLimit-*` headers too.
- Insights: `GET /insights/room-sessions` (roomName required) lists the room sessions behind the
  transcriptions, with `startedAt`/`endedAt`.
- Scripted faults (`fail_next`), request records (whether a key came, never the key).
- Webhooks: envelopes `{id, apiVersion:"1.0", createdAt, type, data}` for the events of §3.6,
  signed `Whereby-Signature: t=<secs>,v1=<hex HMAC-SHA256(secret, "{t}.{raw body}")>`; stale
  timestamps on request; delivered with 2 retries on 5xx or a 5 s timeout; duplicates and any
  order are up to the caller (`session_events` gives a session's events in their natural order).
  No summary event: Whereby has none.

State is touched from the test's thread and the server's thread, always under one lock.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

API = "/v1"
DEFAULT_KEY = "whereby_test_key_0123456789abcdef"
COSTS = {"GET": 1, "HEAD": 1, "DELETE": 2, "POST": 3, "PUT": 3, "PATCH": 3}
TEMPLATES = ("General Bulleted", "General Narrative", "SOAP", "Extended SOAP", "Educational Lecture",
             "Educational Tutoring")
SORTABLE = {
    "transcriptions": ("roomName", "startDate", "durationInSeconds"),
    "summaries": ("roomName", "startDate", "durationInSeconds"),
    "recordings": ("roomName", "startDate", "duration", "sizeInMegaBytes"),
}
ROOM_EVENTS = ("room.client.joined", "room.client.left", "room.client.knocked", "room.client.knockCancelled",
               "room.session.started", "room.session.ended")
OTHER_EVENTS = ("transcription.started", "transcription.finished", "transcription.failed", "recording.finished",
                "assistant.requested")

SUMMARY_TEXT = (
    "Agenda\n- Launch plan for the spring release\n- Support rota\n\n"
    "Key Points Discussed\n- The release moves to the 14th so QA can finish the payment flows.\n"
    "- Support needs two more people on the rota during launch week.\n\n"
    "Action Items\n- Maria sends the launch checklist by Friday.\n- Sam books the retro.")
TRANSCRIPT = (
    "# Transcription\n\n"
    "**Maria Lopez** (00:00:03): Let's start with the launch plan.\n"
    "**Sam Patel** (00:00:09): QA needs another week for the payment flows.\n"
    "**Maria Lopez** (00:00:15): Then we move the release to the 14th.\n")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _empty(status: int, headers: dict | None = None) -> Response:
    return Response(status_code=status, headers=headers)


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        return None
    return int(text[2:]) if text.startswith("o:") and text[2:].isdigit() else None


@dataclass
class _Fault:
    status: int
    times: int
    path: str | None
    body: str | None
    retry_after: int | None


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # below /v1
    query: dict
    has_auth: bool
    points: int


class _Front:
    """ASGI wrapper: faults, auth and the point budget before routing; rate headers after."""

    def __init__(self, app, fake: FakeWhereby) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API + "/"):
            await self.app(scope, receive, send)
            return
        denied, headers = self.fake._gate(Request(scope))
        if denied is not None:
            await denied(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start" and headers:
                message = {**message, "headers": [*message.get("headers", []),
                                                  *[(k.lower().encode(), v.encode()) for k, v in headers.items()]]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FakeWhereby:
    def __init__(self, *, api_keys: Iterable[str] = (DEFAULT_KEY,), forbidden_keys: Iterable[str] = (),
                 points_per_minute: int = 1000, summaries_enabled: bool = True, summary_ready_after_polls: int = 2,
                 summary_ready_after_seconds: float | None = None, finished_state: str = "ready",
                 duplicate_summary_status: int = 409, rate_limit_headers: bool = True,
                 subdomain: str = "acme", window_seconds: float = 60.0) -> None:
        self.window_seconds = window_seconds  # the budget's window: a minute (shorter in tests)
        self.api_keys = set(api_keys) | set(forbidden_keys)
        self.forbidden_keys = set(forbidden_keys)
        self.points_per_minute = points_per_minute
        self.summaries_enabled = summaries_enabled
        self.summary_ready_after_polls = summary_ready_after_polls
        self.summary_ready_after_seconds = summary_ready_after_seconds
        self.finished_state = finished_state
        self.duplicate_summary_status = duplicate_summary_status
        self.rate_limit_headers = rate_limit_headers
        self.subdomain = subdomain
        self.url = ""
        self._lock = threading.Lock()
        self._spent: deque[tuple[float, int]] = deque()  # (monotonic time, points) in the last minute
        self._faults: list[_Fault] = []
        self._file_secret = secrets.token_bytes(16)
        self.seen: list[Seen] = []
        self.throttled = 0  # 429s for the point budget (scripted faults not counted)
        self.file_downloads: list[bool] = []  # per transcript download: did it carry an Authorization header?
        self.meetings: dict[str, dict] = {}
        self.recordings: dict[str, dict] = {}
        self.transcriptions: dict[str, dict] = {}
        self.summaries: dict[str, dict] = {}
        self._texts: dict[str, str] = {}  # transcription id → transcript file (Markdown)
        self._plans: dict[str, dict] = {}  # transcription id → {"text", "fails"} for its summary
        self._polls: dict[str, int] = {}
        self._born: dict[str, float] = {}
        # Where access links point (default: this server) and where the file answers with a
        # redirect instead (a list of Location values, one per request): for the download rules.
        self.link_base: str | None = None
        self.file_redirects: list[str] = []
        self.app = _Front(Starlette(routes=[
            Route(API + "/meetings", self._meetings, methods=["GET", "POST"]),
            Route(API + "/meetings/{mid}", self._meeting, methods=["GET", "DELETE"]),
            Route(API + "/recordings", self._recordings),
            Route(API + "/recordings/{rid}", self._recording, methods=["GET", "DELETE"]),
            Route(API + "/transcriptions", self._transcriptions, methods=["GET", "POST"]),
            Route(API + "/transcriptions/{tid}", self._transcription, methods=["GET", "DELETE"]),
            Route(API + "/transcriptions/{tid}/access-link", self._access_link),
            Route(API + "/summaries", self._summaries, methods=["GET", "POST"]),
            Route(API + "/summaries/{sid}", self._summary, methods=["GET", "DELETE"]),
            Route(API + "/insights/room-sessions", self._room_sessions),
            Route("/files/transcriptions/{name}", self._file),
        ]), self)

    @property
    def api_url(self) -> str:
        return self.url + API

    # ------------------------------------------------------------------ data

    def add_session(self, *, room: str | None = None, minutes_ago: float = 90, duration: int = 1800,
                    state: str = "ready", storage: str = "WHEREBY_HOSTED", transcript: str = TRANSCRIPT,
                    summary_text: str = SUMMARY_TEXT, summary_fails: bool = False, summarised: bool = False,
                    tid: str | None = None, kind: str = "LIVE_TRANSCRIPTION") -> dict:
        """A room, one session in it and its transcription (`state`); with `summarised`, a summary
        that is ready already. Returns the transcription as the API shows it."""
        now = datetime.now(UTC)
        start = now - timedelta(minutes=minutes_ago)
        end = start + timedelta(seconds=duration)
        room = "/" + (room or f"room-{uuid.uuid4()}").strip("/")
        meeting_id = str(len(self.meetings) + 1000)
        session_id = str(uuid.uuid4())
        tid = tid or str(uuid.uuid4())
        transcription = {"transcriptionId": tid, "roomSessionId": session_id, "roomName": room,
                         "filename": f"{tid}.md", "startDate": iso(start), "endDate": iso(end), "state": state,
                         "createdAt": iso(end), "durationInSeconds": duration, "type": kind, "storageType": storage}
        with self._lock:
            self.meetings[meeting_id] = {"meetingId": meeting_id, "roomName": room,
                                         "roomUrl": f"https://{self.subdomain}.whereby.com{room}",
                                         "startDate": iso(start), "endDate": iso(end + timedelta(hours=1))}
            self.transcriptions[tid] = transcription
            self._texts[tid] = transcript
            self._plans[tid] = {"text": summary_text, "fails": summary_fails, "meetingId": meeting_id}
        if summarised:
            summary_id = self._create_summary(tid, "General Bulleted")
            with self._lock:
                self._finish(summary_id)
        return copy.deepcopy(transcription)

    def seed_demo(self) -> None:
        """Three summarised meetings of the last days and one that just ended (transcribed, no summary)."""
        for room, days in (("product-sync", 3), ("customer-acme", 2), ("design-review", 1)):
            self.add_session(room=room, minutes_ago=days * 24 * 60, summarised=True)
        self.add_session(room="launch-planning", minutes_ago=40, tid="tr_demo_launch")

    def set_transcript(self, tid: str, text: str) -> None:
        with self._lock:
            self._texts[tid] = text

    def set_state(self, tid: str, state: str) -> None:
        with self._lock:
            self.transcriptions[tid]["state"] = state

    def summaries_of(self, tid: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(s) for s in self.summaries.values() if s["transcriptionId"] == tid]

    def polls(self, summary_id: str) -> int:
        with self._lock:
            return self._polls.get(summary_id, 0)

    def fail_next(self, status: int, times: int = 1, *, path: str | None = None, body: str | None = None,
                  retry_after: int | None = None) -> None:
        """Answer the next `times` API requests (whose path below /v1 starts with `path`) with
        `status`: empty, or `body` as text/html (a proxy's page)."""
        with self._lock:
            self._faults.append(_Fault(status, times, path, body, retry_after))

    def request_count(self, prefix: str = "", method: str | None = None) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.path.startswith(prefix) and method in (None, s.method))

    def points_spent(self) -> int:
        with self._lock:
            return sum(s.points for s in self.seen)

    def exhaust_points(self) -> None:
        """Spend the whole minute's budget, as another app of the organization might."""
        with self._lock:
            self._spent.append((time.monotonic(), self.points_per_minute))

    # ------------------------------------------------------------------ webhooks

    def event(self, type: str, data: dict, *, event_id: str | None = None,
              created_at: datetime | None = None) -> dict:
        return {"id": event_id or secrets.token_hex(32), "apiVersion": "1.0",
                "createdAt": iso(created_at or datetime.now(UTC)), "type": type, "data": data}

    def transcription_event(self, tid: str, type: str = "transcription.finished", **kwargs) -> dict:
        with self._lock:
            t = copy.deepcopy(self.transcriptions[tid])
        data = {"roomName": t["roomName"], "roomSessionId": t["roomSessionId"], "transcriptionId": tid,
                "type": t["type"], "status": {"transcription.started": "in_progress",
                                              "transcription.failed": "failed"}.get(type, "ready")}
        if type == "transcription.finished":
            data.update(filename=t["filename"], storageType=t["storageType"],
                        durationInSeconds=t["durationInSeconds"])
        if type == "transcription.failed":
            data["error"] = "The audio could not be processed"
        return self.event(type, data, **kwargs)

    def room_event(self, tid: str, type: str = "room.session.ended", *, display_name: str = "Maria Lopez",
                   **kwargs) -> dict:
        """An in-room event of the session behind transcription `tid`."""
        with self._lock:
            t = copy.deepcopy(self.transcriptions[tid])
            meeting_id = self._plans[tid]["meetingId"]
        data = {"meetingId": meeting_id, "roomName": t["roomName"], "subdomain": self.subdomain,
                "roomSessionId": t["roomSessionId"]}
        if type.startswith("room.client."):
            data.update(displayName=display_name, participantId=str(uuid.uuid4()), metadata=None, externalId=None)
            if type in ("room.client.joined", "room.client.left"):
                data.update(roleName="host", numClients=2, numClientsByRoleName={"host": 1, "visitor": 1},
                            isDialIn=False)
        return self.event(type, data, **kwargs)

    def session_events(self, tid: str) -> list[dict]:
        """What Whereby sends for one meeting, in the natural order (deliveries may reorder them)."""
        with self._lock:
            start = _parse(self.transcriptions[tid]["startDate"])
            end = _parse(self.transcriptions[tid]["endDate"])
        return [self.room_event(tid, "room.client.joined", created_at=start),
                self.room_event(tid, "room.session.started", created_at=start + timedelta(seconds=5)),
                self.transcription_event(tid, "transcription.started", created_at=start + timedelta(seconds=6)),
                self.room_event(tid, "room.session.ended", created_at=end),
                self.transcription_event(tid, "transcription.finished", created_at=end + timedelta(seconds=40))]

    @staticmethod
    def webhook_request(envelope: dict, *, secret: str, timestamp: float | None = None) -> tuple[bytes, dict]:
        """(body, headers) of one delivery. `timestamp` (unix seconds) defaults to now."""
        body = json.dumps(envelope, separators=(",", ":")).encode()
        stamp = int(time.time() if timestamp is None else timestamp)
        digest = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "Whereby-Signature": f"t={stamp},v1={digest}",
                      "User-Agent": "Whereby-Webhooks (fake)"}

    def send_webhook(self, url: str, envelope: dict, *, secret: str, stale: bool = False, retries: int = 2,
                     timeout: float = 5.0, backoff: float = 0.05) -> list[int]:
        """Deliver like Whereby: re-signed on each attempt (an hour old with `stale`), retried up
        to `retries` times on a 5xx or when no answer comes within `timeout` (status 0), never on
        a 4xx. Returns each attempt's status."""
        statuses: list[int] = []
        with httpx.Client(timeout=timeout) as client:
            for attempt in range(retries + 1):
                body, headers = self.webhook_request(envelope, secret=secret,
                                                     timestamp=time.time() - (3600 if stale else 0))
                try:
                    status = client.post(url, content=body, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                statuses.append(status)
                if 0 < status < 500:
                    break
                time.sleep(backoff * 2 ** attempt)
        return statuses

    # ------------------------------------------------------------------ the gate

    def _gate(self, request: Request) -> tuple[Response | None, dict]:
        path = request.url.path[len(API):]
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        cost = COSTS.get(request.method, 1)
        with self._lock:
            fault = next((f for f in self._faults if f.path is None or path.startswith(f.path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            self._record(request, path, bool(auth), 0)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            if fault.status == 429:
                return self._throttled(fault.retry_after or 1), {}
            if fault.body is not None:
                return Response(fault.body, status_code=fault.status, media_type="text/html", headers=headers), {}
            return _empty(fault.status, headers), {}
        if not key or key not in self.api_keys:
            self._record(request, path, bool(auth), 0)
            return _empty(401), {}
        if key in self.forbidden_keys:
            self._record(request, path, True, 0)
            return _empty(403), {}
        now = time.monotonic()
        with self._lock:
            while self._spent and self._spent[0][0] <= now - self.window_seconds:
                self._spent.popleft()
            used = sum(points for _t, points in self._spent)
            if used + cost > self.points_per_minute:
                wait = (self._spent[0][0] + self.window_seconds - now) if self._spent else 1.0
                limited = True
            else:
                self._spent.append((now, cost))
                used += cost
                wait = (self._spent[0][0] + self.window_seconds - now) if self._spent else self.window_seconds
                limited = False
        self._record(request, path, True, 0 if limited else cost)
        if limited:
            with self._lock:
                self.throttled += 1
            return self._throttled(wait, remaining=self.points_per_minute - used), {}
        headers = self._rate_headers(remaining=self.points_per_minute - used, reset_in=wait)
        return None, headers if self.rate_limit_headers else {}

    def _record(self, request: Request, path: str, has_auth: bool, points: int) -> None:
        with self._lock:
            self.seen.append(Seen(request.method, path, dict(request.query_params), has_auth, points))

    def _rate_headers(self, *, remaining: int, reset_in: float) -> dict:
        reset = datetime.now(UTC) + timedelta(seconds=max(0.0, reset_in))
        return {"X-RateLimit-Limit": str(self.points_per_minute), "X-RateLimit-Remaining": str(max(0, remaining)),
                "X-RateLimit-Reset": format_datetime(reset, usegmt=True)}

    def _throttled(self, wait: float, *, remaining: int = 0) -> JSONResponse:
        headers = {"Retry-After": str(max(1, int(wait + 0.999))), **self._rate_headers(remaining=remaining,
                                                                                        reset_in=wait)}
        return JSONResponse({"error": "Rate limit active for throttle key: organization:1",
                             "data": {"msLeft": int(wait * 1000)}}, status_code=429, headers=headers)

    # ------------------------------------------------------------------ lists

    def _page(self, request: Request, items: list[dict], kind: str | None) -> Response:
        params = request.query_params
        try:
            limit = int(params.get("limit", "50"))
        except ValueError:
            return _bad("limit must be an integer")
        if not 1 <= limit <= 100:
            return _bad("limit must be between 1 and 100")
        sort_by = params.get("sortBy")
        if sort_by:
            field, _, direction = sort_by.partition(":")
            if kind is None or field not in SORTABLE.get(kind, ()) or direction not in ("asc", "desc"):
                return _bad(f"sortBy {sort_by!r} is not supported")
            items = sorted(items, key=lambda x: (x.get(field) is None, x.get(field) or 0), reverse=direction == "desc")
        offset = 0
        if params.get("cursor"):
            parsed = _offset(params["cursor"])
            if parsed is None:
                return _bad("cursor is not valid")
            offset = parsed
        page = items[offset:offset + limit]
        more = offset + limit < len(items)
        return JSONResponse({"results": copy.deepcopy(page), "cursor": _cursor(offset + limit) if more else None})

    async def _json(self, request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"null")
        except ValueError:
            return None

    # ------------------------------------------------------------------ meetings

    async def _meetings(self, request: Request) -> Response:
        if request.method == "GET":
            with self._lock:
                items = list(self.meetings.values())
            return self._page(request, [{k: v for k, v in m.items() if k not in ("hostRoomUrl", "viewerRoomUrl")}
                                        for m in items], None)
        body = await self._json(request)
        if not isinstance(body, dict) or not isinstance(body.get("endDate"), str):
            return _bad("endDate is required")
        try:
            end = _parse(body["endDate"])
        except ValueError:
            return _bad("endDate must be an ISO 8601 date-time")
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        if end < datetime.now(UTC):
            return _bad("endDate must not be in the past")
        prefix = str(body.get("roomNamePrefix") or "")
        room = "/" + prefix + (secrets.token_hex(3) if body.get("roomNamePattern") == "human-short"
                               else str(uuid.uuid4()))
        with self._lock:
            meeting_id = str(len(self.meetings) + 1000)
            meeting = {"meetingId": meeting_id, "roomName": room,
                       "roomUrl": f"https://{self.subdomain}.whereby.com{room}",
                       "startDate": iso(datetime.now(UTC)), "endDate": iso(end)}
            self.meetings[meeting_id] = meeting
        fields = body.get("fields") or []
        out = dict(meeting)
        if "hostRoomUrl" in fields or body.get("templateType") == "viewerMode":
            out["hostRoomUrl"] = meeting["roomUrl"] + "?roomKey=" + secrets.token_hex(8)
        if "viewerRoomUrl" in fields or body.get("templateType") == "viewerMode":
            out["viewerRoomUrl"] = meeting["roomUrl"] + "?viewer"
        return JSONResponse(out, status_code=201)

    async def _meeting(self, request: Request) -> Response:
        mid = request.path_params["mid"]
        with self._lock:
            meeting = copy.deepcopy(self.meetings.get(mid))
            if request.method == "DELETE":
                self.meetings.pop(mid, None)
        if request.method == "DELETE":
            return _empty(204) if meeting else _empty(404)
        return JSONResponse(meeting) if meeting else _empty(404)

    # ------------------------------------------------------------------ recordings and transcriptions

    async def _recordings(self, request: Request) -> Response:
        room = request.query_params.get("roomName")
        with self._lock:
            items = [r for r in self.recordings.values() if room in (None, r.get("roomName"))]
        return self._page(request, items, "recordings")

    async def _recording(self, request: Request) -> Response:
        rid = request.path_params["rid"]
        with self._lock:
            found = copy.deepcopy(self.recordings.get(rid))
            if request.method == "DELETE":
                self.recordings.pop(rid, None)
                return _empty(204)
        return JSONResponse(found) if found else _empty(404)

    async def _transcriptions(self, request: Request) -> Response:
        if request.method == "POST":
            body = await self._json(request)
            rid = body.get("recordingId") if isinstance(body, dict) else None
            if not isinstance(rid, str) or not rid:
                return _bad("recordingId is required")
            with self._lock:
                recording = self.recordings.get(rid)
            if recording is None:
                return _empty(404)
            tid = str(uuid.uuid4())
            with self._lock:
                self.transcriptions[tid] = {
                    "transcriptionId": tid, "roomSessionId": recording["roomSessionId"],
                    "roomName": recording.get("roomName", "/room"), "filename": f"{tid}.md",
                    "startDate": recording["startDate"], "endDate": recording["endDate"], "state": "in_progress",
                    "createdAt": iso(datetime.now(UTC)), "durationInSeconds": None,
                    "type": "RECORDING_TRANSCRIPTION", "storageType": "WHEREBY_HOSTED"}
                self._texts[tid] = TRANSCRIPT
                self._plans[tid] = {"text": SUMMARY_TEXT, "fails": False, "meetingId": None}
            return JSONResponse({"transcriptionId": tid}, status_code=201)
        room = request.query_params.get("roomName")
        with self._lock:
            items = [t for t in self.transcriptions.values() if room in (None, t["roomName"])]
        return self._page(request, items, "transcriptions")

    async def _room_sessions(self, request: Request) -> Response:
        """`GET /insights/room-sessions?roomName=…[&roomSessionId=…]`: the sessions behind the
        transcriptions (`roomName` is required, as W-OAS has it)."""
        room = request.query_params.get("roomName")
        if not room:
            return _bad("roomName is required")
        wanted = request.query_params.get("roomSessionId")
        with self._lock:
            items = [{"roomSessionId": t["roomSessionId"], "roomName": t["roomName"], "startedAt": t["startDate"],
                      "endedAt": t["endDate"]} for t in self.transcriptions.values()
                     if t["roomName"] == room and wanted in (None, t["roomSessionId"])]
        return self._page(request, items, None)

    async def _transcription(self, request: Request) -> Response:
        tid = request.path_params["tid"]
        with self._lock:
            if request.method == "DELETE":  # idempotent
                self.transcriptions.pop(tid, None)
                return _empty(204)
            found = copy.deepcopy(self.transcriptions.get(tid))
        return JSONResponse(found) if found else _empty(404)

    def _file_signature(self, name: str, expires: int) -> str:
        return hmac.new(self._file_secret, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    async def _access_link(self, request: Request) -> Response:
        tid = request.path_params["tid"]
        try:
            valid = int(request.query_params.get("validForSeconds", "3600"))
        except ValueError:
            return _bad("validForSeconds must be an integer")
        if not 1 <= valid <= 43200:
            return _bad("validForSeconds must be between 1 and 43200")
        with self._lock:
            found = self.transcriptions.get(tid)
            hosted = found is not None and found["storageType"] == "WHEREBY_HOSTED" and found["state"] == "ready"
        if found is None or not hosted:
            return _empty(404)
        expires = int((time.time() + valid) * 1000)
        name = f"{tid}.md"
        base = self.link_base or self.url
        link = f"{base}/files/transcriptions/{name}?Expires={expires}&Signature={self._file_signature(name, expires)}"
        return JSONResponse({"accessLink": link, "expires": expires})

    async def _file(self, request: Request) -> Response:
        """The "pre-signed storage" side: no API key, but a valid, unexpired signature."""
        name = request.path_params["name"]
        with self._lock:
            self.file_downloads.append("authorization" in request.headers)
            if self.file_redirects:
                return Response(status_code=302, headers={"Location": self.file_redirects.pop(0)})
        try:
            expires = int(request.query_params.get("Expires", "0"))
        except ValueError:
            expires = 0
        signature = request.query_params.get("Signature", "")
        if expires < time.time() * 1000 or not hmac.compare_digest(signature, self._file_signature(name, expires)):
            return PlainTextResponse("<Error><Code>AccessDenied</Code></Error>", status_code=403)
        with self._lock:
            text = self._texts.get(name.removesuffix(".md"))
        if text is None:
            return PlainTextResponse("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        return PlainTextResponse(text, media_type="text/markdown")

    # ------------------------------------------------------------------ summaries

    def _create_summary(self, tid: str, template: str) -> str:
        now = datetime.now(UTC)
        summary_id = str(uuid.uuid4())
        with self._lock:
            t = self.transcriptions[tid]
            self.summaries[summary_id] = {
                "summaryId": summary_id, "transcriptionId": tid, "roomSessionId": t["roomSessionId"],
                "roomName": t["roomName"], "createdAt": iso(now), "modifiedAt": iso(now),
                "startDate": t["startDate"], "endDate": t["endDate"], "durationInSeconds": t["durationInSeconds"],
                "state": "in_progress", "template": template, "summary": {}}
            self._polls[summary_id] = 0
            self._born[summary_id] = time.monotonic()
        return summary_id

    def _finish(self, summary_id: str) -> None:
        """Called under the lock: the summary is done, one way or the other."""
        summary = self.summaries[summary_id]
        plan = self._plans.get(summary["transcriptionId"], {"text": SUMMARY_TEXT, "fails": False})
        summary["modifiedAt"] = iso(datetime.now(UTC))
        if plan["fails"]:
            summary["state"] = "failed"
            return
        summary["state"] = self.finished_state
        summary["summary"] = {"summary": plan["text"]}
        if summary["template"] in ("SOAP", "Extended SOAP"):
            key = "SOAP" if summary["template"] == "SOAP" else "extended_SOAP"
            summary["summary"][key] = {"subjective": "Reports a sore throat.", "objective": "Mild fever.",
                                       "assessment": "Likely viral.", "plan": "Rest and fluids."}

    async def _summaries(self, request: Request) -> Response:
        if not self.summaries_enabled:
            return _empty(403)
        if request.method == "GET":
            with self._lock:
                items = list(self.summaries.values())
            return self._page(request, items, "summaries")
        body = await self._json(request)
        tid = body.get("transcriptionId") if isinstance(body, dict) else None
        if not isinstance(tid, str) or not tid:
            return _bad("transcriptionId is required")
        template = body.get("template") or "General Bulleted"
        if template not in TEMPLATES:
            return _bad(f"template {template!r} is not supported")
        with self._lock:
            t = self.transcriptions.get(tid)
            taken = any(s["transcriptionId"] == tid for s in self.summaries.values())
        if t is None:
            return _empty(404)
        if t["state"] != "ready" or t["storageType"] != "WHEREBY_HOSTED":
            return _bad("Summaries can only be created for ready, Whereby-hosted transcriptions")
        if taken:
            return JSONResponse({"error": "A summary already exists for this transcription"},
                                status_code=self.duplicate_summary_status)
        return JSONResponse({"summaryId": self._create_summary(tid, template)}, status_code=201)

    async def _summary(self, request: Request) -> Response:
        if not self.summaries_enabled:
            return _empty(403)
        sid = request.path_params["sid"]
        with self._lock:
            if request.method == "DELETE":  # idempotent
                self.summaries.pop(sid, None)
                return _empty(204)
            summary = self.summaries.get(sid)
            if summary is None:
                return _empty(404)
            if summary["state"] == "in_progress":
                self._polls[sid] += 1
                aged = (self.summary_ready_after_seconds is not None
                        and time.monotonic() - self._born[sid] >= self.summary_ready_after_seconds)
                if aged or (self.summary_ready_after_seconds is None
                            and self._polls[sid] >= self.summary_ready_after_polls):
                    self._finish(sid)
            return JSONResponse(copy.deepcopy(summary))
