"""`POST /slack/events`: Slack's signature checked on the raw bytes before anything parses them.

Bolt decodes and parses a request's body before its own signature check, so in front of Bolt alone
an unsigned request with a body it cannot read (not UTF-8, a form `payload=` that is not JSON, JSON
nested past the recursion limit) ends in a 500 and a traceback, and a timestamp header like `abc`
in "Something went wrong". Here, in order and without logging anything above INFO:

1. headers: `X-Slack-Request-Timestamp` must be plain digits and `X-Slack-Signature` of the form
   `v0=<64 hex digits>`, or 401 before the body is read at all;
2. the body is read as a stream and refused with 413 past MAX_SLACK_BODY (the largest real
   payloads, view submissions, are far smaller), so an unsigned 64 MiB body never sits in memory;
3. slack_sdk's SignatureVerifier (v0 scheme, 5-minute window, constant-time comparison) on the
   raw body, or 401; Slack signs UTF-8 text, so a body that is not UTF-8 cannot carry its signature;
4. only then Bolt, which verifies again (same verifier, same secret) and dispatches. A signed body
   Bolt still cannot read (Slack never sends one) is a 400.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bot.delivery.webhooks import TooLarge, read_body

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 1024 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take " 1", "١" or "1_0"  # noqa: RUF003
# The only form Slack's v0 signature takes; anything else (non-ASCII above all, which makes
# hmac.compare_digest raise) is refused before the comparison.
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def _refuse(status: int, message: str) -> Response:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def slack_events_endpoint(slack_app: AsyncApp, signing_secret: str) -> Callable[[Request], Awaitable[Response]]:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: Request) -> Response:
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
            return _refuse(401, "missing or malformed Slack signature headers")
        try:
            body = await read_body(request, MAX_SLACK_BODY)
        except TooLarge:
            return _refuse(413, "the body is over 1 MiB")
        except ClientDisconnect:
            return _refuse(400, "the request body did not arrive")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(401, "invalid Slack signature")
        if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            return _refuse(401, "invalid Slack signature")
        try:
            bolt_request = to_async_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
            log.warning("a signed Slack request with a body Bolt cannot read: %s", type(exc).__name__)
            return _refuse(400, "the request body cannot be read")
        if not isinstance(bolt_request.body, dict):  # JSON that is not an object: Bolt's middleware crashes
            log.warning("a signed Slack request whose body is not an object: %s", type(bolt_request.body).__name__)
            return _refuse(400, "the request body is not an object")
        return to_starlette_response(await slack_app.async_dispatch(bolt_request))

    return slack_events
