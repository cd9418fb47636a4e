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
FILLER = re.compile(r"^(?:due(?: date)?:?|deadline:?|by|on|before|until|til|till|no later than|latest)\s+|[.,!;]+$")
# A time of day said with a date ("tomorrow morning", "Friday EOD", "by 5pm Monday"): the day is what counts.
TIME_OF_DAY = re.compile(
    r"(?:^|\s)(?:(?:at|by)\s+)?(?:\d{1,2}(?::\d{2})?\s*(?:am|pm)|noon|midday|eod|end of (?:the )?day|cob|"
    r"close of business|(?:in the |first thing (?:in the )?)?(?:morning|afternoon|evening))(?=\s|$)")
WORD_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "a couple of": 2,
                "a couple": 2, "couple of": 2, "a few": 3}


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


def _normalize(text: str) -> str:
    phrase = " ".join(text.lower().split())
    phrase = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", phrase)  # mid-December, end-of-week
    for _ in range(3):
        phrase = FILLER.sub("", phrase).strip()
    return phrase


def parse_due(text: str | None, meeting_day: date) -> date | None:
    """The day a todo is due, or None when the phrase says no day (it is then shown as written)."""
    if not text:
        return None
    phrase = _normalize(text)
    if not phrase:
        return None
    if phrase in ("today", "eod", "end of day", "end of the day", "tonight", "asap", "cob", "close of business",
                  "this morning", "this afternoon", "this evening", "immediately", "right away"):
        return meeting_day
    timeless = _normalize(TIME_OF_DAY.sub(" ", phrase))
    if timeless != phrase:
        return parse_due(timeless, meeting_day) if timeless else meeting_day  # "by 5pm": that day
    # "Monday, December 1" and "Friday 2026-12-04": the date decides.
    if (match := re.fullmatch(r"(?:(?:next|this|coming)\s+)?([a-z]+),?\s+(.+)", phrase)) \
            and match.group(1) in WEEKDAYS and (rest := parse_due(match.group(2), meeting_day)) is not None \
            and match.group(2) not in ("next week", "this week"):
        return rest
    if match := re.fullmatch(r"(?:([a-z]+)\s+next week|next week\s+([a-z]+))", phrase):
        weekday = WEEKDAYS.get(match.group(1) or match.group(2))
        if weekday is not None:
            return _next_weekday(meeting_day, 0, strictly_after=True) + timedelta(days=weekday)
    if phrase == "tomorrow":
        return meeting_day + timedelta(days=1)
    if phrase in ("day after tomorrow", "the day after tomorrow"):
        return meeting_day + timedelta(days=2)
    if phrase in ("next week", "early next week"):
        return _next_weekday(meeting_day, 0, strictly_after=True)
    if phrase in ("end of week", "end of the week", "eow", "this week"):
        return _next_weekday(meeting_day, 4, strictly_after=False)
    if phrase in ("end of next week", "end of the next week"):
        return _next_weekday(meeting_day, 0, strictly_after=True) + timedelta(days=4)
    if phrase in ("end of month", "end of the month", "eom"):
        return date(meeting_day.year, meeting_day.month, calendar.monthrange(meeting_day.year, meeting_day.month)[1])
    if phrase in ("end of next month", "end of the next month"):
        year, month = (meeting_day.year + 1, 1) if meeting_day.month == 12 \
            else (meeting_day.year, meeting_day.month + 1)
        return date(year, month, calendar.monthrange(year, month)[1])
    numbers = "|".join(sorted((re.escape(w) for w in WORD_NUMBERS), key=len, reverse=True))
    if match := re.fullmatch(rf"(?:in|within|in the next)\s+(\d{{1,3}}|{numbers})\s+(business days?|days?|weeks?)"
                             r"|(\d{1,3}|" + numbers + r")\s+(days?|weeks?) from (?:now|today)", phrase):
        amount, unit = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        count = WORD_NUMBERS.get(amount) or int(amount)
        if unit.startswith("business"):
            due = meeting_day
            while count > 0:
                due += timedelta(days=1)
                count -= due.weekday() < 5
            return due
        return meeting_day + timedelta(days=count * (7 if unit.startswith("week") else 1))
    if phrase in ("in a week", "a week from now", "within a week", "within the week"):
        return meeting_day + timedelta(days=7)
    if match := re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)(?: of (?:the|this) month)?", phrase):
        # "by the 15th": the next 15th from the meeting on.
        day = int(match.group(1))
        year, month = meeting_day.year, meeting_day.month
        for _ in range(3):
            if day <= calendar.monthrange(year, month)[1] and date(year, month, day) >= meeting_day:
                return date(year, month, day)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None
    if match := re.fullmatch(r"(early|mid|middle of|late|end of|the end of|beginning of|start of) ([a-z]+)\.?", phrase):
        named_month = MONTHS.get(match.group(2))
        if named_month:
            part = match.group(1)
            day = 5 if part in ("early", "beginning of", "start of") else 15 if part in ("mid", "middle of") else 31
            year = meeting_day.year + (1 if named_month < meeting_day.month else 0)
            return date(year, named_month, min(day, calendar.monthrange(year, named_month)[1]))
    if match := re.fullmatch(r"(next|this|coming)?\s*([a-z]+)", phrase):
        weekday = WEEKDAYS.get(match.group(2))
        if weekday is not None:
            # "Monday" and "next Monday" both mean the first Monday after the meeting: the reading
            # most people intend, and the one that never pushes a date a week too far.
            return _next_weekday(meeting_day, weekday, strictly_after=True)
    if match := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:t.*|\s.*)?", phrase):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    if match := re.fullmatch(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?", phrase):
        named_month = MONTHS.get(match.group(1))
        if named_month:
            return _month_day(named_month, int(match.group(2)), meeting_day,
                              int(match.group(3)) if match.group(3) else None)
    if match := re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]+)\.?(?:,?\s+(\d{4}))?", phrase):
        named_month = MONTHS.get(match.group(2))
        if named_month:
            return _month_day(named_month, int(match.group(1)), meeting_day,
                              int(match.group(3)) if match.group(3) else None)
    return None
