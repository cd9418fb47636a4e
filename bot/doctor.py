"""`meetings-bot doctor`: what an operator checks first when something is off."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


async def run_checks(settings: Settings) -> list[Check]:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.providers.registry import ProviderFactory, provider_info
    from bot.services.connections import list_connections, open_provider
    from bot.services.meetings import check_key
    from bot.slack.errors import SlackRefusal
    from bot.store import migrate
    from bot.store.crypto import SecretBoxError, secret_box
    from bot.store.db import Database

    checks: list[Check] = []
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

    try:
        box = secret_box(settings)
        checks.append(Check("encryption key", True,
                            "from ENCRYPTION_KEY" if settings.encryption_key else "generated key file in DATA_DIR"))
    except Exception as exc:
        return [*checks, Check("encryption key", False, f"unusable: {exc}")]

    db = Database(settings.database_url)
    factory = ProviderFactory(settings)
    try:
        try:
            revision = await migrate.current_revision(db.engine)
        except Exception as exc:
            checks.append(Check("database", False, f"unreachable: {type(exc).__name__}"))
            return checks
        current = revision == migrate.head_revision()
        checks.append(Check("database", current, f"revision {revision}" + ("" if current else
                                                                          "; run `meetings-bot migrate`")))
        if not current:
            return checks
        for connection in await list_connections(db):
            name = f"{connection.team_id} / {provider_info(connection.provider).display_name}"
            try:
                provider = open_provider(connection, box, factory)
            except SecretBoxError as exc:
                checks.append(Check(name, False, str(exc)))
                continue
            try:
                result = await check_key(provider)
            finally:
                await provider.aclose()
            detail = {"ok": "key works", "rejected": "key rejected: reconnect with a new key",
                      "unreachable": f"provider unreachable: {result.detail}"}[result.state]
            checks.append(Check(name, result.state == "ok", detail))
    finally:
        await factory.aclose()
        await db.dispose()
    return checks
