"""Hedy's free-text due dates, read relative to the meeting's date (a Thursday here).

The phrasings are the kinds Hedy's todo extraction and people in meetings produce: relative days,
weekdays with and without "next", times of day, ISO and written dates. What names no day is left
alone: the reminder shows it as written and treats the todo as undated."""

from datetime import date

import pytest

from bot.services.due_dates import parse_due

MEETING = date(2026, 11, 19)  # a Thursday


@pytest.mark.parametrize("text, expected", [
    # relative days
    ("Tomorrow", date(2026, 11, 20)),
    ("tomorrow.", date(2026, 11, 20)),
    ("Today", MEETING),
    ("EOD", MEETING),
    ("End of day", MEETING),
    ("ASAP", MEETING),
    ("by 5pm", MEETING),
    ("This afternoon", MEETING),
    ("Day after tomorrow", date(2026, 11, 21)),
    ("Tomorrow morning", date(2026, 11, 20)),
    ("tomorrow at 10am", date(2026, 11, 20)),
    ("EOD tomorrow", date(2026, 11, 20)),
    # weekdays: the first one after the meeting, with or without "next"
    ("by Friday", date(2026, 11, 20)),
    ("Friday EOD", date(2026, 11, 20)),
    ("Monday", date(2026, 11, 23)),
    ("Monday morning", date(2026, 11, 23)),
    ("next Monday", date(2026, 11, 23)),
    ("Next Monday.", date(2026, 11, 23)),
    ("next Thursday", date(2026, 11, 26)),
    ("Thursday", date(2026, 11, 26)),
    ("this Friday", date(2026, 11, 20)),
    ("Wed", date(2026, 11, 25)),
    ("Thurs", date(2026, 11, 26)),
    ("Friday next week", date(2026, 11, 27)),
    ("next week Tuesday", date(2026, 11, 24)),
    # weeks and months
    ("next week", date(2026, 11, 23)),
    ("Early next week", date(2026, 11, 23)),
    ("end of week", date(2026, 11, 20)),
    ("End of the week", date(2026, 11, 20)),
    ("end-of-week", date(2026, 11, 20)),
    ("EOW", date(2026, 11, 20)),
    ("End of next week", date(2026, 11, 27)),
    ("end of month", date(2026, 11, 30)),
    ("End of next month", date(2026, 12, 31)),
    ("in 3 days", date(2026, 11, 22)),
    ("within 2 business days", date(2026, 11, 23)),
    ("in a couple of days", date(2026, 11, 21)),
    ("in two weeks", date(2026, 12, 3)),
    ("two weeks from now", date(2026, 12, 3)),
    ("within a week", date(2026, 11, 26)),
    ("by the 15th", date(2026, 12, 15)),
    ("the 30th", date(2026, 11, 30)),
    ("mid-December", date(2026, 12, 15)),
    ("end of January", date(2027, 1, 31)),
    ("early March", date(2027, 3, 5)),
    # written dates
    ("2026-12-01", date(2026, 12, 1)),
    ("due 2026-12-01", date(2026, 12, 1)),
    ("Due date: 2026-12-01", date(2026, 12, 1)),
    ("2026-12-01T17:00:00Z", date(2026, 12, 1)),
    ("2026/12/01", date(2026, 12, 1)),
    ("December 1", date(2026, 12, 1)),
    ("Dec 1st", date(2026, 12, 1)),
    ("Dec. 1", date(2026, 12, 1)),
    ("Monday, December 1", date(2026, 12, 1)),
    ("1st of December", date(2026, 12, 1)),
    ("March 15", date(2027, 3, 15)),
    ("15 March", date(2027, 3, 15)),
    ("March 15, 2026", date(2026, 3, 15)),
    ("March 15th 2027", date(2027, 3, 15)),
    ("Sept 3", date(2027, 9, 3)),
    ("November 10", date(2026, 11, 10)),  # a week ago: overdue, not next year
])
def test_phrasings_people_and_hedy_use(text, expected):
    assert parse_due(text, MEETING) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "soon", "when we can", "next sprint",
                                  "2026-02-30", "February 30", "after the launch", "13/13", "12/01",
                                  "before the board meeting", "TBD", "n/a", "the 32nd", "Someday"])
