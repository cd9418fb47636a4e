"""`meetings-bot doctor`: what an operator checks first when something is off. It reads and asks;
it never writes (no key file, no migration)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # works, but the operator should know


async def run_checks(settings: Settings) -> list[Check]:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.providers.registry import ProviderFactory, provider_info
    from bot.services.connections import list_connections, open_provider
    from bot.services.meetings import check_key
    from bot.slack.checks import check_team_and_channel
    from bot.slack.errors import SlackRefusal
    from bot.store import migrate
    from bot.store.crypto import (
        EncryptionKeyError,
        SecretBoxError,
        configured_keys,
        secret_box,
    )
    from bot.store.db import Database, database_problem
    from bot.store.secrets import stored_secret_count, undecryptable

    checks: list[Check] = []
    if settings.public_url_warning:
        checks.append(Check("public URL", True, settings.public_url_warning, warning=True))
    else:
        checks.append(Check("public URL", True, settings.public_url))
    checks.append(Check("signing secret", settings.slack_signing_secret is not None,
                        "set" if settings.slack_signing_secret else "SLACK_SIGNING_SECRET is missing"))
    if settings.slack_bot_token is not None:
        client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        try:
            auth = await client.auth_test()
            checks.append(Check("slack token", True, f"team {auth.get('team')} ({auth.get('team_id')})"))
        except SlackApiError as exc:
            refusal = SlackRefusal.of(exc)  # the body may be HTML or plain text, not Slack's JSON
            checks.append(Check("slack token", False, f"Slack said {refusal.code}" if refusal.code else
                                f"{settings.slack_api_url} answered HTTP {refusal.status} without Slack's JSON: "
                                "is SLACK_API_URL Slack's Web API (https://slack.com/api/)?"))
        except Exception as exc:
            checks.append(Check("slack token", False,
                                f"could not reach {settings.slack_api_url}: {type(exc).__name__}"))
    elif settings.slack_client_id and settings.slack_client_secret:
        checks.append(Check("slack token", True, "OAuth mode: each workspace's token comes from its install "
                                                 f"({settings.public_url}/slack/install)"))
    else:
        checks.append(Check("slack token", False, "neither SLACK_BOT_TOKEN nor SLACK_CLIENT_ID and "
                                                  "SLACK_CLIENT_SECRET are set"))

    problem = await database_problem(settings.database_url)
    if problem:
        return [*checks, Check("database", False, problem)]

    db = Database(settings.database_url)
    factory = ProviderFactory(settings)
    try:
        revision = await migrate.current_revision(db.engine)
        current = revision == migrate.head_revision()
        checks.append(Check("database", current, f"revision {revision}" + ("" if current else
                                                                          "; run `meetings-bot migrate`")))
        if not current:
            return checks

        if configured_keys(settings) is None:
            stored = await stored_secret_count(db)
            checks.append(Check("encryption key", stored == 0,
                                "not set yet: `meetings-bot serve` creates the key file on its first start"
                                if stored == 0 else
                                f"ENCRYPTION_KEY is not set and there is no key file, but {stored} row(s) hold "
                                "encrypted secrets: set ENCRYPTION_KEY to the key they were saved with",
                                warning=stored == 0))
            return checks
        try:
            box = secret_box(settings)
        except EncryptionKeyError as exc:
            return [*checks, Check("encryption key", False, str(exc))]
        report = await undecryptable(db, box)
        checks.append(Check("encryption key", report.ok,
                            ("from ENCRYPTION_KEY" if settings.encryption_key else "from the key file in DATA_DIR")
                            + f"; {report.sentence()}"))

        for connection in await list_connections(db):
            name = f"{connection.team_id} / {provider_info(connection.provider).display_name}"
            team_check, channel_check = await check_team_and_channel(settings, db, box, connection.team_id,
                                                                     connection.default_channel)
            checks.append(Check(f"{name}: workspace", team_check.ok is not False, team_check.detail,
                                warning=team_check.ok is None))
            if channel_check is not None:
                checks.append(Check(f"{name}: channel", channel_check.ok is not False, channel_check.detail,
                                    warning=channel_check.ok is None))
            try:
                provider = open_provider(connection, box, factory)
            except SecretBoxError as exc:
                checks.append(Check(f"{name}: key", False, str(exc)))
                continue
            try:
                result = await check_key(provider)
            finally:
                await provider.aclose()
            detail = {"ok": "key works", "rejected": "key rejected: reconnect with a new key",
                      "unreachable": f"provider unreachable: {result.detail}"}[result.state]
            checks.append(Check(f"{name}: key", result.state == "ok", detail))
    finally:
        await factory.aclose()
        await db.dispose()
    return checks
