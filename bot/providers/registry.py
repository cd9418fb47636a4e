"""Which providers exist and how to build a client for one connection.

One shared httpx client per provider per process: connection pooling across commands, and
one place to close them on shutdown.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import httpx

from bot.providers.base import MeetingProvider
from bot.providers.harmony_webhooks import HarmonyWebhooks
from bot.providers.hedy_webhooks import HedyWebhooks
from bot.providers.meetric_webhooks import MeetricWebhooks
from bot.providers.webhooks import WebhookAdapter
from bot.providers.whereby_webhooks import WherebyWebhooks
from bot.settings import Settings


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    display_name: str
    key_help: str  # where an admin finds an API key
    build: Callable[[str, Settings, httpx.AsyncClient | None], MeetingProvider]
    webhooks: WebhookAdapter


def _build_hedy(api_key: str, settings: Settings, client: httpx.AsyncClient | None) -> MeetingProvider:
    from bot.providers.hedy import HedyProvider

    return HedyProvider(api_key, base_url=settings.hedy_api_url, client=client)


def _build_meetric(api_key: str, settings: Settings, client: httpx.AsyncClient | None) -> MeetingProvider:
    from bot.providers.meetric import MeetricProvider

    return MeetricProvider(api_key, base_url=settings.meetric_api_url, rate_limit=settings.meetric_rate_limit,
                           client=client)


def _build_harmony(api_key: str, settings: Settings, client: httpx.AsyncClient | None) -> MeetingProvider:
    from bot.providers.harmony import HarmonyProvider

    return HarmonyProvider(api_key, base_url=settings.harmony_api_url, style=settings.harmony_api_style,
                           rate_limit=settings.harmony_rate_limit, client=client)


def _build_whereby(api_key: str, settings: Settings, client: httpx.AsyncClient | None) -> MeetingProvider:
    from bot.providers.downloads import DownloadPolicy
    from bot.providers.whereby import WherebyProvider

    return WherebyProvider(api_key, base_url=settings.whereby_api_url, client=client,
                           points_per_minute=settings.whereby_points_per_minute,
                           summary_template=settings.whereby_summary_template,
                           poll_seconds=settings.whereby_summary_poll_seconds,
                           download_policy=DownloadPolicy.from_setting(settings.whereby_transcript_private_hosts))


PROVIDERS: dict[str, ProviderInfo] = {
    "hedy": ProviderInfo(
        name="hedy",
        display_name="Hedy",
        key_help="In Hedy: Settings → API Access → create a key (needs a Pro plan with cloud sync).",
        build=_build_hedy,
        webhooks=HedyWebhooks(),
    ),
    "meetric": ProviderInfo(
        name="meetric",
        display_name="Meetric",
        key_help="In Meetric: Settings → REST API → API Tokens; give the token the `conversations` scope, plus "
                 "`insights` and `transcripts` for highlights, todos and transcripts (it starts with mt_).",
        build=_build_meetric,
        webhooks=MeetricWebhooks(),
    ),
    "harmony": ProviderInfo(
        name="harmony",
        display_name="Harmony",
        key_help="In Harmony: Workspace Settings → API (older plans: Settings → Integrations → API); create a "
                 "key whose role can read meetings.",
        build=_build_harmony,
        webhooks=HarmonyWebhooks(),
    ),
    "whereby": ProviderInfo(
        name="whereby",
        display_name="Whereby",
        key_help="In Whereby's embedded dashboard: Configure → API → create an API key. Digests need "
                 "transcription on, and summaries (a Whereby beta) enabled for the organization.",
        build=_build_whereby,
        webhooks=WherebyWebhooks(),
    ),
}


class UnknownProvider(ValueError):
    pass


def provider_info(name: str) -> ProviderInfo:
    try:
        return PROVIDERS[name.lower()]
    except KeyError:
        raise UnknownProvider(
            f"unknown provider {name!r}; choose one of: {', '.join(sorted(PROVIDERS))}"
        ) from None


@cache
def _tls_context() -> ssl.SSLContext:
    # Loading the certificate bundle takes tens of milliseconds: once per process, not per client.
    return httpx.create_ssl_context()


class ProviderFactory:
    """Builds provider clients that share one pooled httpx client per provider."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, name: str) -> httpx.AsyncClient:
        client = self._clients.get(name)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(10.0, connect=5.0),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
                verify=_tls_context(),
            )
            self._clients[name] = client
        return client

    def warm(self) -> None:
        """Build every provider's pooled client now (at start-up), so the first webhook after a
        deploy does not wait for it."""
        for name in PROVIDERS:
            self._client(name)

    def build(self, name: str, api_key: str) -> MeetingProvider:
        return provider_info(name).build(api_key, self.settings, self._client(name))

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
