"""Free-text due dates → a date, read relative to the meeting's date, in the meeting's language
("Tomorrow", "nächsten Montag", "mañana", "fin de semaine", "2026-12-01"). What cannot be read is
left as written (None here).

Three readers, in order: a small table of business phrases in English, German, Spanish and French
that general date parsers miss (EOD, end of week, by Q1, next week, weekdays with "next"); the
English rules below for English phrasing they also miss (business days, mid-December, by the
15th); then dateparser, the well-kept library for dates in some 200 languages, with the meeting's
language when the provider reports it, preferring dates after the meeting."""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, datetime, timedelta
from functools import lru_cache

import dateparser

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


def english_due(text: str | None, meeting_day: date) -> date | None:
    """English phrasing general date parsers miss; None for anything else."""
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
        return english_due(timeless, meeting_day) if timeless else meeting_day  # "by 5pm": that day
    # "Monday, December 1" and "Friday 2026-12-04": the date decides.
    if (match := re.fullmatch(r"(?:(?:next|this|coming)\s+)?([a-z]+),?\s+(.+)", phrase)) \
            and match.group(1) in WEEKDAYS and (rest := english_due(match.group(2), meeting_day)) is not None \
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


# --------------------------------------------------------------------------- every language

# What a due date may start with, in the four languages the table knows ("bis Freitag", "para el
# lunes", "d'ici vendredi"): removed before reading.
_LEAD = re.compile(r"^(?:due(?: date)?:?|deadline:?|by|on|before|until|till?|no later than|latest|"
                   r"bis(?: zum| zur| spätestens)?|spätestens|am|fällig(?: am)?|"
                   r"para(?: el)?|antes del?|hasta(?: el)?|el|"
                   r"d'ici(?: à| a)?|avant(?: le)?|pour(?: le)?|le|au plus tard(?: le)?)\s+")
_NEXT = r"(?:next|this|coming|nachste[nrs]?|kommende[nrs]?|diese[nrs]?|proximo|este|prochain|ce)"  # folded
_WEEKDAY_NAMES = {
    0: ("monday", "mon", "montag", "lunes", "lundi"), 1: ("tuesday", "tue", "tues", "dienstag", "martes", "mardi"),
    2: ("wednesday", "wed", "mittwoch", "miercoles", "mercredi"),
    3: ("thursday", "thu", "thurs", "donnerstag", "jueves", "jeudi"),
    4: ("friday", "fri", "freitag", "viernes", "vendredi"), 5: ("saturday", "sat", "samstag", "sabado", "samedi"),
    6: ("sunday", "sun", "sonntag", "domingo", "dimanche")}
_WEEKDAY = {name: day for day, names in _WEEKDAY_NAMES.items() for name in names}
_TODAY = {"eod", "cob", "end of day", "end of the day", "close of business", "asap", "today", "tonight",
          "heute", "feierabend", "sofort", "hoy", "cuanto antes", "lo antes posible", "aujourd'hui", "ce soir",
          "des que possible", "au plus vite", "fin de journee", "fin del dia"}
_DAY_AFTER_TOMORROW = {"day after tomorrow", "the day after tomorrow", "ubermorgen", "pasado manana",
                       "apres demain", "apres-demain"}
_END_OF_WEEK = {"eow", "end of week", "end of the week", "this week", "ende der woche", "wochenende",
                "diese woche", "fin de semana", "esta semana", "fin de semaine", "fin de la semaine", "cette semaine"}
_NEXT_WEEK = {"next week", "early next week", "nachste woche", "kommende woche", "la semana que viene",
              "la proxima semana", "semana que viene", "proxima semana", "la semaine prochaine", "semaine prochaine"}
_END_OF_NEXT_WEEK = {"end of next week", "end of the next week", "ende nachster woche", "ende der nachsten woche",
                     "fin de la semana que viene", "fin de la proxima semana", "fin de la semaine prochaine"}
_END_OF_MONTH = {"eom", "end of month", "end of the month", "monatsende", "ende des monats", "ende monat",
                 "fin de mes", "fin del mes", "fin de mois", "fin du mois"}
_QUARTER = re.compile(r"^(?:(?:the )?end of |ende |fin (?:de|del|du) )?(?:q|quarter )([1-4])(?: (\d{4}))?$")


