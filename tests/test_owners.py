"""Todo owners end to end: a meeting's todos from the provider stand-ins, matched to members of
the Slack stand-in (users.lookupByEmail, a paged users.list), shown in the thread with their
confidence, offered to suggested owners in one DM per meeting, answered with signed clicks."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.jobs.followups import run_followups
from bot.services import directory
from bot.slack.directory import refresh_directory
from bot.slack.ids import ActionId
from bot.store.models import OwnerRejection, TodoState
from tests.conftest import CHANNEL, TEAM, USER
from tests.test_todo_buttons import click, click_element, edited, element, wait_until

pytestmark = pytest.mark.usefixtures("workers")

ANNA, BEN, CHRIS1, CHRIS2 = "UANNA", "UBEN", "UCHRIS1", "UCHRIS2"
ZONE = "Europe/Berlin"


@pytest.fixture(autouse=True)
def members(fake_slack):
    fake_slack.add_user(USER, tz=ZONE, tz_offset=3600, real_name="Casey Admin", is_admin=True)
    fake_slack.add_user(ANNA, name="anna", real_name="Anna Kowalski", email="anna@example.com", tz=ZONE,
                        tz_offset=3600)
    fake_slack.add_user(BEN, name="ben", real_name="Ben Okafor", email="ben@example.com", tz=ZONE, tz_offset=3600)
    fake_slack.add_user(CHRIS1, name="chris.a", real_name="Chris", tz=ZONE, tz_offset=3600)
    fake_slack.add_user(CHRIS2, name="chris.b", real_name="Chris", tz=ZONE, tz_offset=3600)
    fake_slack.add_user("UGONE", name="anna.old", real_name="Anna Kowalski", deleted=True)


TODOS = [
    {"id": "t_email", "text": "Send the rollout plan", "assigneeSuggestions": ["anna@example.com"]},
    {"id": "t_name", "text": "Ben will update the deck"},
    {"id": "t_two", "text": "Chris: book the room"},
    {"id": "t_none", "text": "Order the pizza"},
    {"id": "t_stranger", "text": "Sign the contract", "assignee": "jane@customer.example"},
    {"id": "t_name2", "text": "- [ ] Ben: share the numbers"},
]


def thread(fake_slack) -> dict | None:
    for (channel, _ts), message in fake_slack.messages.items():
        if channel == CHANNEL and message.get("thread_ts") and "Todos (" in message.get("text", ""):
            return message
    return None


def dm_to(fake_slack, user: str) -> dict | None:
    return next((m for (c, _), m in fake_slack.messages.items() if c == "D" + user[1:]), None)


def todo_section(message: dict, words: str) -> str:
    return next(b["text"]["text"] for b in message["blocks"] if b["type"] == "section"
                and words in b.get("text", {}).get("text", ""))


async def wait_for_processed(db, count: int) -> None:
    import asyncio

    from bot.store.models import InboxEvent

    for _ in range(300):
        async with db.session() as session:
            done = [e for e in (await session.exec(select(InboxEvent))).all() if e.status in ("done", "ignored")]
        if len(done) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the events were not processed")


async def section_says(fake_slack, message: dict, todo_words: str, words: str) -> dict:
    """Wait until the todo's section in the (edited) message says `words`."""
    return await wait_until(lambda: words in todo_section(fake_slack.messages[(CHANNEL, message["ts"])], todo_words)
                            and fake_slack.messages[(CHANNEL, message["ts"])])


async def by_key(db) -> dict[str, TodoState]:
    async with db.session() as session:
        return {s.todo_key: s for s in (await session.exec(select(TodoState))).all()}


@pytest.fixture
async def weekly_sync(hedy_webhooks, fake_hedy, fake_slack, workers):
    """The meeting's todo thread once all is done: the names are matched after the workspace's first
    directory read, which runs beside the digest (tests/test_owners_first_read.py)."""
    session = fake_hedy.add_session(sessionId="sess_weekly", title="Weekly sync", user_todos=TODOS)
    await hedy_webhooks.session_event(session["sessionId"])
    await wait_until(lambda: thread(fake_slack))
    await workers.idle()
    return thread(fake_slack)


