"""`meetings-bot routes …`, run as operators run it (a subprocess), against the Hedy stand-in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import BOT_TOKEN, CHANNEL, HEDY_KEY, TEAM


@pytest.fixture
def routes(settings, connected_via_cli):
    """`python -m bot routes …` (the console script's own `main`). With slack=True it may ask the
    Slack stand-in (SLACK_BOT_TOKEN set), as a server with Slack credentials would."""

    def run(*args: str, slack: bool = False, **overrides: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "HEDY_", "DATABASE_", "MEETINGS_BOT", "WHEREBY_", "HARMONY_",
                                    "MEETRIC_"))}
        env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), MEETINGS_BOT_API_KEY=HEDY_KEY,
                   ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), HEDY_API_URL=settings.hedy_api_url,
                   WHEREBY_API_URL=settings.whereby_api_url, HARMONY_API_URL=settings.harmony_api_url)
        if slack:
            env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=settings.slack_api_url)
        env.update(overrides)
        return subprocess.run([sys.executable, "-m", "bot", "routes", *args], env=env, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    return run


def one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """A failure as the contract says: the exit code, one line on stderr starting "Error:", no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


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
    channel = routes("add", "--team", TEAM, "--name", "Bad", "--channel", "#sales")  # a name, and no Slack to ask
    one_line_error(channel, 1, "#sales", "channel id instead")
    bad = routes("add", "--team", TEAM, "--name", "Bad", "--channel", "C0-NOT-AN-ID!")
    one_line_error(bad, 1, "C0-NOT-AN-ID!")
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


def test_channels_are_taken_as_people_type_them(routes, fake_slack):
    fake_slack.add_channel("C0SALES", "sales")
    typed = routes("add", "--channel", "C0A,C0B", "--channel", "#C0C", "--channel", "<#C0D|design> C0E",
                   "--team", TEAM, "--name", "Many")
    assert typed.returncode == 0, typed.stderr
    named = routes("add", "--team", TEAM, "--name", "Named", "--channel", "#sales", "--channel", "C0LEADS", slack=True)
    assert named.returncode == 0, named.stderr
    listed = {r[2]: r[4] for r in rules(routes("list", "--team", TEAM))}
    assert listed["Many"] == "post to #C0A, #C0B, #C0C, #C0D, #C0E"
    assert listed["Named"] == "post to #C0SALES, #C0LEADS"  # the name looked up in Slack, the order kept

    one_line_error(routes("add", "--team", TEAM, "--name", "Lost", "--channel", "#nowhere", slack=True), 1,
                   "#nowhere", "check the name")
    one_line_error(routes("add", "--team", TEAM, "--name", "Empty", "--channel", ","), 2, "--channel")
    assert "Lost" not in {r[2] for r in rules(routes("list", "--team", TEAM))}


def test_team_before_or_after_the_command_and_its_arguments(routes):
    added = routes("--team", TEAM, "add", "--name", "Early", "--skip")
    assert added.returncode == 0, added.stderr
    rule_id = added.stdout.strip()
    assert rules(routes("--team", TEAM, "list")) == rules(routes("list", "--team", TEAM))
    assert routes("move", rule_id, "--position", "1", "--team", TEAM).stdout.strip() == \
        f"Rule {rule_id} (Early) is now at position 1."
    assert routes("builtin", "off", "--team", TEAM).returncode == 0
    assert routes("remove", rule_id, "--team", TEAM).stdout.strip() == f"Removed rule {rule_id} (Early)."
    one_line_error(routes("list"), 2, "--team")
    one_line_error(routes("remove", "3"), 2, "--team")


def test_the_builtin_switch_in_any_spelling(routes):
    for said, state in (("ON", "on"), ("Off", "off"), ("true", "on"), ("false", "off"), ("yes", "on"), ("no", "off"),
                        ("1", "on"), ("0", "off"), ("enable", "on"), ("disabled", "off")):
        result = routes("builtin", "--team", TEAM, said)
        assert (result.returncode, result.stdout.strip()) == (0, f"Sensitive meetings is {state}."), result.stderr
    one_line_error(routes("builtin", "--team", TEAM, "maybe"), 2, "on or off")


def test_command_line_mistakes_are_one_sentence_never_a_box_or_a_traceback(routes):
    one_line_error(routes("remove", "--team", TEAM, "999"), 1, "no rule 999", "routes list")
    one_line_error(routes("move", "--team", TEAM, "999", "--position", "1"), 1, "no rule 999")
    one_line_error(routes("remove", "--team", TEAM, "abc"), 2, "'abc' is not a rule id")
    one_line_error(routes("remove", "--team", TEAM), 2, "Missing argument 'ID'", "routes remove --help")
    one_line_error(routes("move", "--team", TEAM, "1"), 2, "Missing option '--position'")
    one_line_error(routes("move", "--team", TEAM, "1", "--position", "0"), 2, "positions start at 1")
    one_line_error(routes("add", "--team", TEAM, "--name", "Zero", "--skip", "--position", "0"), 2,
                   "positions start at 1")
    one_line_error(routes("add", "--team", TEAM, "--name", "X", "--skip", "--position", "first"), 2, "--position")
    one_line_error(routes("add", "--team", TEAM, "--name", "X", "--skip", "--bogus"), 2, "No such option: --bogus")
    one_line_error(routes("explain", "--team", TEAM, "--provider", "zoom", "--meeting", "m1"), 1,
                   "unknown provider 'zoom'")
    one_line_error(routes("explain", "--team", "T0NOBODY", "--provider", "hedy", "--meeting", "m1"), 1,
                   "no Hedy connection")
    one_line_error(routes("frobnicate"), 2, "No such command 'frobnicate'")
    assert [r[2] for r in rules(routes("list", "--team", TEAM))] == ["Sensitive meetings"]


def test_a_position_past_the_end_puts_the_rule_last_and_says_so(routes):
    result = routes("add", "--team", TEAM, "--name", "Far", "--skip", "--position", "99")
    assert result.returncode == 0 and result.stdout.strip().isdigit()  # $(…) still gets just the id
    assert "last, at position 2" in result.stderr
    assert [(r[1], r[2]) for r in rules(routes("list", "--team", TEAM))] == [("1", "Sensitive meetings"),
                                                                            ("2", "Far")]
    moved = routes("move", "--team", TEAM, result.stdout.strip(), "--position", "50")
    assert moved.stdout.strip() == f"Rule {result.stdout.strip()} (Far) is now at position 2."


def test_a_mistyped_team_is_said_on_stderr(routes):
    result = routes("add", "--team", "T0TYPO", "--name", "Early bird", "--skip")
    assert result.returncode == 0 and result.stdout.strip().isdigit()
    assert "T0TYPO has no provider connection yet" in result.stderr
    assert "no provider connection" not in routes("list", "--team", TEAM).stderr


def test_conditions_with_spaces_and_unicode_survive_and_match(routes, fake_hedy):
    fake_hedy.add_session(sessionId="sess_jp", title="週次会議: Réunion d'équipe")
    added = routes("add", "--team", TEAM, "--name", "Équipe ✓", "--title-contains", "réunion d'équipe",
                   "--title-contains", "会議", "--participant-domain", "acme.com,@Globex.COM", "--channel", "C0EQ")
    assert added.returncode == 0, added.stderr
    listed = rules(routes("list", "--team", TEAM))[1]
    assert listed[2] == "Équipe ✓"
    assert listed[3] == 'title contains "réunion d\'équipe" or "会議", a participant from acme.com or globex.com'
    routes("add", "--team", TEAM, "--name", "Japanese only", "--title-contains", "会議", "--skip", "--position", "1")
    explained = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_jp")
    assert "Decision: skip" in explained.stdout and "Rule: Japanese only" in explained.stdout
    assert '1. Japanese only: matched (the title contains "会議")' in explained.stdout


def test_help_says_what_the_contract_says(routes):
    top = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COLUMNS": "200"})
    assert top.returncode == 0 and "routes" in top.stdout
    group = routes("--help")
    assert group.returncode == 0
    for command in ("list", "add", "remove", "move", "builtin", "explain"):
        assert f" {command} " in group.stdout
    add = routes("add", "--help")
    assert add.returncode == 0
    for option in ("--team", "--name", "--provider", "--title-contains", "--category", "--participant-domain",
                   "--external", "--max-participants", "--min-minutes", "--max-minutes", "--channel", "--dm-owner",
                   "--hold", "--approver", "--skip", "--position"):
        assert option in add.stdout
    assert "exactly one action" in " ".join(add.stdout.split())


async def test_explain_reads_only_what_the_rules_need_from_whereby_and_harmony(routes, whereby_connection,
                                                                               fake_whereby, harmony_connection,
                                                                               fake_harmony, fake_slack):
    summaries = len(fake_whereby.summaries)
    # Whereby has transcribed this meeting but not summarised it: explain does not ask for a summary
    # (a write at Whereby, which costs points) and does not wait for one.
    whereby = routes("explain", "--team", TEAM, "--provider", "whereby", "--meeting", "tr_demo_launch")
    assert whereby.returncode == 0, whereby.stderr
    assert "Meeting: Meeting in launch-planning (tr_demo_launch)" in whereby.stdout
    assert f"Decision: post to #{CHANNEL}" in whereby.stdout and "Rule: default channel" in whereby.stdout
    assert len(fake_whereby.summaries) == summaries

    fake_harmony.set_status("mtg_demo_1", "processing")  # Harmony still at work: its title is known already
    harmony = routes("explain", "--team", TEAM, "--provider", "harmony", "--meeting", "mtg_demo_1")
    assert harmony.returncode == 0, harmony.stderr
    assert "Meeting: Sales Call - Acme Corp (mtg_demo_1)" in harmony.stdout and "Decision:" in harmony.stdout
    one_line_error(routes("explain", "--team", TEAM, "--provider", "whereby", "--meeting", "tr_nope"), 1,
                   "Whereby did not give meeting tr_nope")
    assert fake_slack.calls_to("chat.postMessage") == []


async def test_explain_of_a_delivered_meeting_gives_its_kept_decision(routes, settings, db, fake_slack):
    from sqlmodel import select

    from bot.providers.hedy import HedyProvider
    from bot.services import decisions, route_rules
    from bot.store.models import Connection

    async with db.session() as session:
        connection = (await session.exec(select(Connection).where(Connection.team_id == TEAM))).one()
    client = HedyProvider(HEDY_KEY, base_url=settings.hedy_api_url)
    try:
        meeting = await client.get_meeting("sess_demo_09")  # "1:1 with Sam"
    finally:
        await client.aclose()
    decision = decisions.evaluate(await route_rules.engine_rules(db, TEAM), connection, meeting,
                                  provider_name="Hedy", internal_domains=None)
    await decisions.record(db, connection=connection, meeting=meeting, decision=decision, approver="U0OWNER")

    assert routes("builtin", "--team", TEAM, "off").returncode == 0  # the rules change afterwards
    explained = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_demo_09")
    assert explained.returncode == 0, explained.stderr
    lines = explained.stdout.splitlines()
    assert lines[1].startswith("Decision: hold for approval (made on its first delivery") and "now held" in lines[1]
    assert lines[2] == "Rule: Sensitive meetings"
    assert f"Today's rules would post to #{CHANNEL} (rule: default channel)" in lines[3]
    assert '  1. Sensitive meetings: matched (the title contains "1:1")' in lines
    assert fake_slack.calls_to("chat.postMessage") == []


def test_settings_the_command_cannot_use_are_one_sentence(routes, tmp_path):
    one_line_error(routes("list", "--team", TEAM, DATABASE_URL="bogus"), 2, "DATABASE_URL must be")
    one_line_error(routes("list", "--team", TEAM, DATABASE_URL=f"sqlite:///{tmp_path}/no/such/dir/bot.db"), 1,
                   "does not exist")
    no_key = routes("explain", "--team", TEAM, "--provider", "hedy", "--meeting", "sess_demo_02", ENCRYPTION_KEY="",
                    DATA_DIR=str(tmp_path))
    one_line_error(no_key, 2, "ENCRYPTION_KEY is not set")


def test_list_stays_one_line_of_five_fields_whatever_the_names(routes):
    added = routes("add", "--team", TEAM, "--name", "Tab\there", "--title-contains", "two\nlines", "--skip")
    assert added.returncode == 0, added.stderr
    listed = routes("list", "--team", TEAM)
    assert len(listed.stdout.splitlines()) == 2
    assert rules(listed)[1][2:4] == ["Tab here", 'title contains "two lines"']
    assert all(len(fields) == 5 for fields in rules(listed))


def test_control_characters_in_names_are_shown_not_sent_to_the_terminal(routes):
    """A rule's name can come from any Slack member's modal: an escape sequence or a bidi override
    in it must not recolour, retitle or reorder the operator's terminal."""
    added = routes("add", "--team", TEAM, "--name", "Evil \x1b]0;owned\x07 \u202erule", "--skip")
    assert added.returncode == 0, added.stderr
    listed = routes("list", "--team", TEAM)
    assert "\x1b" not in listed.stdout and "\u202e" not in listed.stdout and "\x07" not in listed.stdout
    assert rules(listed)[1][2] == "Evil \\x1b]0;owned\\x07 \\u202erule"
    removed = routes("remove", "--team", TEAM, rules(listed)[1][0])
    assert removed.returncode == 0 and "\x1b" not in removed.stdout and "\\x1b" in removed.stdout
