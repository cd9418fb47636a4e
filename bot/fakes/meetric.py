"""A stand-in for Meetric's partner REST API and its webhooks (providers.md §4 and §5 "Meetric fake").

Bearer `mt_…` tokens carry scopes; a bad token is 401 and a missing scope 403, with the
`{statusCode, error, message, code?}` envelope. Conversations come from the last 30 days, at most
25 per page with `pagination.next_cursor`. Each token gets 60 requests a minute, then 429 with
`retryAfter` in the body. `webhook_request` builds a signed `conversation.completed` delivery,
with a stale timestamp or a repeated delivery id when asked.
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
from datetime import datetime, timedelta, timezone

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ALL_SCOPES = frozenset({"conversations", "insights", "transcripts", "users", "teams", "departments"})


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, code: str | None = None, **extra) -> JSONResponse:
    body = {"statusCode": status, "error": {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                                            429: "Too Many Requests"}.get(status, "Error"), "message": message}
    if code:
        body["code"] = code
    body.update(extra)
    return JSONResponse(body, status_code=status)


class FakeMeetric:
    def __init__(self, *, tokens: dict[str, set[str]] | None = None, rate_limit_per_minute: int = 60) -> None:
        self.tokens = {t: set(s) for t, s in (tokens or {"mt_test_token_0123456789": set(ALL_SCOPES)}).items()}
        self.rate_limit = rate_limit_per_minute
        self.url = ""
        self._lock = threading.Lock()
        self._calls: dict[str, deque] = defaultdict(deque)
        self._faults: deque = deque()
        self.requests: list[tuple[str, str]] = []
        self.conversations: dict[str, dict] = {}
        self.insights: dict[str, list[dict]] = {}
        self.app = Starlette(routes=[
            Route("/api/v1/rest/account", self._account),
            Route("/api/v1/rest/conversations", self._list),
            Route("/api/v1/rest/conversations/{cid}", self._detail),
            Route("/api/v1/rest/conversations/{cid}/summary", self._summary),
            Route("/api/v1/rest/conversations/{cid}/insights", self._insights),
            Route("/api/v1/rest/conversations/{cid}/transcript", self._transcript),
        ])

    # ------------------------------------------------------------------ data
    def add_conversation(self, *, title: str, days_ago: float = 1, cid: str | None = None,
                         summary: str = "We agreed on the next steps.", insights: list[dict] | None = None) -> dict:
        cid = cid or str(uuid.uuid4())
        conversation = {
            "id": cid, "title": title, "company": "Acme", "date": _iso(datetime.now(timezone.utc)
                                                                       - timedelta(days=days_ago)),
            "duration": 1800, "medium": "call", "sentiment": "positive", "conversation_type": "sales",
            "summary": summary, "department": {"id": "dep_1", "name": "B2B Sales"},
            "user": {"id": "usr_1", "name": "Erik Lindström", "email": "erik@example.com"},
            "participants": [{"name": "Jane Doe", "email": "jane@acme.com", "role": "customer"}],
        }
        with self._lock:
            self.conversations[cid] = conversation
            self.insights[cid] = insights if insights is not None else [
                {"id": f"{cid}-i1", "type": "objection", "text": "Price is above budget."},
                {"id": f"{cid}-i2", "type": "action_item", "text": "Send the revised quote", "due": "Friday"},
            ]
        return copy.deepcopy(conversation)

    def seed_demo(self) -> None:
        for number, title in enumerate(["Discovery call — Acme", "Demo — Globex", "Pricing — Initech"]):
            self.add_conversation(title=title, days_ago=number + 1, cid=f"conv_demo_{number + 1}")
        self.add_conversation(title="Old call", days_ago=45, cid="conv_old")  # outside the 30-day window

    def fail_next(self, status: int, *, times: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            for _ in range(times):
                self._faults.append((status, retry_after))

    # ------------------------------------------------------------------ webhooks
    def webhook_request(self, conversation_id: str, *, secret: str, delivery_id: str | None = None,
                        timestamp: float | None = None, subscription_id: str = "sub_1") -> tuple[bytes, dict]:
        conversation = self.conversations[conversation_id]
        delivery_id = delivery_id or str(uuid.uuid4())
        body = json.dumps({"event": "conversation.completed", "timestamp": _iso(datetime.now(timezone.utc)),
                           "data": {"conversation": conversation},
                           "_meta": {"token_prefix": "mt_ab12cd34", "delivery_id": delivery_id,
                                     "subscription_id": subscription_id}}, separators=(",", ":")).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Webhook-Event": "conversation.completed",
                      "X-Webhook-Signature": f"sha256={signature}", "X-Webhook-Delivery-Id": delivery_id,
                      "X-Webhook-Timestamp": str(int(timestamp if timestamp is not None else time.time()))}

    # ------------------------------------------------------------------ HTTP
    def _gate(self, request: Request, scope: str | None) -> Response | None:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            if self._faults:
                status, retry_after = self._faults.popleft()
                if status == 429:
                    return _error(429, "Rate limit exceeded. Please try again later.", retryAfter=retry_after)
                return _error(status, "Injected failure")
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if token not in self.tokens:
            return _error(401, "Invalid or missing API token", "invalid_token")
        now = time.monotonic()
        with self._lock:
            calls = self._calls[token]
            while calls and now - calls[0] > 60:
                calls.popleft()
            if len(calls) >= self.rate_limit:
                return _error(429, "Rate limit exceeded. Please try again later.", retryAfter=60)
            calls.append(now)
        if scope and scope not in self.tokens[token]:
            return _error(403, f"Missing required scope: {scope}", "missing_scope", details={"scope": scope})
        return None

    def _meta(self) -> dict:
        return {"token_prefix": "mt_ab12cd34", "timestamp": _iso(datetime.now(timezone.utc))}

    async def _account(self, request: Request) -> Response:
        if (denied := self._gate(request, None)) is not None:
            return denied
        return JSONResponse({"id": "acc_1", "name": "Acme Sales", "brand_name": "Acme", "created_at": "2025-01-01",
                             "updated_at": "2026-01-01", "_meta": self._meta()})

    async def _list(self, request: Request) -> Response:
        if (denied := self._gate(request, "conversations")) is not None:
            return denied
        try:
            limit = int(request.query_params.get("limit", "25"))
        except ValueError:
            return _error(400, "limit must be a number", "invalid_parameter")
        if not 1 <= limit <= 25:
            return _error(400, "limit must be between 1 and 25", "invalid_parameter")
        cutoff = datetime.now(timezone.utc) - timedelta(days=30)
        with self._lock:
            recent = sorted((c for c in self.conversations.values()
                             if datetime.fromisoformat(c["date"].replace("Z", "+00:00")) >= cutoff),
                            key=lambda c: c["date"], reverse=True)
        cursor = request.query_params.get("cursor")
        start = next((i + 1 for i, c in enumerate(recent) if c["id"] == cursor), 0) if cursor else 0
        page = recent[start:start + limit]
        more = start + limit < len(recent)
        return JSONResponse({"conversations": page, "pagination": {"next_cursor": page[-1]["id"] if more else None,
                                                                   "has_more": more}, "_meta": self._meta()})

    def _find(self, cid: str) -> dict | None:
        with self._lock:
            found = self.conversations.get(cid)
            return copy.deepcopy(found) if found else None

    async def _detail(self, request: Request) -> Response:
        if (denied := self._gate(request, "conversations")) is not None:
            return denied
        found = self._find(request.path_params["cid"])
        if found is None:
            return _error(404, "Conversation not found", "not_found")
        return JSONResponse({**found, "_meta": self._meta()})

    async def _summary(self, request: Request) -> Response:
        if (denied := self._gate(request, "conversations")) is not None:
            return denied
        found = self._find(request.path_params["cid"])
        if found is None:
            return _error(404, "Conversation not found", "not_found")
        return JSONResponse({"summary": found["summary"], "_meta": self._meta()})

    async def _insights(self, request: Request) -> Response:
        if (denied := self._gate(request, "insights")) is not None:
            return denied
        cid = request.path_params["cid"]
        if self._find(cid) is None:
            return _error(404, "Conversation not found", "not_found")
        with self._lock:
            items = copy.deepcopy(self.insights.get(cid, []))
        return JSONResponse({"insights": items, "topics": [], "_meta": self._meta()})

    async def _transcript(self, request: Request) -> Response:
        if (denied := self._gate(request, "transcripts")) is not None:
            return denied
        if self._find(request.path_params["cid"]) is None:
            return _error(404, "Conversation not found", "not_found")
        return JSONResponse({"segments": [{"speaker": "Jane Doe", "text": "Hello", "start": 0}],
                             "_meta": self._meta()})
