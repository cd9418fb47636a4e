"""The routing engine against each provider's stand-in data: every condition, rule order, the
built-in rule, and conditions on data a provider does not report (never a match, and said so)."""

from __future__ import annotations

import pytest

from bot.fakes.meetric import FakeMeetric
from bot.fakes.server import ThreadedServer
from bot.providers.harmony import HarmonyProvider
from bot.providers.hedy import HedyProvider
from bot.providers.meetric import MeetricProvider
from bot.providers.whereby import WherebyProvider
from bot.services import routing
from bot.services.routing import Conditions, Default, Facts, Rule
from tests.conftest import HARMONY_KEY, HEDY_KEY, WHEREBY_KEY

MEETRIC_TOKEN = "mt_routing_token_0123456789"
INTERNAL = frozenset({"example.com"})
NAMES = {"hedy": "Hedy", "meetric": "Meetric", "harmony": "Harmony", "whereby": "Whereby"}


@pytest.fixture
def fake_meetric():
    fake = FakeMeetric(tokens={MEETRIC_TOKEN: {"conversations", "insights"}})
    fake.seed_demo()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    yield fake
    server.stop()


@pytest.fixture
async def stand_in_meetings(fake_hedy, fake_meetric, fake_harmony, fake_whereby):
    """One meeting from each provider's stand-in, read through its real adapter."""
    clients = {
        "hedy": (HedyProvider(HEDY_KEY, base_url=fake_hedy.url), "sess_demo_02"),
        "meetric": (MeetricProvider(MEETRIC_TOKEN, base_url=fake_meetric.url + "/api/v1/rest"), "conv_demo_1"),
        "harmony": (HarmonyProvider(HARMONY_KEY, base_url=fake_harmony.url), "mtg_demo_1"),
        "whereby": (WherebyProvider(WHEREBY_KEY, base_url=fake_whereby.api_url, poll_seconds=0.05), None),
    }
    meetings = {}
    for name, (client, meeting_id) in clients.items():
        try:
            if meeting_id is None:  # Whereby: its summarised product-sync session
                page = await client.list_meetings(limit=10)
                meeting_id = next(m.id for m in page.items if m.title == "Meeting in product-sync")
            meetings[name] = await client.get_meeting(meeting_id)
        finally:
            await client.aclose()
    return meetings


def facts(meetings, name: str, connection_id: int = 1) -> Facts:
    return Facts.of(meetings[name], provider=name, provider_name=NAMES[name], connection_id=connection_id)


def check(conditions: Conditions, meetings, name: str) -> tuple[bool, str]:
    return routing.check(conditions, facts(meetings, name), INTERNAL)


async def test_what_each_stand_in_reports(stand_in_meetings):
    m = stand_in_meetings
    assert m["hedy"].title == "Acme Corp onboarding call" and m["hedy"].categories == ("Customer Calls",)
    assert m["hedy"].participants is None
    assert set(m["meetric"].categories) == {"B2B Sales", "sales"} and m["meetric"].host_email == "erik@example.com"
    assert [p.email for p in m["meetric"].participants] == ["erik@example.com", "jane@acme.com", "tom@acme.com"]
    assert len(m["harmony"].participants) == 3 and m["harmony"].categories is None
    assert m["whereby"].categories == ("product-sync",) and m["whereby"].participants is None


@pytest.mark.parametrize("name", ["hedy", "meetric", "harmony", "whereby"])
async def test_provider_condition(stand_in_meetings, name):
    assert check(Conditions(provider=name), stand_in_meetings, name)[0]
    other = "meetric" if name != "meetric" else "hedy"
    ok, why = check(Conditions(provider=other), stand_in_meetings, name)
    assert not ok and f"not {other}" in why


@pytest.mark.parametrize("name, word", [("hedy", "ONBOARDING"), ("meetric", "discovery call"),
                                        ("harmony", "acme"), ("whereby", "meeting")])
async def test_title_contains_whole_words_case_insensitive(stand_in_meetings, name, word):
    ok, why = check(Conditions(title_contains=("nothing-like-it", word)), stand_in_meetings, name)
    assert ok and "title contains" in why
    partial = word[:-2]  # a piece of a word is not the word
    assert not check(Conditions(title_contains=(partial,)), stand_in_meetings, name)[0]


@pytest.mark.parametrize("words, title, expected", [
    (("会議",), "週次会議 with Acme", True),  # Japanese has no spaces between words: the phrase anywhere
    (("定例 会議",), "定例　会議", True),  # an ideographic space is white space too
    (("ประชุม",), "การประชุมทีม", True),  # Thai, likewise
    (("réunion d'équipe",), "Re\u0301union d'e\u0301quipe (lundi)", True),  # accents composed or not
    (("Ünternehmen",), "ÜNTERNEHMEN review", True),
    (("1:1",), "\uff11\uff1a\uff11 with Sam", True),  # typed full-width on a CJK keyboard
    (("sales call",), "Sales   Call - Acme", True),
    (("sales call",), "Sales calls", False),  # still whole words in spaced scripts
    (("Q&A",), "Monthly Q&A", True),
])
def test_title_contains_in_any_script(words, title, expected):
    facts = Facts(provider="hedy", provider_name="Hedy", connection_id=1, title=title)
    assert routing.check(Conditions(title_contains=words), facts, None)[0] is expected
    assert Conditions(title_contains=words).matches(facts, None) is expected
    sensitive = Facts(provider="hedy", provider_name="Hedy", connection_id=1, title="\uff28\uff32 sync")
    assert routing.decide([routing.sensitive_rule(1)], sensitive, default=Default(routing.NONE)).action == "hold"


