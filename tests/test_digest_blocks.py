"""The channel digest, its thread replies and the minutes modal: what a channel sees when a
meeting ends, within Slack's limits for any provider data, with user text unable to mention
or link."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fakes import sample_data
from bot.fakes.hedy import FakeHedy
from bot.fakes.slack import validate_message, validate_view
from bot.providers.base import Highlight, Meeting, Todo, Topic
from bot.providers.hedy import _meeting as parse_hedy_session  # what HedyProvider.get_meeting returns
from bot.slack.blocks.digest import (
    digest_message,
    highlights_message,
    meeting_started_message,
    minutes_loading_modal,
    minutes_modal,
    minutes_unavailable_modal,
    todo_messages,
)
from bot.slack.ids import ActionId, CallbackId
from tests.test_blocks import assert_within_slack_limits, parsed_text

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
HEDY = "Hedy"

MINUTES = """# Weekly sync

## Key Decisions
- **Ship** the beta on Friday
- Move billing fixes to next sprint

## Discussion
Capacity is down one engineer. See [the board](https://example.com/board?a=1&b=2).
"""


def sample_meeting(**overrides) -> Meeting:
    fields = dict(
        id="sess_abc123", title="Weekly sync", started_at=NOW, duration_seconds=1800,
        topic=Topic(id="topic_1", name="Product"), recap="We agreed to ship the beta on Friday.",
        minutes=MINUTES,
        todos=[Todo(id="todo_a1", text="Write the release notes", due="Tomorrow"),
               Todo(id="todo_b2", text="Tell support", due="2026-12-01", completed=True),
               Todo(id="todo_c3", text="Book the demo")],
        highlights=[Highlight(id="hl_1", title="Ship date set", quote="We ship Friday.", insight="One day of buffer."),
                    Highlight(id="hl_2", title="Billing slips", quote="Billing slips a week.")],
    )
    fields.update(overrides)
    return Meeting(**fields)


def huge_meeting() -> Meeting:
    """~60,000 characters of minutes, 300 todos, 100 highlights, as Hedy's API gives them."""
    detail = FakeHedy().add_session(sessionId="sess_huge", **sample_data.huge_session(now=NOW))
    return parse_hedy_session(detail)


# ---------------------------------------------------------------------------- helpers


def payload(message) -> dict:
    data = message.to_slack()
    error, errors, warnings = validate_message(data)
    assert (error, errors, warnings) == (None, [], []), (error, errors, warnings)
    assert_within_slack_limits(data)
    return data


def assert_view_within_limits(view: dict) -> None:
    assert validate_view(view) == []
    json.dumps(view)  # what the Web API client sends must serialize
    assert view["type"] == "modal" and view["callback_id"] == CallbackId.MINUTES_MODAL
    assert 0 < len(view["title"]["text"]) <= 24 and view["close"]["text"] == "Close"
    assert "submit" not in view
    assert 0 < len(view["blocks"]) <= 100
    assert len(json.dumps(view, ensure_ascii=False)) <= 24_000
    for block in view["blocks"]:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150


def view_text(view: dict) -> str:
    return parsed_text({"text": "", "blocks": view["blocks"]})


def blocks_of(data: dict, kind: str) -> list[dict]:
    return [b for b in data["blocks"] if b["type"] == kind]


def section_texts(data: dict) -> list[str]:
    return [b["text"]["text"] for b in blocks_of(data, "section")]


def context_texts(data: dict) -> list[str]:
    return [e["text"] for b in blocks_of(data, "context") for e in b["elements"]]


def buttons(data: dict) -> list[dict]:
    return [e for b in blocks_of(data, "actions") for e in b["elements"]]


def run_within(seconds: float, build):
    """Builders must never hang on provider text; fail instead of blocking the test run."""
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", build()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert "value" in result, f"builder did not finish within {seconds} s"
    return result["value"]


INJECTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123>", "<!subteam^S1>",
              "<https://evil.test|click>")
