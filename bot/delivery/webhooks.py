"""`POST /webhooks/{provider}/{token}`: verify, store durably, answer fast.

Nothing here calls the provider or Slack. Order of checks, each answered without storing
anything: unknown provider or token 404, body over 1 MiB 413, missing or wrong signature 401
(where the connection has a signing secret), then 400 for a body that is not UTF-8 JSON, JSON
nested deeper than MAX_NESTING, or text the database cannot store (a NUL, a lone surrogate, an
id longer than its column). A verified event is in the inbox before the 2xx; a duplicate gets a
2xx too, so the provider stops retrying it. A bad request is refused alone: it never joins the
batch other webhooks are committed in (see InboxWriter).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlmodel import select
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bot.delivery.inbox import Unstorable
from bot.logging_setup import REQUEST_ID
from bot.metrics import WEBHOOKS
from bot.providers.registry import PROVIDERS
from bot.providers.webhooks import BadWebhook
from bot.store.models import Connection
from bot.store.states import ConnectionStatus

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
# Real payloads nest a handful of levels; a cap far above that keeps every later json.loads and
# json.dumps of the body (here, in the fingerprint, in the worker) clear of Python's recursion limit.
MAX_NESTING = 64

_JSON_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


@dataclass(frozen=True)
class Target:
    connection_id: int
    team_id: str
    provider: str
    secret: str | None


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def nesting_depth(text: str) -> int:
    """How deep the JSON's arrays and objects go (brackets inside strings do not count); stops
    counting past MAX_NESTING."""
    depth = deepest = 0
    for bracket in _NOT_BRACKETS.sub("", _JSON_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_NESTING:
                break
    return deepest


def check_json_text(body: bytes) -> None:
    """Raise BadWebhook unless the body is UTF-8 text (what JSON between systems must be) nested
    no deeper than MAX_NESTING. Runs before any provider's parser, so it holds for all of them."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadWebhook("the body is not UTF-8 text") from None
    if nesting_depth(text) > MAX_NESTING:
        raise BadWebhook(f"the JSON is nested deeper than {MAX_NESTING} levels")


def _printable(text: str) -> str:
    # Ids and event types come from the body: a newline or an escape sequence in one must not start
    # a line of its own or repaint the operator's terminal.
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _answer(status: int, message: str, provider: str, result: str) -> Response:
    WEBHOOKS.labels(provider=provider, result=result).inc()
    return JSONResponse({"ok": status < 300, "message": message}, status_code=status)


def webhook_endpoint(deps):
    async def lookup(provider: str, token: str) -> Target | None:
        async def load() -> Target | None:
            async with deps.db.session() as session:
                row = (await session.exec(select(Connection).where(
                    Connection.webhook_token == token, Connection.provider == provider,
                    Connection.status == ConnectionStatus.ACTIVE))).first()
            if row is None:
                return None
            secret = deps.box.decrypt(row.webhook_secret_encrypted) if row.webhook_secret_encrypted else None
            return Target(connection_id=row.id, team_id=row.team_id, provider=row.provider, secret=secret)

        found = await deps.connections.get(("webhook", provider, token), load)
        return found

    async def receive(request: Request) -> Response:
        provider = request.path_params["provider"].lower()
        token = request.path_params["token"]
        info = PROVIDERS.get(provider)
        if info is None or not (8 <= len(token) <= 64):
            return _answer(404, "unknown webhook URL", provider if info else "unknown", "not_found")
        try:
            body = await read_body(request)
        except TooLarge:
            return _answer(413, "the body is over 1 MiB", provider, "too_large")
        except ClientDisconnect:
            return _answer(400, "the request body did not arrive", provider, "bad_request")
        target = await lookup(provider, token)
        if target is None:
            return _answer(404, "unknown webhook URL", provider, "not_found")
        if target.secret is not None and not info.webhooks.verify(headers=request.headers, body=body,
                                                                  secret=target.secret):
            return _answer(401, "missing or wrong signature", provider, "bad_signature")
        try:
            check_json_text(body)
            event = info.webhooks.parse(headers=request.headers, body=body)
        except BadWebhook as exc:
            return _answer(400, str(exc), provider, "bad_request")
        except RecursionError:  # a parser that recursed anyway: still the body's fault
            return _answer(400, "the JSON is nested too deeply", provider, "bad_request")
        try:
            # The id RequestContext set (bot/observability.py): the proxy's X-Request-ID only if it
            # passed the check there, else a new one. The worker logs under it (bot/delivery/workers.py).
            stored = await deps.inbox_writer.store(connection_id=target.connection_id, team_id=target.team_id,
                                                   provider=provider, event=event, raw_body=body,
                                                   known=event.event_type in info.webhooks.actions,
                                                   request_id=REQUEST_ID.get())
        except Unstorable as exc:
            return _answer(400, f"{exc}; nothing was stored", provider, "bad_request")
        if not stored.duplicate:
            deps.inbox_wakeup.set()
        result = "duplicate" if stored.duplicate else "stored"
        log.info("%s webhook %s for meeting %s: %s", provider, _printable(event.event_type),
                 _printable(event.meeting_id or "-"),
                 "a duplicate, nothing stored" if stored.duplicate else f"stored as inbox event {stored.id}")
        return _answer(200, result, provider, result)

    return receive
