"""How `/meetings` reads what people type."""

import pytest

from bot.slack.commands import MAX_LIST, parse


@pytest.mark.parametrize("text, name", [
    ("", "help"), ("help", "help"), ("  HELP  ", "help"), ("list", "list"), ("ls", "list"),
    ("show sess_1", "show"), ("todos", "todos"), ("todo all", "todos"), ("topics", "topics"),
    ("status", "status"), ("lst", "unknown"), ("delete everything", "unknown"),
])
def test_subcommands_and_aliases(text, name):
    assert parse(text).name == name


def test_list_count_defaults_clamps_and_rejects():
    assert parse("list").limit == 10
    assert parse("list 5").limit == 5
    clamped = parse("list 500")
    assert clamped.limit == MAX_LIST and "More" in clamped.notice
    assert parse("list five").name == "usage"
    assert parse("list 0").name == "usage"
    assert parse("list 99999999999999999999999").limit == MAX_LIST


def test_show_needs_one_plausible_id():
    assert parse("show sess_abc123").meeting_id == "sess_abc123"
    assert parse("show `sess_abc123`").meeting_id == "sess_abc123"
    assert "Which meeting" in parse("show").message
    assert parse("show ../../me").name == "usage"
    assert parse("show a b").name == "usage"


def test_todos_scope():
    assert parse("todos").include_done is False
    assert parse("todos all").include_done is True
    assert parse("todos open").include_done is False
    assert parse("todos someday").name == "usage"


@pytest.mark.parametrize("text, owner", [
    ("todos mine", "me"), ("todos MINE", "me"), ("todo me", "me"),
    ("todos <@U0ANA|ana>", "U0ANA"), ("todos <@W12345>", "W12345"),
])
def test_todos_by_owner(text, owner):
    parsed = parse(text)
    assert parsed.name == "todos" and parsed.owner == owner


def test_a_typed_name_instead_of_a_picked_mention_is_explained():
    parsed = parse("todos @ana")
    assert parsed.name == "usage" and "Slack's list" in parsed.message


def test_setup_and_disconnect():
    assert parse("setup").name == "setup" and parse("settings").name == "setup"
    assert parse("disconnect").name == "disconnect"


def test_a_number_only_unicode_calls_a_digit_is_a_usage_answer():
    from bot.slack.commands import parse

    assert parse("list ²").name == "usage"
    assert parse("explain sess_1").meeting_id == "sess_1" and parse("explain").name == "explain"
    assert parse("routes").name == "routes" and parse("connect").name == "connect"