FORBIDDEN = ("<!channel", "<!here", "<!everyone", "<@", "<#", "<!subteam", "<https://evil", "<javascript")


def assert_nothing_pings_or_links(text: str) -> None:
    for raw in FORBIDDEN:
        assert raw not in text, raw


# ---------------------------------------------------------------------------- digest


def test_digest_shows_title_date_recap_key_points_counts_and_full_minutes_button():
    data = payload(digest_message(sample_meeting(), provider_name=HEDY))
    assert data["text"] == "Meeting notes: Weekly sync (2026-11-20 14:00 UTC)"
    assert blocks_of(data, "header")[0]["text"]["text"] == "Weekly sync"
    details = context_texts(data)[0]
    assert "<!date^" in details and "30 min" in details and "Product" in details and "Hedy" in details
    sections = section_texts(data)
    assert sections[0] == "We agreed to ship the beta on Friday."
    key_points = sections[1]
    assert key_points.startswith("*Key points*")
    # Markdown became mrkdwn: headings bold, bullets, links in Slack's syntax
    assert "*Key Decisions*" in key_points and "• *Ship* the beta on Friday" in key_points
    assert "<https://example.com/board?a=1&amp;b=2|the board>" in key_points
    assert "## " not in key_points and "**" not in key_points
    assert key_points.startswith("*Key points*\n*Key Decisions*")  # not the title again
    assert "3 todos · 2 highlights in the thread" in context_texts(data)
    [button] = buttons(data)
    assert button["action_id"] == ActionId.FULL_MINUTES and button["value"] == "sess_abc123"
    assert button["text"]["text"] == "Full minutes"


def test_digest_counts_leave_out_what_is_not_there():
    def counts(meeting: Meeting) -> str:
        return context_texts(payload(digest_message(meeting, provider_name=HEDY)))[-1]

    assert counts(sample_meeting(highlights=[])) == "3 todos in the thread"
    assert counts(sample_meeting(todos=[Todo(id="t", text="One thing")])) == "1 todo · 2 highlights in the thread"
    assert counts(sample_meeting(todos=[])) == "No todos · 2 highlights in the thread"
    assert counts(sample_meeting(todos=[], highlights=[])).startswith("No todos")


def test_long_minutes_are_cut_at_a_line_with_a_pointer_to_the_full_minutes():
    lines = [f"## Part {n}\n- Point {n} " + "with detail " * 8 for n in range(200)]
    meeting = sample_meeting(minutes="\n".join(lines))
    data = payload(digest_message(meeting, provider_name=HEDY))
    key_points = section_texts(data)[1]
    assert len(key_points) <= 2_000
    assert key_points.endswith("…\n_The rest is behind the *Full minutes* button._")
    shown = key_points.split("\n")[1:-2]
    assert shown[0] == "*Part 0*"
    assert all(line.startswith(("*Part", "• Point")) and not line.endswith("…") for line in shown)
    assert not shown[-1].startswith("*Part")  # does not end on a heading without its points
    assert buttons(data)


def test_a_meeting_without_minutes_has_no_full_minutes_button():
    data = payload(digest_message(sample_meeting(minutes=None), provider_name=HEDY))
    assert not blocks_of(data, "actions")
    assert "We agreed to ship" in section_texts(data)[0]
    assert not any("Key points" in text for text in section_texts(data))


def test_an_empty_meeting_still_gets_a_sensible_digest():
    meeting = Meeting(id="sess_empty", title="", started_at=None)
    data = payload(digest_message(meeting, provider_name=HEDY))
    assert blocks_of(data, "header")[0]["text"]["text"] == "Untitled meeting"
    assert "date unknown" in context_texts(data)[0]
    assert section_texts(data) == ["Hedy has no summary for this meeting yet."]
    assert context_texts(data)[-1].startswith("No todos")
    assert not blocks_of(data, "actions")
    assert data["text"] == "Meeting notes: Untitled meeting (date unknown)"
    assert todo_messages(meeting, provider_name=HEDY) == []
    assert highlights_message(meeting, provider_name=HEDY) is None
    view = minutes_modal(meeting, provider_name=HEDY)
    assert_view_within_limits(view)
    assert "Hedy has no minutes for this meeting yet." in view_text(view)


