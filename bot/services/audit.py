"""The audit log: who changed a workspace's setup, when, and what. Callers pass plain
descriptions; nothing here ever receives a key or a secret."""

from __future__ import annotations

from sqlmodel import col, select

from bot.store.db import Database
from bot.store.models import AuditEntry


async def record(db: Database, *, team_id: str, actor: str, action: str, detail: str = "") -> None:
    async with db.session() as session:
        session.add(AuditEntry(team_id=team_id, actor=actor[:64], action=action[:64], detail=detail[:500]))


async def recent(db: Database, team_id: str, *, limit: int = 5) -> list[AuditEntry]:
    async with db.session() as session:
        query = (select(AuditEntry).where(AuditEntry.team_id == team_id)
                 .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit))
        return list((await session.exec(query)).all())
