"""Free-text due dates ("Tomorrow", "next Monday", "2026-12-01", "March 15") → a date, read
relative to the meeting's date. What cannot be read is left as written (None here)."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
WEEKDAYS.update({name.lower(): i for i, name in enumerate(calendar.day_abbr)})
WEEKDAYS.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
FILLER = re.compile(r"^(?:due|by|on|before|until|til|till)\s+|[.,!]+$")


def _next_weekday(start: date, weekday: int, *, strictly_after: bool) -> date:
    days = (weekday - start.weekday()) % 7
    if days == 0 and strictly_after:
        days = 7
    return start + timedelta(days=days)


def _month_day(month: int, day: int, reference: date, year: int | None) -> date | None:
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(reference.year, month, day)
        # "March 15" said in November means next March.
        return candidate if candidate >= reference - timedelta(days=30) else date(reference.year + 1, month, day)
    except ValueError:
        return None


def parse_due(text: str | None, meeting_day: date) -> date | None:
    if not text:
        return None
    phrase = " ".join(text.lower().split())
    for _ in range(2):
        phrase = FILLER.sub("", phrase).strip()
    if not phrase:
        return None
    if phrase in ("today", "eod", "end of day", "tonight", "asap"):
        return meeting_day
    if phrase == "tomorrow":
        return meeting_day + timedelta(days=1)
    if phrase in ("day after tomorrow", "the day after tomorrow"):
        return meeting_day + timedelta(days=2)
    if phrase in ("next week", "early next week"):
        return _next_weekday(meeting_day, 0, strictly_after=True)
    if phrase in ("end of week", "end of the week", "eow", "this week"):
        return _next_weekday(meeting_day, 4, strictly_after=False)
    if phrase in ("end of month", "end of the month", "eom"):
        return date(meeting_day.year, meeting_day.month, calendar.monthrange(meeting_day.year, meeting_day.month)[1])
    if match := re.fullmatch(r"in (\d{1,3}|a|one|two|three) (day|days|week|weeks)", phrase):
        count = {"a": 1, "one": 1, "two": 2, "three": 3}.get(match.group(1)) or int(match.group(1))
        return meeting_day + timedelta(days=count * (7 if match.group(2).startswith("week") else 1))
    if match := re.fullmatch(r"(next|this|coming)?\s*([a-z]+)", phrase):
        weekday = WEEKDAYS.get(match.group(2))
        if weekday is not None:
            # "Monday" and "next Monday" both mean the first Monday after the meeting: the reading
            # most people intend, and the one that never pushes a date a week too far.
            return _next_weekday(meeting_day, weekday, strictly_after=True)
    if match := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:t.*)?", phrase):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    if match := re.fullmatch(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?", phrase):
        month = MONTHS.get(match.group(1))
        if month:
            return _month_day(month, int(match.group(2)), meeting_day,
                              int(match.group(3)) if match.group(3) else None)
    if match := re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]+)\.?(?:,?\s+(\d{4}))?", phrase):
        month = MONTHS.get(match.group(2))
        if month:
            return _month_day(month, int(match.group(1)), meeting_day,
                              int(match.group(3)) if match.group(3) else None)
    return None
