"""Routing in the delivery pipeline: fan-out to several channels, each exactly once and edited in
place; the privacy hold, its approval DM and the approver's buttons, exactly once."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import update
from sqlmodel import select

from bot.fakes import slack_requests
from bot.services import decisions, route_rules, routing
from bot.services.routing import Conditions
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.store.models import AuditEntry, Connection, RoutingDecision
from tests.conftest import CHANNEL, SIGNING_SECRET, TEAM
from tests.test_webhooks import digests_in, replies_to, text_of, wait_until

OWNER = "U0OWNER"
EVE = "U0EVE"
ADMIN = "U0ADMIN"
FAN = ("C0SALES", "C0LEADS", "C0ALL")

pytestmark = pytest.mark.usefixtures("workers")


@pytest.fixture
def people(fake_slack):
    fake_slack.add_user(OWNER, email="owner@example.com")
    fake_slack.add_user(EVE, email="eve@example.com")
    fake_slack.add_user(ADMIN, is_admin=True, email="admin@example.com")
    for channel in FAN:
        fake_slack.add_channel(channel, channel.lower()[2:])


@pytest.fixture
async def owned(deps, signed_connection, people):
    async with deps.db.session() as session:
        await session.exec(update(Connection).where(Connection.id == signed_connection.id).values(owner_id=OWNER))
    signed_connection.owner_id = OWNER
    return signed_connection


def dm_messages(fake_slack, user: str) -> list[dict]:
    return fake_slack.channel_messages("D" + user[1:])


async def decision_of(db, meeting_id: str) -> RoutingDecision:
    async with db.session() as session:
        return (await session.exec(select(RoutingDecision).where(RoutingDecision.meeting_id == meeting_id))).one()


async def click(slack_user, user_id: str, action_id: str, value: str, *, trigger_id: str | None = None):
    response_url = slack_user.fake.new_response_url()
    body, headers = slack_requests.block_action(
        SIGNING_SECRET, team_id=TEAM, user_id=user_id, channel_id="D" + user_id[1:], action_id=action_id,
        value=value, response_url=response_url, block_id=BlockId.ROUTE_ACTIONS, trigger_id=trigger_id)
    response = await slack_user.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    return response_url


async def test_a_rule_fans_a_meeting_out_to_three_channels_once_each_and_edits_them_in_place(
        hedy_webhooks, owned, deps, fake_slack, fake_hedy):
    rule = await route_rules.add_rule(deps.db, team_id=TEAM, actor="cli", name="Planning everywhere",
                                      conditions=Conditions(title_contains=("sprint planning",)),
                                      action=routing.CHANNELS, channels=list(FAN))
    for _ in range(2):  # Hedy retried
        await hedy_webhooks.session_event("sess_demo_01")
    await wait_until(lambda: all(len(digests_in(fake_slack, c)) == 1 for c in FAN))
    for channel in FAN:
        digest = digests_in(fake_slack, channel)[0]
        assert "Why here: rule “Planning everywhere”" in text_of(digest)
        await wait_until(lambda d=digest, c=channel: replies_to(fake_slack, d["ts"], c))  # its own todo thread
    assert digests_in(fake_slack, CHANNEL) == []  # not the default channel

    # Rule changes never move a posted meeting; a re-export edits each digest where it is.
    await route_rules.remove_rule(deps.db, team_id=TEAM, rule_id=rule.id, actor="cli")
    fake_hedy.edit_session("sess_demo_01", recap="Re-exported recap with the final numbers.")
    await hedy_webhooks.session_event("sess_demo_01", event="session.exported")
    await wait_until(lambda: all("final numbers" in text_of(digests_in(fake_slack, c)[0]) for c in FAN))
    assert all(len(digests_in(fake_slack, c)) == 1 for c in FAN)
    assert digests_in(fake_slack, CHANNEL) == []
    assert len(fake_slack.calls_to("chat.update", ok=True)) >= 3


async def test_the_default_channel_digest_says_why_it_is_there(hedy_webhooks, owned, fake_slack):
    await hedy_webhooks.session_event("sess_demo_10")
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "Why here: default channel" in text_of(digest)


async def test_a_sensitive_meeting_is_held_and_approved_exactly_once_under_a_double_click(
        hedy_webhooks, owned, deps, fake_slack, fake_hedy, slack_user):
    await hedy_webhooks.session_event("sess_demo_09")  # "1:1 with Sam"
    approval = (await wait_until(lambda: dm_messages(fake_slack, OWNER)))[0]
    text = text_of(approval)
    assert "waits for your approval" in text and "Sensitive meetings" in text and "1:1" in text
    buttons = next(b for b in approval["blocks"] if b.get("block_id") == BlockId.ROUTE_ACTIONS)["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Post to…", "Keep private", "Skip"]
    held = await decision_of(deps.db, "sess_demo_09")
    assert (held.state, held.approver, held.destinations) == ("held", OWNER, [CHANNEL])
    # Nothing in the channel, and no todo thread, while it is held.
    assert digests_in(fake_slack) == []

    value = buttons[0]["value"]
    urls = await asyncio.gather(click(slack_user, OWNER, ActionId.ROUTE_APPROVE, value),
                                click(slack_user, OWNER, ActionId.ROUTE_APPROVE, value))
    answers = [text_of((await slack_user.replies(url))[-1]) for url in urls]
    assert sum("Done" in a for a in answers) == 1
    assert sum("already approved" in a for a in answers) == 1
    digest = (await wait_until(lambda: digests_in(fake_slack)))[0]
    assert "1:1 with Sam" in text_of(digest) and "approved by <@U0OWNER>" in text_of(digest)
    await wait_until(lambda: replies_to(fake_slack, digest["ts"]))  # the todo thread comes with it
    await wait_until(lambda: "Approved by <@U0OWNER>" in text_of(dm_messages(fake_slack, OWNER)[0]))
    assert len(dm_messages(fake_slack, OWNER)) == 1  # the approval DM was edited, not posted again

    # A re-export after the approval edits the posted digest in place.
    fake_hedy.edit_session("sess_demo_09", recap="Corrected recap after the approval.")
    await hedy_webhooks.session_event("sess_demo_09", event="session.exported")
    await wait_until(lambda: "Corrected recap" in text_of(digests_in(fake_slack)[0]))
    assert len(digests_in(fake_slack)) == 1
    async with deps.db.session() as session:
        actions = [a.action for a in (await session.exec(select(AuditEntry))).all()]
    assert actions.count("route_approved") == 1


async def test_only_the_approver_or_an_admin_may_act(hedy_webhooks, owned, deps, fake_slack, slack_user):
    await hedy_webhooks.session_event("sess_demo_03")  # "1:1 with Dana"
    await wait_until(lambda: dm_messages(fake_slack, OWNER))
    held = await decision_of(deps.db, "sess_demo_03")
    url = await click(slack_user, EVE, ActionId.ROUTE_APPROVE, f"d1.{held.id}")
    answer = text_of((await slack_user.replies(url))[-1])
    assert "Only <@U0OWNER> or a workspace admin" in answer and "Nothing was changed" in answer
    assert (await decision_of(deps.db, "sess_demo_03")).state == "held"

    url = await click(slack_user, ADMIN, ActionId.ROUTE_SKIP, f"d1.{held.id}")
    assert "Skipped" in text_of((await slack_user.replies(url))[-1])
    skipped = await decision_of(deps.db, "sess_demo_03")
    assert (skipped.state, skipped.acted_by) == ("skipped", ADMIN)
    await wait_until(lambda: "Skipped by <@U0ADMIN>" in text_of(dm_messages(fake_slack, OWNER)[0]))
    assert digests_in(fake_slack) == []


async def test_keep_private_puts_the_digest_in_the_approvers_dm_only(hedy_webhooks, owned, deps, fake_slack,
                                                                     slack_user):
    await hedy_webhooks.session_event("sess_demo_09")
    await wait_until(lambda: dm_messages(fake_slack, OWNER))
    held = await decision_of(deps.db, "sess_demo_09")
    await click(slack_user, OWNER, ActionId.ROUTE_KEEP_PRIVATE, f"d1.{held.id}")
    await wait_until(lambda: any("kept private by" in text_of(m) for m in dm_messages(fake_slack, OWNER)))
    assert digests_in(fake_slack) == []
    assert (await decision_of(deps.db, "sess_demo_09")).state == "kept_private"


async def test_post_to_a_chosen_channel(hedy_webhooks, owned, deps, fake_slack, slack_user):
    await hedy_webhooks.session_event("sess_demo_09")
    await wait_until(lambda: dm_messages(fake_slack, OWNER))
    held = await decision_of(deps.db, "sess_demo_09")
    await click(slack_user, OWNER, ActionId.ROUTE_POST_TO, f"d1.{held.id}", trigger_id=fake_slack.new_trigger_id())
    opened = await wait_until(lambda: fake_slack.calls_to("views.open", ok=True))
    view = json.loads(opened[0].args["view"]) if isinstance(opened[0].args["view"], str) else opened[0].args["view"]
    assert view["callback_id"] == CallbackId.ROUTE_POST_TO_MODAL
    body, headers = slack_requests.view_submission(
        SIGNING_SECRET, team_id=TEAM, user_id=OWNER, callback_id=CallbackId.ROUTE_POST_TO_MODAL,
        private_metadata=view["private_metadata"],
        values={BlockId.ROUTE_POST_TO_CHANNEL: {ActionId.ROUTE_POST_TO_CHANNEL: {
            "type": "conversations_select", "selected_conversation": "C0LEADS"}}})
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 200
    await wait_until(lambda: digests_in(fake_slack, "C0LEADS"))
    assert digests_in(fake_slack) == []
    assert (await decision_of(deps.db, "sess_demo_09")).destinations == ["C0LEADS"]


@pytest.mark.slack_refuses  # users.lookupByEmail answers users_not_found for an unknown address
async def test_the_meetings_own_person_approves_where_slack_knows_their_email(
        deps, owned, fake_slack):
    """Meetric names the conversation's user: that person approves (users.lookupByEmail)."""
    from bot.delivery.digests import route
    from bot.providers.base import Meeting, Participant

    fake_slack.add_user("U0ERIK", email="erik@example.com")
    meeting = Meeting(id="m-two", title="Catch-up", host_email="erik@example.com",
                      participants=(Participant(email="erik@example.com"), Participant(email="jane@acme.com")))
    decision = await route(deps, connection=owned, meeting=meeting, provider_name="Meetric")
    assert (decision.state, decision.approver, decision.rule_name) == ("held", "U0ERIK", "Sensitive meetings")
    unknown = Meeting(id="m-three", title="1:1", host_email="nobody@example.com")
    assert (await route(deps, connection=owned, meeting=unknown, provider_name="Meetric")).approver == OWNER


