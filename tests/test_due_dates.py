"""Hedy's free-text due dates, read relative to the meeting's date (a Thursday here)."""

from datetime import date

import pytest

from bot.services.due_dates import parse_due

MEETING = date(2026, 11, 19)  # a Thursday


@pytest.mark.parametrize("text, expected", [
    ("Tomorrow", date(2026, 11, 20)),
    ("tomorrow.", date(2026, 11, 20)),
    ("Today", MEETING),
    ("EOD", MEETING),
    ("by Friday", date(2026, 11, 20)),
    ("Monday", date(2026, 11, 23)),
    ("next Monday", date(2026, 11, 23)),
    ("next Thursday", date(2026, 11, 26)),
    ("Thursday", date(2026, 11, 26)),
    ("this Friday", date(2026, 11, 20)),
    ("Wed", date(2026, 11, 25)),
    ("next week", date(2026, 11, 23)),
    ("end of week", date(2026, 11, 20)),
    ("end of month", date(2026, 11, 30)),
    ("in 3 days", date(2026, 11, 22)),
    ("in two weeks", date(2026, 12, 3)),
    ("2026-12-01", date(2026, 12, 1)),
    ("due 2026-12-01", date(2026, 12, 1)),
    ("December 1", date(2026, 12, 1)),
    ("Dec 1st", date(2026, 12, 1)),
    ("March 15", date(2027, 3, 15)),
    ("15 March", date(2027, 3, 15)),
    ("March 15, 2026", date(2026, 3, 15)),
    ("November 10", date(2026, 11, 10)),  # a week ago: overdue, not next year
])
def test_phrasings_people_and_hedy_use(text, expected):
    assert parse_due(text, MEETING) == expected


@pytest.mark.parametrize("text", [None, "", "soon", "when we can", "Q3", "2026-02-30", "February 30",
                                  "after the launch", "13/13"])
def test_what_cannot_be_read_is_left_alone(text):
    assert parse_due(text, MEETING) is None
