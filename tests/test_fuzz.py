"""Whatever people type after /meetings, they get a sentence back: never a 5xx, an unhandled
exception, a stack trace or a message Slack rejects."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VERBS = ["", "list", "show", "todos", "topics", "status", "help", "LIST", "ls", "show sess_demo_01"]

command_text = st.one_of(
    st.text(max_size=300),
    st.builds(lambda verb, rest: f"{verb} {rest}", st.sampled_from(VERBS), st.text(max_size=120)),
    st.builds(lambda n: f"list {n}", st.integers(min_value=-10**12, max_value=10**12)),
    st.builds(lambda n: f"show {n}", st.text(alphabet="abcdefghijk_-./?#%&<>`'\" \u200b\u00e9", max_size=60)),
)


@pytest.mark.usefixtures("connected")
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=command_text)
async def test_any_command_text_gets_a_plain_answer(slack_user, fake_hedy, caplog, text):
    fake_hedy.rate_limit_per_minute = 10_000  # many examples, one key: the fuzz is not about pacing
    with caplog.at_level(logging.ERROR):
        response, url = await slack_user.command(text)
        assert response.status_code == 200
        if response.headers.get("content-type", "").startswith("application/json"):
            reply = response.json()
        else:
            reply = (await slack_user.replies(url))[-1]
    shown = json.dumps(reply)
    assert reply["text"].strip()
    assert "Traceback" not in shown and "Something went wrong on my side" not in shown
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert slack_user.fake.unexpected_errors == []
