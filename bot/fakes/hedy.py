"""A loopback stand-in for the Hedy API (docs/providers/hedy.md, "The stand-in").

It reproduces what the bot can observe of the real service: the per-endpoint envelopes (some
bare, some wrapped), snake_case session fields, free-text due dates, cursor paging (and a switch
for the reported "cursor is ignored" behaviour), read-only todos, webhook CRUD, a 200/min limit
with no rate-limit headers, and scriptable faults. Run it with `ThreadedServer(fake.app)`.

State is touched from the test's thread and from the server's thread, so every read or write of
it happens under one lock, never held across an await.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot.fakes import sample_data

WEBHOOK_EVENTS = ("session.created", "session.ended", "session.exported", "highlight.created", "todo.exported")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
_DEFAULT_CODES = {
    400: "validation_error", 401: "invalid_api_key", 403: "tier_limit_exceeded", 404: "not_found",
    405: "method_not_allowed", 409: "deletion_in_progress", 429: "rate_limit_exceeded",
    500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout",
}
# The spellings the spec-generated and third-party types use (docs/providers/hedy.md, "Fields"), for `camel_case`.
_CAMEL = {"meeting_minutes": "meetingMinutes", "user_todos": "userTodos",
          "cleaned_transcript": "cleanedTranscript", "cleaned_at": "cleanedAt"}
_UNSET: Any = object()


def iso(value: datetime) -> str:
    """Timestamps as a Node backend writes them: UTC, milliseconds, trailing Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _order_key(when: Any, ident: Any) -> tuple[datetime, str]:
    """Newest-first ordering that tolerates missing times and mixed ISO spellings."""
    return (_parse_time(when) or datetime.min.replace(tzinfo=UTC), ident or "")


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": {"code": code, "message": message}},
                        status_code=status, headers=headers)