async def test_auto_approve_after_the_rules_hours(deps, owned, fake_slack):
    from datetime import timedelta

    from bot.delivery import approvals
    from bot.delivery.digests import route
    from bot.providers.base import Meeting
    from bot.store.models import utcnow

    await route_rules.add_rule(deps.db, team_id=TEAM, actor="cli", name="Board", action=routing.HOLD,
                               conditions=Conditions(title_contains=("board",)), auto_approve_hours=2, position=1)
    decision = await route(deps, connection=owned, meeting=Meeting(id="b1", title="Board meeting"),
                           provider_name="Hedy")
    assert decision.state == "held" and decision.auto_approve_at is not None
    assert await approvals.auto_approve(deps) == 0  # not yet
    async with deps.db.session() as session:
        await session.exec(update(RoutingDecision).where(RoutingDecision.id == decision.id)
                           .values(auto_approve_at=utcnow() - timedelta(minutes=1)))
    assert await approvals.auto_approve(deps) == 1
    stored = await decisions.get(deps.db, team_id=TEAM, decision_id=decision.id)
    assert (stored.state, stored.acted_by) == ("approved", "auto")


async def test_two_replicas_approving_at_once_approve_once(deps, owned, database_url):
    """Two servers (two connection pools on one database) handle the approver's clicks together:
    one conditional UPDATE wins, the other sees it already approved."""
    from bot.delivery.digests import route
    from bot.providers.base import Meeting
    from bot.store.db import Database

    decision = await route(deps, connection=owned, meeting=Meeting(id="r1", title="Interview: Ana"),
                           provider_name="Hedy")
    other = Database(database_url)
    try:
        results = await asyncio.gather(*[
            decisions.act(db, team_id=TEAM, decision_id=decision.id, user_id=OWNER, choice="approve")
            for db in (deps.db, other, deps.db, other)])
    finally:
        await other.dispose()
    assert sorted(r.changed for r in results) == [False, False, False, True]
    assert {r.decision.state for r in results} == {"approved"}
    assert await decisions.act(deps.db, team_id="T0OTHER", decision_id=decision.id, user_id=OWNER,
                               choice="skip") is None  # another workspace cannot touch it
