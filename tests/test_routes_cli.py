"""`meetings-bot routes …`, run as operators run it (a subprocess), against the Hedy stand-in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import CHANNEL, HEDY_KEY, TEAM


@pytest.fixture
def routes(settings, connected_via_cli):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), MEETINGS_BOT_API_KEY=HEDY_KEY,
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), HEDY_API_URL=settings.hedy_api_url)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", "routes", *args], env=env, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    return run


def rules(result: subprocess.CompletedProcess) -> list[list[str]]:
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines() if line.strip()]


def test_rules_are_added_listed_moved_and_removed(routes):
    added = routes("add", "--team", TEAM, "--name", "Sales calls", "--title-contains", "sales call",
                   "--title-contains", "demo", "--participant-domain", "acme.com", "--channel", "C0SALES",
                   "--channel", "C0LEADS")
    assert added.returncode == 0, added.stderr
    sales = added.stdout.strip()
    assert sales.isdigit()  # only the new rule's id
    interviews = routes("add", "--team", TEAM, "--name", "Interviews", "--title-contains", "interview",
                        "--skip").stdout.strip()
    listed = rules(routes("list", "--team", TEAM))
    assert [(r[1], r[2]) for r in listed] == [("1", "Sensitive meetings"), ("2", "Sales calls"), ("3", "Interviews")]
    assert listed[1][0] == sales
    assert 'title contains "sales call" or "demo"' in listed[1][3] and "acme.com" in listed[1][3]
    assert listed[1][4] == "post to #C0SALES, #C0LEADS" and listed[2][4] == "skip"
    assert listed[0][4] == "hold for approval"

    first = routes("add", "--team", TEAM, "--name", "Board", "--title-contains", "board", "--hold",
                   "--approver", "U0CEO", "--position", "1")
    assert first.returncode == 0, first.stderr
    assert [r[2] for r in rules(routes("list", "--team", TEAM))] == ["Board", "Sensitive meetings", "Sales calls",
                                                                    "Interviews"]
    assert routes("move", "--team", TEAM, interviews, "--position", "2").returncode == 0
    assert routes("remove", "--team", TEAM, sales).returncode == 0
    assert [(r[1], r[2]) for r in rules(routes("list", "--team", TEAM))] == [
        ("1", "Board"), ("2", "Interviews"), ("3", "Sensitive meetings")]


def test_bad_rules_get_a_sentence_and_change_nothing(routes):
    none = routes("add", "--team", TEAM, "--name", "No action", "--title-contains", "x")
    assert none.returncode == 2 and "exactly one action" in none.stderr
    both = routes("add", "--team", TEAM, "--name", "Two", "--skip", "--dm-owner")
    assert both.returncode == 2 and "exactly one action" in both.stderr
    channel = routes("add", "--team", TEAM, "--name", "Bad", "--channel", "#sales")
    assert channel.returncode == 1 and "not a channel id" in channel.stderr
    builtin = routes("remove", "--team", TEAM, rules(routes("list", "--team", TEAM))[0][0])
    assert builtin.returncode == 1 and "routes builtin off" in builtin.stderr
    assert [r[2] for r in rules(routes("list", "--team", TEAM))] == ["Sensitive meetings"]


def test_explain_names_the_deciding_rule_and_posts_nothing(routes, fake_slack):
    held = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_demo_09")
    assert held.returncode == 0, held.stderr
    assert "Decision: hold for approval" in held.stdout and "Rule: Sensitive meetings" in held.stdout
    assert '1. Sensitive meetings: matched (the title contains "1:1")' in held.stdout

    assert routes("builtin", "--team", TEAM, "off").stdout.strip() == "Sensitive meetings is off."
    default = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_demo_09")
    assert f"Decision: post to #{CHANNEL}" in default.stdout and "Rule: default channel" in default.stdout
    assert "1. Sensitive meetings: off" in default.stdout

    routes("add", "--team", TEAM, "--name", "Customer calls", "--category", "Customer Calls", "--channel", "C0CS")
    routes("add", "--team", TEAM, "--name", "Two people", "--max-participants", "2", "--skip", "--position", "1")
    explained = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_demo_02")
    assert "Decision: post to #C0CS" in explained.stdout and "Rule: Customer calls" in explained.stdout
    assert "1. Two people: no match (Hedy does not report participants)" in explained.stdout
    assert fake_slack.calls_to("chat.postMessage") == []

    missing = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_nope")
    assert missing.returncode == 1 and "sess_nope" in missing.stderr
