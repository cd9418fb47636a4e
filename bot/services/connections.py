"""Connecting a workspace to a provider, and finding its connection again. No Slack here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.providers.base import Account, MeetingProvider
from bot.providers.registry import ProviderFactory, provider_info
from bot.settings import Settings
from bot.store.crypto import SecretBox
from bot.store.db import Database
from bot.store.models import Connection, Workspace, utcnow
from bot.store.states import ConnectionStatus


class NotConnected(Exception):
    """The workspace has no active provider connection."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"workspace {team_id} has no connection")
        self.team_id = team_id


class AccountTaken(Exception):
    """A member tried to connect, as their own, an account that another member or the workspace
    already connected."""


@dataclass
class ConnectResult:
    connection: Connection
    account: Account
    created: bool


def key_hint(secret: str) -> str:
    return secret[-4:] if len(secret) >= 8 else ""


async def connect(
    db: Database,
    box: SecretBox,
    factory: ProviderFactory,
    *,
    team_id: str,
    provider: str,
    api_key: str,
    channel: str | None,
    webhook_secret: str | None = None,
    meeting_started_notes: bool | None = None,
    options: dict | None = None,
    owner_id: str | None = None,
    personal: bool = False,
    set_owner: bool = False,
) -> ConnectResult:
    """Check the key live, then store it encrypted. A rejected key raises and stores nothing.

    A connection is unique per (workspace, provider, provider account): connecting the same
    account again replaces the key but keeps the webhook token, so the webhook URL already pasted
    into the provider keeps working; another account makes a second connection with its own URL.
    `owner_id` becomes the owner of a new connection (or of one without an owner); with `set_owner`
    (an operator's explicit `connect --owner`) it replaces the owner of an existing one too.
    """
    info = provider_info(provider)
    api_key = api_key.strip()
    client = factory.build(info.name, api_key)
    try:
        account = await client.check_key()
    finally:
        await client.aclose()

    async with db.session() as session:
        if await session.get(Workspace, team_id) is None:
            session.add(Workspace(team_id=team_id))
            await session.flush()
        account_key = provider_account_key(account, owner_id=owner_id if personal else None)
        existing = await _connection_for(session, team_id, info.name, account_key)
        if personal and existing is not None and (not existing.personal or existing.owner_id != owner_id):
            raise AccountTaken(f"This {info.display_name} account is already connected "
                               + ("for the whole workspace." if not existing.personal else "by another member."))
        created = existing is None
        connection = existing or Connection(team_id=team_id, provider=info.name, api_key_encrypted="", api_key_hint="")
        connection.provider_account = account_key
        if owner_id and (created or set_owner or not connection.owner_id or personal):
            connection.owner_id = owner_id
        if created:
            connection.personal = personal
        connection.api_key_encrypted = box.encrypt(api_key)
        connection.api_key_hint = key_hint(api_key)
        if webhook_secret is not None:
            secret = webhook_secret.strip()
            connection.webhook_secret_encrypted = box.encrypt(secret) if secret else None
        if channel is not None:
            connection.default_channel = channel
        if meeting_started_notes is not None:
            connection.options = {**(connection.options or {}), "post_meeting_started": meeting_started_notes}
        if options:
            connection.options = {**(connection.options or {}), **options}
        connection.account_email = account.email
        connection.status = ConnectionStatus.ACTIVE
        connection.updated_at = utcnow()
        session.add(connection)
        await session.flush()
        await session.refresh(connection)
    return ConnectResult(connection=connection, account=account, created=created)


def provider_account_key(account: Account, *, owner_id: str | None = None) -> str:
    """Whose account a key opens, as the provider says (its id, else its email). Providers that do
    not say (Harmony, Whereby) get "" for the workspace's connection and the owner for a member's."""
    if account.id or account.email:
        return str(account.id or account.email)[:255]
    return f"owner:{owner_id}" if owner_id else ""


async def _connection_for(session: AsyncSession, team_id: str, provider: str, account_key: str) -> Connection | None:
    same = (await session.exec(select(Connection).where(
        Connection.team_id == team_id, Connection.provider == provider,
        Connection.provider_account == account_key))).first()
    if same is not None:
        return same
    # A connection made before accounts were recorded ("") is this account's: adopt it.
    return (await session.exec(select(Connection).where(
        Connection.team_id == team_id, Connection.provider == provider,
        Connection.provider_account == ""))).first() if account_key and not account_key.startswith("owner:") else None


async def active_connection(db: Database, team_id: str) -> Connection:
    """The workspace's active connection (the oldest, if an admin connected several providers)."""
    async with db.session() as session:
        result = await session.exec(
            select(Connection)
            .where(Connection.team_id == team_id, Connection.status == ConnectionStatus.ACTIVE)
            .order_by(col(Connection.created_at), col(Connection.id))
        )
        connection = result.first()
    if connection is None:
        raise NotConnected(team_id)
    return connection


async def list_connections(db: Database, team_id: str | None = None) -> list[Connection]:
    async with db.session() as session:
        query = select(Connection).order_by(Connection.team_id, Connection.provider)
        if team_id is not None:
            query = query.where(Connection.team_id == team_id)
        return list((await session.exec(query)).all())


def open_provider(connection: Connection, box: SecretBox, factory: ProviderFactory) -> MeetingProvider:
    """A client for this connection's account, with its key decrypted only in memory."""
    return factory.build(connection.provider, box.decrypt(connection.api_key_encrypted))


async def connect_standalone(settings: Settings, *, team: str, provider: str, api_key: str, channel: str | None,
                             webhook_secret: str | None, meeting_started_notes: bool | None = None,
                             meeting_ended_notes: bool | None = None, owner: str | None = None,
                             vet: Callable[[Database, SecretBox], Awaitable[None]] | None = None,
                             ) -> tuple[Connection, Account, bool, str]:
    """Connect from outside a running server (`meetings-bot connect`, the demo): bring the database
    up to date, check the key and store it, note it in the audit log. Returns the connection, the
    key's account, whether the connection is new, and the webhook URL to paste into the provider.
    `vet` runs before anything is stored and may raise to stop it (the CLI's checks with Slack)."""
    from bot.services import audit
    from bot.store import migrate as migrations
    from bot.store.secrets import first_use_box

    provider_info(provider)  # unknown names fail before anything else happens
    db = Database(settings.database_url)
    factory = ProviderFactory(settings)
    try:
        await migrations.upgrade(db.engine)
        box = await first_use_box(settings, db)
        if vet is not None:
            await vet(db, box)
        result = await connect(db, box, factory, team_id=team, provider=provider,
                               api_key=api_key, channel=channel, webhook_secret=webhook_secret,
                               meeting_started_notes=meeting_started_notes,
                               options=({"post_meeting_ended": meeting_ended_notes}
                                        if meeting_ended_notes is not None else None),
                               owner_id=owner, set_owner=owner is not None)
        name = provider_info(provider).display_name
        await audit.record(db, team_id=team, actor="cli", action="connected" if result.created else "updated",
                           detail=f"{name} via meetings-bot connect"
                                  + (f", digests to <#{channel}>" if channel else "")
                                  + (f", owner <@{owner}>" if owner else ""))
    finally:
        await factory.aclose()
        await db.dispose()
    url = settings.webhook_url(result.connection.provider, result.connection.webhook_token)
    return result.connection, result.account, result.created, url
