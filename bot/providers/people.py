"""People in provider payloads: a todo's owner fields and a meeting's participants, as `Person`s.

Providers spell an owner many ways and their documentation rarely fixes one (Hedy documents
"assignee suggestions" without a field name), so every adapter reads the same reasonable names:
`assignee`, `assignees`, `assigneeSuggestions`, `suggestedAssignee`, `owner` (and their
snake_case forms). A value may be a name, an email address, an object with name/email parts, or
a list of those. Adapters declare them with the pydantic types below (`People`, and the
`OwnerFields` and `MeetingPeople` models their own models extend; see bot/providers/parsing.py).
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AliasChoices, Field, PlainValidator

from bot.providers.base import Person
from bot.providers.parsing import Lenient, Text

NAME_KEYS = ("name", "displayName", "display_name", "fullName", "full_name", "real_name", "realName", "username")
EMAIL_KEYS = ("email", "emailAddress", "email_address", "mail")
EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}")
MAX_PEOPLE = 10  # a hint list longer than this is noise, not a suggestion
MAX_PARTICIPANTS = 1000  # a meeting's participants: routing rules count them, so all of them


def person(value: Any) -> Person | None:
    """"Anna Kowalski", "anna@example.com", "Anna <anna@example.com>" or {"name", "email"}."""
    if isinstance(value, dict):
        name = next((_clean(value.get(k)) for k in NAME_KEYS if _clean(value.get(k))), None)
        email = next((_email(value.get(k)) for k in EMAIL_KEYS if _email(value.get(k))), None)
        if name is None and email is None:
            nested = value.get("user") or value.get("person")
            return person(nested) if isinstance(nested, (dict, str)) else None
        return Person(name=name, email=email)
    text = _clean(value)
    if text is None:
        return None
    found = EMAIL.search(text)
    if found is None:
        return Person(name=text[:120])
    name = _clean(text.replace(found.group(0), "").strip(" <>()\"'"))
    return Person(name=name[:120] if name else None, email=found.group(0).lower())


def people(value: Any, *, limit: int = MAX_PEOPLE) -> tuple[Person, ...]:
    """A list (or a single value, or a comma-separated string) of people; duplicates dropped."""
    if isinstance(value, str) and ("," in value or ";" in value) and not EMAIL.fullmatch(value.strip()):
        items: list[Any] = [part for part in re.split(r"[,;]", value)]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    out: list[Person] = []
    for item in items[:limit]:
        found = person(item)
        if found is not None and found not in out:
            out.append(found)
    return tuple(out)


def owner_hints(item: Any) -> tuple[Person, ...]:
    """Every owner a todo object names in its structured fields, in field order."""
    return OwnerFields.read(item).owners if isinstance(item, dict) else ()


#: a field holding people, in any of the shapes `people` reads (never fails: nothing usable is ())
People = Annotated[tuple[Person, ...], PlainValidator(people)]
#: a meeting's participants: the same shapes, each person once, up to MAX_PARTICIPANTS
Participants = Annotated[tuple[Person, ...], PlainValidator(lambda value: people(value, limit=MAX_PARTICIPANTS))]


def _spellings(*names: str) -> Any:
    return Field((), validation_alias=AliasChoices(*names))


class OwnerFields(Lenient):
    """A todo's owner fields; a provider's todo model extends it. Within a group the first
    spelling with a value wins; `owners` joins the groups in this order."""

    assignee: People = _spellings("assignee", "assignees")
    suggested: People = _spellings("assigneeSuggestions", "assignee_suggestions", "suggestedAssignee",
                                   "suggested_assignee", "suggestedAssignees", "suggested_assignees")
    owner: People = _spellings("owner", "owners")

    @property
    def owners(self) -> tuple[Person, ...]:
        out: list[Person] = []
        for found in (*self.assignee, *self.suggested, *self.owner):
            if found not in out:
                out.append(found)
        return tuple(out[:MAX_PEOPLE])


class MeetingPeople(Lenient):
    """Who was in a meeting and the language it was held in (due dates are read in it); a
    provider's meeting model extends it."""

    # None when the payload has no such field: routing tells "nobody listed" from "not reported"
    participants: Participants | None = Field(None, validation_alias=AliasChoices("participants", "attendees"))
    language: Text = Field(None, validation_alias=AliasChoices("language", "languageCode", "language_code", "locale"))


def _clean(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = " ".join(str(value).split())
    return text or None


def _email(value: Any) -> str | None:
    text = _clean(value)
    return text.lower() if text and EMAIL.fullmatch(text) else None
