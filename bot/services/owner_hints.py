"""Who a todo's provider says should do it: its structured owner fields, else a name at the start
of its text ("Anna: …", "Anna will …", "@anna …", "- [ ] Ben: …"). Pure functions, no I/O:
bot/services/owners.py turns these hints into Slack members.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.providers.base import Person, Todo

FIELD, TEXT = "field", "text"
QUOTE_CHARS = 40

# Leading list markers a note-taker writes before an action item: "- [ ]", "* [x]", "1.", "•".
_MARKER = re.compile(r"^\s*(?:[-*•–]\s*)?(?:\[[ xX]?\]\s*)?(?:\d{1,2}[.)]\s+)?")
_WORD = r"[A-ZÀ-ÖØ-Þ][\w'\u2019.-]*"  # a capitalised word: a name part ("Anna", "O'Neil", "K.")
_NAME = rf"{_WORD}(?:\s+{_WORD}){{0,2}}"
_NAMES = rf"(?P<names>{_NAME}(?:\s*(?:,|&|\band\b|\bund\b|\by\b|\bet\b)\s*{_NAME})*)"
# Future or duty: "will", "to", "should", "'ll", and the same in German, Spanish and French.
_FUTURE = (r"will|'ll|\u2019ll|to|should|shall|needs? to|is going to|is to|has to|must|can|"
           r"wird|soll|muss|kümmert sich|va a|debe|tiene que|va|doit|devra|s'occupe")
_PATTERNS = (
    re.compile(r"^@(?P<handle>[\w.-]{2,80})\b[:,]?\s+\S"),  # "@anna send the deck"
    re.compile(rf"^{_NAMES}\s*[:–—-]\s+\S"),  # "Anna: send the deck", "Ben – update"
    re.compile(rf"^{_NAMES}\s+(?:{_FUTURE})\s+\S"),  # "Anna will send", "Ben to update"
    # "Anna sends the rollout plan": a name, then a verb in the third person.
    re.compile(rf"^{_NAMES}\s+(?P<verb>[a-z]{{3,}}(?<!ss)s)\s+\S"),
)
# Capitalised words that start action items without naming anyone.
_NOT_NAMES = frozenset(str.split(
    "we i you they he she it team everyone everybody all someone somebody nobody anyone the a an this that "
    "these those our my your their action todo next follow followup please note owner tbd "
    "customer client sales marketing engineering product design legal finance support ops "
    "wir ich sie er es alle jemand nosotros yo todos alguien nous je vous ils elle tout tous"))


@dataclass(frozen=True)
class Hint:
    """A person the todo names: a name, an email, or both; `origin` says where it was read and
    `quote` is that place, as shown after "Suggested: @anna (from …)"."""

    name: str | None
    email: str | None
    origin: str  # FIELD | TEXT
    quote: str


def name_key(name: str) -> str:
    """The form names are compared in: lower case, accents and punctuation dropped, one space."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", plain).split())[:120]


def text_names(text: str) -> list[str]:
    """The names an action item starts with, in order; [] when it starts otherwise."""
    line = _MARKER.sub("", (text or "").strip(), count=1)
    for pattern in _PATTERNS:
        match = pattern.match(line)
        if match is None:
            continue
        if "handle" in match.groupdict() and match.group("handle"):
            return [match.group("handle")]
        parts = re.split(r"\s*(?:,|&|\band\b|\bund\b|\by\b|\bet\b)\s*", match.group("names"))
        names = [p.strip(" .") for p in parts if p.strip(" .")]
        if names and all(name_key(n).split()[0] not in _NOT_NAMES for n in names if name_key(n)):
            return names
    return []


def quote(text: str) -> str:
    line = " ".join(_MARKER.sub("", (text or "").strip(), count=1).split())
    if len(line) <= QUOTE_CHARS:
        return line
    cut = line[:QUOTE_CHARS]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:") + "…"  # whole words


def hints(todo: Todo) -> list[Hint]:
    """The todo's owner hints: its provider's structured fields when it has them (an explicit
    owner beats a guess from words), else the names its text starts with."""
    if todo.owner_hints:
        return [Hint(name=p.name, email=p.email, origin=FIELD, quote=_field_quote(p))
                for p in todo.owner_hints if p.name or p.email]
    said = quote(todo.text)
    return [Hint(name=name, email=None, origin=TEXT, quote=said) for name in text_names(todo.text)]


def _field_quote(person: Person) -> str:
    return f"assignee {person.name}"[:QUOTE_CHARS] if person.name else "the assignee's email address"