async def test_confirmed_suggested_ambiguous_and_unknown_owners_in_the_thread(weekly_sync, fake_slack, db):
    page = weekly_sync
    assert f"Owner: <@{ANNA}>" in todo_section(page, "Send the rollout plan")  # an email match
    assert f'Suggested: <@{BEN}> (from "Ben will update the deck")' in todo_section(page, "update the deck")
    assert "Needs owner" in todo_section(page, "book the room")  # two members called Chris
    assert "Needs owner" in todo_section(page, "Order the pizza")  # no hint at all
    assert "Needs owner" in todo_section(page, "Sign the contract")  # an address Slack does not know
    stored = await by_key(db)
    assert (stored["t_email"].owner_confidence, stored["t_email"].assignee) == ("confirmed", ANNA)
    assert (stored["t_name"].owner_confidence, stored["t_name"].suggested_owner, stored["t_name"].assignee) == (
        "suggested", BEN, None)
    assert {stored[k].owner_confidence for k in ("t_two", "t_none", "t_stranger")} == {"needs_owner"}
    # Accept / Not me only where someone is suggested
    suggested_row = next(b for b in page["blocks"] if b["type"] == "actions"
                         and any(e.get("action_id") == ActionId.TODO_ACCEPT for e in b["elements"]))
    assert suggested_row["block_id"].endswith(element(page, ActionId.TODO_ACCEPT)["value"])
    assert len([b for b in page["blocks"] if b["type"] == "actions"
                and any(e.get("action_id") == ActionId.TODO_ACCEPT for e in b["elements"])]) == 2
    # Slack was asked within its contract: lookups by email, the directory in pages
    lookups = fake_slack.calls_to("users.lookupByEmail")
    assert {c.args.get("email") for c in lookups} == {"anna@example.com", "jane@customer.example"}
    assert [c.response.get("error") for c in lookups if not c.response.get("ok")] == ["users_not_found"]
    assert fake_slack.calls_to("users.list", ok=True)


async def test_one_dm_per_meeting_to_each_suggested_person(weekly_sync, fake_slack, hedy_webhooks, db):
    dm = await wait_until(lambda: dm_to(fake_slack, BEN))
    text = json.dumps(dm, ensure_ascii=False)
    assert "You were named as owner of 2 todos from «Weekly sync»" in text
    assert "update the deck" in text and "share the numbers" in text
    assert element(dm, ActionId.OWNERS_ACCEPT_ALL)
    assert dm_to(fake_slack, ANNA) is None  # confirmed owners are not asked
    # the meeting processed again (a re-export): still one DM
    await hedy_webhooks.session_event("sess_weekly", event="session.exported")
    await wait_for_processed(db, 2)
    posts = [c for c in fake_slack.calls_to("chat.postMessage", ok=True) if c.args.get("channel") == BEN]
    assert len(posts) == 1


async def test_accept_in_the_dm_makes_a_confirmed_owner_everywhere(weekly_sync, fake_slack, slack_user, db):
    dm = await wait_until(lambda: dm_to(fake_slack, BEN))
    dm_channel = "D" + BEN[1:]
    await click_element(slack_user, dm, ActionId.TODO_ACCEPT, user_id=BEN, channel_id=dm_channel)
    await section_says(fake_slack, weekly_sync, "update the deck", f"Owner: <@{BEN}>")
    dm = await edited(fake_slack, dm, "You own this.", channel=dm_channel)
    stored = await by_key(db)
    assert (stored["t_name"].owner_confidence, stored["t_name"].assignee) == ("confirmed", BEN)
    assert stored["t_name2"].owner_confidence == "suggested"  # the other one still waits
    assert len([b for b in dm["blocks"] if b["type"] == "actions"]) == 1  # only its buttons are left


