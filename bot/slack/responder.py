"""Answers to response_urls over one pooled HTTP session.

Bolt's `respond()` opens a new aiohttp session (and TCP connection) for every answer; under
load that costs more than everything else the bot does per command. slack_sdk's webhook client
with a shared session keeps connections alive and brings Slack's retry handlers (429
Retry-After, 5xx, connection errors).
"""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.blocks.message import Message

RETRY_HANDLERS = [
    AsyncConnectionErrorRetryHandler(max_retry_count=2),
    AsyncRateLimitErrorRetryHandler(max_retry_count=2),
    AsyncServerErrorRetryHandler(max_retry_count=2),
]


class ResponseUrlError(Exception):
    """Slack refused the answer (the URL expired, was used up, or the message was invalid)."""


class Responder:
    def __init__(self, *, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _shared_session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop, as aiohttp requires.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        return self._session

    async def send(self, response_url: str, message: Message, *, replace_original: bool = False) -> None:
        client = AsyncWebhookClient(url=response_url, session=self._shared_session(), timeout=int(self.timeout),
                                    retry_handlers=RETRY_HANDLERS)
        response = await client.send_dict({**message.to_slack(), "response_type": "ephemeral",
                                           "replace_original": replace_original})
        if response.status_code != 200:
            raise ResponseUrlError(f"Slack answered {response.status_code} to a response_url post")

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
