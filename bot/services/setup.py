"""Setting a workspace up from Slack (the setup modal) and taking it down again. No Slack here:
the listeners turn Slack payloads into a SetupRequest and outcomes into messages.

Every change is written to the audit log in words; keys and secrets never leave this module
except encrypted, through services.connections.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import col, select

from bot.providers.base import AuthError, PermissionDenied, ProviderError, RegistersWebhooks
from bot.providers.registry import provider_info
from bot.services import audit, post_options
from bot.services.connections import AccountTaken, connect, open_provider
from bot.store.models import Connection, InboxEvent, RouteRule, RoutingDecision, SlackMessage, TodoState
from bot.store.states import ConnectionStatus

log = logging.getLogger(__name__)


class KeyRejected(Exception):
    """The provider refused the key: shown on the key field of the modal."""


@dataclass(frozen=True)
class SetupRequest:
    team_id: str
    user_id: str
    provider: str
    api_key: str | None  # None: keep the saved key
    channel: str | None
    webhook_secret: str | None  # None: keep what is saved; "" is never passed (empty means keep)
    posts: frozenset[str]
    register_webhook: bool = False
    personal: bool = False  # a member's own account (/meetings connect): owned by user_id


@dataclass
class SetupOutcome:
    connection: Connection
    created: bool
    webhook_url: str
    changes: list[tuple[str, str]] = field(default_factory=list)  # (audit action, detail)
    webhook_registered: bool = False
    webhook_problem: str | None = None


async def saved_connection(db, team_id: str, provider: str | None = None) -> Connection | None:
    async with db.session() as session:
        query = (select(Connection).where(col(Connection.team_id) == team_id)
                 .order_by(col(Connection.created_at), col(Connection.id)))
        if provider:
            query = query.where(Connection.provider == provider)
        return (await session.exec(query)).first()


async def personal_connection(db, team_id: str, provider: str, owner_id: str) -> Connection | None:
    """A member's own connection to a provider, if they made one."""
    async with db.session() as session:
        return (await session.exec(select(Connection).where(
            col(Connection.team_id) == team_id, col(Connection.provider) == provider,
            col(Connection.personal).is_(True), col(Connection.owner_id) == owner_id)
            .order_by(col(Connection.id)))).first()


async def save_setup(deps, request: SetupRequest) -> SetupOutcome:
    """Check the key live, store everything, record what changed. KeyRejected when the key is refused."""
    info = provider_info(request.provider)
    before = (await personal_connection(deps.db, request.team_id, info.name, request.user_id) if request.personal
              else await saved_connection(deps.db, request.team_id, info.name))
    api_key = request.api_key
    if api_key is None:
        if before is None:
            raise KeyRejected(f"Paste your {info.display_name} API key. {info.key_help}")
        api_key = deps.box.decrypt(before.api_key_encrypted)
    try:
        result = await connect(deps.db, deps.box, deps.factory, team_id=request.team_id, provider=info.name,
                               api_key=api_key, channel=request.channel, webhook_secret=request.webhook_secret,
                               options=post_options.as_options(set(request.posts)), owner_id=request.user_id,
                               personal=request.personal)
    except AccountTaken as exc:
        raise KeyRejected(f"{exc} Use another key, or ask an admin.") from None
    except (AuthError, PermissionDenied) as exc:
        raise KeyRejected(f"{info.display_name} did not accept this key ({exc.message}). Check that you copied "
                          f"all of it. {info.key_help}") from None
    connection = result.connection
    outcome = SetupOutcome(connection=connection, created=result.created,
                           webhook_url=deps.settings.webhook_url(info.name, connection.webhook_token))
    # Fernet ciphertexts differ every time, so compare what they hold.
    key_changed = before is not None and request.api_key is not None and (
        deps.box.decrypt(before.api_key_encrypted) != request.api_key.strip())
    secret_changed = before is not None and request.webhook_secret is not None and (
        (deps.box.decrypt(before.webhook_secret_encrypted) if before.webhook_secret_encrypted else None)
        != (request.webhook_secret.strip() or None))
    outcome.changes = _changes(before, connection, key_changed=key_changed, secret_changed=secret_changed)
    if request.register_webhook:
        await _register_webhook(deps, connection, outcome)
    for action, detail in outcome.changes:
        await audit.record(deps.db, team_id=request.team_id, actor=request.user_id, action=action, detail=detail)
    deps.connections.clear()  # the next command and webhook see the new setup at once
    deps.answers.clear()
    return outcome


