"""Owner hints: what each provider's todo shapes name as owner, and the names action item text
starts with. Table-driven over the pure extraction (bot/providers/people.py, bot/services/owner_hints.py)."""

from __future__ import annotations

import pytest

from bot.providers import harmony, hedy, meetric
from bot.providers.base import Person, Todo
from bot.providers.people import owner_hints, people
from bot.services.owner_hints import FIELD, TEXT, hints, name_key, quote, text_names

TEXT_CASES = [
    ("Anna: send the rollout plan", ["Anna"]),
    ("Anna will send the rollout plan", ["Anna"]),
    ("Anna sends the rollout plan", ["Anna"]),
    ("- [ ] Ben: update the deck", ["Ben"]),
    ("* [x] Ben Okafor to update the deck", ["Ben Okafor"]),
    ("1. Chloé will book the room", ["Chloé"]),
    ("@anna send the notes", ["anna"]),
    ("@anna.k, please review", ["anna.k"]),
    ("Anna and Ben will draft the memo", ["Anna", "Ben"]),
    ("Anna wird die Folien schicken", ["Anna"]),
    ("María va a enviar el presupuesto", ["María"]),
    ("Jean doit envoyer le devis", ["Jean"]),
    ("Send the revised quote", []),
    ("Review budget with finance", []),
    ("We will send the plan", []),
    ("Team: align on the roadmap", []),
    ("Everyone to read the doc", []),
    ("the customer will send numbers", []),
    ("", []),
]


@pytest.mark.parametrize("text,names", TEXT_CASES)
def test_names_at_the_start_of_an_action_item(text, names):
    assert text_names(text) == names


FIELD_CASES = [
    ({"assignee": "Anna Kowalski"}, [Person(name="Anna Kowalski")]),
    ({"assignee": "anna@example.com"}, [Person(email="anna@example.com")]),
    ({"assignee": "Anna K <Anna@Example.com>"}, [Person(name="Anna K", email="anna@example.com")]),
    ({"assignees": ["Anna", {"name": "Ben", "email": "ben@example.com"}]},
     [Person(name="Anna"), Person(name="Ben", email="ben@example.com")]),
    ({"assigneeSuggestions": [{"displayName": "Ana Ruiz"}, {"email": "sam@x.example"}]},
     [Person(name="Ana Ruiz"), Person(email="sam@x.example")]),
    ({"suggestedAssignee": {"user": {"name": "Erik", "email": "erik@example.com"}}},
     [Person(name="Erik", email="erik@example.com")]),
    ({"owner": "Anna, Ben"}, [Person(name="Anna"), Person(name="Ben")]),
    ({"owner": "Anna", "assignee": "Anna"}, [Person(name="Anna")]),
    ({"owner": None, "assignee": ""}, []),
    ({"owner": {"id": 7}}, []),
    ({"text": "no owner here"}, []),
]


@pytest.mark.parametrize("item,expected", FIELD_CASES)
def test_structured_owner_fields(item, expected):
    assert list(owner_hints(item)) == expected


def test_each_provider_reads_its_owner_fields_and_participants():
    hedy_meeting = hedy._meeting({"sessionId": "s1", "title": "Weekly sync", "language": "de",
                                  "user_todos": [{"id": "t1", "text": "Folien schicken",
                                                  "assigneeSuggestions": ["Anna Kowalski"]}]})
    assert hedy_meeting.todos[0].owner_hints == (Person(name="Anna Kowalski"),)
    assert hedy_meeting.language == "de"

    _recap, _minutes, todos = harmony._summary_parts(
        {"action_items": [{"text": "Send the pilot plan", "owner": "Ana Ruiz", "due_date": "2026-03-01"},
                          "- [ ] Ben: update the deck"]}, "m1")
    assert todos[0].owner_hints == (Person(name="Ana Ruiz"),)
    assert todos[1].owner_hints == () and [h.name for h in hints(todos[1])] == ["Ben"]

    _highlights, meetric_todos, _topics = meetric._insights(
        [{"id": "i1", "type": "action_item", "text": "Send the revised quote", "assignee": "erik@example.com"}], "c1")
    assert meetric_todos[0].owner_hints == (Person(email="erik@example.com"),)
    assert people([{"id": "usr_1", "name": "Erik Lindström", "email": "erik@example.com"},
                   {"name": "Jane Doe", "email": "jane@acme.com", "role": "customer"}]) == (
        Person(name="Erik Lindström", email="erik@example.com"), Person(name="Jane Doe", email="jane@acme.com"))


def test_structured_fields_beat_the_text_and_quotes_are_short():
    todo = Todo(id="1", text="Ben will send it", owner_hints=(Person(name="Anna"),))
    assert [(h.name, h.origin) for h in hints(todo)] == [("Anna", FIELD)]
    todo = Todo(id="2", text="- [ ] Anna will send the rollout plan to every regional lead by Friday")
    [hint] = hints(todo)
    assert hint.origin == TEXT and hint.quote == "Anna will send the rollout plan to…"
    assert quote("Anna: go") == "Anna: go"
    assert name_key("  José  O'Neil ") == "jose o neil"
