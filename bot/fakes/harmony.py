"""A stand-in for Harmony's API and webhooks (docs/providers/harmony.md, "The stand-in").

Harmony's contract is unverified, so this fake is parametric, as docs/providers/harmony.md explains:

- `style`: which resource roots it serves: `meetings` (the seed's `/api/v1/meetings`, Bearer
  keys), `conversations` (the public pages' `/v1/conversations`, `X-API-Key: lk_<64 hex>`), or
  `both`. With `strict_auth`, a key sent the other way is refused (the public pages: "Do not
  send Harmony API keys as Authorization: Bearer tokens").
- Everything else as the seed describes it: `page`/`per_page` paging (default 20, max 100,
  400 outside) with `pagination:{page, per_page, total}`, `/{id}/transcript|summary|insights|status`,
  errors as `{error:{code,message,details}}`, a per-key limit per minute → 429 `rate_limited` with
  `Retry-After`, and `X-RateLimit-Limit/Remaining/Reset` (epoch seconds) only with
  `rate_limit_headers` (behind a flag: Harmony may not send them).
- Meetings have a processing status (`processing` → `processed` | `failed`).
- Scripted faults (`fail_next`), and a webhook sender: `{event, timestamp, data}` signed with
  HMAC-SHA256 of the raw body in `X-Harmony-Signature` (header name and format switchable).

The summary and insight bodies are not shown anywhere public; the shapes here are assumptions
(a summary object with overview, key points, decisions and action items; insights with type,
title and content). State is shared between the test's and the server's thread, under one lock.
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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEFAULT_KEY = "lk_" + "0123456789abcdef" * 4
_DEFAULT_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited",
                  500: "server_error", 502: "bad_gateway", 503: "service_unavailable"}
STYLES = {"meetings": ("/api/v1", "meetings", "bearer"), "conversations": ("/v1", "conversations", "x-api-key")}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str, *, details: dict | None = None,
           headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}},
                        status_code=status, headers=headers)


@dataclass
class _Fault:
    status: int
    times: int
    path: str | None
    code: str
    retry_after: int | None
    body: str | None


@dataclass(frozen=True)
class Seen:
    """One request as the fake saw it: which way the key came, never the key."""

    method: str
    path: str
    query: dict
    auth: str  # "bearer" | "x-api-key" | "both" | "none"


class FakeHarmony:
    def __init__(self, *, api_keys: Iterable[str] = (DEFAULT_KEY,), style: str = "both", strict_auth: bool = True,
                 rate_limit_per_minute: int = 60, rate_limit_headers: bool = False,
                 forbidden_keys: Iterable[str] = ()) -> None:
        if style not in ("meetings", "conversations", "both"):
            raise ValueError("style is meetings, conversations or both")
        self.keys = set(api_keys)
        self.forbidden_keys = set(forbidden_keys)  # valid keys whose role may not read meetings (403)
        self.style = style
        self.strict_auth = strict_auth
        self.rate_limit = rate_limit_per_minute
        self.rate_limit_headers = rate_limit_headers
        self.url = ""
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # key → (window start, requests in it)
        self._faults: list[_Fault] = []
        self._seen: list[Seen] = []
        self.meetings: dict[str, dict] = {}
        self.summaries: dict[str, dict | str | None] = {}
        self.insights: dict[str, list[dict]] = {}
        self.transcripts: dict[str, list[dict]] = {}
        routes = []
        for name, (prefix, resource, _auth) in STYLES.items():
            if style in (name, "both"):
                base = f"{prefix}/{resource}"
                routes += [
                    Route(base, self._list),
                    Route(base + "/{mid}", self._detail),
                    Route(base + "/{mid}/transcript", self._transcript),
                    Route(base + "/{mid}/summary", self._summary),
                    Route(base + "/{mid}/insights", self._meeting_insights),
                    Route(base + "/{mid}/status", self._status),
                    Route(prefix + "/insights", self._all_insights),
                ]
        self.app = Starlette(routes=routes)

    # ------------------------------------------------------------------ data

    def add_meeting(self, *, title: str, mid: str | None = None, hours_ago: float = 2, duration: int = 1800,
                    status: str = "processed", summary: dict | str | None = None, insights: list[dict] | None = None,
                    transcript: list[dict] | None = None, **extra: Any) -> dict:
        mid = mid or f"mtg_{secrets.token_hex(5)}"
        meeting = {"id": mid, "title": title,
                   "date": _iso(datetime.now(UTC) - timedelta(hours=hours_ago)),
                   "duration": duration, "status": status,
                   "participants": [{"name": "Ana Ruiz", "email": "ana@example.com"},
                                    {"name": "Sam Lee", "email": "sam@customer.example"},
                                    {"name": "Kim Park", "email": "kim@example.com"}], **extra}
        with self._lock:
            self.meetings[mid] = meeting
            self.summaries[mid] = summary if summary is not None else {
                "overview": f"{title}: the team agreed to ship the pilot in March.",
                "key_points": ["Pilot scope is two regions", "Budget approved"],
                "decisions": ["Ship the pilot in March"],
                "action_items": [{"text": "Send the pilot plan", "owner": "Ana Ruiz", "due_date": "2026-03-01"}],
            }
            self.insights[mid] = insights if insights is not None else [
                {"id": f"ins_{mid}_1", "meeting_id": mid, "type": "risk", "title": "Timeline risk",
                 "content": "Legal review may take three weeks.", "created_at": meeting["date"]},
            ]
            self.transcripts[mid] = transcript if transcript is not None else [
                {"speaker": "Ana Ruiz", "text": "Thanks for joining today.", "timestamp": "00:00:05"},
                {"speaker": "Sam Lee", "text": "Glad to be here.", "timestamp": "00:00:09"},
                {"speaker": "Sam Lee", "text": "Let's talk about the pilot.", "timestamp": "00:00:12"},
            ]
        return copy.deepcopy(meeting)

    def seed_demo(self) -> None:
        for number, title in enumerate(["Sales Call - Acme Corp", "Pilot planning", "Weekly pipeline review"]):
            self.add_meeting(title=title, mid=f"mtg_demo_{number + 1}", hours_ago=2 + 24 * number)

    def set_status(self, mid: str, status: str) -> None:
        with self._lock:
            self.meetings[mid]["status"] = status

    def add_insight(self, mid: str, *, title: str, content: str, type: str = "opportunity") -> dict:
        insight = {"id": f"ins_{uuid.uuid4().hex[:8]}", "meeting_id": mid, "type": type, "title": title,
                   "content": content, "created_at": _iso(datetime.now(UTC))}
        with self._lock:
            self.insights.setdefault(mid, []).append(insight)
        return copy.deepcopy(insight)

    def fail_next(self, status: int, times: int = 1, *, path: str | None = None, code: str | None = None,
                  retry_after: int | None = None, body: str | None = None) -> None:
        """Answer the next `times` requests (whose path contains `path`, if given) with `status`,
        in the error envelope, or `body` verbatim as text/html (a proxy's page)."""
        with self._lock:
            self._faults.append(_Fault(status, times, path, code or _DEFAULT_CODES.get(status, "error"),
                                       retry_after, body))

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def request_count(self, fragment: str = "") -> int:
        with self._lock:
            return sum(1 for s in self._seen if fragment in s.path)

    # ------------------------------------------------------------------ webhooks

    def event_payload(self, event: str, mid: str, *, insight_id: str | None = None, reason: str | None = None) -> dict:
        with self._lock:
            meeting = copy.deepcopy(self.meetings.get(mid, {"id": mid, "title": "Meeting"}))
        id_key = "conversation_id" if event.startswith("conversation.") else "meeting_id"
        data: dict[str, Any] = {id_key: mid, "title": meeting.get("title")}
        if event.endswith(".started"):
            data["started_at"] = meeting.get("date")
        elif event.endswith(".processed") or event.endswith(".transcribed"):
            data["duration"] = meeting.get("duration")
        elif event.endswith(".failed"):
            data["error"] = reason or "The recording had no audio."
        elif event == "insight.generated":
            with self._lock:
                insight = next((i for i in self.insights.get(mid, []) if i["id"] == insight_id), None)
            data = {"insight_id": insight_id, "meeting_id": mid, "type": (insight or {}).get("type"),
                    "title": (insight or {}).get("title")}
        return data

    @staticmethod
    def webhook_request(event: str, data: dict, *, secret: str | None, header: str = "X-Harmony-Signature",
                        signature_format: str = "hex", flat: bool = False,
                        delivery_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        """One delivery (body, headers). `signature_format`: "hex" (the seed's reading), "sha256="
        (prefixed hex) or "base64". `flat` puts the fields at the top level."""
        envelope = ({"event": event, "timestamp": _iso(datetime.now(UTC)), **data} if flat else
                    {"event": event, "timestamp": _iso(datetime.now(UTC)), "data": data})
        raw = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Harmony-Webhooks (fake)"}
        if delivery_id:
            headers["X-Harmony-Delivery"] = delivery_id
        if secret:
            digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
            headers[header] = {"hex": digest.hex(), "sha256=": "sha256=" + digest.hex(),
                               "base64": base64.b64encode(digest).decode()}[signature_format]
        return raw, headers

    def send_webhook(self, url: str, event: str, mid: str, *, secret: str | None, retries: int = 2,
                     retry_delay: float = 0.05, **kwargs: Any) -> list[int]:
        """POST one event; retried on 5xx and network errors `retries` times (Harmony publishes no
        retry policy; this is an assumption). Returns the status of each attempt (0: no answer)."""
        options = {k: kwargs.pop(k) for k in ("insight_id", "reason") if k in kwargs}
        raw, headers = self.webhook_request(event, self.event_payload(event, mid, **options), secret=secret, **kwargs)
        statuses: list[int] = []
        with httpx.Client(timeout=10.0) as client:
            for attempt in range(retries + 1):
                try:
                    status = client.post(url, content=raw, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                statuses.append(status)
                if status and status < 500:
                    break
                time.sleep(retry_delay * 2 ** attempt)
        return statuses

    # ------------------------------------------------------------------ HTTP

    def _gate(self, request: Request) -> tuple[Response | None, dict]:
        """Record, scripted faults, auth, rate limit. Returns (early answer, headers to add)."""
        path = request.url.path
        bearer = request.headers.get("authorization", "")
        api_key = request.headers.get("x-api-key", "")
        used = "both" if bearer and api_key else "bearer" if bearer else "x-api-key" if api_key else "none"
        with self._lock:
            self._seen.append(Seen(request.method, path, dict(request.query_params), used))
            for fault in self._faults:
                if fault.times > 0 and (fault.path is None or fault.path in path):
                    fault.times -= 1
                    self._faults = [f for f in self._faults if f.times > 0]
                    if fault.body is not None:
                        return Response(fault.body, status_code=fault.status, media_type="text/html"), {}
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                    return _error(fault.status, fault.code, "Injected failure", headers=headers), {}
        expected = "bearer" if path.startswith("/api/v1/") else "x-api-key"
        if expected == "bearer":
            key = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
            wrong_way = bool(api_key) and not key
        else:
            key = api_key.strip()
            wrong_way = bool(bearer) and not key
        if wrong_way and self.strict_auth:
            how = "Authorization: Bearer" if expected == "bearer" else "the X-API-Key header"
            return _error(401, "unauthorized", f"Send the API key with {how}"), {}
        if not key:
            return _error(401, "unauthorized", "Missing API key"), {}
        if key not in self.keys:
            return _error(401, "unauthorized", "Invalid API key"), {}
        now = time.time()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= 60:
                start, count = now, 0
            reset = int(start + 60) + 1
            limited = count >= self.rate_limit
            if not limited:
                count += 1
            self._windows[key] = (start, count)
        headers = ({"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(self.rate_limit - count),
                    "X-RateLimit-Reset": str(reset)} if self.rate_limit_headers else {})
        if limited:
            wait = max(1, int(reset - now))
            return _error(429, "rate_limited", "Too many requests", details={"retry_after": wait},
                          headers={**headers, "Retry-After": str(wait)}), {}
        if key in self.forbidden_keys:
            return _error(403, "forbidden", "Insufficient permissions", headers=headers), {}
        return None, headers

    def _resource(self, request: Request) -> str:
        return "conversations" if request.url.path.startswith("/v1/") else "meetings"

    def _find(self, mid: str) -> dict | None:
        with self._lock:
            found = self.meetings.get(mid)
            return copy.deepcopy(found) if found else None

    def _not_found(self, request: Request, headers: dict) -> JSONResponse:
        noun = "Conversation" if self._resource(request) == "conversations" else "Meeting"
        return _error(404, "not_found", f"{noun} not found", headers=headers)

    async def _list(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        try:
            page = int(request.query_params.get("page", "1"))
            per_page = int(request.query_params.get("per_page", "20"))
        except ValueError:
            return _error(400, "bad_request", "page and per_page must be numbers", headers=headers)
        if page < 1 or not 1 <= per_page <= 100:
            return _error(400, "bad_request", "page must be at least 1 and per_page between 1 and 100",
                          details={"per_page": {"max": 100}}, headers=headers)
        status = request.query_params.get("status")
        with self._lock:
            items = sorted((copy.deepcopy(m) for m in self.meetings.values()
                            if status is None or m["status"] == status), key=lambda m: m["date"], reverse=True)
        chunk = items[(page - 1) * per_page: page * per_page]
        listed = [{k: m[k] for k in ("id", "title", "date", "duration", "status")} for m in chunk]
        return JSONResponse({"data": listed, "pagination": {"page": page, "per_page": per_page, "total": len(items)}},
                            headers=headers)

    async def _detail(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        found = self._find(request.path_params["mid"])
        if found is None:
            return self._not_found(request, headers)
        return JSONResponse({"data": found}, headers=headers)

    async def _status(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        found = self._find(request.path_params["mid"])
        if found is None:
            return self._not_found(request, headers)
        return JSONResponse({"meeting_id": found["id"], "status": found["status"]}, headers=headers)

    def _processed(self, request: Request, headers: dict) -> dict | Response:
        """The processed meeting the path names, or the 404 to answer."""
        found = self._find(request.path_params["mid"])
        if found is None:
            return self._not_found(request, headers)
        if found["status"] != "processed":
            return _error(404, "not_found", f"No results yet: the meeting is {found['status']}", headers=headers)
        return found

    async def _transcript(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        found = self._processed(request, headers)
        if isinstance(found, Response):
            return found
        with self._lock:
            transcript = copy.deepcopy(self.transcripts.get(found["id"], []))
        return JSONResponse({"meeting_id": found["id"], "transcript": transcript}, headers=headers)

    async def _summary(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        found = self._processed(request, headers)
        if isinstance(found, Response):
            return found
        with self._lock:
            summary = copy.deepcopy(self.summaries.get(found["id"]))
        if summary is None:
            return _error(404, "not_found", "No summary for this meeting", headers=headers)
        return JSONResponse({"meeting_id": found["id"], "summary": summary}, headers=headers)

    async def _meeting_insights(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        found = self._processed(request, headers)
        if isinstance(found, Response):
            return found
        with self._lock:
            insights = copy.deepcopy(self.insights.get(found["id"], []))
        return JSONResponse({"meeting_id": found["id"], "data": insights}, headers=headers)

    async def _all_insights(self, request: Request) -> Response:
        early, headers = self._gate(request)
        if early is not None:
            return early
        with self._lock:
            rows = [copy.deepcopy(i) for items in self.insights.values() for i in items]
        return JSONResponse({"data": rows, "pagination": {"page": 1, "per_page": len(rows), "total": len(rows)}},
                            headers=headers)