def test_the_button_is_left_without_a_value_when_the_id_is_too_long_for_one():
    data = payload(digest_message(sample_meeting(id="s" * 2001), provider_name=HEDY))
    [button] = buttons(data)
    assert "value" not in button


def test_text_that_grows_when_serialized_never_pushes_a_digest_over_the_limit():
    # "<" becomes "&lt;" and control characters become \u0000 in JSON; the id fills the button value.
    meeting = Meeting(id="s" * 2000, title="<" * 300, recap="\x00" * 3000, minutes=("\x01" * 100 + "\n") * 100,
                      todos=[Todo(id="t", text="<&>" * 400, due="\x02" * 100)] * 45)
    data = payload(digest_message(meeting, provider_name=HEDY))
    assert buttons(data)[0]["value"] == "s" * 2000
    shown = [b["block_id"] for m in todo_messages(meeting, provider_name=HEDY) for b in payload(m)["blocks"]
             if b["type"] == "section"]
    assert shown == [f"todo:{n}" for n in range(45)]


def test_the_fallback_date_is_in_utc_whatever_the_providers_offset():
    berlin = timezone(timedelta(hours=1))
    data = payload(digest_message(sample_meeting(started_at=datetime(2026, 11, 20, 15, 0, tzinfo=berlin)),
                                  provider_name=HEDY))
    assert data["text"].endswith("(2026-11-20 14:00 UTC)")


# ---------------------------------------------------------------------------- thread replies


def test_todos_get_one_section_each_with_due_dates_as_given():
    [message] = todo_messages(sample_meeting(), provider_name=HEDY)
    data = payload(message)
    assert blocks_of(data, "header")[0]["text"]["text"] == "Todos (3)"
    sections = blocks_of(data, "section")
    assert [s["block_id"] for s in sections] == ["todo:0", "todo:1", "todo:2"]
    assert not any("accessory" in s for s in sections)  # left free for the todo buttons
    texts = [s["text"]["text"] for s in sections]
    assert texts[0] == "☐ Write the release notes — _due Tomorrow_"
    assert texts[1].startswith("☑ ~Tell support~") and "due 2026-12-01" in texts[1]
    assert texts[2] == "☐ Book the demo"
    assert data["blocks"][-1]["type"] == "context"
    assert context_texts(data) == ["Due dates as Hedy gives them."]
    assert data["text"] == "Todos (3): Weekly sync"


def test_hundreds_of_long_todos_split_into_messages_of_twenty():
    todos = [Todo(id=f"todo_{n:04d}", text=f"Item {n} " + "x" * 1_000, due="next Monday") for n in range(300)]
    messages = todo_messages(sample_meeting(todos=todos), provider_name=HEDY)
    assert len(messages) == 15
    seen = []
    for number, message in enumerate(messages):
        data = payload(message)
        heading = blocks_of(data, "header")[0]["text"]["text"]
        assert heading == f"Todos ({number * 20 + 1}–{number * 20 + 20} of 300)"
        sections = blocks_of(data, "section")
        assert len(sections) == 20
        assert all(len(s["text"]["text"]) <= 600 for s in sections)  # each todo cut, not dropped
        ids = [s["block_id"] for s in sections]
        assert len(set(ids)) == len(ids) and all(len(i) <= 255 and "todo_" not in i for i in ids)
        seen += ids
    assert seen == [f"todo:{n}" for n in range(300)]


