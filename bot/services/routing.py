"""Where a meeting goes: ordered rules, the first whose conditions all match decides.

Pure: no database, no Slack, no provider calls. The callers (bot/services/decisions.py, the CLI,
`/meetings explain`) load the rules and the meeting, and store or show what this module decides.

A condition that needs data the provider does not report (Hedy and Whereby do not say who took
part) never matches, and the explanation says so: a rule is never applied on a guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bot.providers.base import Meeting

# Actions
CHANNELS = "channels"  # post to one or more channels
DM_OWNER = "dm_owner"  # a DM to the connection's owner only
HOLD = "hold"  # a DM to the approver, who decides
SKIP = "skip"  # nothing is posted
NONE = "none"  # no rule matched and the connection has nowhere to post
ACTIONS = (CHANNELS, DM_OWNER, HOLD, SKIP)

SENSITIVE = "sensitive"  # the built-in rule's key
SENSITIVE_NAME = "Sensitive meetings"
SENSITIVE_WORDS = ("1:1", "1-on-1", "one-on-one", "interview", "HR", "performance review", "salary",
                   "compensation", "offer", "legal", "confidential", "private", "termination", "medical", "doctor")
SENSITIVE_PEOPLE = 2  # where the provider reports participants: a meeting of exactly two people


# --------------------------------------------------------------------------- what a rule can see


@dataclass(frozen=True)
class Facts:
    """What the rules look at, taken once from a meeting. None: the provider does not report it."""

    provider: str
    provider_name: str
    connection_id: int | None
    title: str
    categories: tuple[str, ...] | None = None
    participants: int | None = None
    emails: tuple[str, ...] | None = None  # the participants' addresses that are known, lower-case
    minutes: float | None = None
    domains: frozenset[str] = field(init=False, repr=False, compare=False)  # of `emails`, once

    def __post_init__(self) -> None:
        object.__setattr__(self, "domains", frozenset(_domain(e) for e in self.emails or ()))
        # Rules compare text in one form (see fold), whatever form the provider sent.
        object.__setattr__(self, "title", fold(self.title))
        if self.categories is not None:
            object.__setattr__(self, "categories", tuple(fold(c) for c in self.categories))

    @classmethod
    def of(cls, meeting: Meeting, *, provider: str, provider_name: str, connection_id: int | None) -> Facts:
        people = meeting.participants
        return cls(
            provider=provider, provider_name=provider_name, connection_id=connection_id,
            title=meeting.title or "", categories=meeting.categories,
            participants=len(people) if people is not None else None,
            emails=tuple(p.email.strip().lower() for p in people if p.email and "@" in p.email)
            if people is not None else None,
            minutes=meeting.duration_seconds / 60 if meeting.duration_seconds is not None else None,
        )


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Conditions:
    """All given must match. `any_of`: at least one of these groups must match too (the built-in
    rule: a sensitive word in the title, or exactly two people)."""

    provider: str | None = None
    connection_id: int | None = None
    title_contains: tuple[str, ...] = ()
    category: str | None = None
    participant_domains: tuple[str, ...] = ()
    external: bool = False
    max_participants: int | None = None
    exact_participants: int | None = None
    min_minutes: int | None = None
    max_minutes: int | None = None
    any_of: tuple[Conditions, ...] = ()
    # A compiled yes/no test (no explanations): what the delivery path runs, rule after rule.
    matches: Callable[[Facts, frozenset[str] | None], bool] = field(init=False, repr=False, compare=False,
                                                                    hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matches", _compile(self))

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        for name in ("provider", "connection_id", "category", "max_participants", "exact_participants",
                     "min_minutes", "max_minutes"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.title_contains:
            out["title_contains"] = list(self.title_contains)
        if self.participant_domains:
            out["participant_domains"] = list(self.participant_domains)
        if self.external:
            out["external"] = True
        if self.any_of:
            out["any_of"] = [c.to_json() for c in self.any_of]
        return out

    @classmethod
    def from_json(cls, data: dict | None) -> Conditions:
        data = data or {}

        def number(name: str) -> int | None:
            value = data.get(name)
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        return cls(
            provider=str(data["provider"]).lower() if data.get("provider") else None,
            connection_id=number("connection_id"),
            title_contains=tuple(str(w) for w in data.get("title_contains") or () if str(w).strip()),
            category=str(data["category"]) if data.get("category") else None,
            participant_domains=tuple(normal_domain(d) for d in data.get("participant_domains") or ()
                                      if normal_domain(d)),
            external=bool(data.get("external")),
            max_participants=number("max_participants"),
            exact_participants=number("exact_participants"),
            min_minutes=number("min_minutes"),
            max_minutes=number("max_minutes"),
            any_of=tuple(cls.from_json(c) for c in data.get("any_of") or () if isinstance(c, dict)),
        )

    def describe(self) -> str:
        """One line for `routes list` and the routes modal."""
        parts = []
        if self.provider:
            parts.append(f"provider {self.provider}")
        if self.connection_id is not None:
            parts.append(f"connection {self.connection_id}")
        if self.title_contains:
            parts.append("title contains " + " or ".join(f'"{w}"' for w in self.title_contains))
        if self.category:
            parts.append(f'category "{self.category}"')
        if self.participant_domains:
            parts.append("a participant from " + " or ".join(self.participant_domains))
        if self.external:
            parts.append("external participants")
        if self.max_participants is not None:
            parts.append(f"at most {self.max_participants} participants")
        if self.exact_participants is not None:
            parts.append(f"exactly {self.exact_participants} participants")
        if self.min_minutes is not None:
            parts.append(f"at least {self.min_minutes} min")
        if self.max_minutes is not None:
            parts.append(f"at most {self.max_minutes} min")
        if self.any_of:
            parts.append("(" + " | ".join(c.describe() for c in self.any_of) + ")")
        return ", ".join(parts) or "every meeting"


def normal_domain(value: Any) -> str:
    return str(value or "").strip().lower().lstrip("@").rstrip(".")


def fold(text: str) -> str:
    """Text as rules compare it: one form for what looks the same (composed or decomposed accents,
    full-width digits and letters as a CJK keyboard types them)."""
    return unicodedata.normalize("NFKC", text)


# Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Myanmar):
# a phrase in them has no word edges to find, so it matches wherever it appears.
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
                       "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]")


def _title_alternative(word: str) -> str:
    # Whole words, case-insensitive; a phrase's spaces match any run of white space.
    parts = fold(word).split()
    body = r"\s+".join(re.escape(part) for part in parts)
    before = "" if _UNSPACED.match(parts[0][0]) else r"(?<!\w)"
    after = "" if _UNSPACED.match(parts[-1][-1]) else r"(?!\w)"
    return before + body + after


@lru_cache(maxsize=4096)
def _title_pattern(words: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(_title_alternative(w) for w in words if w.split())
    return re.compile(f"(?:{alternatives})" if alternatives else "(?!)", re.IGNORECASE)


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def _compile(c: Conditions) -> Callable[[Facts, frozenset[str] | None], bool]:
    """The conditions as a list of small tests, all of which must pass; the same answers as
    check() without building its sentences (check() explains; this decides, fast)."""
    tests: list[Callable[[Facts, frozenset[str] | None], bool]] = []
    if c.provider is not None:
        provider = c.provider
        tests.append(lambda f, _i: f.provider == provider)
    if c.connection_id is not None:
        connection_id = c.connection_id
        tests.append(lambda f, _i: f.connection_id == connection_id)
    if c.title_contains:
        search = _title_pattern(c.title_contains).search
        tests.append(lambda f, _i: search(f.title) is not None)
    if c.category is not None:
        wanted = fold(c.category).strip().casefold()
        tests.append(lambda f, _i: f.categories is not None
                     and any(x.strip().casefold() == wanted for x in f.categories))
    if c.participant_domains:
        domains = frozenset(c.participant_domains)
        tests.append(lambda f, _i: f.emails is not None and not domains.isdisjoint(f.domains))
    if c.external:
        tests.append(lambda f, i: i is not None and bool(i) and bool(f.emails) and not f.domains <= i)
    if c.max_participants is not None:
        most = c.max_participants
        tests.append(lambda f, _i: f.participants is not None and f.participants <= most)
    if c.exact_participants is not None:
        exactly = c.exact_participants
        tests.append(lambda f, _i: f.participants == exactly)
    if c.min_minutes is not None:
        shortest = c.min_minutes
        tests.append(lambda f, _i: f.minutes is not None and f.minutes >= shortest)
    if c.max_minutes is not None:
        longest = c.max_minutes
        tests.append(lambda f, _i: f.minutes is not None and f.minutes <= longest)
    if c.any_of:
        groups = [g.matches for g in c.any_of]
        tests.append(lambda f, i: any(g(f, i) for g in groups))
    if len(tests) == 1:
        return tests[0]

    def every(f: Facts, i: frozenset[str] | None) -> bool:
        for test in tests:  # noqa: SIM110 (a plain loop: this runs per rule per meeting, see bench/)
            if not test(f, i):
                return False
        return True
    return every


def check(conditions: Conditions, facts: Facts, internal_domains: frozenset[str] | None) -> tuple[bool, str]:
    """(matched, why): on a match, what matched; otherwise the first condition that failed."""
    matched: list[str] = []
    name = facts.provider_name
    if conditions.provider is not None:
        if conditions.provider != facts.provider:
            return False, f"the meeting is from {name}, not {conditions.provider}"
        matched.append(f"provider {facts.provider}")
    if conditions.connection_id is not None:
        if conditions.connection_id != facts.connection_id:
            return False, f"the meeting is not from connection {conditions.connection_id}"
        matched.append(f"connection {conditions.connection_id}")
    if conditions.title_contains:
        found = _title_pattern(conditions.title_contains).search(facts.title)
        if found is None:
            return False, "the title contains none of " + ", ".join(f'"{w}"' for w in conditions.title_contains)
        matched.append(f'the title contains "{found.group(0)}"')
    if conditions.category is not None:
        if facts.categories is None:
            return False, f"{name} does not report a category"
        wanted = fold(conditions.category).strip().casefold()
        if not any(c.strip().casefold() == wanted for c in facts.categories):
            shown = ", ".join(f'"{c}"' for c in facts.categories) or "none"
            return False, f'the category is {shown}, not "{conditions.category}"'
        matched.append(f'category "{conditions.category}"')
    if conditions.participant_domains or conditions.external:
        if facts.emails is None:
            return False, f"{name} does not report participants"
        domains = {_domain(e) for e in facts.emails}
        if conditions.participant_domains:
            hits = sorted(domains & set(conditions.participant_domains))
            if not hits:
                return False, "no participant is from " + " or ".join(conditions.participant_domains)
            matched.append(f"a participant from {hits[0]}")
        if conditions.external:
            if not internal_domains:
                return False, "the workspace's internal email domains are not known yet"
            if not facts.emails:
                return False, f"{name} does not report the participants' email addresses"
            outside = sorted(domains - internal_domains)
            if not outside:
                return False, "every participant is from an internal domain"
            matched.append(f"an external participant from {outside[0]}")
    if conditions.max_participants is not None or conditions.exact_participants is not None:
        if facts.participants is None:
            return False, f"{name} does not report participants"
        if conditions.max_participants is not None:
            if facts.participants > conditions.max_participants:
                return False, f"{facts.participants} participants, more than {conditions.max_participants}"
            matched.append(f"{facts.participants} participants")
        if conditions.exact_participants is not None:
            if facts.participants != conditions.exact_participants:
                return False, f"{facts.participants} participants, not {conditions.exact_participants}"
            matched.append(f"exactly {facts.participants} participants")
    if conditions.min_minutes is not None or conditions.max_minutes is not None:
        if facts.minutes is None:
            return False, f"{name} does not report how long the meeting was"
        if conditions.min_minutes is not None and facts.minutes < conditions.min_minutes:
            return False, f"{facts.minutes:.0f} min, shorter than {conditions.min_minutes}"
        if conditions.max_minutes is not None and facts.minutes > conditions.max_minutes:
            return False, f"{facts.minutes:.0f} min, longer than {conditions.max_minutes}"
        matched.append(f"{facts.minutes:.0f} min")
    if conditions.any_of:
        failures = []
        for group in conditions.any_of:
            ok, why = check(group, facts, internal_domains)
            if ok:
                matched.append(why)
                break
            failures.append(why)
        else:
            return False, "; ".join(failures)
    return True, ", ".join(matched) or "it applies to every meeting"


# --------------------------------------------------------------------------- rules and decisions


@dataclass(frozen=True)
class Rule:
    id: int | None
    name: str
    conditions: Conditions
    action: str
    channels: tuple[str, ...] = ()
    approver: str | None = None
    enabled: bool = True
    connection_id: int | None = None  # a personal connection's own rule; None: the workspace's
    auto_approve_hours: int | None = None
    builtin: str | None = None


def sensitive_rule(rule_id: int | None = None) -> Rule:
    return Rule(id=rule_id, name=SENSITIVE_NAME, action=HOLD, builtin=SENSITIVE,
                conditions=Conditions(any_of=(Conditions(title_contains=SENSITIVE_WORDS),
                                              Conditions(exact_participants=SENSITIVE_PEOPLE))))


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    matched: bool
    why: str  # what matched, or the condition that failed, or "off"


@dataclass(frozen=True)
class Default:
    """What a connection does when no rule matches."""

    action: str  # CHANNELS, DM_OWNER or NONE
    channels: tuple[str, ...] = ()


NOT_TRIED = "not tried: an earlier rule decided"


@dataclass(frozen=True)
class Decision:
    action: str
    channels: tuple[str, ...]
    rule: Rule | None  # None: the connection's default
    approver: str | None = None  # the rule's own approver, if it names one
    # What explain() needs: the rules tried, in order, and what they saw. The sentences are made
    # only when asked for; deciding needs none of them.
    tried: tuple[Rule, ...] = field(default_factory=tuple, repr=False, compare=False)
    facts: Facts | None = field(default=None, repr=False, compare=False)
    internal_domains: frozenset[str] | None = field(default=None, repr=False, compare=False)

    @property
    def rule_name(self) -> str:
        return self.rule.name if self.rule else "default channel" if self.action == CHANNELS else "default"

    @property
    def trace(self) -> tuple[Verdict, ...]:
        verdicts: list[Verdict] = []
        decided = False
        for rule in self.tried:
            if decided:
                verdicts.append(Verdict(rule, False, NOT_TRIED))
            elif not rule.enabled:
                verdicts.append(Verdict(rule, False, "off"))
            else:
                ok, why = check(rule.conditions, self.facts, self.internal_domains) if self.facts else (False, "")
                verdicts.append(Verdict(rule, ok, why))
                decided = rule is self.rule
        return tuple(verdicts)

    def explain(self) -> list[str]:
        """Every rule in order, matched or not and why (a rule after the deciding one: not tried,
        which says nothing about whether it would match)."""
        return [f"{n}. {v.rule.name}: " + ("off" if v.why == "off" else "not tried (an earlier rule decided)"
                                           if v.why == NOT_TRIED else f"{'matched' if v.matched else 'no match'} "
                                           f"({v.why})") for n, v in enumerate(self.trace, start=1)]


def ordered(rules: Iterable[Rule], connection_id: int | None) -> list[Rule]:
    """The rules that apply to a connection, in the order they are tried: the connection's own
    (personal) rules first, then the workspace's. `rules` come in position order."""
    rules = list(rules)
    own = [r for r in rules if r.connection_id is not None and r.connection_id == connection_id]
    shared = [r for r in rules if r.connection_id is None]
    return own + shared


def decide(rules: Iterable[Rule], facts: Facts, *, default: Default,
           internal_domains: frozenset[str] | None = None) -> Decision:
    tried = ordered(rules, facts.connection_id)
    for rule in tried:
        if rule.enabled and rule.conditions.matches(facts, internal_domains):
            return Decision(action=rule.action, channels=rule.channels if rule.action == CHANNELS else (),
                            rule=rule, approver=rule.approver, tried=tuple(tried), facts=facts,
                            internal_domains=internal_domains)
    return Decision(action=default.action, channels=default.channels, rule=None, tried=tuple(tried), facts=facts,
                    internal_domains=internal_domains)