async def test_accept_all_in_the_dm(weekly_sync, fake_slack, slack_user, db):
    dm = await wait_until(lambda: dm_to(fake_slack, BEN))
    dm_channel = "D" + BEN[1:]
    await click_element(slack_user, dm, ActionId.OWNERS_ACCEPT_ALL, user_id=BEN, channel_id=dm_channel)
    await wait_until(lambda: json.dumps(fake_slack.messages[(CHANNEL, weekly_sync["ts"])]).count(
        f"Owner: <@{BEN}>") == 2)
    dm = await edited(fake_slack, dm, "You own this.", channel=dm_channel)
    assert not [b for b in dm["blocks"] if b["type"] == "actions"]  # nothing left to answer
    stored = await by_key(db)
    assert {stored[k].assignee for k in ("t_name", "t_name2")} == {BEN}


async def test_not_me_needs_an_owner_and_is_remembered(weekly_sync, fake_slack, slack_user, hedy_webhooks,
                                                        fake_hedy, db):
    await click_element(slack_user, weekly_sync, ActionId.TODO_NOT_ME, user_id=BEN)
    page = await section_says(fake_slack, weekly_sync, "update the deck", "Needs owner")
    assert "Suggested" not in todo_section(page, "update the deck")
    async with db.session() as session:
        assert (await session.exec(select(OwnerRejection))).all()[0].user_id == BEN
    # A later meeting naming Ben the same way does not suggest him again
    fake_hedy.add_session(sessionId="sess_next", title="Weekly sync",
                          user_todos=[{"id": "t_later", "text": "Ben will update the deck"}])
    await hedy_webhooks.session_event("sess_next")
    later = await wait_for_state(db, "t_later")
    assert (later.owner_confidence, later.suggested_owner, later.owner_hint) == ("needs_owner", None, "Ben")


async def wait_for_state(db, key: str) -> TodoState:
    import asyncio

    for _ in range(300):
        state = (await by_key(db)).get(key)
        if state is not None and state.owner_confidence is not None:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"no owner decided for {key}")


async def test_only_the_suggested_person_answers(weekly_sync, fake_slack, slack_user, db):
    response_url = fake_slack.new_response_url()
    await click_element(slack_user, weekly_sync, ActionId.TODO_ACCEPT, user_id=USER, response_url=response_url)
    [answer] = await fake_slack.wait_for_response_async(response_url)
    assert f"suggested to <@{BEN}>" in answer["text"] and "Nothing was changed" in answer["text"]
    assert (await by_key(db))["t_name"].owner_confidence == "suggested"


async def test_reassign_from_the_dm(weekly_sync, fake_slack, slack_user, db):
    dm = await wait_until(lambda: dm_to(fake_slack, BEN))
    picker = element(dm, ActionId.TODO_ASSIGN)
    await click(slack_user, dm, ActionId.TODO_ASSIGN, None, user_id=BEN, channel_id="D" + BEN[1:],
                block_id=picker["block_id"], action_type="users_select", selected_user=ANNA)
    await section_says(fake_slack, weekly_sync, "update the deck", f"Owner: <@{ANNA}>")
    stored = (await by_key(db))["t_name"]
    assert (stored.assignee, stored.owner_confidence, stored.suggested_owner) == (ANNA, "confirmed", None)


async def test_reminders_go_to_confirmed_owners_and_a_silent_suggestion_is_asked_once_more(
        weekly_sync, fake_slack, deps, db):
    await wait_until(lambda: dm_to(fake_slack, BEN))  # the owner DM: Ben does not answer it
    local = datetime.now(ZoneInfo(ZONE)) + timedelta(days=8)
    nine = datetime.combine(local.date(), time(9), tzinfo=ZoneInfo(ZONE))
    await run_followups(deps, nine)

    def mornings() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for call in fake_slack.calls_to("chat.postMessage", ok=True):
            if call.args.get("channel") in (ANNA, BEN) and "named as owner" not in (call.args.get("text") or ""):
                found.setdefault(call.args["channel"], []).append(json.dumps(call.args, ensure_ascii=False))
        return found

    sent = await wait_until(lambda: len(mornings()) == 2 and mornings())
    assert "Your todos for today (1)" in sent[ANNA][0] and "Send the rollout plan" in sent[ANNA][0]
    assert "update the deck" not in sent[ANNA][0]
    # Ben owns nothing yet: his morning DM only asks again, with Accept / Not me
    assert "Are these yours?" in sent[BEN][0] and ActionId.TODO_ACCEPT.value in sent[BEN][0]
    assert "2 of these were suggested to you" in sent[BEN][0]
    stored = await by_key(db)
    assert stored["t_name"].owner_asked_at is not None
    # the next morning: Anna is reminded again, Ben is not asked a third time
    await run_followups(deps, nine + timedelta(days=1))
    await wait_until(lambda: len(mornings().get(ANNA, [])) == 2)
    assert len(mornings()[BEN]) == 1