def _fold(text: str) -> str:
    """Lower case, accents off ("nächste" → "nachste"), one space, no trailing punctuation."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    phrase = " ".join(plain.lower().replace("\u2019", "'").split()).strip(" .,!;")
    for _ in range(3):
        phrase = _LEAD.sub("", phrase).strip()
    return phrase


def _end_of_quarter(quarter: int, year: int | None, meeting_day: date) -> date:
    month = quarter * 3
    if year is None:  # "by Q1" said in November: next year's Q1
        year = meeting_day.year if month >= meeting_day.month else meeting_day.year + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def business_due(text: str | None, meeting_day: date) -> date | None:
    """The table: business phrases and weekdays in English, German, Spanish and French."""
    phrase = _fold(text or "")
    if not phrase:
        return None
    monday_after = _next_weekday(meeting_day, 0, strictly_after=True)
    if phrase in _TODAY:
        return meeting_day
    if phrase in _DAY_AFTER_TOMORROW:
        return meeting_day + timedelta(days=2)
    if phrase in _END_OF_WEEK:
        return _next_weekday(meeting_day, 4, strictly_after=False)
    if phrase in _NEXT_WEEK:
        return monday_after
    if phrase in _END_OF_NEXT_WEEK:
        return monday_after + timedelta(days=4)
    if phrase in _END_OF_MONTH:
        return date(meeting_day.year, meeting_day.month,
                    calendar.monthrange(meeting_day.year, meeting_day.month)[1])
    if match := _QUARTER.match(phrase):
        return _end_of_quarter(int(match.group(1)), int(match.group(2)) if match.group(2) else None, meeting_day)
    # "next Monday", "nächsten Montag", "el próximo lunes", "lundi prochain", "Friday": the first
    # one after the meeting (the reading most people intend; never a week too far)
    words = [w for w in re.split(r"[ ,]+", phrase) if w and not re.fullmatch(_NEXT, w)]
    if len(words) == 1 and words[0] in _WEEKDAY and len(phrase.split()) <= 3:
        return _next_weekday(meeting_day, _WEEKDAY[words[0]], strictly_after=True)
    return None


# Day and month in an order only the writer knows ("12/01": 12 January or 1 December?).
_AMBIGUOUS = re.compile(r"^\d{1,2}[/.-]\d{1,2}\.?$")
_YEAR = re.compile(r"\b\d{4}\b")
_LANGUAGES = ("en", "de", "es", "fr", "it", "pt", "nl")  # tried when the provider names none


@lru_cache(maxsize=64)
def _languages(language: str | None) -> tuple[str, ...]:
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return (code,) if code.isalpha() and 2 <= len(code) <= 3 else _LANGUAGES


def library_due(text: str, meeting_day: date, language: str | None = None) -> date | None:
    """dateparser's reading, relative to the meeting, preferring dates after it."""
    phrase = " ".join(text.split()).strip(" .,!;")
    if not phrase or _AMBIGUOUS.match(phrase) or len(phrase) > 80:
        return None
    base = datetime.combine(meeting_day, datetime.min.time()).replace(hour=12)
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False}
    try:
        found = dateparser.parse(phrase, languages=list(_languages(language)), settings=settings)
    except Exception:  # the library's own errors on odd input: treat as unreadable
        found = None
    if found is None:
        languages = _languages(language)
        stripped = _fold(phrase)
        if stripped and stripped != phrase.lower():
            try:
                found = dateparser.parse(stripped, languages=list(languages), settings=settings)
            except Exception:
                found = None
    if found is None:
        return None
    day = found.date()
    if not _YEAR.search(phrase) and day - meeting_day > timedelta(days=335):
        # "10. November" said on 19 November means the one just gone (overdue), as in English
        try:
            earlier = day.replace(year=day.year - 1)
        except ValueError:
            earlier = day
        if earlier >= meeting_day - timedelta(days=30):
            day = earlier
    if not timedelta(days=-400) <= day - meeting_day <= timedelta(days=800):
        return None  # "the 32nd" read as a year: not a due date anyone meant
    return day


def parse_due(text: str | None, meeting_day: date, language: str | None = None) -> date | None:
    """The day a todo is due, or None when the phrase says no day (it is then shown as written).
    `language`: the meeting's language as the provider reports it ("de", "es-ES"), if it does."""
    if not text or not text.strip():
        return None
    found = business_due(text, meeting_day)
    if found is None and (language is None or _languages(language)[0] == "en"):
        found = english_due(text, meeting_day)
        if found is None and _is_unreadable_english(text):
            return None
    return found or library_due(text, meeting_day, language)


def _is_unreadable_english(text: str) -> bool:
    """English phrases the rules above deliberately leave as written, which dateparser would still
    turn into some day ("the 32nd", "February 30")."""
    phrase = _normalize(text)
    return bool(re.fullmatch(r"(?:the )?\d{1,3}(?:st|nd|rd|th)(?: of (?:the|this) month)?", phrase)
                or (re.fullmatch(r"([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?(?:,? \d{4})?", phrase)
                    and phrase.split()[0].rstrip(".") in MONTHS))
