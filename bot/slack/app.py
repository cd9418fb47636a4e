"""The Bolt app: built in a factory (no network I/O here), listeners registered per surface."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.metrics import ERRORS
from bot.slack import context, install_pages
from bot.slack.blocks.replies import notice_modal
from bot.slack.context import workspace_of
from bot.slack.errors import describe
from bot.slack.installations import SqlStateStore
from bot.slack.listeners import actions, commands, home, lifecycle, members, routing, setup, todos

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


# The bot scopes an install asks for; the same list as manifest.yml (a test keeps them equal).
BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "users:read", "users:read.email", "channels:read",
              "groups:read"]


def _oauth_flow(deps: Deps) -> AsyncOAuthFlow:
    settings = deps.settings
    assert settings.slack_client_secret is not None, "build_slack_app checks it first"
    slack_origin = settings.slack_api_url.rstrip("/").removesuffix("/api")
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=BOT_SCOPES,
        installation_store=deps.installations,
        state_store=SqlStateStore(deps.db),
        state_expiration_seconds=600,
        redirect_uri=f"{settings.public_url}/slack/oauth_redirect",
        authorization_url=f"{slack_origin}/oauth/v2/authorize",
        callback_options=install_pages.CALLBACKS,
    )
    return InstallFlow(client=slack_client(deps), settings=oauth_settings)


class InstallFlow(AsyncOAuthFlow):
    async def build_install_page_html(self, url: str, request) -> str:
        return install_pages.install_page_html(url)


def build_slack_app(deps: Deps) -> AsyncApp:
    settings = deps.settings
    if settings.slack_signing_secret is None:
        raise ConfigurationError("SLACK_SIGNING_SECRET is not set: the bot cannot verify requests from Slack. "
                                 "Copy it from your Slack app's Basic Information page.")
    common: dict[str, Any] = dict(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # Listeners ack inline and hand slow work to deps.background (see bot/slack/background.py).
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    if settings.slack_bot_token is not None:
        app = AsyncApp(client=slack_client(deps, settings.slack_bot_token.get_secret_value()), **common)
    elif settings.slack_client_id and settings.slack_client_secret:
        app = AsyncApp(client=slack_client(deps), installation_store=deps.installations,
                       oauth_flow=_oauth_flow(deps), **common)
    else:
        raise ConfigurationError("Neither SLACK_BOT_TOKEN nor SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set. For "
                                 "one workspace, install the app and copy the Bot User OAuth Token (xoxb-…) from "
                                 "its OAuth & Permissions page into SLACK_BOT_TOKEN; to let many workspaces "
                                 "install it, set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET from Basic Information.")

    @app.error
    async def on_error(error, body):
        # Only the ack part of a listener runs here (the rest is in deps.background), so the
        # sentence goes back in the ack itself instead of Slack's "dispatch_failed".
        team_id = workspace_of(body) if isinstance(body, dict) else None
        ERRORS.labels(kind=type(error).__name__).inc()
        message = describe(error, team_id=team_id)
        if isinstance(body, dict) and body.get("type") == "view_submission":
            # A modal takes only a view in answer: the sentence replaces the submitted one.
            answer = {"response_action": "update", "view": notice_modal("Meetings", message.text)}
        else:
            answer = {**message.to_slack(), "response_type": "ephemeral"}
        return BoltResponse(status=200, body=json.dumps(answer),
                            headers={"content-type": "application/json;charset=utf-8"})

    context.register(app, deps)  # who and where, for every listener below
    commands.register(app, deps)
    actions.register(app, deps)
    setup.register(app, deps)
    home.register(app, deps)
    lifecycle.register(app, deps)
    todos.register(app, deps)
    members.register(app, deps)
    routing.register(app, deps)
    return app