async def test_the_directory_is_read_in_pages_and_at_most_daily(deps, fake_slack, db):
    fake_slack.add_members(450)
    assert await refresh_directory(deps, TEAM) == 450 + 5  # the people, not bots or deleted accounts
    pages = fake_slack.calls_to("users.list", ok=True)
    assert [c.args.get("limit") for c in pages] == ["200"] * 3 or [c.args.get("limit") for c in pages] == [200] * 3
    assert pages[1].args.get("cursor") and pages[2].args.get("cursor")
    assert await refresh_directory(deps, TEAM) is None  # fresh: Slack is not asked again
    assert len(fake_slack.calls_to("users.list")) == 3
    assert await directory.by_real_name(db, team_id=TEAM, name="member 17") == ["UM000017"]


async def test_a_rate_limited_directory_read_waits_and_finishes(deps, fake_slack, db):
    fake_slack.add_members(450)
    fake_slack.tier_limits["users.list"] = (2, 1.0)  # two calls a second: the third page waits
    assert await refresh_directory(deps, TEAM, force=True) == 455
    assert 429 in [c.status for c in fake_slack.calls_to("users.list")]  # Slack said wait, and it waited
    assert len(fake_slack.calls_to("users.list", ok=True)) == 3


# ----------------------------------------------------------------------------- aliases

ALIAS_CASES = [
    ('alias "Anna K" <@UANNA|anna>', ("alias", "Anna K", "UANNA")),
    ("alias Anna K <@UANNA>", ("alias", "Anna K", "UANNA")),
    ("alias “Ana Ruiz” <@UANNA>", ("alias", "Ana Ruiz", "UANNA")),
    ('alias "Anna K" @anna', ("usage", None, None)),  # typed, not picked: no user id
    ("alias <@UANNA>", ("usage", None, None)),
    ('alias "" <@UANNA>', ("usage", None, None)),
    ("alias", ("usage", None, None)),
]


@pytest.mark.parametrize("text,expected", ALIAS_CASES)
def test_alias_command_parsing(text, expected):
    from bot.slack.commands import parse

    parsed = parse(text)
    assert (parsed.name, parsed.alias_name, parsed.owner if parsed.name == "alias" else None) == expected


async def test_an_alias_makes_a_name_find_its_person(slack_user, fake_slack, fake_hedy, hedy_webhooks, db):
    # a member for someone else: refused, with what to do instead
    slack_user.user_id = BEN
    answer = await slack_user.ask('alias "Anna K" <@UANNA|anna>')
    assert "for yourself only" in answer["text"]
    assert await directory.alias_of(db, team_id=TEAM, name="Anna K") is None
    # a member for themselves, and an admin for anyone
    assert "suggested to <@UBEN>" in (await slack_user.ask('alias "B. Okafor" <@UBEN|ben>'))["text"]
    slack_user.user_id = USER  # an admin
    assert "suggested to <@UANNA>" in (await slack_user.ask('alias "Anna K" <@UANNA|anna>'))["text"]
    fake_hedy.add_session(sessionId="sess_alias", title="Weekly sync",
                          user_todos=[{"id": "t_a", "text": "Anna K will send the plan"},
                                      {"id": "t_b", "text": "B. Okafor: check the numbers"}])
    await hedy_webhooks.session_event("sess_alias")
    assert (await wait_for_state(db, "t_a")).suggested_owner == ANNA
    assert (await wait_for_state(db, "t_b")).suggested_owner == BEN