def test_highlights_come_in_one_message_with_the_rest_counted():
    data = payload(highlights_message(sample_meeting(), provider_name=HEDY))
    assert blocks_of(data, "header")[0]["text"]["text"] == "Highlights (2)"
    first, second = section_texts(data)
    assert first.startswith("• *Ship date set* — “We ship Friday.”") and "One day of buffer." in first
    assert second.startswith("• *Billing slips*")
    assert not context_texts(data)

    many = [Highlight(id=f"h{n}", title=f"Moment {n}") for n in range(55)]
    data = payload(highlights_message(sample_meeting(highlights=many), provider_name=HEDY))
    assert len(section_texts(data)) == 40
    assert context_texts(data)[-1].startswith("…and 15 more")


def test_meeting_started_message_is_one_line():
    data = payload(meeting_started_message(title="Weekly sync", started_at=NOW, provider_name=HEDY))
    [text] = section_texts(data)
    assert text.startswith("🎙️ *Weekly sync* started <!date^")
    assert text.endswith("— the digest follows when Hedy has processed it.")
    assert "2026-11-20 14:00 UTC" in data["text"]

    data = payload(meeting_started_message(title=None, started_at=None, provider_name=HEDY))
    assert section_texts(data)[0].startswith("🎙️ *Untitled meeting* has started")


# ---------------------------------------------------------------------------- modal


def test_minutes_modal_shows_the_full_minutes_as_mrkdwn():
    view = minutes_modal(sample_meeting(), provider_name=HEDY)
    assert_view_within_limits(view)
    assert view["title"]["text"] == "Meeting minutes"
    assert view["blocks"][0]["type"] == "header" and view["blocks"][0]["text"]["text"] == "Weekly sync"
    assert "<!date^" in view["blocks"][1]["elements"][0]["text"]
    minutes = "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")
    assert minutes.startswith("*Key Decisions*")  # "# Weekly sync" only repeated the header
    assert "• *Ship* the beta on Friday" in minutes
    assert "Capacity is down one engineer." in minutes
    assert "Shortened" not in view_text(view)


def test_huge_minutes_modal_is_cut_cleanly_with_a_note():
    view = minutes_modal(huge_meeting(), provider_name=HEDY)
    assert_view_within_limits(view)
    assert view["blocks"][-1]["type"] == "context"
    assert view["blocks"][-1]["elements"][0]["text"].endswith("Shortened to fit in Slack; the full text is in Hedy.")
    shown = sum(len(b["text"]["text"]) for b in view["blocks"] if b["type"] == "section")
    assert shown > 15_000  # the modal is used, not left mostly empty


def test_loading_and_unavailable_modals():
    loading = minutes_loading_modal(title="Weekly sync")
    assert_view_within_limits(loading)
    assert "Fetching the minutes" in view_text(loading)
    assert_view_within_limits(minutes_loading_modal())
    assert "from Hedy" in view_text(minutes_loading_modal(provider_name=HEDY))

    gone = minutes_unavailable_modal("Hedy did not answer in time. Try again in a minute. <!channel>")
    assert_view_within_limits(gone)
    assert "Hedy did not answer in time." in view_text(gone)
    assert_nothing_pings_or_links(view_text(gone))


# ---------------------------------------------------------------------------- any input


def test_a_huge_hedy_session_fits_everywhere():
    meeting = huge_meeting()
    assert len(meeting.minutes) >= 50_000 and len(meeting.todos) == 300 and len(meeting.highlights) == 100

    digest = payload(digest_message(meeting, provider_name=HEDY))
    assert "300 todos · 100 highlights in the thread" in context_texts(digest)
    assert buttons(digest)[0]["value"] == "sess_huge"

    messages = todo_messages(meeting, provider_name=HEDY)
    assert len(messages) == 15
    for message in messages:
        assert len(blocks_of(payload(message), "section")) == 20

    highlights = payload(highlights_message(meeting, provider_name=HEDY))
    shown = len(blocks_of(highlights, "section"))
    assert 0 < shown <= 40
    assert context_texts(highlights)[-1].startswith(f"…and {100 - shown} more")

    assert_view_within_limits(minutes_modal(meeting, provider_name=HEDY))


