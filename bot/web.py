"""The HTTP app: Slack's request URL, health, readiness and metrics."""

from __future__ import annotations

import gc
import logging
import time
from contextlib import asynccontextmanager

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.delivery.webhooks import webhook_endpoint
from bot.delivery.workers import Workers
from bot.deps import Deps
from bot.observability import RequestContext, metrics_endpoint, startup_summary
from bot.providers.registry import ProviderFactory
from bot.settings import Settings
from bot.slack import install_pages
from bot.slack.app import build_slack_app
from bot.slack_guard import slack_events_endpoint
from bot.store import migrate
from bot.store.crypto import secret_box
from bot.store.db import Database
from bot.store.secrets import undecryptable

log = logging.getLogger(__name__)


def build_deps(settings: Settings) -> Deps:
    return Deps(settings=settings, db=Database(settings.database_url), box=secret_box(settings),
                factory=ProviderFactory(settings))


async def stored_secrets_problem(deps: Deps, *, quiet: bool = False) -> str | None:
    """At start-up: a sentence when stored secrets do not decrypt with ENCRYPTION_KEY (then /readyz
    says it instead of every webhook failing for hours), else None."""
    try:
        report = await undecryptable(deps.db, deps.box)
    except Exception as exc:  # the database may not be migrated yet; readiness reports that itself
        log.warning("could not check the stored secrets at start-up: %s", type(exc).__name__)
        return None
    if report.ok:
        return None
    if not quiet:
        log.error("%s", report.sentence())
    return report.sentence()


def metrics_app(deps: Deps) -> Starlette:
    """The app METRICS_PORT serves: /metrics and nothing else."""
    return Starlette(routes=[Route("/metrics", metrics_endpoint(deps, public=False), methods=["GET"])])


def create_app(settings: Settings, *, deps: Deps | None = None, run_migrations: bool = True,
               workers: Workers | None = None, start_workers: bool = True) -> Starlette:
    deps = deps or build_deps(settings)
    workers = workers or Workers(deps)
    slack_app = build_slack_app(deps)
    slack_handler = AsyncSlackRequestHandler(slack_app)

    # Signature and size checked on the raw body before Bolt parses anything (bot/slack_guard.py).
    assert settings.slack_signing_secret is not None  # build_slack_app refuses to build without it
    slack_events = slack_events_endpoint(slack_app, settings.slack_signing_secret.get_secret_value())

    async def slack_install(request: Request) -> Response:
        """The install page and Slack's redirect back (multi-workspace mode); Bolt's OAuth flow."""
        if slack_app.oauth_flow is None:
            notice = install_pages.single_workspace_notice()
            return HTMLResponse(notice.body, status_code=notice.status)
        return await slack_handler.handle(request)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        secrets_problem = getattr(app.state, "secrets_problem", None)
        if secrets_problem and time.monotonic() - app.state.secrets_checked_at >= 1.0:
            # Checked again (at most once a second) until it is fixed: the operator may have removed
            # the connections it was about, or restored their rows.
            app.state.secrets_problem = secrets_problem = await stored_secrets_problem(deps, quiet=True)
            app.state.secrets_checked_at = time.monotonic()
        if secrets_problem:
            return JSONResponse({"status": "unavailable", "secrets": secrets_problem}, status_code=503)
        try:
            async with deps.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await migrate.is_current(deps.db.engine)
        except Exception as exc:  # readiness reports, never raises
            log.warning("readiness check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        if not current:
            return JSONResponse({"status": "unavailable", "database": "ok", "migrations": "pending"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "migrations": "current"})

    async def not_found(_request: Request, _exc) -> Response:
        return PlainTextResponse("Not found", status_code=404)

    async def server_error(_request: Request, exc) -> Response:
        log.error("unhandled error in an HTTP request", exc_info=exc)
        return PlainTextResponse("Internal error", status_code=500)

    @asynccontextmanager
    async def lifespan(_app):
        log.info("%s", startup_summary(settings))
        if run_migrations:
            await migrate.upgrade(deps.db.engine)
        app.state.secrets_problem = await stored_secrets_problem(deps)
        app.state.secrets_checked_at = time.monotonic()
        deps.factory.warm()
        if start_workers:
            await workers.start()
        # What start-up built (the app, the routes, the imported modules) lives as long as the process:
        # keep it out of every later collection, so the pauses under load stay short.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if start_workers:
                await workers.stop()
            await deps.aclose()
            await deps.db.dispose()

    app = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/slack/install", slack_install, methods=["GET"]),
            Route("/slack/oauth_redirect", slack_install, methods=["GET"]),
            Route("/webhooks/{provider}/{token}", webhook_endpoint(deps), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint(deps, public=True), methods=["GET"]),
        ],
        middleware=[Middleware(RequestContext)],
        exception_handlers={404: not_found, 500: server_error},
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.workers = workers
    app.state.slack_app = slack_app
    return app
