"""What listeners need, built once per app (a composition root, no globals)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.inbox import InboxWriter
from bot.jobs.directory import DirectoryReads
from bot.providers.base import MeetingProvider
from bot.providers.cache import ReadCache
from bot.providers.registry import ProviderFactory, provider_info
from bot.services.connections import active_connection, open_provider
from bot.settings import Settings
from bot.slack.background import Background
from bot.slack.installations import NotInstalled, SqlInstallationStore
from bot.store.crypto import SecretBox
from bot.store.db import Database
from bot.store.models import Connection


class WorkspaceClient(AsyncWebClient):
    """A Web API client whose bot token is looked up in the installation store on first use."""

    def __init__(self, *, team_id: str, installations: SqlInstallationStore, **kwargs) -> None:
        super().__init__(**kwargs)
        self._team_id = team_id
        self._installations = installations

    async def api_call(self, api_method: str, **kwargs):
        if self.token is None:
            self.token = await self._installations.bot_token(self._team_id)
            if self.token is None:
                raise NotInstalled(self._team_id)
        return await super().api_call(api_method, **kwargs)


@dataclass
class Deps:
    settings: Settings
    db: Database
    box: SecretBox
    factory: ProviderFactory
    background: Background = field(default_factory=Background)
    answers: ReadCache = field(default_factory=ReadCache)  # see bot/slack/answers.py
    # Workspace → connection, for a few seconds: under a burst of commands the database is read once,
    # not once per command. "Not connected" is never cached, so a new connection works at once.
    connections: ReadCache = field(default_factory=lambda: ReadCache(ttl=5.0))
    # (team, user) → the channels a member is in (users.conversations), for who may see a meeting.
    user_channels: ReadCache = field(default_factory=lambda: ReadCache(ttl=300))
    # Set when a webhook is stored, so the inbox worker starts on it at once instead of at its next poll.
    inbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a message needs posting or editing now (a todo click), so the sender does not wait.
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # A new workspace's first member directory read, in the background (bot/jobs/directory.py).
    directory_reads: DirectoryReads = field(default_factory=DirectoryReads)
    inbox_writer: InboxWriter = field(init=False)  # webhooks are stored through it (group commit)
    installations: SqlInstallationStore = field(init=False)  # bot tokens in multi-workspace mode
    _slack_session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.inbox_writer = InboxWriter(self.db)
        self.installations = SqlInstallationStore(self.db, self.box)

    def slack_client(self, team_id: str, *, interactive: bool = False) -> AsyncWebClient:
        """A Web API client for the workspace, over one pooled session, at SLACK_API_URL.

        For the sender, 429s and 5xx are its own to schedule (it re-queues instead of sleeping);
        only a dropped connection is retried on the spot. `interactive=True` is for a call a
        user is waiting on (a modal, the App Home, an admin check): a 429 is retried after its
        Retry-After and a 5xx once, since there is no queue to come back to it later."""
        if self._slack_session is None or self._slack_session.closed:
            self._slack_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        retry_handlers: list[Any] = [AsyncConnectionErrorRetryHandler(max_retry_count=1)]
        if interactive:
            retry_handlers += [AsyncRateLimitErrorRetryHandler(max_retry_count=2),
                               AsyncServerErrorRetryHandler(max_retry_count=1)]
        options: dict[str, Any] = dict(base_url=self.settings.slack_api_url, session=self._slack_session, timeout=15,
                       retry_handlers=retry_handlers)
        if self.settings.slack_bot_token is not None:
            return AsyncWebClient(token=self.settings.slack_bot_token.get_secret_value(), **options)
        return WorkspaceClient(team_id=team_id, installations=self.installations, **options)

    async def aclose(self) -> None:
        await self.background.drain()
        await self.directory_reads.stop()
        if self._slack_session is not None and not self._slack_session.closed:
            await self._slack_session.close()
        await self.factory.aclose()

    @asynccontextmanager
    async def provider_for(self, team_id: str) -> AsyncIterator[tuple[Connection, MeetingProvider, str]]:
        """The workspace's connection, a client for it, and the provider's display name."""
        connection = await self.connections.get(("connection", team_id), lambda: active_connection(self.db, team_id))
        provider = open_provider(connection, self.box, self.factory)
        try:
            yield connection, provider, provider_info(connection.provider).display_name
        finally:
            await provider.aclose()
