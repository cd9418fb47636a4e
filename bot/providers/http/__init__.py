"""HTTP plumbing every provider client shares, one job per module: `pacing` (our own rate and the
server's), `retries` (attempts within a deadline), `errors` (responses and httpx failures as typed
errors) and `client` (`JsonApi`, the request loop built from them). Nothing here knows about a
particular provider. The names below are the package's public face."""

from bot.providers.http.client import DEFAULT_TIMEOUT, JsonApi
from bot.providers.http.errors import (
    error_for_status,
    extract_error,
    parse_retry_after,
    response_error,
    transport_error,
)
from bot.providers.http.pacing import (
    PACERS,
    Pacer,
    Pacers,
    PacingLimited,
    ServerBudget,
    fingerprint,
    get_pacer,
    get_server_budget,
    parse_reset,
)
from bot.providers.http.retries import RETRYABLE, RetryPolicy, call_with_retries

__all__ = [
    "DEFAULT_TIMEOUT",
    "PACERS",
    "RETRYABLE",
    "JsonApi",
    "Pacer",
    "Pacers",
    "PacingLimited",
    "RetryPolicy",
    "ServerBudget",
    "call_with_retries",
    "error_for_status",
    "extract_error",
    "fingerprint",
    "get_pacer",
    "get_server_budget",
    "parse_reset",
    "parse_retry_after",
    "response_error",
    "transport_error",
]