@pytest.mark.parametrize("name, category, reported", [
    ("hedy", "customer calls", True), ("meetric", "B2B Sales", True), ("meetric", "SALES", True),
    ("harmony", "Sales", False), ("whereby", "Product-Sync", True)])
async def test_category(stand_in_meetings, name, category, reported):
    ok, why = check(Conditions(category=category), stand_in_meetings, name)
    assert ok is reported
    if not reported:
        assert why == "Harmony does not report a category"
    ok, why = check(Conditions(category="Board meeting"), stand_in_meetings, name)
    assert not ok


@pytest.mark.parametrize("name, domain, expected", [
    ("hedy", "acme.com", "Hedy does not report participants"), ("meetric", "acme.com", True),
    ("harmony", "customer.example", True), ("whereby", "acme.com", "Whereby does not report participants")])
async def test_participant_domains(stand_in_meetings, name, domain, expected):
    ok, why = check(Conditions(participant_domains=(domain, "other.example")), stand_in_meetings, name)
    if expected is True:
        assert ok and domain in why
        assert not check(Conditions(participant_domains=("nobody.example",)), stand_in_meetings, name)[0]
    else:
        assert not ok and why == expected


@pytest.mark.parametrize("name, expected", [
    ("hedy", "Hedy does not report participants"), ("meetric", True), ("harmony", True),
    ("whereby", "Whereby does not report participants")])
async def test_external_participants(stand_in_meetings, name, expected):
    ok, why = check(Conditions(external=True), stand_in_meetings, name)
    if expected is True:
        assert ok
        everyone = frozenset({"example.com", "acme.com", "customer.example"})
        ok, why = routing.check(Conditions(external=True), facts(stand_in_meetings, name), everyone)
        assert not ok and why == "every participant is from an internal domain"
        ok, why = routing.check(Conditions(external=True), facts(stand_in_meetings, name), None)
        assert not ok and "not known" in why
    else:
        assert not ok and why == expected


@pytest.mark.parametrize("name", ["hedy", "meetric", "harmony", "whereby"])
async def test_participant_count(stand_in_meetings, name):
    ok, why = check(Conditions(max_participants=3), stand_in_meetings, name)
    if name in ("hedy", "whereby"):
        assert not ok and why == f"{NAMES[name]} does not report participants"
    else:
        assert ok
        ok, why = check(Conditions(max_participants=2), stand_in_meetings, name)
        assert not ok and why == "3 participants, more than 2"


@pytest.mark.parametrize("name", ["hedy", "meetric", "harmony", "whereby"])
async def test_duration(stand_in_meetings, name):
    minutes = stand_in_meetings[name].duration_seconds / 60
    assert check(Conditions(min_minutes=int(minutes) - 1, max_minutes=int(minutes) + 1), stand_in_meetings, name)[0]
    ok, why = check(Conditions(min_minutes=int(minutes) + 5), stand_in_meetings, name)
    assert not ok and "shorter than" in why
    ok, why = check(Conditions(max_minutes=int(minutes) - 5), stand_in_meetings, name)
    assert not ok and "longer than" in why


async def test_all_conditions_given_must_match(stand_in_meetings):
    both = Conditions(provider="meetric", category="sales", participant_domains=("acme.com",), max_minutes=10)
    ok, why = check(both, stand_in_meetings, "meetric")
    assert not ok and "longer than 10" in why


# --------------------------------------------------------------------------- order and the built-in rule


def rule(rule_id: int, name: str, action: str = routing.CHANNELS, channels=("C0SALES",), **conditions) -> Rule:
    return Rule(id=rule_id, name=name, conditions=Conditions(**conditions), action=action,
                channels=channels if action == routing.CHANNELS else ())


