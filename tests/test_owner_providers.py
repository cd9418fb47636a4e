"""Owners from each provider's stand-in shapes, read by the real adapters over HTTP and matched to
members of the Slack stand-in: Hedy's assignee suggestions (tests/test_owners.py), Meetric's
conversation user and participants, Harmony's owner fields and action item text."""

from __future__ import annotations

import pytest

from bot.fakes.harmony import FakeHarmony
from bot.fakes.meetric import FakeMeetric
from bot.fakes.server import ThreadedServer
from bot.providers.harmony import HarmonyProvider
from bot.providers.meetric import MeetricProvider
from bot.services import owners
from bot.services.owner_hints import hints
from bot.slack.directory import lookup_email, refresh_directory
from tests.conftest import HARMONY_KEY, TEAM

MEETRIC_TOKEN = "mt_test_token_0123456789"


@pytest.fixture(autouse=True)
def members(fake_slack):
    fake_slack.add_user("UERIK", name="erik.l", real_name="Erik Lindström", email="erik@example.com")
    fake_slack.add_user("UANA", name="ana", real_name="Ana Ruiz")  # no email Slack shows: matched by name
    fake_slack.add_user("UBEN", name="ben", real_name="Ben Okafor", email="ben@example.com")


async def owners_of(deps, db, meeting) -> dict[str, owners.Resolution]:
    await refresh_directory(deps, TEAM)

    async def lookup(email: str) -> str | None:
        return await lookup_email(deps, TEAM, email)

    return {todo.text: await owners.resolve(db, team_id=TEAM, todo_hints=hints(todo),
                                            participants=meeting.participants or (), lookup=lookup)
            for todo in meeting.todos}


async def test_meetric_names_the_user_and_participants(deps, db, fake_slack):
    fake = FakeMeetric(tokens={MEETRIC_TOKEN: {"conversations", "insights"}})
    conversation = fake.add_conversation(title="Acme renewal", insights=[
        {"id": "a1", "type": "action_item", "text": "Erik will send the revised quote"},
        {"id": "a2", "type": "action_item", "text": "Jane: confirm the budget"},
        {"id": "a3", "type": "action_item", "text": "Book the follow-up call", "assignee": "ben@example.com"}])
    server = ThreadedServer(fake.app).start()
    provider = MeetricProvider(MEETRIC_TOKEN, base_url=server.url + "/api/v1/rest", fetch_transcript=False)
    try:
        meeting = await provider.get_meeting(conversation["id"])
    finally:
        await provider.aclose()
        server.stop()
    assert [p.email for p in meeting.participants] == ["erik@example.com", "jane@acme.com", "tom@acme.com"]
    found = await owners_of(deps, db, meeting)
    # "Erik": no member is called just that, but one participant is, and their email is a member's
    assert found["Erik will send the revised quote"] == owners.Resolution(
        "suggested", "UERIK", "Erik", "Erik will send the revised quote")
    # Jane is the customer: her address is nobody's in Slack
    assert found["Jane: confirm the budget"].confidence == "needs_owner"
    assert found["Book the follow-up call"].confidence == "confirmed"
    assert found["Book the follow-up call"].user_id == "UBEN"


async def test_harmony_owner_fields_and_text(deps, db, fake_slack):
    fake = FakeHarmony(api_keys=[HARMONY_KEY])
    fake.add_meeting(title="Pilot review", mid="mtg_owners", summary={
        "overview": "Pilot review.",
        "action_items": [{"text": "Send the pilot plan", "owner": "Ana Ruiz"},
                         "- [ ] Ben: update the deck",
                         "Sam will call the customer",
                         "Ana and Ben will present"]})
    server = ThreadedServer(fake.app).start()
    provider = HarmonyProvider(HARMONY_KEY, base_url=server.url, style="meetings", fetch_transcript=False)
    try:
        meeting = await provider.get_meeting("mtg_owners")
    finally:
        await provider.aclose()
        server.stop()
    found = await owners_of(deps, db, meeting)
    assert (found["Send the pilot plan"].confidence, found["Send the pilot plan"].user_id) == ("suggested", "UANA")
    assert (found["- [ ] Ben: update the deck"].confidence,
            found["- [ ] Ben: update the deck"].user_id) == ("suggested", "UBEN")
    # Sam is a participant (sam@customer.example) whom Slack does not know
    assert found["Sam will call the customer"].confidence == "needs_owner"
    # two people named: nobody is suggested
    assert found["Ana and Ben will present"] == owners.Resolution(
        "needs_owner", None, "Ana", "Ana and Ben will present")
