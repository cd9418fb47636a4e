"""The Bolt app: built in a factory (no network I/O here), listeners registered per surface."""

from __future__ import annotations

import json
import logging

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.deps import Deps
from bot.slack.errors import describe
from bot.slack.listeners import actions, commands, home, lifecycle, setup
from bot.slack.metrics import ERRORS

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    pass


def slack_client(deps: Deps, token: str | None = None) -> AsyncWebClient:
    """Every Slack client the app creates points at SLACK_API_URL and retries 429 (Retry-After) and 5xx."""
    return AsyncWebClient(
        token=token,
        base_url=deps.settings.slack_api_url,
        timeout=15,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_slack_app(deps: Deps) -> AsyncApp:
    settings = deps.settings
    if settings.slack_signing_secret is None:
        raise ConfigurationError("SLACK_SIGNING_SECRET is not set: the bot cannot verify requests from Slack. "
                                 "Copy it from your Slack app's Basic Information page.")
    if settings.slack_bot_token is None:
        raise ConfigurationError("SLACK_BOT_TOKEN is not set. Install the app to your workspace and copy the "
                                 "Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page.")
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=slack_client(deps, settings.slack_bot_token.get_secret_value()),
        # Listeners ack inline and hand slow work to deps.background (see bot/slack/background.py).
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )

    @app.error
    async def on_error(error, body):
        # Only the ack part of a listener runs here (the rest is in deps.background), so the
        # sentence goes back in the ack itself instead of Slack's "dispatch_failed".
        team_id = (body.get("team_id") or (body.get("team") or {}).get("id")) if isinstance(body, dict) else None
        ERRORS.labels(kind=type(error).__name__).inc()
        message = describe(error, team_id=team_id)
        return BoltResponse(status=200, body=json.dumps({**message.to_slack(), "response_type": "ephemeral"}),
                            headers={"content-type": "application/json;charset=utf-8"})

    commands.register(app, deps)
    actions.register(app, deps)
    setup.register(app, deps)
    home.register(app, deps)
    lifecycle.register(app, deps)
    return app
