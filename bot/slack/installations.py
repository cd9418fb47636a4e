"""Multi-workspace mode: Bolt's installation store and OAuth state store on our own tables.

Tokens are encrypted with the same SecretBox as the provider keys and decrypted only in memory.
The state store makes each install attempt's state single use and valid for 10 minutes.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete
from sqlmodel import col, select

from bot.store.crypto import SecretBox
from bot.store.db import Database
from bot.store.models import OAuthState, SlackInstallation, Workspace, utcnow

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)


class NotInstalled(Exception):
    """Multi-workspace mode: the workspace has no installation (or its token was revoked)."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"the app is not installed in workspace {team_id}")
        self.team_id = team_id


def _scopes(value) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else (value or "")


class SqlInstallationStore(AsyncInstallationStore):
    """One row per workspace (the latest installation wins)."""

    def __init__(self, db: Database, box: SecretBox, *, cache_seconds: float = 30.0) -> None:
        self.db = db
        self.box = box
        self.cache_seconds = cache_seconds
        self._tokens: dict[str, tuple[float, str | None]] = {}  # team → (when read, bot token)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        enterprise_id = installation.enterprise_id or ""
        team_id = installation.team_id or ""
        async with self.db.session() as session:
            row = (await session.exec(select(SlackInstallation).where(
                SlackInstallation.enterprise_id == enterprise_id, SlackInstallation.team_id == team_id))).first()
            row = row or SlackInstallation(enterprise_id=enterprise_id, team_id=team_id,
                                           installer_user_id=installation.user_id)
            row.team_name = installation.team_name
            row.app_id = installation.app_id
            row.bot_id = installation.bot_id
            row.bot_user_id = installation.bot_user_id
            row.bot_token_encrypted = self.box.encrypt(installation.bot_token) if installation.bot_token else None
            row.bot_scopes = _scopes(installation.bot_scopes)
            row.installer_user_id = installation.user_id
            row.user_token_encrypted = self.box.encrypt(installation.user_token) if installation.user_token else None
            row.user_scopes = _scopes(installation.user_scopes)
            row.is_enterprise_install = bool(installation.is_enterprise_install)
            row.installed_at = utcnow()
            session.add(row)
            if team_id:
                workspace = await session.get(Workspace, team_id)
                workspace = workspace or Workspace(team_id=team_id)
                workspace.name = installation.team_name
                # Only the first install's person: anyone a workspace lets install apps can
                # re-install, and that must never make them an admin of the bot (bot/slack/admins.py).
                workspace.installed_by = workspace.installed_by or installation.user_id
                session.add(workspace)
        self._tokens.pop(team_id, None)

    async def async_save_bot(self, bot: Bot) -> None:  # only called by async_save's default; unused
        raise NotImplementedError

    async def _row(self, enterprise_id: str | None, team_id: str | None) -> SlackInstallation | None:
        async with self.db.session() as session:
            query = select(SlackInstallation).where(SlackInstallation.team_id == (team_id or ""))
            if enterprise_id:
                query = query.where(SlackInstallation.enterprise_id == enterprise_id)
            return (await session.exec(query)).first()

    def _installation(self, row: SlackInstallation) -> Installation:
        return Installation(
            app_id=row.app_id, enterprise_id=row.enterprise_id or None, team_id=row.team_id or None,
            team_name=row.team_name, bot_token=self.box.decrypt(row.bot_token_encrypted)
            if row.bot_token_encrypted else None, bot_id=row.bot_id, bot_user_id=row.bot_user_id,
            bot_scopes=row.bot_scopes, user_id=row.installer_user_id,
            user_token=self.box.decrypt(row.user_token_encrypted) if row.user_token_encrypted else None,
            user_scopes=row.user_scopes, is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at.timestamp())

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        row = await self._row(enterprise_id, team_id)
        if row is None or (user_id and row.installer_user_id != user_id):
            return None
        return self._installation(row)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        row = await self._row(enterprise_id, team_id)
        if row is None or not row.bot_token_encrypted:
            return None
        return Bot(app_id=row.app_id, enterprise_id=row.enterprise_id or None, team_id=row.team_id or None,
                   team_name=row.team_name, bot_token=self.box.decrypt(row.bot_token_encrypted),
                   bot_id=row.bot_id or "", bot_user_id=row.bot_user_id or "", bot_scopes=row.bot_scopes,
                   installed_at=row.installed_at.timestamp(),
                   is_enterprise_install=row.is_enterprise_install)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self.db.session() as session:
            row = (await session.exec(select(SlackInstallation).where(
                SlackInstallation.team_id == (team_id or "")))).first()
            if row is not None:
                row.bot_token_encrypted = None
                session.add(row)
        self._tokens.pop(team_id or "", None)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        async with self.db.session() as session:
            query = delete(SlackInstallation).where(col(SlackInstallation.team_id) == (team_id or ""))
            if user_id:
                query = query.where(col(SlackInstallation.installer_user_id) == user_id)
            await session.exec(query)
        self._tokens.pop(team_id or "", None)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def bot_token(self, team_id: str) -> str | None:
        """The workspace's bot token, read at most every few seconds (the sender asks for every post)."""
        cached = self._tokens.get(team_id)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        bot = await self.async_find_bot(enterprise_id=None, team_id=team_id)
        token = bot.bot_token if bot else None
        self._tokens[team_id] = (time.monotonic(), token)
        return token


class SqlStateStore(AsyncOAuthStateStore):
    def __init__(self, db: Database, *, ttl: timedelta = STATE_TTL) -> None:
        self.db = db
        self.ttl = ttl

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        async with self.db.session() as session:
            # Old unused states go as new ones come; the table stays small without a cleanup job.
            await session.exec(delete(OAuthState).where(col(OAuthState.expires_at) < utcnow()))
            session.add(OAuthState(state=state, expires_at=utcnow() + self.ttl))
        return state

    async def async_consume(self, state: str) -> bool:
        """True once for a state issued within the last 10 minutes; the row is deleted either way."""
        if not state or len(state) > 64:
            return False
        # One DELETE … RETURNING: of two callbacks racing with the same state, only one gets the row.
        statement = delete(OAuthState).where(col(OAuthState.state) == state).returning(col(OAuthState.expires_at))
        async with self.db.engine.begin() as connection:
            expires_at = (await connection.execute(statement)).scalar_one_or_none()
        return expires_at is not None and expires_at > utcnow()