def _encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except ValueError:
        return []


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it. Only whether a key came, never the key."""

    method: str
    path: str  # as received, including any /v1 prefix
    query: dict[str, str]
    has_auth: bool
    at: float = field(default_factory=time.monotonic)

    @property
    def route(self) -> str:
        """The path without the /v1 alias prefix."""
        return self.path[3:] if self.path == "/v1" or self.path.startswith("/v1/") else self.path


@dataclass
class _Fault:
    status: int
    times: int
    path: str | None
    code: str
    retry_after: float | None
    body: str | None


@dataclass
class _Session:
    detail: dict  # as the API returns it (snake_case, topic as {id,name}), or verbatim when raw
    start: datetime
    raw: bool = False


class _Front:
    """ASGI middleware: recording, latency, scripted faults, auth and rate limits before routing."""

    def __init__(self, app, fake: FakeHedy) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            early = await self.fake._front(Request(scope))
            if early is not None:
                await early(scope, receive, send)
                return
        await self.app(scope, receive, send)


class FakeHedy:
    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("hedy_live_demo_key",),
        rate_limit_per_minute: int = 200,
        webhook_create_per_minute: int = 5,
        webhook_cap: int = 10,
        ignore_after: bool = False,
        camel_case: bool = False,
        flat_topic: bool = False,
        session_todos_shape: str = "array",
    ) -> None:
        self._keys = frozenset(api_keys)
        self.rate_limit_per_minute = rate_limit_per_minute
        self.webhook_create_per_minute = webhook_create_per_minute
        self.webhook_cap = webhook_cap
        self.rate_window_seconds = 60.0
        # Switches for the behaviours the sources disagree on (docs/providers/hedy.md, "Assumptions"):
        self.ignore_after = ignore_after  # /sessions and /highlights always answer with the newest items
        self.camel_case = camel_case  # meetingMinutes/userTodos/..., highlightId and aiInsights in sessions
        self.flat_topic = flat_topic  # topicId/topicName instead of topic:{id,name}
        self.session_todos_shape = session_todos_shape  # "array" | "data" | "data.todos"
        self.latency = 0.0  # seconds added to every request
        self.account = {"id": "usr_demo", "email": "demo@hedy.example", "name": "Demo User"}
        self.url: str | None = None  # set by whoever starts the server, for convenience

        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._topics: dict[str, dict] = {}
        self._webhooks: dict[str, dict] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._hits: dict[str, deque[float]] = {}
        self._webhook_hits: dict[str, deque[float]] = {}
        self.app = self._build_app()

    # ------------------------------------------------------------------ scripting for tests

    def fail_next(self, status: int, times: int = 1, *, path: str | None = None, code: str | None = None,
                  retry_after: float | None = None, body: str | None = None) -> None:
        """Answer the next `times` requests (whose route starts with `path`, if given) with `status`.

        The body is Hedy's error envelope with `code` (a sensible default per status), or `body`
        verbatim as text/html, like a proxy's error page. `retry_after` adds a Retry-After header,
        which the real Hedy is not known to send.
        """
        fault = _Fault(status, times, path, code or _DEFAULT_CODES.get(status, "error"), retry_after, body)
        with self._lock:
            self._faults.append(fault)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def request_count(self, path_prefix: str | None = None) -> int:
        """Requests seen so far; with a prefix, those whose route (without /v1) starts with it."""
        with self._lock:
            return sum(1 for r in self._requests
                       if path_prefix is None or r.route.startswith(path_prefix) or r.path.startswith(path_prefix))

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def webhooks(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._webhooks.values()))

    # ------------------------------------------------------------------ data

    def add_topic(self, name: str, *, id: str | None = None, description: str | None = None,
                  color: str | None = "#6366F1", iconName: str | None = None, **extra: Any) -> dict:
        now = iso(datetime.now(UTC))
        topic = {
            "id": id or f"topic_{secrets.token_hex(6)}", "name": name, "description": description,
            "color": color, "iconName": iconName, "topicContext": None, "topicContextUpdatedAt": None,
            "dominantSessionType": None, "overview": None, "overviewUpdatedAt": None,
            "createdAt": now, "updatedAt": now, **extra,
        }
        with self._lock:
            self._topics[topic["id"]] = topic
        return copy.deepcopy(topic)

    def add_session(self, **overrides: Any) -> dict:
        """Store a session; Hedy's own field names, any omitted ones get realistic defaults.

        `topic` may be a topic id, a topic name (created if new), a `{id,name}` dict or None.
        `highlights` and `user_todos` are lists of partial dicts; a highlight may give `offset`
        (seconds into the meeting) instead of `timestamp`/`timeIndex`. `startTime`/`endTime`
        accept datetimes or ISO strings; `duration` is in seconds. Unknown keys pass through.
        Returns the stored detail as `GET /sessions/{id}` serves it by default.
        """
        o = dict(overrides)
        now = datetime.now(UTC)
        start = _parse_time(o.pop("startTime", None)) or now - timedelta(hours=1)
        duration = o.pop("duration", 1800)
        end = o.pop("endTime", _UNSET)
        end = start + timedelta(seconds=duration or 0) if end is _UNSET else _parse_time(end)
        session_id = o.pop("sessionId", None) or f"sess_{secrets.token_hex(8)}"
        topic = self._resolve_topic(o.pop("topic", None))
        title = o.pop("title", "Team meeting")
        detail = {
            "sessionId": session_id,
            "title": title,
            "startTime": iso(start),
            "endTime": iso(end) if end else None,
            "duration": duration,
            "transcript": o.pop("transcript", f"Speaker 1: Welcome to {title}.\nSpeaker 2: Thanks, let's start."),
            "cleaned_transcript": o.pop("cleaned_transcript", f"Welcome to {title}. Thanks, let's start."),
            "cleaned_at": o.pop("cleaned_at", iso(end or start)),
            "conversations": o.pop("conversations", "Q: What did we decide?\nA: To ship."),
            "meeting_minutes": o.pop("meeting_minutes", f"## Summary\n- Discussed **{title}**"),
            "recap": o.pop("recap", f"A short recap of {title}."),
            "highlights": [self._fill_highlight(h, start) for h in o.pop("highlights", [])],
            "user_todos": [self._fill_todo(t) for t in o.pop("user_todos", [])],
            "topic": topic,
            **o,
        }
        with self._lock:
            self._sessions[session_id] = _Session(detail=detail, start=start)
        return copy.deepcopy(detail)

    def add_raw_session(self, detail: dict) -> dict:
        """Store a session served verbatim by `GET /sessions/{id}`, whatever its spelling.

        For exercising odd shapes (camelCase, topicId/topicName, minutes as duration, no
        endTime). The list endpoints pick sessionId/title/startTime/duration/topic* from it.
        """
        detail = copy.deepcopy(detail)
        detail.setdefault("sessionId", f"sess_{secrets.token_hex(8)}")
        start = _parse_time(detail.get("startTime")) or datetime.now(UTC)
        with self._lock:
            self._sessions[detail["sessionId"]] = _Session(detail=detail, start=start, raw=True)
        return copy.deepcopy(detail)

    def seed_demo(self) -> None:
        """Three topics and twelve sessions over the last two weeks (see sample_data)."""
        for topic in sample_data.TOPICS:
            self.add_topic(**topic)
        for overrides in sample_data.demo_sessions(datetime.now(UTC)):
            self.add_session(**overrides)

    def _resolve_topic(self, topic: Any) -> dict | None:
        if topic is None:
            return None
        with self._lock:
            if isinstance(topic, dict):
                found = self._topics.get(topic["id"])
            else:
                found = self._topics.get(topic) or next((t for t in self._topics.values() if t["name"] == topic), None)
        if found is None:
            found = (self.add_topic(topic.get("name") or topic["id"], id=topic["id"]) if isinstance(topic, dict)
                     else self.add_topic(topic))
        return {"id": found["id"], "name": found["name"]}

    @staticmethod
    def _fill_highlight(h: dict, start: datetime) -> dict:
        h = dict(h)
        offset = h.pop("offset", None)
        if offset is None:
            offset = (h["timeIndex"] // 1000) if h.get("timeIndex") is not None else 300
        return {
            "id": h.pop("id", None) or f"hl_{secrets.token_hex(6)}",
            "title": h.pop("title", "Highlight"),
            "rawQuote": h.pop("rawQuote", "so, um, that's the plan"),
            "cleanedQuote": h.pop("cleanedQuote", "That's the plan."),
            "mainIdea": h.pop("mainIdea", None),
            "aiInsight": h.pop("aiInsight", None),
            "timestamp": h.pop("timestamp", None) or iso(start + timedelta(seconds=offset)),
            "timeIndex": h.pop("timeIndex", offset * 1000),
            **h,
        }

    @staticmethod
    def _fill_todo(t: dict) -> dict:
        t = dict(t)
        return {
            "id": t.pop("id", None) or f"todo_{secrets.token_hex(6)}",
            "text": t.pop("text", "Follow up"),
            "dueDate": t.pop("dueDate", None),
            "completed": t.pop("completed", False),
            **t,
        }

    # ------------------------------------------------------------------ inspection for tests and the demo

    def newest_session_ids(self, count: int) -> list[str]:
        with self._lock:
            return [s.detail["sessionId"] for s in self._ordered()[:count]]

    def session(self, session_id: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._sessions[session_id].detail)

    def richest_session(self) -> dict:
        """The session with the most content: recap, minutes, highlights and todos."""
        with self._lock:
            best = max(self._sessions.values(), key=lambda s: (
                bool(s.detail.get("recap")), len(s.detail.get("highlights") or []),
                len(s.detail.get("user_todos") or []), len(s.detail.get("meeting_minutes") or "")))
            return copy.deepcopy(best.detail)

    def add_huge_session(self) -> dict:
        return self.add_session(**sample_data.huge_session())

    def all_todos(self) -> list[dict]:
        with self._lock:
            return [t for s in self._ordered() for t in self._session_todos(s)]

    def all_topics(self) -> list[dict]:
        with self._lock:
            return [topic for topic_id in self._topics if (topic := self._full_topic(topic_id))]

    def add_todo(self, session_id: str, text: str, *, due: str | None = None) -> dict:
        """A todo added to a stored session (as when someone exports another action item)."""
        todo = {"id": f"todo_{secrets.token_hex(6)}", "text": text, "dueDate": due, "completed": False}
        with self._lock:
            detail = self._sessions[session_id].detail
            detail.setdefault("user_todos", []).append(todo)
        return dict(todo, sessionId=session_id)

    def edit_session(self, session_id: str, **fields: Any) -> None:
        """Change a stored session's fields (new minutes after a re-export, say)."""
        with self._lock:
            self._sessions[session_id].detail.update(fields)

    def allow_key(self, key: str) -> None:
        """As if the account owner created a new API key."""
        with self._lock:
            self._keys = self._keys | {key}

    def revoke_all_keys(self) -> None:
        """As if the account owner deleted every API key in Hedy."""
        with self._lock:
            self._keys = frozenset()

    # ------------------------------------------------------------------ rendering (call under lock)

    def _ordered(self) -> list[_Session]:
        return sorted(self._sessions.values(), key=lambda s: (s.start, s.detail["sessionId"]), reverse=True)

    def _topic_ref(self, s: _Session) -> dict | None:
        d = s.detail
        if isinstance(d.get("topic"), dict):
            return {"id": d["topic"].get("id"), "name": d["topic"].get("name")}
        if d.get("topicId"):
            return {"id": d["topicId"], "name": d.get("topicName")}
        return None

    def _apply_topic_style(self, out: dict, topic: dict | None) -> None:
        if self.flat_topic:
            out.pop("topic", None)
            out["topicId"] = topic and topic["id"]
            out["topicName"] = topic and topic["name"]
        else:
            out["topic"] = topic

    def _render_detail(self, s: _Session) -> dict:
        if s.raw:
            return copy.deepcopy(s.detail)
        out = copy.deepcopy(s.detail)
        self._apply_topic_style(out, self._topic_ref(s))
        if self.camel_case:
            out = {_CAMEL.get(k, k): v for k, v in out.items()}
            for h in out["highlights"]:
                h["highlightId"] = h.pop("id")
                h["aiInsights"] = h.pop("aiInsight")
        return out

    def _render_summary(self, s: _Session) -> dict:
        d = s.detail
        if s.raw:
            keys = ("sessionId", "title", "startTime", "duration", "topic", "topicId", "topicName")
            return {k: copy.deepcopy(d[k]) for k in keys if k in d}
        out = {"sessionId": d["sessionId"], "title": d["title"], "startTime": d["startTime"], "duration": d["duration"]}
        self._apply_topic_style(out, self._topic_ref(s))
        return out

    def _full_topic(self, topic_id: str | None) -> dict | None:
        topic = self._topics.get(topic_id or "")
        if topic is None:
            return None
        mine = [s for s in self._sessions.values() if (self._topic_ref(s) or {}).get("id") == topic_id]
        last = max((s.start for s in mine), default=None)
        return {**copy.deepcopy(topic), "sessionCount": len(mine), "lastSessionDate": iso(last) if last else None}

    def _session_todos(self, s: _Session) -> list[dict]:
        todos = s.detail.get("user_todos") or s.detail.get("userTodos") or []
        full = self._topics.get((self._topic_ref(s) or {}).get("id") or "")
        topic = {k: full.get(k) for k in ("id", "name", "color", "description", "iconName")} if full else None
        return [{"id": t.get("id"), "text": t.get("text"), "dueDate": t.get("dueDate"),
                 "completed": bool(t.get("completed")), "sessionId": s.detail["sessionId"], "topic": topic}
                for t in todos]

    def _highlight_details(self) -> list[dict]:
        out = []
        for s in self._sessions.values():
            for h in s.detail.get("highlights") or []:
                out.append({
                    "highlightId": h.get("id") or h.get("highlightId"), "sessionId": s.detail["sessionId"],
                    "timestamp": h.get("timestamp"), "timeIndex": h.get("timeIndex"), "title": h.get("title"),
                    "rawQuote": h.get("rawQuote"), "cleanedQuote": h.get("cleanedQuote"),
                    "mainIdea": h.get("mainIdea"), "aiInsight": h.get("aiInsight", h.get("aiInsights")),
                })
        out.sort(key=lambda h: _order_key(h["timestamp"], h["highlightId"]), reverse=True)
        return out

    # ------------------------------------------------------------------ webhooks out

    def session_webhook_payload(self, session_id: str, event: str = "session.ended") -> dict:
        """The flat payload (without `event`) Hedy posts for a session event."""
        with self._lock:
            s = self._sessions[session_id]
            d = s.detail
            topic = self._topic_ref(s)
            if event == "session.created":
                return {"sessionId": session_id, "title": d.get("title"), "startTime": d.get("startTime")}
            payload = {
                "sessionId": session_id, "title": d.get("title"), "startTime": d.get("startTime"),
                "endTime": d.get("endTime"), "duration": d.get("duration"), "transcript": d.get("transcript"),
                "recap": d.get("recap"), "meeting_minutes": d.get("meeting_minutes", d.get("meetingMinutes")),
                "highlights": copy.deepcopy(d.get("highlights") or []),
                "topicId": topic and topic["id"], "topicName": topic and topic["name"],
            }
        if event == "session.exported":
            payload.pop("endTime")
            payload["exportedAt"] = iso(datetime.now(UTC))
        return payload

    def highlight_webhook_payload(self, highlight_id: str) -> dict:
        """Payload of `highlight.created` (inferred shape, docs/providers/hedy.md, "Webhooks")."""
        with self._lock:
            h = next(h for h in self._highlight_details() if h["highlightId"] == highlight_id)
        return {"id": h.pop("highlightId"), **h}

    def todo_webhook_payload(self, todo_id: str) -> dict:
        """Payload of `todo.exported` (inferred shape, docs/providers/hedy.md, "Webhooks")."""
        with self._lock:
            todo = next(t for s in self._sessions.values() for t in self._session_todos(s) if t["id"] == todo_id)
        return {"id": todo["id"], "sessionId": todo["sessionId"], "text": todo["text"], "dueDate": todo["dueDate"]}

    @staticmethod
    def send_webhook(url: str, event: str, payload: dict, *, secret: str | None = None,
                     nested: bool = False, retry_delay: float = 0.05) -> int:
        return send_webhook(url, event, payload, secret=secret, nested=nested, retry_delay=retry_delay)

    # ------------------------------------------------------------------ request pipeline

    async def _front(self, request: Request) -> Response | None:
        """Everything that happens before routing. Returns a response to short-circuit."""
        auth = request.headers.get("authorization")
        record = RecordedRequest(request.method, request.url.path, dict(request.query_params), bool(auth))
        with self._lock:
            self._requests.append(record)
        if self.latency:
            await asyncio.sleep(self.latency)

        with self._lock:
            fault = next((f for f in self._faults if f.path is None or record.route.startswith(f.path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            if fault.body is not None:
                return Response(fault.body, status_code=fault.status, media_type="text/html", headers=headers)
            return _error(fault.status, fault.code, f"Scripted failure ({fault.status})", headers)

        if not auth or not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return _error(401, "missing_api_key", "API key is required")
        key = auth[7:].strip()
        if key not in self._keys:
            return _error(401, "invalid_api_key", "Invalid API key")

        # The key itself is never stored; rate windows are keyed by its hash.
        bucket = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            if not self._allow(self._hits, bucket, now, self.rate_limit_per_minute):
                return _error(429, "rate_limit_exceeded", "Too many requests, please slow down")
            creates_webhook = request.method == "POST" and record.route.rstrip("/") == "/webhooks"
            if creates_webhook and not self._allow(self._webhook_hits, bucket, now, self.webhook_create_per_minute):
                return _error(429, "rate_limit_exceeded", "Too many webhook creations, please slow down")
        return None

    def _allow(self, windows: dict[str, deque[float]], bucket: str, now: float, limit: int) -> bool:
        """Sliding window: at most `limit` accepted requests in any `rate_window_seconds`."""
        window = windows.setdefault(bucket, deque())
        while window and window[0] <= now - self.rate_window_seconds:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    # ------------------------------------------------------------------ routing

    def _build_app(self) -> Starlette:
        routes = [
            Route("/me", self._me),
            Route("/sessions", self._list_sessions),
            Route("/sessions/{session_id}", self._get_session),
            Route("/sessions/{session_id}/highlights", self._session_highlights),
            Route("/sessions/{session_id}/todos", self._session_todos_route, methods=ALL_METHODS),
            Route("/sessions/{session_id}/todos/{todo_id}", self._session_todo, methods=ALL_METHODS),
            Route("/highlights", self._list_highlights),
            Route("/highlights/{highlight_id}", self._get_highlight),
            Route("/todos", self._todos, methods=ALL_METHODS),
            Route("/todos/{todo_id}", self._todos, methods=ALL_METHODS),
            Route("/topics", self._topics_route),
            Route("/topics/{topic_id}", self._get_topic),
            Route("/topics/{topic_id}/sessions", self._topic_sessions),
            Route("/webhooks", self._webhooks_route, methods=["GET", "POST"]),
            Route("/webhooks/{webhook_id}", self._delete_webhook, methods=["DELETE"]),
        ]

        async def http_error(request: Request, exc: HTTPException) -> Response:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
            return _error(exc.status_code, code, exc.detail or code)

        return Starlette(
            routes=[*routes, Mount("/v1", routes=routes)],
            middleware=[Middleware(_Front, fake=self)],
            exception_handlers={HTTPException: http_error},  # type: ignore[dict-item]  # Starlette's handler type
        )

    @staticmethod
    def _limit(request: Request) -> int | JSONResponse:
        raw = request.query_params.get("limit")
        if raw is None:
            return 50
        try:
            limit = int(raw)
        except ValueError:
            return _error(400, "validation_error", "limit must be an integer")
        if not 1 <= limit <= 100:
            return _error(400, "validation_error", "limit must be between 1 and 100")
        return limit

    def _paged(self, request: Request, items: list[dict], key: tuple[str, str]) -> Response:
        """The `{success,data,pagination}` list of /sessions and /highlights, newest first.

        `key` names the (time, id) fields that order the items; the cursor encodes the last pair.
        """
        limit = self._limit(request)
        if isinstance(limit, Response):
            return limit
        fmt = request.query_params.get("format", "standard")
        if fmt not in ("standard", "zapier"):
            return _error(400, "validation_error", "format must be 'zapier' or 'standard'")
        after = request.query_params.get("after")
        total = len(items)
        if after and not self.ignore_after:
            parts = _decode_cursor(after)
            if len(parts) != 2:
                return _error(400, "invalid_parameter", "Invalid cursor")
            try:
                cut = _order_key(parts[0] or None, parts[1])
            except ValueError:
                return _error(400, "invalid_parameter", "Invalid cursor")
            items = [i for i in items if _order_key(i[key[0]], i[key[1]]) < cut]
        page, has_more = items[:limit], len(items) > limit
        if fmt == "zapier":
            return JSONResponse(page)
        last = page[-1] if page else None
        next_cursor = _encode_cursor(last[key[0]] or "", last[key[1]] or "") if has_more and last else None
        return JSONResponse({"success": True, "data": page,
                             "pagination": {"hasMore": has_more, "next": next_cursor, "total": total}})

    async def _me(self, request: Request) -> Response:
        return JSONResponse(dict(self.account))

    async def _list_sessions(self, request: Request) -> Response:
        with self._lock:
            items = [self._render_summary(s) for s in self._ordered()]
        return self._paged(request, items, ("startTime", "sessionId"))

    async def _get_session(self, request: Request) -> Response:
        with self._lock:
            s = self._sessions.get(request.path_params["session_id"])
            body = self._render_detail(s) if s else None
        return JSONResponse(body) if body else _error(404, "session_not_found", "Session not found")

    async def _session_highlights(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        with self._lock:
            if session_id not in self._sessions:
                return _error(404, "session_not_found", "Session not found")
            items = [h for h in self._highlight_details() if h["sessionId"] == session_id]
        return JSONResponse({"success": True, "data": items})

    async def _session_todos_route(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", "Todos are read-only")
        with self._lock:
            s = self._sessions.get(request.path_params["session_id"])
            todos = self._session_todos(s) if s else None
        if todos is None:
            return _error(404, "session_not_found", "Session not found")
        shape = self.session_todos_shape
        body = todos if shape == "array" else {"success": True, "data": todos if shape == "data" else {"todos": todos}}
        return JSONResponse(body)

    async def _session_todo(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", "Todos are read-only")
        with self._lock:
            s = self._sessions.get(request.path_params["session_id"])
            todos = self._session_todos(s) if s else None
        if todos is None:
            return _error(404, "session_not_found", "Session not found")
        todo = next((t for t in todos if t["id"] == request.path_params["todo_id"]), None)
        return JSONResponse(todo) if todo else _error(404, "todo_not_found", "Todo not found")

    async def _todos(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD") or "todo_id" in request.path_params:
            return _error(405, "method_not_allowed", "Todos are read-only")
        with self._lock:
            todos = [t for s in self._ordered() for t in self._session_todos(s)]
        return JSONResponse(todos)

    async def _list_highlights(self, request: Request) -> Response:
        with self._lock:
            items = [{k: h[k] for k in ("highlightId", "sessionId", "timestamp", "title")}
                     for h in self._highlight_details()]
        return self._paged(request, items, ("timestamp", "highlightId"))

    async def _get_highlight(self, request: Request) -> Response:
        with self._lock:
            found = next((h for h in self._highlight_details()
                          if h["highlightId"] == request.path_params["highlight_id"]), None)
        return JSONResponse(found) if found else _error(404, "highlight_not_found", "Highlight not found")

    async def _topics_route(self, request: Request) -> Response:
        with self._lock:
            topics = [topic for t in self._topics if (topic := self._full_topic(t))]
        topics.sort(key=lambda t: (t["lastSessionDate"] or t["updatedAt"] or ""), reverse=True)
        return JSONResponse({"success": True, "data": topics})

    async def _get_topic(self, request: Request) -> Response:
        with self._lock:
            topic = self._full_topic(request.path_params["topic_id"])
        return JSONResponse({"success": True, "data": topic}) if topic else _error(404, "not_found", "Topic not found")

    async def _topic_sessions(self, request: Request) -> Response:
        topic_id = request.path_params["topic_id"]
        limit = self._limit(request)
        if isinstance(limit, Response):
            return limit
        with self._lock:
            if topic_id not in self._topics:
                return _error(404, "not_found", "Topic not found")
            items = [s for s in self._ordered() if (self._topic_ref(s) or {}).get("id") == topic_id]
            rows = [{"sessionId": s.detail["sessionId"], "title": s.detail.get("title"),
                     "startTime": s.detail.get("startTime"), "duration": s.detail.get("duration"),
                     "topicInfo": self._topic_ref(s)} for s in items]
        start_after = request.query_params.get("startAfter")
        if start_after:
            ids = [r["sessionId"] for r in rows]
            if start_after not in ids:
                return _error(400, "invalid_parameter", "Unknown startAfter session")
            rows = rows[ids.index(start_after) + 1:]
        page, has_more = rows[:limit], len(rows) > limit
        return JSONResponse({"success": True, "data": {"sessions": page, "pagination": {
            "count": len(page), "hasMore": has_more, "nextCursor": page[-1]["sessionId"] if has_more else None}}})

    async def _webhooks_route(self, request: Request) -> Response:
        if request.method == "GET":
            with self._lock:
                return JSONResponse({"success": True, "data": copy.deepcopy(list(self._webhooks.values()))})
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return _error(400, "validation_error", "Body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "validation_error", "Body must be a JSON object")
        if not _webhook_url_ok(body.get("url")):
            return _error(400, "invalid_webhook_url", "Webhook URL must be a valid HTTPS URL")
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list) or not events:
                return _error(400, "missing_event", "At least one event is required")
            if any(e not in WEBHOOK_EVENTS for e in events):
                return _error(400, "invalid_events", f"Events must be among: {', '.join(WEBHOOK_EVENTS)}")
        elif "event" in body:
            if body["event"] not in WEBHOOK_EVENTS:
                return _error(400, "invalid_event", f"Event must be one of: {', '.join(WEBHOOK_EVENTS)}")
            events = [body["event"]]
        else:
            return _error(400, "missing_event", "An event is required")
        now = iso(datetime.now(UTC))
        with self._lock:
            if len(self._webhooks) >= self.webhook_cap:
                return _error(400, "webhook_limit_exceeded", f"At most {self.webhook_cap} webhooks")
            hook = {"id": f"wh_{secrets.token_hex(6)}", "url": body["url"], "events": list(dict.fromkeys(events)),
                    "createdAt": now, "updatedAt": now}
            self._webhooks[hook["id"]] = hook
        # The signing secret exists only in Hedy's UI; the API never returns one.
        return JSONResponse({"success": True, "data": copy.deepcopy(hook)})

    async def _delete_webhook(self, request: Request) -> Response:
        with self._lock:
            hook = self._webhooks.pop(request.path_params["webhook_id"], None)
        if hook is None:
            return _error(404, "webhook_not_found", "Webhook not found")
        return JSONResponse({"success": True, "data": {"message": "Webhook deleted successfully"}})


def _webhook_url_ok(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1"))


def webhook_request(event: str, payload: dict, *, secret: str | None = None,
                    nested: bool = False) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery, exactly as send_webhook posts them."""
    body = ({"event": event, "timestamp": iso(datetime.now(UTC)), "data": payload} if nested
            else {"event": event, **payload})
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Hedy-Event": event, "User-Agent": "Hedy-Webhooks (fake)"}
    if secret:
        headers["X-Hedy-Signature"] = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, headers


def send_webhook(url: str, event: str, payload: dict, *, secret: str | None = None, nested: bool = False,
                 retry_delay: float = 0.05) -> int:
    """POST one event the way Hedy does; returns the final HTTP status.

    Flat `{"event": ..., **payload}` by default, the older `{event,timestamp,data}` with `nested`.
    `X-Hedy-Signature` is lower-case hex HMAC-SHA256 of the raw body, no prefix, no timestamp.
    Retries like Hedy: 5xx (and network errors) up to 2 more times with growing delays, 429 once
    (after Retry-After if sent), other statuses never. Delays are short: this is a test fake.
    """
    raw, headers = webhook_request(event, payload, secret=secret, nested=nested)
    server_retries = rate_retries = 0
    with httpx.Client(timeout=10.0) as client:
        while True:
            try:
                response = client.post(url, content=raw, headers=headers)
            except httpx.TransportError:
                if server_retries >= 2:
                    raise
                server_retries += 1
                time.sleep(retry_delay * 2 ** server_retries)
                continue
            status = response.status_code
            if status >= 500 and server_retries < 2:
                server_retries += 1
                time.sleep(retry_delay * 2 ** server_retries)
            elif status == 429 and rate_retries < 1:
                rate_retries += 1
                try:
                    wait = min(float(response.headers.get("Retry-After", retry_delay)), 5.0)
                except ValueError:
                    wait = retry_delay
                time.sleep(wait)
            else:
                return status