async def test_the_weekly_recap_lists_todos_that_need_an_owner_first_with_their_age(deps, db, connected):
    from datetime import UTC

    from bot.store.models import SlackMessage

    monday_nine = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    async with db.session() as session:
        session.add(SlackMessage(connection_id=connected.id, team_id=TEAM, meeting_id="sess_thu", channel=CHANNEL,
                                 kind="digest", title="Thursday sync", payload=json.dumps({"text": "x"}),
                                 content_hash="x", sent_hash="x", ts="1700000000.000100",
                                 sent_at=monday_nine - timedelta(days=3)))
        for key, text, days, confidence, owner in [
                ("a", "Order the pizza", 3, "needs_owner", None),
                ("b", "Renew the domain", 20, "needs_owner", None),
                ("c", "Send the plan", 3, "confirmed", ANNA)]:
            session.add(TodoState(connection_id=connected.id, team_id=TEAM, meeting_id="sess_thu" if days == 3
                                  else "sess_old", meeting_title="Thursday sync", todo_key=key, text=text,
                                  owner_confidence=confidence, assignee=owner,
                                  first_seen_at=monday_nine - timedelta(days=days)))
    await run_followups(deps, monday_nine)
    async with db.session() as session:
        [recap] = (await session.exec(select(SlackMessage).where(SlackMessage.kind == "recap"))).all()
    blocks = json.loads(recap.payload)["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and b.get("text")]
    unowned = next(i for i, s in enumerate(sections) if s.startswith("*Needs an owner (2)*"))
    by_owner = next(i for i, s in enumerate(sections) if s.startswith("*Open todos by owner*"))
    assert unowned < by_owner
    text = sections[unowned]
    assert text.index("Renew the domain (20 days open)") < text.index("Order the pizza (3 days open)")
    assert "Send the plan" not in text


# ----------------------------------------------------------------------------- carried over

async def test_a_commitment_repeated_in_the_next_meeting_of_the_series_is_linked(
        hedy_webhooks, fake_hedy, fake_slack, db):
    from datetime import UTC

    first_said = datetime.now(UTC) - timedelta(days=17)
    fake_hedy.add_session(sessionId="sess_w1", title="Weekly sync", startTime=first_said, user_todos=[
        {"id": "w1_plan", "text": "Send the rollout plan", "assignee": "anna@example.com"},
        {"id": "w1_deck", "text": "Ben will update the deck"}])
    await hedy_webhooks.session_event("sess_w1")
    await wait_for_state(db, "w1_plan")
    fake_hedy.add_session(sessionId="sess_other", title="Board prep", startTime=first_said + timedelta(days=3),
                          user_todos=[{"id": "o_plan", "text": "Send the rollout plan",
                                       "assignee": "anna@example.com"}])
    await hedy_webhooks.session_event("sess_other")
    await wait_for_state(db, "o_plan")
    fake_hedy.add_session(sessionId="sess_w2", title="Weekly sync", user_todos=[
        {"id": "w2_plan", "text": "Send the rollout plan!", "assignee": "anna@example.com"},
        {"id": "w2_deck", "text": "Anna will update the deck"},  # a different owner: a new commitment
        {"id": "w2_new", "text": "Book the offsite"}])
    await hedy_webhooks.session_event("sess_w2")
    said = f"{first_said.day} {first_said:%b}"

    def second_thread():
        for (channel, _ts), message in fake_slack.messages.items():
            if channel == CHANNEL and "Book the offsite" in json.dumps(message) and message.get("thread_ts"):
                return message
        return None

    page = await wait_until(second_thread)  # drawn once the todos were matched and linked
    assert f"carried over from «Weekly sync» of {said} (17 days open)" in todo_section(page, "rollout plan")
    assert "carried over" not in todo_section(page, "update the deck")
    stored = await by_key(db)
    assert stored["w2_plan"].carried_from_id == stored["w1_plan"].id
    assert stored["w1_plan"].status == "carried"  # counted once: no longer open in the first meeting
    assert stored["o_plan"].status == "open"  # another series
    assert stored["w2_deck"].carried_from_id is None and stored["w1_deck"].status == "open"
    assert stored["w2_new"].carried_from_id is None
    # the first meeting's thread says where the commitment went
    first_page = next(m for (c, _), m in fake_slack.messages.items() if c == CHANNEL and m.get("thread_ts")
                      and "Ben will update the deck" in json.dumps(m))
    await wait_until(lambda: "said again in a later meeting" in todo_section(
        fake_slack.messages[(CHANNEL, first_page["ts"])], "Send the rollout plan"))


def test_similar_commitments():
    from bot.services.carryover import similar

    assert similar("Send the rollout plan", "send the rollout plan.")
    assert similar("Send the rollout plan to Bob", "Send the roll-out plan to Bob")
    assert not similar("Send the rollout plan", "Book the offsite")
    assert not similar("", "")


async def test_the_directory_job_rereads_stale_directories_only(deps, fake_slack, db):
    from datetime import UTC

    from bot.jobs.directory import refresh_directories

    now = datetime.now(UTC)
    assert await refresh_directory(deps, TEAM, now=now - timedelta(days=2)) == 5
    fake_slack.add_user("UNEW", real_name="Nadia New")
    assert await refresh_directories(deps, now) == 1
    assert await directory.by_real_name(db, team_id=TEAM, name="Nadia New") == ["UNEW"]
    assert await refresh_directories(deps, now + timedelta(hours=1)) == 0  # read an hour ago: left alone


# ----------------------------------------------------------------------------- the builders

def test_owner_views_stay_within_block_kit_limits_for_any_input():
    from bot.fakes.slack import validate_message
    from bot.slack.blocks.digest import TodoView, todo_pages
    from bot.slack.blocks.owners import owner_request_message

    hostile = "<!channel> *Anna* & <@U999> will " + "x" * 3000
    views = [TodoView(text=f"{hostile} {n}", ref=f"t1.{n}.1.0123abcd", suggested_owner=BEN,
                      owner_quote=hostile) for n in range(60)]
    message = owner_request_message(BEN, "<Weekly> & «sync» " * 40, views).to_slack()
    assert validate_message({"channel": BEN, **message})[0] is None
    assert "more are in the meeting's thread" in json.dumps(message)
    assert "<!channel>" not in json.dumps(message) and "&lt;!channel&gt;" in json.dumps(message)
    others = [TodoView(text="a", ref="t1.1.1.0123abcd", needs_owner=True),
              TodoView(text="b", ref="t1.2.1.0123abcd", assignee=ANNA)]
    for page in todo_pages([*views, *others], meeting_title="Weekly sync", provider_name="Hedy"):
        assert validate_message({"channel": CHANNEL, **page.to_slack()})[0] is None


async def test_email_lookups_wait_out_a_429_and_are_kept_a_day(deps, fake_slack, db):
    from bot.slack.directory import lookup_email

    fake_slack.tier_limits["users.lookupByEmail"] = (1, 1.0)  # one a second: the second call hears 429
    assert await lookup_email(deps, TEAM, "anna@example.com") == ANNA
    assert await lookup_email(deps, TEAM, "Ben@Example.com") == BEN
    assert await lookup_email(deps, TEAM, "nobody@example.com") is None
    statuses = [c.status for c in fake_slack.calls_to("users.lookupByEmail")]
    assert 429 in statuses and len(fake_slack.calls_to("users.lookupByEmail", ok=True)) == 2
    calls = len(fake_slack.calls_to("users.lookupByEmail"))
    assert await lookup_email(deps, TEAM, "ben@example.com") == BEN  # kept: Slack is not asked
    assert await lookup_email(deps, TEAM, "nobody@example.com") is None  # a stranger is kept too
    assert len(fake_slack.calls_to("users.lookupByEmail")) == calls
    from bot.store.models import EmailLookup

    async with db.session() as session:
        stored = (await session.exec(select(EmailLookup))).all()
    assert stored and not any("@" in row.email_hash for row in stored)  # only hashes of the addresses