async def test_the_first_matching_rule_decides_and_no_match_is_the_default(stand_in_meetings):
    meetric = facts(stand_in_meetings, "meetric")
    rules = [rule(1, "Hedy only", provider="hedy"), rule(2, "Sales", category="sales", channels=("C0SALES",)),
             rule(3, "Everything", channels=("C0ALL",))]
    decision = routing.decide(rules, meetric, default=Default(routing.CHANNELS, ("C0GENERAL",)))
    assert (decision.rule_name, decision.channels) == ("Sales", ("C0SALES",))
    lines = decision.explain()
    assert lines[0] == "1. Hedy only: no match (the meeting is from Meetric, not hedy)"
    assert lines[1].startswith("2. Sales: matched")
    # Not tried says nothing about a match ("no match" here would read as if "Everything" failed).
    assert lines[2] == "3. Everything: not tried (an earlier rule decided)"

    swapped = routing.decide([rules[2], rules[1]], meetric, default=Default(routing.CHANNELS, ("C0GENERAL",)))
    assert swapped.rule_name == "Everything"

    nothing = routing.decide(rules[:1], meetric, default=Default(routing.CHANNELS, ("C0GENERAL",)))
    assert (nothing.rule, nothing.rule_name, nothing.channels) == (None, "default channel", ("C0GENERAL",))


async def test_a_personal_connections_own_rules_come_first(stand_in_meetings):
    mine = Rule(id=9, name="Mine to me", conditions=Conditions(), action=routing.DM_OWNER, connection_id=1)
    others = Rule(id=8, name="Someone else's", conditions=Conditions(), action=routing.SKIP, connection_id=2)
    shared = rule(1, "Workspace", channels=("C0ALL",))
    decision = routing.decide([shared, others, mine], facts(stand_in_meetings, "hedy", connection_id=1),
                              default=Default(routing.NONE))
    assert decision.rule_name == "Mine to me" and len(decision.trace) == 2  # the other member's rule is not tried


@pytest.mark.parametrize("title", ["1:1 with Sam", "Interview: backend engineer", "hr sync", "Salary review",
                                   "Performance  Review Q3", "One-on-one", "Offer call", "doctor appointment"])
async def test_the_builtin_rule_holds_sensitive_titles(title):
    builtin = routing.sensitive_rule(1)
    meeting = Facts(provider="hedy", provider_name="Hedy", connection_id=1, title=title)
    decision = routing.decide([builtin], meeting, default=Default(routing.CHANNELS, ("C0GENERAL",)))
    assert decision.action == routing.HOLD and decision.rule_name == "Sensitive meetings"


@pytest.mark.parametrize("title", ["Sprint Planning", "Shredder offerings", "Hrm, later", "Privateer roadmap",
                                   "1:1s retro"])
async def test_the_builtin_rule_leaves_other_titles_alone(title):
    meeting = Facts(provider="hedy", provider_name="Hedy", connection_id=1, title=title)
    decision = routing.decide([routing.sensitive_rule(1)], meeting, default=Default(routing.CHANNELS, ("C0G",)))
    assert decision.action == routing.CHANNELS
    assert "Hedy does not report participants" in decision.explain()[0]


async def test_the_builtin_rule_holds_two_person_meetings_where_participants_are_reported():
    two = Facts(provider="meetric", provider_name="Meetric", connection_id=1, title="Catch-up", participants=2,
                emails=("a@example.com", "b@acme.com"))
    three = Facts(provider="meetric", provider_name="Meetric", connection_id=1, title="Catch-up", participants=3,
                  emails=("a@example.com", "b@acme.com", "c@acme.com"))
    default = Default(routing.CHANNELS, ("C0G",))
    assert routing.decide([routing.sensitive_rule(1)], two, default=default).action == routing.HOLD
    assert routing.decide([routing.sensitive_rule(1)], three, default=default).action == routing.CHANNELS
    off = Rule(**{**routing.sensitive_rule(1).__dict__, "enabled": False})
    decision = routing.decide([off], two, default=default)
    assert decision.action == routing.CHANNELS and decision.explain() == ["1. Sensitive meetings: off"]


def test_conditions_survive_storage():
    conditions = Conditions(provider="meetric", title_contains=("Sales call", "demo"), category="B2B Sales",
                            participant_domains=("acme.com",), external=True, max_participants=4, min_minutes=5,
                            max_minutes=90)
    assert Conditions.from_json(conditions.to_json()) == conditions
    assert routing.sensitive_rule().conditions == Conditions.from_json(routing.sensitive_rule().conditions.to_json())


async def test_the_fast_test_and_the_explanation_always_agree(stand_in_meetings):
    """Delivery decides with the compiled test; explain re-checks with sentences: never apart."""
    variants = [Conditions(provider="meetric"), Conditions(title_contains=("call", "sync")),
                Conditions(category="sales"), Conditions(category="Customer Calls"),
                Conditions(participant_domains=("acme.com",)), Conditions(external=True),
                Conditions(max_participants=3), Conditions(max_participants=2), Conditions(exact_participants=3),
                Conditions(min_minutes=20), Conditions(max_minutes=20), routing.sensitive_rule().conditions,
                Conditions(provider="harmony", external=True, max_minutes=60),
                Conditions(any_of=(Conditions(category="nope"), Conditions(min_minutes=1)))]
    for name in NAMES:
        for internal in (INTERNAL, None, frozenset({"example.com", "acme.com", "customer.example"})):
            for conditions in variants:
                seen = facts(stand_in_meetings, name)
                assert conditions.matches(seen, internal) == routing.check(conditions, seen, internal)[0], \
                    (name, conditions, internal)
