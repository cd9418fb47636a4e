"""The inbox lease is short and renewed while an event is worked on: a slow provider never loses
its claim to another replica, and a replica that stops renewing (it died) loses its claims
within one lease, not a minute."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from bot.delivery import inbox
from bot.delivery.workers import Workers
from tests.conftest import CHANNEL
from tests.helpers import digests_in

LEASE = timedelta(seconds=0.6)


async def test_a_claim_is_renewed_while_a_slow_provider_answers(deps, hedy_webhooks, fake_hedy, fake_slack):
    fake_hedy.latency = 1.5  # longer than two leases
    running = Workers(deps, poll_seconds=0.05, channel_interval=0.05, lease=LEASE)
    await running.start()
    try:
        assert (await hedy_webhooks.session_event("sess_demo_12")).status_code == 200
        while (await inbox.counts(deps.db)).get("processing") != 1:  # the worker has it
            await asyncio.sleep(0.01)
        # Another replica asks for due events the whole time the first one waits on Hedy.
        stolen = []
        deadline = time.monotonic() + 15
        while not fake_slack.channel_messages(CHANNEL):
            stolen += await inbox.claim(deps.db, lease=LEASE)
            assert time.monotonic() < deadline, "the digest was not posted"
            await asyncio.sleep(0.05)
    finally:
        await running.stop()
    assert stolen == []
    [event] = await inbox.list_events(deps.db)
    assert event.status == "done" and event.attempts == 1
    assert len(digests_in(fake_slack)) == 1  # posted once (its todo thread may be out too by now)


async def test_claims_nobody_renews_are_taken_again_after_one_lease(deps, hedy_webhooks):
    assert (await hedy_webhooks.session_event("sess_demo_12")).status_code == 200
    claimed_at = time.monotonic()  # before the claim: its lease cannot have started earlier
    [claimed] = await inbox.claim(deps.db, lease=LEASE)  # a replica that then dies
    assert await inbox.claim(deps.db, lease=LEASE) == []
    while not (again := await inbox.claim(deps.db, lease=LEASE)):
        await asyncio.sleep(0.02)
    waited = time.monotonic() - claimed_at
    assert [e.id for e in again] == [claimed.id] and again[0].attempts == 2
    assert LEASE.total_seconds() - 0.05 <= waited < LEASE.total_seconds() + 1.0
    assert timedelta(seconds=15) >= inbox.LEASE  # what a crashed replica costs in production
