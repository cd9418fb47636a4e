"""Text that is safe and sized for Block Kit.

User content (titles, minutes, todo text) is escaped so it can never form a mention
(`<!channel>`, `<@U…>`) or a link, and cut cleanly, at a line or word boundary, before it
reaches a Slack limit.
"""

from __future__ import annotations

import re
from datetime import datetime

from markdown_to_mrkdwn import SlackMarkdownConverter

ELLIPSIS = "…"

_converter = SlackMarkdownConverter()


def escape(text: str | None) -> str:
    """Slack's three control characters, and nothing else (an apostrophe stays an apostrophe)."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A Slack user id as Slack writes it (U… or, for Enterprise Grid users, W…): nothing else may
# become an <@…> mention, whatever a button, a picker or a stored row says.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def mention(user_id: str | None, *, otherwise: str = "someone") -> str:
    """`<@U123>` for a real user id; anything else (a forged value, "slack", "cli") as escaped text."""
    if is_user_id(user_id):
        return f"<@{user_id}>"
    return escape(user_id) or otherwise


def plain(text: str | None, limit: int) -> str:
    """For plain_text objects: no escaping needed, only a length cap; never empty."""
    text = " ".join((text or "").split()) or "Untitled"
    return truncate(text, limit)


def truncate(text: str, limit: int) -> str:
    """Cut to at most `limit` characters at a line, then word, boundary, marking the cut."""
    if len(text) <= limit:
        return text
    budget = max(limit - len(ELLIPSIS), 0)
    cut = text[:budget]
    for boundary in ("\n", " "):
        position = cut.rfind(boundary)
        if position >= budget * 0.6:
            cut = cut[:position]
            break
    # Never leave half an escape sequence (&amp; cut to &am) or half a link behind.
    cut = re.sub(r"&[a-z]{0,4}$", "", cut)
    cut = _drop_unclosed_link(cut)
    return cut.rstrip() + ELLIPSIS


def _drop_unclosed_link(text: str) -> str:
    opened = text.rfind("<")
    if opened != -1 and text.find(">", opened) == -1:
        return text[:opened]
    return text


def mrkdwn_from_markdown(markdown: str | None) -> str:
    """Provider Markdown (headings, **bold**, lists, links) as Slack mrkdwn, with user text escaped.

    Escaping comes first, so the only `<…>` in the result are the links the converter writes.
    A `>` that starts a line is a Markdown quote and is kept for the converter.
    """
    if not markdown:
        return ""
    escaped = markdown.replace("&", "&amp;").replace("<", "&lt;")
    escaped = re.sub(r"(?<!^)(?<!\n)>", "&gt;", escaped)
    escaped = re.sub(r"^(\s*)>(?! )", r"\1&gt;", escaped, flags=re.MULTILINE)
    converted = _safe_links(_converter.convert(escaped))
    return re.sub(r"\n{3,}", "\n\n", converted).strip()


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def _safe_links(text: str) -> str:
    """Keep only web and mail links. `[x](!channel)` or `![i](@U123)` would otherwise become a
    real @channel or user mention: those become their label as plain text."""

    def keep(match: re.Match) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("http://", "https://", "mailto:")) and len(target) <= 1000:
            return match.group(0)
        return label if label else target.replace("!", "").replace("@", "")

    return _LINK.sub(keep, text)


def split_paragraphs(text: str, limit: int) -> list[str]:
    """Split into chunks of at most `limit` characters, preferring paragraph and line breaks."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut < limit * 0.5:
            cut = rest.rfind("\n", 0, limit)
        if cut < limit * 0.5:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        head = _drop_unclosed_link(re.sub(r"&[a-z]{0,4}$", "", rest[:cut]))
        if not head.strip():
            # The cut fell inside a link (or one longer than the limit): cut hard instead,
            # so the loop always moves on.
            head = rest[:limit]
        chunks.append(head.rstrip())
        rest = rest[len(head):].strip()
    if rest:
        chunks.append(rest)
    return chunks


def slack_date(moment: datetime | None, *, with_time: bool = True) -> str:
    """A date Slack renders in each reader's own time zone, with a UTC fallback."""
    if moment is None:
        return "date unknown"
    stamp = int(moment.timestamp())
    token = "{date_short_pretty} at {time}" if with_time else "{date_short_pretty}"
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")
    return f"<!date^{stamp}^{token}|{fallback}>"


def duration_text(seconds: int | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    minutes = max(round(seconds / 60), 1)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