def test_user_text_cannot_mention_or_inject_links():
    hostile = " ".join(INJECTIONS)
    meeting = sample_meeting(
        id="sess_x", title=f"{hostile} standup", recap=f"Ping {hostile} & co",
        minutes=(f"## {hostile}\n- {hostile}\n- [boss](!channel) ![x](@U123) [room](#C123) "
                 f"[all](!subteam^S1) [js](javascript:alert(1)) [ok](https://ok.test/a b)"),
        topic=Topic(id="t", name=hostile),
        todos=[Todo(id="t1", text=hostile, due=hostile)],
        highlights=[Highlight(id="h1", title=hostile, quote=hostile, insight=hostile)],
    )
    messages = [digest_message(meeting, provider_name=HEDY), *todo_messages(meeting, provider_name=HEDY),
                highlights_message(meeting, provider_name=HEDY),
                meeting_started_message(title=meeting.title, started_at=NOW, provider_name=HEDY)]
    for message in messages:
        text = parsed_text(payload(message))
        assert_nothing_pings_or_links(text)
        assert "&lt;!channel&gt;" in text
    digest_text = parsed_text(payload(messages[0]))
    assert "&amp; co" in digest_text and "boss" in digest_text
    view = minutes_modal(meeting, provider_name=HEDY)
    assert_view_within_limits(view)
    assert_nothing_pings_or_links(view_text(view))
    assert "&lt;@U123&gt;" in view_text(view)


def test_links_in_minutes_never_hang_the_splitter():
    # A link with spaces in its label followed by a long unbroken run, and a link longer than a section.
    for minutes in ["[a b c](https://x.test)" + "y" * 8_000,
                    "[docs](https://x.test/" + "a" * 5_000 + ")\n" + "text " * 2_000]:
        meeting = sample_meeting(minutes=minutes)
        view = run_within(10, lambda: minutes_modal(meeting, provider_name=HEDY))  # noqa: B023 (called right here)
        assert_view_within_limits(view)
        payload(run_within(10, lambda: digest_message(meeting, provider_name=HEDY)))  # noqa: B023 (called right here)


markdownish = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400),
        st.sampled_from(["\n", "\n\n", "## ", "- ", "**", "*", "_", "`", "> ", "[x y](https://a.test/p?q=1&r=2)",
                         "[boss](!channel)", "<!here>", "<@U1>", "&", "&amp;", "<", ">", "|", "](", " " * 3]),
    ),
    max_size=60,
).map("".join)
any_text = st.one_of(markdownish, st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5_000))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=any_text, recap=any_text, minutes=any_text, todo=any_text, due=st.one_of(st.none(), any_text),
       copies=st.integers(min_value=1, max_value=45))
def test_any_provider_text_makes_valid_digests(title, recap, minutes, todo, due, copies):
    meeting = Meeting(id="sess_any", title=title, started_at=NOW, recap=recap, minutes=minutes * 3,
                      topic=Topic(id="t", name=todo),
                      highlights=[Highlight(id="h", title=title, quote=recap, insight=todo)] * copies,
                      todos=[Todo(id="t", text=todo, due=due)] * copies)

    def build():
        return (digest_message(meeting, provider_name=HEDY), todo_messages(meeting, provider_name=HEDY),
                highlights_message(meeting, provider_name=HEDY),
                meeting_started_message(title=title, started_at=NOW, provider_name=HEDY),
                minutes_modal(meeting, provider_name=HEDY), minutes_loading_modal(title=title),
                minutes_unavailable_modal(recap))

    digest, todos, highlights, started, *views = run_within(30, build)
    for message in [digest, *todos, highlights, started]:
        text = parsed_text(payload(message))
        assert "<!here" not in text and "<@U1" not in text and "<!channel" not in text
    # every todo is shown once, in order, however long its escaped text gets
    shown = [b["block_id"] for m in todos for b in m.to_slack()["blocks"] if b["type"] == "section"]
    assert shown == [f"todo:{n}" for n in range(copies)]
    for view in views:
        assert_view_within_limits(view)
        assert "<!here" not in view_text(view) and "<!channel" not in view_text(view)