def _changes(before: Connection | None, after: Connection, *, key_changed: bool,
             secret_changed: bool) -> list[tuple[str, str]]:
    name = provider_info(after.provider).display_name
    if before is None:
        return [("connected", f"{name}, digests to {_channel(after.default_channel)}, posts: "
                              f"{', '.join(sorted(post_options.chosen(after.options))) or 'nothing'}")]
    changes = []
    if before.status != ConnectionStatus.ACTIVE:
        changes.append(("resumed", f"{name} connection active again"))
    if key_changed:
        changes.append(("key_changed", f"new {name} API key saved"))
    if before.default_channel != after.default_channel:
        changes.append(("channel_changed", f"{_channel(before.default_channel)} → {_channel(after.default_channel)}"))
    if secret_changed:
        changes.append(("webhook_secret_changed", "webhook signing secret saved"))
    if post_options.chosen(before.options) != post_options.chosen(after.options):
        changes.append(("options_changed", "posts: " + (", ".join(sorted(post_options.chosen(after.options)))
                                                        or "nothing")))
    return changes


def _plain(text: str) -> str:
    """A provider's error message, kept out of Slack markup (it ends up in mrkdwn and the audit log)."""
    return re.sub(r"[<>&*_~`]", "", " ".join(str(text).split()))[:200]


def _channel(channel: str | None) -> str:
    return f"<#{channel}>" if channel else "no channel"


async def _register_webhook(deps, connection: Connection, outcome: SetupOutcome) -> None:
    """Create the provider's webhook for this connection's URL, once (its id is kept in options)."""
    if (connection.options or {}).get("registered_webhook_id"):
        outcome.webhook_registered = True
        return
    provider = open_provider(connection, deps.box, deps.factory)
    try:
        if not isinstance(provider, RegistersWebhooks):
            outcome.webhook_problem = f"{provider.display_name} has no API for webhooks; add the URL by hand."
            return
        events = provider.webhook_events(post_options.chosen(connection.options))
        created = await provider.create_webhook(outcome.webhook_url, events)
    except ProviderError as exc:
        outcome.webhook_problem = (f"I could not register the webhook: {_plain(exc.message)}. "
                                   "Add the URL by hand.")
        return
    finally:
        await provider.aclose()
    webhook_id = re.sub(r"[^A-Za-z0-9_.:-]", "", str(created.get("id") or ""))[:100]
    async with deps.db.session() as session:
        row = await session.get(Connection, connection.id)
        row.options = {**(row.options or {}), "registered_webhook_id": webhook_id}
        session.add(row)
    connection.options = {**(connection.options or {}), "registered_webhook_id": webhook_id}
    outcome.webhook_registered = True
    outcome.changes.append(("webhook_registered", f"webhook {webhook_id} created in {provider.display_name}"))


@dataclass
class Disconnected:
    names: list[str] = field(default_factory=list)  # the providers' display names
    problems: list[str] = field(default_factory=list)  # what the admin must still do by hand


async def disconnect(deps, *, team_id: str, user_id: str) -> Disconnected:
    """Remove the workspace's connections with their stored secrets and records; the provider
    webhooks the bot registered are deleted too."""
    async with deps.db.session() as session:
        connections = list((await session.exec(select(Connection).where(Connection.team_id == team_id))).all())
    removed = Disconnected()
    for connection in connections:
        name = provider_info(connection.provider).display_name
        webhook_id = (connection.options or {}).get("registered_webhook_id")
        note = ""
        if webhook_id:
            provider = open_provider(connection, deps.box, deps.factory)
            try:
                if not isinstance(provider, RegistersWebhooks):
                    raise ProviderError(f"{name} has no API for webhooks", provider=connection.provider)
                await provider.delete_webhook(webhook_id)
                note = f"; webhook {webhook_id} deleted in {name}"
            except ProviderError as exc:
                note = (f"; could not delete webhook {webhook_id} in {name} ({_plain(exc.message)}), "
                        "remove it there")
                removed.problems.append(f"I could not delete the webhook I registered in {name} "
                                        f"({_plain(exc.message)}): remove it there by hand.")
            finally:
                await provider.aclose()
        async with deps.db.session() as session:
            # The messages already in Slack stay there; the bot forgets them with the connection.
            await session.exec(delete(SlackMessage).where(SlackMessage.connection_id == connection.id,
                                                          col(SlackMessage.parent_id).is_not(None)))
            await session.exec(delete(SlackMessage).where(SlackMessage.connection_id == connection.id))
            await session.exec(delete(InboxEvent).where(InboxEvent.connection_id == connection.id))
            await session.exec(delete(TodoState).where(TodoState.connection_id == connection.id))
            await session.exec(delete(RoutingDecision).where(RoutingDecision.connection_id == connection.id))
            await session.exec(delete(RouteRule).where(RouteRule.connection_id == connection.id))
            await session.exec(delete(Connection).where(Connection.id == connection.id,
                                                        col(Connection.team_id) == team_id))
        await audit.record(deps.db, team_id=team_id, actor=user_id, action="disconnected",
                           detail=f"{name} connection and its stored key and secret removed{note}")
        removed.names.append(name)
    deps.connections.clear()
    deps.answers.clear()
    return removed
