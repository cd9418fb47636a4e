"""What an operator sees of a running server: request ids, one log line per slash command, timing
histograms, the backlog gauges read at scrape time, the start-up summary, and who may read
/metrics.

`RequestContext` is plain ASGI middleware (no body buffering in front of the app): it names each
request (`X-Request-ID` from a proxy, or a new id), echoes the id in the response, and puts it in
a context variable that the log lines and every task the request starts inherit. For Slack's
request URL it watches the body go by on its way to Bolt, only to read the workspace and the
slash command's first word.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import timedelta
from urllib.parse import unquote_plus

from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.logging_setup import REQUEST_ID, TEAM
from bot.metrics import SLASH_ACK_SECONDS, WEBHOOK_INGEST_SECONDS
from bot.providers.registry import PROVIDERS
from bot.store.models import InboxEvent, SlackMessage, utcnow
from bot.store.states import InboxStatus, MessageState

log = logging.getLogger("bot.requests")

_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_WATCH_LIMIT = 1 << 20  # Slack's largest payloads (view submissions) fit well inside 1 MiB
_SUBCOMMAND = re.compile(r"[a-z]{1,20}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _GOOD_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


_FORM_TEAM = re.compile(rb"(?:^|&)team_id=([A-Z0-9]{1,32})(?:&|$)")
_FORM_COMMAND = re.compile(rb"(?:^|&)command=([^&]{1,64})")
_FORM_TEXT = re.compile(rb"(?:^|&)text=([^&]{0,200})")
# Interactive payloads are URL-encoded JSON: the workspace of a view (app_installed_team_id) or of the
# payload (team.id), found without parsing the whole body.
_PAYLOAD_TEAM = re.compile(rb"%22(?:app_installed_team_id|team_id)%22%3A%22([A-Z0-9]{1,32})%22"
                           rb"|%22team%22%3A%7B%22id%22%3A%22([A-Z0-9]{1,32})%22")


def _slack_fields(body: bytes) -> tuple[str | None, str | None]:
    """(team id, `/command subcommand`) of a Slack request body; either may be None. Regular
    expressions over the raw bytes, not a parse: this runs on every request, in front of Bolt."""
    command = _FORM_COMMAND.search(body)
    if command:
        team = _FORM_TEAM.search(body)
        text = _FORM_TEXT.search(body)
        words = unquote_plus(text.group(1).decode("latin-1")).split() if text else []
        first = words[0].lower() if words else "help"
        name = unquote_plus(command.group(1).decode("latin-1"))[:32]
        return (team.group(1).decode() if team else None), f"{name} " + (first if _SUBCOMMAND.fullmatch(first)
                                                                          else "?")
    if body.startswith(b"payload="):
        found = _PAYLOAD_TEAM.search(body)
        if found:
            return (found.group(1) or found.group(2)).decode(), None
    return None, None


def _webhook_provider(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "webhooks":
        return parts[2].lower() if parts[2].lower() in PROVIDERS else "unknown"
    return None


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers") or [])
        REQUEST_ID.set(request_id)
        TEAM.set(None)
        started = time.perf_counter()
        path = scope.get("path", "")
        slack = path == "/slack/events" and scope.get("method") == "POST"
        provider = _webhook_provider(path) if scope.get("method") == "POST" else None
        seen = bytearray()
        command: list[str | None] = [None]
        status: list[int] = [0]

        async def watching_receive() -> Message:
            message = await receive()
            if slack and message["type"] == "http.request":
                if len(seen) < _WATCH_LIMIT:
                    seen.extend(message.get("body", b"")[:_WATCH_LIMIT - len(seen)])
                if not message.get("more_body") and len(seen) < _WATCH_LIMIT:
                    # Set in the request's own task: the listener's background work inherits it.
                    team, command[0] = _slack_fields(bytes(seen))
                    if team:
                        TEAM.set(team[:32])
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                elapsed = time.perf_counter() - started
                if command[0]:
                    SLASH_ACK_SECONDS.observe(elapsed)
                elif provider:
                    WEBHOOK_INGEST_SECONDS.labels(provider=provider).observe(elapsed)
            await send(message)

        await self.app(scope, watching_receive if slack else receive, send_with_id)
        if command[0]:
            log.info("%s: acked %d in %.1f ms", command[0], status[0], (time.perf_counter() - started) * 1000)


# ----------------------------------------------------------------------------- /metrics

INBOX_BACKLOG = Gauge("meetings_bot_inbox_backlog", "Webhook events waiting or being processed")
OUTBOX_BACKLOG = Gauge("meetings_bot_outbox_backlog", "Slack messages waiting to be posted or edited")
DEAD_EVENTS = Gauge("meetings_bot_dead_events", "Webhook events that gave up (see `meetings-bot inbox list`)")
DEAD_MESSAGES = Gauge("meetings_bot_dead_messages", "Slack messages that gave up (see `/meetings status`)")
OLDEST_PENDING = Gauge("meetings_bot_oldest_pending_seconds", "Age of the oldest webhook event not yet processed")


async def refresh_gauges(db) -> None:
    """Four small indexed queries, run when /metrics is scraped rather than on a timer."""
    inbox, messages = InboxEvent.__table__.c, SlackMessage.__table__.c  # type: ignore[attr-defined]
    async with db.engine.connect() as connection:
        by_status = dict((await connection.execute(
            select(inbox.status, func.count())
            .where(inbox.status.in_((InboxStatus.PENDING, InboxStatus.PROCESSING, InboxStatus.DEAD)))
            .group_by(inbox.status))).all())
        oldest = (await connection.execute(select(func.min(inbox.received_at)).where(
            inbox.status.in_((InboxStatus.PENDING, InboxStatus.PROCESSING))))).scalar()
        by_state = dict((await connection.execute(
            select(messages.state, func.count()).where(
                (messages.state == MessageState.DEAD)
                | ((messages.state == MessageState.ACTIVE)
                   & ((messages.sent_hash.is_(None)) | (messages.sent_hash != messages.content_hash))))
            .group_by(messages.state))).all())
    INBOX_BACKLOG.set(by_status.get(InboxStatus.PENDING, 0) + by_status.get(InboxStatus.PROCESSING, 0))
    DEAD_EVENTS.set(by_status.get(InboxStatus.DEAD, 0))
    OUTBOX_BACKLOG.set(by_state.get(MessageState.ACTIVE, 0))
    DEAD_MESSAGES.set(by_state.get(MessageState.DEAD, 0))
    if oldest is None:
        OLDEST_PENDING.set(0)
    else:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        OLDEST_PENDING.set(max((utcnow() - oldest) / timedelta(seconds=1), 0.0))


def metrics_endpoint(deps, *, public: bool):
    """/metrics. On the public port: hidden when METRICS_PORT is set, behind the bearer token when
    METRICS_TOKEN is; on the metrics port, open (it is not exposed)."""
    settings = deps.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        if public and settings.metrics_port is not None:
            return PlainTextResponse("Not found", status_code=404)
        if public and token is not None:
            sent = request.headers.get("authorization", "")
            import hmac

            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("Metrics need `Authorization: Bearer <METRICS_TOKEN>`.", status_code=401,
                                         headers={"WWW-Authenticate": "Bearer"})
        try:
            await refresh_gauges(deps.db)
        except Exception as exc:  # counters still answer when the database is away
            log.warning("could not read the backlog for /metrics: %s", type(exc).__name__)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics


# ----------------------------------------------------------------------------- start-up


def database_for_humans(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable DATABASE_URL)"


def startup_summary(settings) -> str:
    mode = ("single-workspace mode" if settings.slack_bot_token is not None else
            "multi-workspace (OAuth) mode" if settings.slack_client_id else "no Slack credentials")
    providers = ", ".join(f"{name} ({getattr(settings, f'{name}_api_url', '?')})" for name in PROVIDERS)
    metrics = (f"metrics on port {settings.metrics_port}" if settings.metrics_port else
               "metrics on the public port behind METRICS_TOKEN" if settings.metrics_token else
               "metrics open on the public port")
    return (f"meetings-bot starting: {mode}, database {database_for_humans(settings.database_url)}, "
            f"public URL {settings.public_url}, providers {providers}, {metrics}, "
            f"log {settings.log_level.upper()}/{settings.log_format}")