def test_what_names_no_day_is_left_alone(text):
    assert parse_due(text, MEETING) is None


@pytest.mark.parametrize("meeting, text, expected", [
    (date(2026, 12, 30), "January 5", date(2027, 1, 5)),  # across the year end
    (date(2026, 12, 30), "tomorrow", date(2026, 12, 31)),
    (date(2026, 12, 31), "end of next month", date(2027, 1, 31)),
    (date(2028, 2, 28), "tomorrow", date(2028, 2, 29)),  # a leap day
    (date(2026, 11, 23), "Monday", date(2026, 11, 30)),  # said on a Monday: the next one
    (date(2026, 11, 27), "within 1 business day", date(2026, 11, 30)),  # Friday → Monday
])
def test_edges_of_the_calendar(meeting, text, expected):
    assert parse_due(text, meeting) == expected


# Business phrases general date parsers miss, and due dates in the meeting's own language (read
# with dateparser where the table has nothing): the meeting is on Thursday 19 November 2026.
@pytest.mark.parametrize("language, text, expected", [
    ("en", "by Q1", date(2027, 3, 31)),
    ("en", "end of Q1", date(2027, 3, 31)),
    ("en", "Q4", date(2026, 12, 31)),
    ("en", "Q3 2027", date(2027, 9, 30)),
    ("en", "EOD", MEETING),
    ("en", "in two weeks", date(2026, 12, 3)),
    ("de", "morgen", date(2026, 11, 20)),
    ("de", "übermorgen", date(2026, 11, 21)),
    ("de", "nächsten Montag", date(2026, 11, 23)),
    ("de", "bis Freitag", date(2026, 11, 20)),
    ("de", "Ende der Woche", date(2026, 11, 20)),
    ("de", "nächste Woche", date(2026, 11, 23)),
    ("de", "in zwei Wochen", date(2026, 12, 3)),
    ("de", "15. Dezember", date(2026, 12, 15)),
    ("de", "10. November", date(2026, 11, 10)),  # a week ago: overdue, not next year
    ("de", "Monatsende", date(2026, 11, 30)),
    ("es", "mañana", date(2026, 11, 20)),
    ("es", "el próximo lunes", date(2026, 11, 23)),
    ("es", "el viernes", date(2026, 11, 20)),
    ("es", "fin de semana", date(2026, 11, 20)),
    ("es", "la semana que viene", date(2026, 11, 23)),
    ("es", "15 de diciembre", date(2026, 12, 15)),
    ("es", "fin de mes", date(2026, 11, 30)),
    ("es", "hoy", MEETING),
    ("fr", "demain", date(2026, 11, 20)),
    ("fr", "lundi prochain", date(2026, 11, 23)),
    ("fr", "d'ici vendredi", date(2026, 11, 20)),
    ("fr", "fin de semaine", date(2026, 11, 20)),
    ("fr", "la semaine prochaine", date(2026, 11, 23)),
    ("fr", "le 15 décembre", date(2026, 12, 15)),
    ("fr", "fin du mois", date(2026, 11, 30)),
    ("fr", "aujourd'hui", MEETING),
    ("es-ES", "pasado mañana", date(2026, 11, 21)),
    ("de_DE", "Freitag", date(2026, 11, 20)),
    (None, "mañana", date(2026, 11, 20)),  # no language reported: the common ones are tried
    (None, "demain", date(2026, 11, 20)),
])
def test_due_dates_in_the_meetings_language(language, text, expected):
    assert parse_due(text, MEETING, language) == expected


@pytest.mark.parametrize("language, text", [
    ("de", "bald"), ("de", "nach dem Launch"), ("es", "cuando podamos"), ("fr", "dès que possible, ou pas"),
    ("fr", "12/01"), ("de", "irgendwann"),
])
def test_unreadable_ones_in_other_languages_are_left_as_written(language, text):
    assert parse_due(text, MEETING, language) is None
