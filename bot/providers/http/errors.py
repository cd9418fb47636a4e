"""Provider failures as the typed errors of `bot.providers.base`: from an HTTP status, from the
error bodies APIs commonly send, from a Retry-After, and from httpx's own failures."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.providers.base import (
    AuthError,
    BadRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)


def transport_error(exc: BaseException, *, provider: str) -> Unavailable:
    """An httpx (or asyncio) failure as `Unavailable`. Only the exception's type is kept: its
    text can carry URLs and the details are of no use to a Slack user."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return Unavailable(f"{provider} did not answer in time", provider=provider, code="timeout")
    if isinstance(exc, httpx.ConnectError):
        return Unavailable(f"could not connect to {provider}", provider=provider, code="connect_error")
    return Unavailable(f"network error talking to {provider} ({type(exc).__name__})", provider=provider,
                       code="network_error")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def extract_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from the error bodies APIs commonly send:
    `{error:{code,message}}`, `{error:"code", message}`, `{code, message}`, `{detail}`, `{errors:[...]}`."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        return _str(error.get("code") or error.get("type")), _str(error.get("message") or error.get("detail"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return _str(errors[0].get("code")), _str(errors[0].get("message") or errors[0].get("detail"))
    message = body.get("message") or body.get("error_description") or body.get("detail")
    code = body.get("code") or (error if isinstance(error, str) else None)
    return _str(code), _str(message)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def error_for_status(status: int, *, provider: str, code: str | None, message: str | None,
                     retry_after: float | None = None) -> ProviderError:
    """The typed error for an HTTP failure status."""
    text = f"{provider}: {message or f'HTTP {status}'}"
    kwargs: dict[str, Any] = {"provider": provider, "code": code, "status": status}
    if status == 401:
        return AuthError(text, **kwargs)
    if status == 403:
        return PermissionDenied(text, **kwargs)
    if status in (404, 410):
        return NotFound(text, **kwargs)
    if status == 429:
        return RateLimited(text, retry_after=retry_after, **kwargs)
    if status >= 500 or status == 408:
        error = Unavailable(text, **kwargs)
        error.retry_after = retry_after  # a 503's Retry-After is honoured by the retry wait too
        return error
    return BadRequest(text, **kwargs)


def response_error(response: httpx.Response, *, provider: str, redact: tuple[str, ...] = ()) -> ProviderError:
    """The typed error for a failed response, whatever its body (JSON envelope, HTML, empty).
    Strings in `redact` (API keys) are scrubbed from the message in case a server echoes them."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message = extract_error(body)
    if message is None and body is None and response.content:
        message = f"HTTP {response.status_code} with a non-JSON body"
    if message:
        message = message[:300]
        for secret in redact:
            if secret:
                message = message.replace(secret, "[redacted]")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is None and isinstance(body, dict):
        # Some APIs (Meetric) put it in the body: {"statusCode":429,"message":…,"retryAfter":60},
        # or {"code":"rate_limit_exceeded","details":{"retry_after_seconds":60}}.
        details = body.get("details")
        details = details if isinstance(details, dict) else {}
        retry_after = parse_retry_after(_str(body.get("retryAfter") or body.get("retry_after")
                                             or details.get("retry_after_seconds") or details.get("retryAfter")))
    return error_for_status(response.status_code, provider=provider, code=code, message=message,
                            retry_after=retry_after)
