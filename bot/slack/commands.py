"""`/meetings` text → what the user asked for. Pure: no Slack, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_LIST = 10
MAX_LIST = 30  # one Slack message holds about this many meetings with buttons; "More" pages on

ALIASES = {
    "": "help", "help": "help", "?": "help", "-h": "help", "--help": "help",
    "list": "list", "ls": "list", "recent": "list",
    "show": "show", "get": "show", "view": "show",
    "todos": "todos", "todo": "todos", "tasks": "todos",
    "topics": "topics", "topic": "topics",
    "status": "status",
    "setup": "setup", "settings": "setup", "config": "setup", "configure": "setup",
    "disconnect": "disconnect",
    "reminders": "reminders", "reminder": "reminders",
    "recap": "recap", "recaps": "recap",
    "alias": "alias",
    "explain": "explain", "why": "explain",
    "connect": "connect",
    "routes": "routes", "rules": "routes", "routing": "routes",
}


@dataclass(frozen=True)
class Parsed:
    name: str  # help | list | show | todos | topics | status | setup | disconnect | explain | unknown | usage
    raw: str = ""
    limit: int = DEFAULT_LIST
    meeting_id: str | None = None
    include_done: bool = False
    owner: str | None = None  # todos mine / @someone: a Slack user id, or "me" for the one asking
    switch: bool | None = None  # reminders / recap: on or off
    message: str | None = None  # for "usage": what was wrong and how to say it
    notice: str | None = None  # a note shown with the answer (a clamped number, say)
    alias_name: str | None = None  # alias: the name as meeting notes write it ("Anna K")


# How Slack sends a picked @mention in command text: <@U123|ana> (or <@U123>).
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>")


# A count as people type it: ASCII digits only. str.isdigit() also passes "²" or "٣", which
# int() then refuses or reads as something nobody typed.
_COUNT = re.compile(r"\+?[0-9]+", re.ASCII)


def _looks_like_id(token: str) -> bool:
    # Ids are opaque, but they are never spread over several words or carry path characters.
    return 0 < len(token) <= 200 and not any(ch in token for ch in "/?#\\") and token.isprintable()


def parse(text: str | None) -> Parsed:
    raw = (text or "").strip()
    words = raw.split()
    verb = ALIASES.get(words[0].lower() if words else "", "unknown")
    args = words[1:]

    if verb == "help":
        return Parsed("help", raw)
    if verb == "list":
        if not args:
            return Parsed("list", raw)
        if len(args) > 1 or not _COUNT.fullmatch(args[0]):
            return Parsed("usage", raw, message="`/meetings list` takes one number, like `/meetings list 5`.")
        digits = args[0].lstrip("+").lstrip("0")
        count = MAX_LIST + 1 if len(digits) > 6 else int(digits or 0)
        if count < 1:
            return Parsed("usage", raw, message="Ask for at least one meeting, like `/meetings list 5`.")
        if count > MAX_LIST:
            return Parsed("list", raw, limit=MAX_LIST,
                          notice=f"I show up to {MAX_LIST} meetings at a time; use More for the rest.")
        return Parsed("list", raw, limit=count)
    if verb == "show":
        if not args:
            return Parsed("usage", raw, message="Which meeting? Type `/meetings show <meeting id>`; "
                                                "`/meetings list` shows the ids behind each Show button.")
        if len(args) > 1 or not _looks_like_id(args[0]):
            return Parsed("usage", raw, message="That doesn't look like a meeting id. Use `/meetings list` "
                                                "and press Show on the meeting you want.")
        return Parsed("show", raw, meeting_id=args[0].strip("`<>\"'"))
    if verb == "todos":
        if len(args) == 1 and args[0].lower() in ("mine", "me", "my"):
            return Parsed("todos", raw, owner="me")
        if len(args) == 1 and (mention := _MENTION.fullmatch(args[0])):
            return Parsed("todos", raw, owner=mention.group(1))
        if len(args) == 1 and args[0].startswith("@"):
            return Parsed("usage", raw, message="Pick the person from Slack's list as you type `@`, so that I "
                                                "get who they are: `/meetings todos @ana`.")
        scope = args[0].lower() if args else "open"
        if len(args) > 1 or scope not in ("open", "all"):
            return Parsed("usage", raw, message="`/meetings todos` takes `open` (the default), `all`, `mine` "
                                                "or a person, like `/meetings todos @ana`.")
        return Parsed("todos", raw, include_done=scope == "all")
    if verb in ("reminders", "recap"):
        if len(args) != 1 or args[0].lower() not in ("on", "off"):
            example = "`/meetings reminders off`" if verb == "reminders" else "`/meetings recap off` in the channel"
            return Parsed("usage", raw, message=f"Say `on` or `off`, like {example}.")
        return Parsed(verb, raw, switch=args[0].lower() == "on")
    if verb == "explain":
        if not args:
            return Parsed("explain", raw)
        if len(args) > 1 or not _looks_like_id(args[0]):
            return Parsed("usage", raw, message="Type `/meetings explain <meeting id>`, or `/meetings explain` "
                                                "for the latest decisions.")
        return Parsed("explain", raw, meeting_id=args[0].strip("`<>\"'"))
    if verb == "alias":
        return _alias(raw)
    if verb in ("topics", "status", "setup", "disconnect", "connect", "routes"):
        return Parsed(verb, raw)
    return Parsed("unknown", raw)


ALIAS_USAGE = ('Say the name as the meeting notes write it, then pick the person: `/meetings alias "Anna K" @anna`. '
               "Todos naming them are then suggested to that person.")
_ALIAS = re.compile(r"""^\S+\s+(?:"(?P<quoted>[^"]{1,120})"|“(?P<curly>[^”]{1,120})”|(?P<bare>[^"“<]{1,120}?))\s*"""
                    r"(?P<mention><@[UW][A-Z0-9]{2,20}(?:\|[^>]*)?>)\s*$")


def _alias(raw: str) -> Parsed:
    """`alias "Anna K" @anna` (quotes optional for a name without them)."""
    match = _ALIAS.match(raw)
    if match is None:
        return Parsed("usage", raw, message=ALIAS_USAGE)
    name = " ".join((match.group("quoted") or match.group("curly") or match.group("bare") or "").split())
    mention = _MENTION.fullmatch(match.group("mention"))
    if not name or mention is None or not any(ch.isalnum() for ch in name):
        return Parsed("usage", raw, message=ALIAS_USAGE)
    return Parsed("alias", raw, alias_name=name, owner=mention.group(1))
