"""Owners of a held or kept-private meeting (docs/routing.md, docs/owners.md): the people its
todos are suggested to are not told about it (no owner DM, no morning "Are these yours?") until
its approver lets it go to a channel; kept private, only the approver may be asked."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from bot.jobs.followups import run_followups
from bot.slack.ids import ActionId, BlockId
from bot.store.models import Connection
from tests.conftest import USER
from tests.test_owners import ANNA, BEN, TODOS, ZONE, by_key, dm_to, members  # noqa: F401 (fixture)
from tests.test_routing_delivery import click, dm_messages
from tests.test_todo_buttons import wait_until

pytestmark = pytest.mark.usefixtures("workers")


@pytest.fixture
async def held(deps, fake_hedy, hedy_webhooks, fake_slack):
    """A "1:1" (the built-in sensitive rule holds it) whose todos name Anna (by email) and Ben."""
    async with deps.db.session() as session:
        await session.exec(update(Connection).values(owner_id=USER))  # the approver
    session = fake_hedy.add_session(sessionId="sess_one_on_one", title="1:1 with Ben", user_todos=TODOS)
    await hedy_webhooks.session_event(session["sessionId"])
    approval = (await wait_until(lambda: dm_messages(fake_slack, USER)))[0]
    return next(b for b in approval["blocks"] if b.get("block_id") == BlockId.ROUTE_ACTIONS)["elements"]


def owner_dms(fake_slack, user: str) -> list[str]:
    return [json.dumps(c.args, ensure_ascii=False) for c in fake_slack.calls_to("chat.postMessage", ok=True)
            if c.args.get("channel") == user and "named as owner" in (c.args.get("text") or "")]


async def test_a_held_meetings_suggested_owner_is_asked_only_after_approval(held, fake_slack, slack_user, deps,
                                                                           db, workers):
    await workers.idle()
    stored = await by_key(db)
    # Matched while held: Anna (her email) owns hers, so her reminders come; Ben is only suggested.
    assert (stored["t_email"].assignee, stored["t_name"].suggested_owner) == (ANNA, BEN)
    assert owner_dms(fake_slack, BEN) == [] and dm_to(fake_slack, BEN) is None

    local = datetime.now(ZoneInfo(ZONE)) + timedelta(days=8)
    await run_followups(deps, datetime.combine(local.date(), time(9), tzinfo=ZoneInfo(ZONE)))
    await workers.idle()
    mornings = {c.args.get("channel") for c in fake_slack.calls_to("chat.postMessage", ok=True)}
    assert ANNA in mornings  # reminders still reach owners by DM
    assert BEN not in mornings  # no "Are these yours?" about a held meeting

    approve = next(b for b in held if b["action_id"] == ActionId.ROUTE_APPROVE)
    await click(slack_user, USER, ActionId.ROUTE_APPROVE, approve["value"])
    sent = await wait_until(lambda: owner_dms(fake_slack, BEN))
    assert "1:1 with Ben" in sent[0] and "update the deck" in sent[0]


async def test_a_meeting_kept_private_asks_nobody_but_its_approver(held, fake_slack, slack_user, db, workers):
    keep = next(b for b in held if b["action_id"] == ActionId.ROUTE_KEEP_PRIVATE)
    await click(slack_user, USER, ActionId.ROUTE_KEEP_PRIVATE, keep["value"])
    # the digest comes to the approver's DM, next to the approval
    await wait_until(lambda: len(dm_messages(fake_slack, USER)) >= 2)
    await workers.idle()
    assert owner_dms(fake_slack, BEN) == []
    assert (await by_key(db))["t_name"].suggested_owner == BEN  # still suggested: the approver can assign it
