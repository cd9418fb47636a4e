"""Block Kit builders: whatever the provider sends, the message stays within Slack's limits,
user text cannot mention or link, and cuts are announced."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.providers.base import Highlight, Meeting, MeetingSummary, Page, Todo, Topic
from bot.services.meetings import TodoGroup
from bot.slack.blocks.meetings import meeting_detail, meeting_list, parse_more_value
from bot.slack.blocks.replies import topic_list
from bot.slack.blocks.text import mrkdwn_from_markdown, truncate
from bot.slack.blocks.todos import todo_groups

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def assert_within_slack_limits(message: dict) -> None:
    blocks = message["blocks"]
    assert message["text"], "every message needs fallback text"
    assert len(blocks) <= 50
    assert len(json.dumps(blocks, ensure_ascii=False)) <= 12_000
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    for block in blocks:
        if block["type"] == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
            if "accessory" in block:
                assert len(block["accessory"].get("value", "")) <= 2000
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        if block["type"] == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75 and len(element.get("value", "")) <= 2000


def visible_text(message: dict) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def parsed_text(message: dict) -> str:
    """Everything Slack parses for mentions and links: mrkdwn objects and the fallback text."""
    found = [message["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return "\n".join(found)


def big_meeting(minutes_chars: int = 60_000, todos: int = 300, highlights: int = 100) -> Meeting:
    paragraph = "## Decisions\n- **Ship** the beta on Friday & tell <!channel> about [the plan](https://x.test/p?a=1&b=2)\n"
    return Meeting(
        id="sess_big", title="Quarterly planning " * 20, started_at=NOW, duration_seconds=5400,
        topic=Topic(id="t1", name="Planning"), recap="A long recap. " * 400,
        minutes=(paragraph * (minutes_chars // len(paragraph) + 1))[:minutes_chars],
        highlights=[Highlight(id=f"h{i}", title=f"Highlight {i}", quote="q" * 400, insight="i" * 400)
                    for i in range(highlights)],
        todos=[Todo(id=f"t{i}", text=f"Follow up item {i} " * 10, due="Tomorrow") for i in range(todos)],
    )


def test_huge_meeting_is_cut_cleanly_with_a_note():
    message = meeting_detail(big_meeting(), provider_name="Hedy").to_slack()
    assert_within_slack_limits(message)
    text = visible_text(message)
    assert "Shortened to fit in Slack" in text
    assert "more todos" in text and "more highlights" in text


def test_user_text_cannot_mention_everyone_or_inject_links():
    meeting = Meeting(id="s1", title="<!channel> standup", started_at=NOW, recap="Ping <@U123> & <!here>",
                      minutes="Call <!everyone> now", todos=[Todo(id="t", text="<https://evil.test|click>")])
    text = parsed_text(meeting_detail(meeting, provider_name="Hedy").to_slack())
    for raw in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<https://evil.test"):
        assert raw not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text


def test_markdown_minutes_render_as_mrkdwn():
    converted = mrkdwn_from_markdown("## Key Decisions\n- **Ship** it\n- see [docs](https://d.test/a?b=1&c=2)")
    assert "*Key Decisions*" in converted
    assert "• *Ship* it" in converted
    assert "<https://d.test/a?b=1&amp;c=2|docs>" in converted


def test_truncate_never_leaves_half_an_entity_or_link():
    assert truncate("a &amp; b " * 10, 12).endswith("…")
    assert "&am…" not in truncate("abcdefghij &amp; more text here", 14)
    cut = truncate("see <https://example.test/very/long/path|the link> for more", 30)
    assert "<https" not in cut


def test_list_has_show_buttons_and_a_more_button_with_the_cursor():
    page = Page(items=[MeetingSummary(id=f"sess_{i}", title=f"Meeting {i}", started_at=NOW - timedelta(days=i),
                                      duration_seconds=1800) for i in range(10)], next_cursor="cur_10")
    message = meeting_list(page, provider_name="Hedy", limit=10).to_slack()
    assert_within_slack_limits(message)
    buttons = [b["accessory"] for b in message["blocks"] if b.get("accessory")]
    assert [b["value"] for b in buttons] == [f"sess_{i}" for i in range(10)]
    more = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert more and parse_more_value(more[0]["value"]) == ("cur_10", 10, "sess_9")


def test_list_without_more_pages_has_no_more_button():
    page = Page(items=[MeetingSummary(id="sess_1", title="Only one")], next_cursor=None)
    message = meeting_list(page, provider_name="Hedy", limit=10).to_slack()
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert "date unknown" in visible_text(message)


def test_empty_answers_say_so_plainly():
    assert "No meetings in Hedy yet" in meeting_list(Page(items=[]), provider_name="Hedy", limit=10).text
    assert "No open todos" in todo_groups([], provider_name="Hedy", include_done=False).text
    assert "No topics" in topic_list([], provider_name="Hedy").text


def test_hundreds_of_todos_across_meetings_fit_and_report_the_rest():
    groups = [TodoGroup(meeting_id=f"s{m}", meeting_title=f"Meeting {m}", meeting_started_at=NOW,
                        todos=[Todo(id=f"{m}-{t}", text="Do the thing " * 8, due="next Monday")
                               for t in range(30)]) for m in range(20)]
    message = todo_groups(groups, provider_name="Hedy", include_done=False).to_slack()
    assert_within_slack_limits(message)
    assert "of 600 todos" in visible_text(message)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=texts, recap=texts, minutes=texts, todo=texts, due=st.one_of(st.none(), texts))
def test_any_provider_text_makes_a_valid_message(title, recap, minutes, todo, due):
    meeting = Meeting(id="s", title=title, started_at=NOW, recap=recap, minutes=minutes,
                      highlights=[Highlight(id="h", title=title, quote=recap)],
                      todos=[Todo(id="t", text=todo, due=due)] * 5)
    message = meeting_detail(meeting, provider_name="Hedy").to_slack()
    assert_within_slack_limits(message)
    listing = meeting_list(Page(items=[MeetingSummary(id="s", title=title, topic=Topic(id="t", name=todo))] * 30,
                                next_cursor=recap or None), provider_name="Hedy", limit=30).to_slack()
    assert_within_slack_limits(listing)


def test_markdown_links_cannot_become_mentions():
    converted = mrkdwn_from_markdown("[x](!channel) ![i](!here) [u](@U123) [c](#C1) [ok](https://ok.test)")
    for raw in ("<!channel", "<!here", "<@U123", "<#C1"):
        assert raw not in converted
    assert "<https://ok.test|ok>" in converted


def test_splitting_never_stalls_on_a_long_link():
    from bot.slack.blocks.text import split_paragraphs

    text = mrkdwn_from_markdown("[a b](https://x.test)" + "y" * 6000) + " " + "<https://" + "z" * 4000 + ">"
    chunks = split_paragraphs(text, 2900)
    assert all(0 < len(c) <= 2900 for c in chunks)
    assert sum(len(c) for c in chunks) >= 6000
