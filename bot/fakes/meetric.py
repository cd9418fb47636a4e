"""A stand-in for Meetric's partner REST API and its webhooks (docs/providers/meetric.md, "The
stand-in").

- Auth: Bearer `mt_…` tokens carrying scopes. No header → 401 `missing_api_token`; an unknown
  token → 401 `invalid_api_token`; a revoked one → 401 `token_revoked`. A missing scope → 403
  `missing_scope` with `details.required_scope`. Every error uses the seed's envelope
  `{statusCode, error, message, code, details}`.
- `recording-url` needs the `recordings` scope and the token flag `include_recordings`
  (403 `recordings_not_allowed` otherwise).
- Conversations: only the last 30 days; `limit` 1–25 (400 outside); cursor paging with
  `pagination.next_cursor`; `_meta:{token_prefix,timestamp}` on every answer.
- Limits per token: 60 requests a minute → 429 with `Retry-After` and the seed's body (or, with
  `retry_after_in_body`, M-DOC's `{"statusCode":429,"message":…,"retryAfter":60}` and no header);
  a daily quota of unique conversations (1000) → 403 `quota_exceeded`.
- Scripted faults (`fail_next`), and a webhook sender: `conversation.completed` signed
  `sha256=<hex>` over the raw body, `X-Webhook-Delivery-Id` stable across retries,
  `X-Webhook-Timestamp` refreshed on each attempt (or stale, on request); deliveries are listed
  at `/webhooks/deliveries`.

State is touched from the test's thread and the server's thread, always under one lock.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ALL_SCOPES = frozenset({"conversations", "insights", "transcripts", "recordings", "users", "teams", "departments",
                        "notetaker"})
BASE = "/api/v1/rest"
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, code: str | None = None, *, details: dict | None = None,
           headers: dict | None = None) -> JSONResponse:
    body: dict = {"statusCode": status, "error": _REASONS.get(status, "Error"), "message": message}
    if code:
        body["code"] = code
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class _Fault:
    status: int
    times: int
    path: str | None
    retry_after: int | None
    body: str | None


class FakeMeetric:
    def __init__(self, *, tokens: dict[str, set[str]] | None = None, rate_limit_per_minute: int = 60,
                 daily_quota: int = 1000, include_recordings: set[str] | None = None,
                 retry_after_in_body: bool = False) -> None:
        self.tokens = {t: set(s) for t, s in (tokens or {"mt_test_token_0123456789": set(ALL_SCOPES)}).items()}
        self.include_recordings = set(include_recordings or ())  # tokens whose include_recordings flag is on
        self.revoked: set[str] = set()
        self.rate_limit = rate_limit_per_minute
        self.daily_quota = daily_quota
        self.retry_after_in_body = retry_after_in_body  # M-DOC's 429 body instead of the seed's
        self.url = ""
        self._lock = threading.Lock()
        self._calls: dict[str, deque] = defaultdict(deque)
        self._seen_today: dict[str, set[str]] = defaultdict(set)
        self._faults: list[_Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.conversations: dict[str, dict] = {}
        self.insights: dict[str, list[dict]] = {}
        self.topics: dict[str, list[str]] = {}
        self.transcripts: dict[str, list[dict]] = {}
        self.deliveries: list[dict] = []
        self.notetaker_requests: list[dict] = []
        self.app = Starlette(routes=[
            Route(BASE + "/account", self._account),
            Route(BASE + "/users", self._users),
            Route(BASE + "/teams", self._teams),
            Route(BASE + "/departments", self._departments),
            Route(BASE + "/conversations", self._list),
            Route(BASE + "/conversations/{cid}", self._detail),
            Route(BASE + "/conversations/{cid}/summary", self._summary),
            Route(BASE + "/conversations/{cid}/insights", self._insights),
            Route(BASE + "/conversations/{cid}/transcript", self._transcript),
            Route(BASE + "/conversations/{cid}/recording-url", self._recording_url),
            Route(BASE + "/notetaker/request", self._notetaker, methods=["POST"]),
            Route(BASE + "/webhooks/deliveries", self._deliveries),
        ])

    # ------------------------------------------------------------------ data
    def add_conversation(self, *, title: str, days_ago: float = 1, cid: str | None = None,
                         summary: str | None = "We agreed on the next steps.", insights: list[dict] | None = None,
                         topics: list[str] | None = None, transcript: list[dict] | None = None,
                         participants: list[dict] | None = None) -> dict:
        cid = cid or str(uuid.uuid4())
        conversation = {
            "id": cid, "title": title, "company": "Acme",
            "date": _iso(datetime.now(UTC) - timedelta(days=days_ago)),
            "duration": 1800, "medium": "call", "sentiment": "positive", "conversation_type": "sales",
            "summary": summary, "department": {"id": "dep_1", "name": "B2B Sales"},
            "user": {"id": "usr_1", "name": "Erik Lindström", "email": "erik@example.com"},
            "participants": participants if participants is not None else [
                {"name": "Jane Doe", "email": "jane@acme.com", "role": "customer"},
                {"name": "Tom Berg", "email": "tom@acme.com", "role": "customer"}],
        }
        with self._lock:
            self.conversations[cid] = conversation
            self.insights[cid] = insights if insights is not None else [
                {"id": f"{cid}-i1", "type": "objection", "text": "Price is above budget."},
                {"id": f"{cid}-i2", "type": "action_item", "text": "Send the revised quote", "due": "Friday"},
            ]
            self.topics[cid] = topics if topics is not None else ["Pricing", "Timeline"]
            self.transcripts[cid] = transcript if transcript is not None else [
                {"speaker_name": "Erik Lindström", "start": 0.84, "end": 3.14, "text": "Thanks for joining today."},
                {"speaker_name": "Jane Doe", "start": 3.5, "end": 6.0, "text": "Happy to be here."},
                {"speaker_name": "Jane Doe", "start": 6.1, "end": 9.0, "text": "Can we talk about price?"},
            ]
        return copy.deepcopy(conversation)

    def seed_demo(self) -> None:
        for number, title in enumerate(["Discovery call — Acme", "Demo — Globex", "Pricing — Initech"]):
            self.add_conversation(title=title, days_ago=number + 1, cid=f"conv_demo_{number + 1}")
        self.add_conversation(title="Old call", days_ago=45, cid="conv_old")  # outside the 30-day window

    def fail_next(self, status: int, *, times: int = 1, retry_after: int | None = 1, path: str | None = None,
                  body: str | None = None) -> None:
        """Answer the next `times` requests (whose path after /api/v1/rest starts with `path`, if
        given) with `status`: a 429 in the configured form, others in the error envelope, or
        `body` verbatim as text/html (a proxy's page)."""
        with self._lock:
            self._faults.append(_Fault(status, times, path, retry_after, body))

    def revoke(self, token: str) -> None:
        with self._lock:
            self.revoked.add(token)

    def request_count(self, prefix: str = "", *, exact: bool = False) -> int:
        """Requests whose path below the REST base starts with `prefix` (is `prefix`, with `exact`)."""
        with self._lock:
            return sum(1 for _m, path in self.requests
                       if (path[len(BASE):] == prefix if exact else path[len(BASE):].startswith(prefix)))

    # ------------------------------------------------------------------ webhooks
    def webhook_request(self, conversation_id: str, *, secret: str, delivery_id: str | None = None,
                        timestamp: float | None = None, subscription_id: str = "sub_1",
                        scopes: set[str] | frozenset[str] = frozenset({"conversations"})) -> tuple[bytes, dict]:
        """One `conversation.completed` delivery (body, headers). `scopes` are the subscription's:
        `transcript` and `insights` are in the payload only with theirs (docs/providers/meetric.md)."""
        with self._lock:
            conversation = copy.deepcopy(self.conversations[conversation_id])
            if "transcripts" in scopes:
                conversation["transcript"] = {"sentences": copy.deepcopy(self.transcripts.get(conversation_id, []))}
            if "insights" in scopes:
                conversation["insights"] = copy.deepcopy(self.insights.get(conversation_id, []))
        delivery_id = delivery_id or str(uuid.uuid4())
        body = json.dumps({"event": "conversation.completed", "timestamp": _iso(datetime.now(UTC)),
                           "data": {"conversation": conversation},
                           "_meta": {"subscription_id": subscription_id, "delivery_id": delivery_id,
                                     "token_prefix": "mt_ab12cd34"}}, separators=(",", ":")).encode()
        return body, self.sign(body, secret=secret, delivery_id=delivery_id, timestamp=timestamp)

    @staticmethod
    def sign(body: bytes, *, secret: str, delivery_id: str, timestamp: float | None = None) -> dict:
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Webhook-Event": "conversation.completed",
                "X-Webhook-Signature": f"sha256={signature}", "X-Webhook-Delivery-Id": delivery_id,
                "X-Webhook-Timestamp": str(int(timestamp if timestamp is not None else time.time()))}

    def send_webhook(self, url: str, conversation_id: str, *, secret: str, attempts: int = 6,
                     retry_delay: float = 0.05, stale: bool = False, **kwargs) -> list[int]:
        """Deliver like Meetric: the same delivery id on every attempt, a fresh timestamp each time
        (ten minutes old with `stale`), retried on anything but a 2xx, up to `attempts` times
        (Meetric waits 1 min, 5 min, 30 min, 2 h, 12 h; here the waits are short). Returns the
        status of each attempt (0 for a network error)."""
        body, headers = self.webhook_request(conversation_id, secret=secret, **kwargs)
        delivery_id = headers["X-Webhook-Delivery-Id"]
        statuses: list[int] = []
        with httpx.Client(timeout=10.0) as client:
            for attempt in range(attempts):
                stamp = time.time() - 600 if stale else time.time()
                headers = self.sign(body, secret=secret, delivery_id=delivery_id, timestamp=stamp)
                try:
                    status = client.post(url, content=body, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                statuses.append(status)
                with self._lock:
                    self.deliveries.append({
                        "id": delivery_id, "subscription_id": kwargs.get("subscription_id", "sub_1"),
                        "event": "conversation.completed", "conversation_id": conversation_id,
                        "attempt": attempt + 1, "status_code": status,
                        "delivered_at": _iso(datetime.now(UTC))})
                if 200 <= status < 300:
                    break
                time.sleep(retry_delay * 2 ** attempt)
        return statuses

    # ------------------------------------------------------------------ HTTP
    def _gate(self, request: Request, scope: str | None, conversation: str | None = None) -> Response | None:
        path = request.url.path
        with self._lock:
            self.requests.append((request.method, path))
            for fault in self._faults:
                if fault.times > 0 and (fault.path is None or path[len(BASE):].startswith(fault.path)):
                    fault.times -= 1
                    self._faults = [f for f in self._faults if f.times > 0]
                    if fault.body is not None:
                        return Response(fault.body, status_code=fault.status, media_type="text/html")
                    if fault.status == 429:
                        return self._too_many(fault.retry_after or 1)
                    return _error(fault.status, "Injected failure")
        auth = request.headers.get("authorization", "")
        if not auth:
            return _error(401, "Missing Authorization header", "missing_api_token")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if token in self.revoked:
            return _error(401, "Token has been revoked", "token_revoked")
        if token not in self.tokens:
            return _error(401, "Token does not match any record", "invalid_api_token")
        now = time.monotonic()
        with self._lock:
            calls = self._calls[token]
            while calls and now - calls[0] > 60:
                calls.popleft()
            if len(calls) >= self.rate_limit:
                return self._too_many(max(1, int(60 - (now - calls[0])) + 1))
            calls.append(now)
        if scope and scope not in self.tokens[token]:
            return _error(403, f"Token is missing required scope: {scope}", "missing_scope",
                          details={"required_scope": scope})
        if conversation is not None:
            with self._lock:
                seen = self._seen_today[token]
                if conversation not in seen and len(seen) >= self.daily_quota:
                    return _error(403, "Daily conversation quota reached", "quota_exceeded",
                                  details={"daily_quota": self.daily_quota})
                if conversation in self.conversations:
                    seen.add(conversation)
        return None

    def _too_many(self, retry_after: int) -> JSONResponse:
        if self.retry_after_in_body:
            return JSONResponse({"statusCode": 429, "message": "Rate limit exceeded. Please try again later.",
                                 "retryAfter": retry_after}, status_code=429)
        return _error(429, "Rate limit exceeded", "rate_limit_exceeded",
                      details={"retry_after_seconds": retry_after}, headers={"Retry-After": str(retry_after)})

    def _meta(self) -> dict:
        return {"token_prefix": "mt_ab12cd34", "timestamp": _iso(datetime.now(UTC))}

    def _ok(self, body: dict) -> JSONResponse:
        return JSONResponse({**body, "_meta": self._meta()})

    async def _account(self, request: Request) -> Response:
        if (denied := self._gate(request, None)) is not None:
            return denied
        return self._ok({"id": "acc_1", "name": "Acme Sales", "brand_name": "Acme", "brand_logo_url": None,
                         "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"})

    async def _users(self, request: Request) -> Response:
        if (denied := self._gate(request, "users")) is not None:
            return denied
        return self._ok({"users": [{"id": "usr_1", "name": "Erik Lindström", "email": "erik@example.com"}]})

    async def _teams(self, request: Request) -> Response:
        if (denied := self._gate(request, "teams")) is not None:
            return denied
        return self._ok({"teams": [{"id": "team_1", "name": "Nordics", "members": [{"id": "usr_1"}]}]})

    async def _departments(self, request: Request) -> Response:
        if (denied := self._gate(request, "departments")) is not None:
            return denied
        return self._ok({"departments": [{"id": "dep_1", "name": "B2B Sales"}]})

    async def _list(self, request: Request) -> Response:
        if (denied := self._gate(request, "conversations")) is not None:
            return denied
        try:
            limit = int(request.query_params.get("limit", "25"))
        except ValueError:
            return _error(400, "limit must be a number", "invalid_parameter")
        if not 1 <= limit <= 25:
            return _error(400, "limit must be between 1 and 25", "invalid_parameter")
        cutoff = datetime.now(UTC) - timedelta(days=30)
        with self._lock:
            recent = sorted((c for c in self.conversations.values()
                             if datetime.fromisoformat(c["date"].replace("Z", "+00:00")) >= cutoff),
                            key=lambda c: c["date"], reverse=True)
        cursor = request.query_params.get("cursor")
        start = next((i + 1 for i, c in enumerate(recent) if c["id"] == cursor), None) if cursor else 0
        if start is None:
            return _error(400, "cursor is not valid", "invalid_cursor")
        page = [copy.deepcopy(c) for c in recent[start:start + limit]]
        more = start + limit < len(recent)
        return self._ok({"conversations": page,
                         "pagination": {"next_cursor": page[-1]["id"] if more else None, "has_more": more}})

    def _find(self, cid: str) -> dict | None:
        with self._lock:
            found = self.conversations.get(cid)
            return copy.deepcopy(found) if found else None

    def _not_found(self) -> JSONResponse:
        return _error(404, "Conversation not found", "conversation_not_found")

    async def _detail(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if (denied := self._gate(request, "conversations", cid)) is not None:
            return denied
        found = self._find(cid)
        if found is None:
            return self._not_found()
        with self._lock:
            if request.query_params.get("include_transcript") == "true":
                found["transcript"] = {"sentences": copy.deepcopy(self.transcripts.get(cid, []))}
            if request.query_params.get("include_insights") == "true":
                found["insights"] = copy.deepcopy(self.insights.get(cid, []))
        return self._ok(found)

    async def _summary(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if (denied := self._gate(request, "conversations", cid)) is not None:
            return denied
        found = self._find(cid)
        if found is None:
            return self._not_found()
        return self._ok({"conversation_id": cid, "summary": found["summary"]})

    async def _insights(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if (denied := self._gate(request, "insights", cid)) is not None:
            return denied
        if self._find(cid) is None:
            return self._not_found()
        with self._lock:
            items = copy.deepcopy(self.insights.get(cid, []))
            topics = [{"name": name} for name in self.topics.get(cid, [])]
        return self._ok({"conversation_id": cid, "insights": items, "topics": topics})

    async def _transcript(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if (denied := self._gate(request, "transcripts", cid)) is not None:
            return denied
        if self._find(cid) is None:
            return self._not_found()
        with self._lock:
            sentences = copy.deepcopy(self.transcripts.get(cid, []))
        return self._ok({"conversation_id": cid, "transcript": {"sentences": sentences}})

    async def _recording_url(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if (denied := self._gate(request, "recordings", cid)) is not None:
            return denied
        token = request.headers["authorization"][7:].strip()
        if token not in self.include_recordings:
            return _error(403, "Token has 'recordings' scope but include_recordings is off", "recordings_not_allowed")
        if self._find(cid) is None:
            return self._not_found()
        return self._ok({"conversation_id": cid, "recording_url": f"https://recordings.example/{cid}.mp4"})

    async def _notetaker(self, request: Request) -> Response:
        if (denied := self._gate(request, "notetaker")) is not None:
            return denied
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        url = body.get("meeting_url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith("https://"):
            return _error(400, "meeting_url must be a supported https meeting link", "invalid_parameter")
        with self._lock:
            self.notetaker_requests.append(body)
        return self._ok({"status": "requested", "meeting_url": url})

    async def _deliveries(self, request: Request) -> Response:
        if (denied := self._gate(request, None)) is not None:
            return denied
        wanted = request.query_params.get("subscription_id")
        with self._lock:
            rows = [copy.deepcopy(d) for d in self.deliveries if wanted in (None, d["subscription_id"])]
        return self._ok({"deliveries": rows[::-1]})
