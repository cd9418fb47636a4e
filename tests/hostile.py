"""Helpers for the hostile-input tests: one workspace connected to every provider (each with a
webhook signing secret), requests signed the way each provider signs, and the inbox as stored."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from sqlalchemy import func
from sqlmodel import select

from bot.fakes.meetric import FakeMeetric
from bot.fakes.server import ThreadedServer
from bot.providers.whereby_webhooks import sign as whereby_sign
from bot.services.connections import connect
from bot.store.models import InboxEvent
from tests.conftest import CHANNEL, HARMONY_KEY, HEDY_KEY, WHEREBY_KEY

MEETRIC_TOKEN = "mt_test_token_0123456789"
SECRETS = {
    "hedy": "hedy-secret-of-the-hostile-tests",
    "meetric": "meetric-secret-of-the-hostile-tests",
    "harmony": "cd" * 32,
    "whereby": "whereby-secret-of-the-hostile-tests",
}
# One event each provider acts on, as a minimal body: a check that sign() still matches the bot.
KNOWN_EVENTS = {
    "hedy": b'{"event":"session.ended","sessionId":"sess_probe"}',
    "meetric": b'{"event":"conversation.completed","data":{"conversation":{"id":"conv_probe"}}}',
    "harmony": b'{"event":"meeting.processed","data":{"meeting_id":"m_probe"}}',
    "whereby": b'{"type":"transcription.finished","id":"evt_probe","data":{"transcriptionId":"tr_probe"}}',
}


def sign(provider: str, body: bytes, secret: str | None = None) -> dict[str, str]:
    """The headers the provider would send with `body` (raw bytes, whatever they hold)."""
    secret = secret or SECRETS[provider]
    if provider == "meetric":
        return FakeMeetric.sign(body, secret=secret, delivery_id=str(uuid.uuid4()))
    if provider == "whereby":
        return {"Content-Type": "application/json", "Whereby-Signature": whereby_sign(body, secret=secret,
                                                                                        timestamp=int(time.time()))}
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    header = "X-Hedy-Signature" if provider == "hedy" else "X-Harmony-Signature"
    return {"Content-Type": "application/json", header: digest}


def start_fake_meetric(settings) -> tuple[FakeMeetric, ThreadedServer]:
    fake = FakeMeetric(tokens={MEETRIC_TOKEN: {"conversations"}})
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    settings.meetric_api_url = server.url
    return fake, server


async def connect_every_provider(deps, team_id: str) -> dict[str, str]:
    """`team_id` connected to all four providers (their stand-ins must be running); each provider's
    webhook path."""
    keys = {"hedy": HEDY_KEY, "meetric": MEETRIC_TOKEN, "harmony": HARMONY_KEY, "whereby": WHEREBY_KEY}
    paths = {}
    for provider, key in keys.items():
        result = await connect(deps.db, deps.box, deps.factory, team_id=team_id, provider=provider, api_key=key,
                               channel=CHANNEL, webhook_secret=SECRETS[provider])
        paths[provider] = f"/webhooks/{provider}/{result.connection.webhook_token}"
    return paths


async def inbox_rows(db, *, connection_id: int | None = None) -> list[InboxEvent]:
    query = select(InboxEvent).order_by(InboxEvent.id)
    if connection_id is not None:
        query = query.where(InboxEvent.connection_id == connection_id)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def inbox_count(db) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(InboxEvent))).one()
