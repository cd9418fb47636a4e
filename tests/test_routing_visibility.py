"""Who sees what: a held meeting only for its approver and admins; another member's personal
account only where its digest went to a channel one can read; `/meetings explain`; status."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from bot.delivery.digests import route
from bot.services.connections import connect
from bot.store.models import Connection
from tests.conftest import CHANNEL, HEDY_KEY, TEAM, SlackUser
from tests.test_webhooks import text_of

OWNER = "U0OWNER"
EVE = "U0EVE"
ADMIN = "U0ADMIN"


@pytest.fixture
def people(fake_slack):
    fake_slack.add_user(OWNER, email="owner@example.com")
    fake_slack.add_user(EVE, email="eve@example.com")
    fake_slack.add_user(ADMIN, is_admin=True, email="admin@example.com")


def as_user(slack_user, user_id: str) -> SlackUser:
    return SlackUser(client=slack_user.client, fake=slack_user.fake, user_id=user_id)


async def deliver(deps, connection, fake_hedy, session_id: str):
    from bot.providers.hedy import HedyProvider

    client = HedyProvider(HEDY_KEY, base_url=fake_hedy.url)
    try:
        meeting = await client.get_meeting(session_id)
    finally:
        await client.aclose()
    return await route(deps, connection=connection, meeting=meeting, provider_name="Hedy")


@pytest.fixture
async def owned(deps, connected, people):
    async with deps.db.session() as session:
        await session.exec(update(Connection).where(Connection.id == connected.id).values(owner_id=OWNER))
    connected.owner_id = OWNER
    return connected


async def test_a_held_meetings_content_and_todos_are_for_its_approver_and_admins(
        slack_user, deps, owned, fake_hedy):
    held = await deliver(deps, owned, fake_hedy, "sess_demo_09")  # "1:1 with Sam"
    assert (held.state, held.approver) == ("held", OWNER)
    sam_todos = [t["text"][:30] for t in fake_hedy.all_todos() if t["sessionId"] == "sess_demo_09"]
    assert sam_todos

    eve = as_user(slack_user, EVE)
    assert "private" in text_of(await eve.ask("show sess_demo_09"))
    assert "1:1 with Sam" not in text_of(await eve.ask("list 30"))
    todos = text_of(await eve.ask("todos all"))
    assert not any(t in todos for t in sam_todos)
    assert "private" in text_of(await eve.ask("explain sess_demo_09"))

    for user in (OWNER, ADMIN):
        who = as_user(slack_user, user)
        assert "1:1 with Sam" in text_of(await who.ask("show sess_demo_09"))
        listed = text_of(await who.ask("todos all"))
        assert any(t in listed for t in sam_todos)
    explained = text_of(await as_user(slack_user, OWNER).ask("explain sess_demo_09"))
    assert "Sensitive meetings" in explained and "waiting for approval" in explained
    assert "1. Sensitive meetings: matched (the title contains" in explained

    status = text_of(await as_user(slack_user, OWNER).ask("status"))
    assert "1 meeting waits for approval" in status and "1:1 with Sam" in status
    assert "waits for approval" not in text_of(await eve.ask("status"))


async def test_explain_without_an_id_lists_the_latest_decisions_the_asker_may_see(
        slack_user, deps, owned, fake_hedy):
    await deliver(deps, owned, fake_hedy, "sess_demo_10")
    await deliver(deps, owned, fake_hedy, "sess_demo_09")
    eve = text_of(await as_user(slack_user, EVE).ask("explain"))
    assert "Weekly Product Sync" in eve and "default channel" in eve and "1:1 with Sam" not in eve
    owner = text_of(await as_user(slack_user, OWNER).ask("explain"))
    assert "1:1 with Sam" in owner and "Weekly Product Sync" in owner
    unknown = text_of(await as_user(slack_user, OWNER).ask("explain sess_never_routed"))
    assert "not routed" in unknown


async def test_another_members_personal_account_is_theirs_except_where_its_digests_went(
        slack_user, deps, fake_hedy, people):
    personal = (await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy", api_key=HEDY_KEY,
                              channel=CHANNEL, owner_id=OWNER, personal=True)).connection
    assert personal.personal and personal.owner_id == OWNER
    await deliver(deps, personal, fake_hedy, "sess_demo_10")  # posted to the public #general

    eve = as_user(slack_user, EVE)
    listed = text_of(await eve.ask("list 10"))
    assert "Weekly Product Sync" in listed and "Sprint Planning" not in listed
    assert "private" in text_of(await eve.ask("show sess_demo_01"))
    assert "Sprint Planning" in text_of(await as_user(slack_user, OWNER).ask("show sess_demo_01"))
    assert "Sprint Planning" in text_of(await as_user(slack_user, ADMIN).ask("list 30"))
    status = text_of(await eve.ask("status"))
    assert "personal" not in status  # the connection is not hers to see
    assert "personal" in text_of(await as_user(slack_user, OWNER).ask("status"))


async def test_members_asking_the_same_question_get_their_own_answers_never_anothers(
        slack_user, deps, owned, fake_hedy):
    """Answers are cached and identical questions in flight are shared; what a member may see
    decides the answer, so the asker is part of both keys."""
    await deliver(deps, owned, fake_hedy, "sess_demo_09")  # "1:1 with Sam", held for OWNER
    owner, eve = as_user(slack_user, OWNER), as_user(slack_user, EVE)

    # At the same time: two questions in flight together.
    mine, hers = await asyncio.gather(owner.ask("list 30"), eve.ask("list 30"))
    assert "1:1 with Sam" in text_of(mine)
    assert "1:1 with Sam" not in text_of(hers) and "Weekly Product Sync" in text_of(hers)

    # One after the other, while the answers are fresh in the cache (given inside the ack).
    for _ in range(2):
        assert "1:1 with Sam" in text_of(await owner.ask("list 30"))
        assert "1:1 with Sam" not in text_of(await eve.ask("list 30"))
        assert "1:1 with Sam" not in text_of(await eve.ask("show sess_demo_09"))
        assert "1:1 with Sam" in text_of(await owner.ask("show sess_demo_09"))


async def test_a_held_meetings_full_minutes_are_for_its_approver_only(slack_user, deps, owned, fake_hedy, fake_slack):
    import json

    from bot.slack.ids import ActionId

    await deliver(deps, owned, fake_hedy, "sess_demo_09")  # "1:1 with Sam", held for OWNER
    for count, (user, sees) in enumerate(((EVE, False), (OWNER, True)), start=1):
        await as_user(slack_user, user).click(ActionId.FULL_MINUTES, "sess_demo_09",
                                              trigger_id=fake_slack.new_trigger_id())
        update = (await asyncio.to_thread(fake_slack.wait_for_call, "views.update", timeout=10, count=count))[-1]
        view = update.args["view"]
        view = json.dumps(view) if isinstance(view, dict) else view
        assert ("only its approver and workspace admins" in view) is not sees
        assert ("1:1 with Sam" in view) is sees
