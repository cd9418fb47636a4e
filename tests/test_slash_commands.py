"""`/meetings` end to end: signed requests into the real ASGI app, answers read back from the
Slack stand-in's response_urls, data from the Hedy stand-in."""

from __future__ import annotations

import time

import pytest

from bot.slack.ids import ActionId
from tests.conftest import SIGNING_SECRET, TEAM
from tests.helpers import ManualClock, text_of


def show_values(message: dict) -> list[str]:
    return [b["accessory"]["value"] for b in message["blocks"]
            if b.get("accessory", {}).get("action_id") == ActionId.SHOW_MEETING]


def more_value(message: dict) -> str | None:
    for block in message["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("action_id") == ActionId.MORE_MEETINGS:
                return element["value"]
    return None


# ----------------------------------------------------------------------------- no provider needed


async def test_help_is_answered_in_the_ack_without_calling_hedy(slack_user, fake_hedy):
    before = fake_hedy.request_count()
    for text in ("", "help"):
        reply = await slack_user.ask(text)
        assert "What /meetings can do" in text_of(reply)
        assert "/meetings list 5" in text_of(reply)
        assert reply.get("response_type", "ephemeral") == "ephemeral"
    assert fake_hedy.request_count() == before


async def test_unknown_text_says_so_and_shows_help(slack_user):
    reply = await slack_user.ask("summarize everything please")
    assert "I didn't understand" in text_of(reply) and "What /meetings can do" in text_of(reply)


async def test_a_workspace_without_a_connection_is_told_how_to_connect(slack_user):
    reply = await slack_user.ask("list")
    assert "isn't connected" in text_of(reply)
    assert f"meetings-bot connect --team {TEAM} --provider hedy" in text_of(reply)


async def test_requests_with_a_bad_or_stale_signature_are_refused(slack_user, app):
    from bot.fakes import slack_requests

    body, headers = slack_requests.slash_command("wrong-secret", text="list", team_id=TEAM, user_id="U1",
                                                 channel_id="C1", response_url="http://127.0.0.1:9/x")
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 401
    body, headers = slack_requests.slash_command(SIGNING_SECRET, text="list", team_id=TEAM, user_id="U1",
                                                 channel_id="C1", response_url="http://127.0.0.1:9/x",
                                                 timestamp=int(time.time()) - 600)
    assert (await slack_user.client.post("/slack/events", content=body, headers=headers)).status_code == 401


# ----------------------------------------------------------------------------- connected


pytestmark_connected = pytest.mark.usefixtures("connected")


def shared(fake_hedy, ids: list[str]) -> list[str]:
    """The meetings a member sees: the built-in "Sensitive meetings" rule keeps the demo's 1:1s
    to their approver and admins."""
    return [i for i in ids if "1:1" not in fake_hedy.session(i)["title"]]


@pytestmark_connected
async def test_list_shows_the_most_recent_meetings_newest_first(slack_user, fake_hedy):
    reply = await slack_user.ask("list 5")
    newest = fake_hedy.newest_session_ids(5)
    assert show_values(reply) == shared(fake_hedy, newest) and len(shared(fake_hedy, newest)) < 5
    assert "1 private meeting is not shown" in text_of(reply)
    assert "Recent meetings in Hedy" in text_of(reply)
    assert more_value(reply) is not None
    assert "<!date^" in text_of(reply) and " min" in text_of(reply)


@pytestmark_connected
async def test_list_defaults_to_ten(slack_user, fake_hedy):
    reply = await slack_user.ask("list")
    assert show_values(reply) == shared(fake_hedy, fake_hedy.newest_session_ids(10))


@pytestmark_connected
async def test_more_pages_on_with_hedys_cursor(slack_user, fake_hedy):
    first = await slack_user.ask("list 4")
    response, url = await slack_user.click(ActionId.MORE_MEETINGS, more_value(first))
    assert response.status_code == 200
    second = (await slack_user.replies(url))[-1]
    assert show_values(first) + show_values(second) == shared(fake_hedy, fake_hedy.newest_session_ids(8))
    assert any("after" in r.query for r in fake_hedy.requests if r.path.endswith("/sessions"))


@pytestmark_connected
async def test_more_stops_cleanly_when_hedy_ignores_the_cursor(slack_user, fake_hedy):
    fake_hedy.ignore_after = True
    first = await slack_user.ask("list 5")
    _, url = await slack_user.click(ActionId.MORE_MEETINGS, more_value(first))
    second = (await slack_user.replies(url))[-1]
    assert show_values(second) == []  # never the same meetings twice
    assert "No older meetings came back from Hedy" in text_of(second)


@pytestmark_connected
async def test_show_gives_recap_minutes_highlights_and_todos(slack_user, fake_hedy):
    session = fake_hedy.richest_session()
    reply = await slack_user.ask(f"show {session['sessionId']}")
    text = text_of(reply)
    assert "*Recap*" in text and "*Meeting minutes*" in text
    assert "Highlights (" in text and "Todos (" in text
    first_todo = session["user_todos"][0]
    assert first_todo["text"][:20] in text
    # Markdown headings became bold mrkdwn, not raw "##".
    assert "## " not in text


@pytestmark_connected
async def test_show_button_opens_the_meeting(slack_user, fake_hedy):
    listing = await slack_user.ask("list 3")
    response, url = await slack_user.click(ActionId.SHOW_MEETING, show_values(listing)[1])
    assert response.status_code == 200
    detail = (await slack_user.replies(url))[-1]
    assert detail["blocks"][0]["type"] == "header"
    assert fake_hedy.session(show_values(listing)[1])["title"][:40] in text_of(detail)


@pytestmark_connected
async def test_show_an_unknown_meeting(slack_user):
    reply = await slack_user.ask("show sess_does_not_exist")
    assert "has no meeting with that id" in text_of(reply)


@pytestmark_connected
async def test_huge_meeting_is_cut_to_fit_and_slack_accepts_it(slack_user, fake_hedy, fake_slack):
    session = fake_hedy.add_huge_session()
    reply = await slack_user.ask(f"show {session['sessionId']}")
    assert "Shortened to fit in Slack" in text_of(reply)
    assert fake_slack.errors == []


@pytestmark_connected
async def test_todos_are_grouped_by_meeting_with_due_dates_as_given(slack_user, fake_hedy):
    reply = await slack_user.ask("todos")
    text = text_of(reply)
    todos = [t for t in fake_hedy.all_todos() if shared(fake_hedy, [t["sessionId"]])]
    assert len(todos) < len(fake_hedy.all_todos())  # the 1:1s' todos are not shown to a member
    open_todos = [t for t in todos if not t["completed"]]
    assert f"Open todos ({len(open_todos)})" in text
    assert "due Tomorrow" in text
    done = [t for t in todos if t["completed"]]
    assert done and all(t["text"][:30] not in text for t in done)
    everything = await slack_user.ask("todos all")
    assert f"All todos ({len(todos)})" in text_of(everything)


@pytestmark_connected
async def test_topics_with_session_counts(slack_user, fake_hedy):
    text = text_of(await slack_user.ask("topics"))
    for topic in fake_hedy.all_topics():
        assert topic["name"] in text
    assert " meetings" in text


@pytestmark_connected
async def test_status_shows_provider_key_channel_and_last_webhook(slack_user):
    text = text_of(await slack_user.ask("status"))
    assert "*Provider:*\\nHedy" in text
    assert "works" in text and "<#C0GENERAL>" in text and "none yet" in text


@pytestmark_connected
async def test_status_and_commands_after_the_key_is_revoked(slack_user, fake_hedy):
    fake_hedy.revoke_all_keys()
    assert "rejected by Hedy" in text_of(await slack_user.ask("status"))
    assert "rejected this workspace's API key" in text_of(await slack_user.ask("list"))


@pytestmark_connected
async def test_hedy_down_is_explained_plainly(slack_user, fake_hedy):
    fake_hedy.fail_next(500, times=100)
    text = text_of(await slack_user.ask("list"))
    assert "couldn't reach Hedy" in text and "Traceback" not in text


@pytestmark_connected
async def test_a_passing_hedy_error_is_retried_unseen(slack_user, fake_hedy):
    fake_hedy.fail_next(500, times=1)
    fake_hedy.fail_next(429, times=1)
    reply = await slack_user.ask("list 3")
    assert len(show_values(reply)) == 3


@pytestmark_connected
async def test_hedy_rate_limiting_is_explained(slack_user, fake_hedy):
    fake_hedy.fail_next(429, times=100)
    assert "limiting how fast" in text_of(await slack_user.ask("topics"))


@pytestmark_connected
async def test_slow_hedy_still_gets_an_ack_first_then_the_answer(slack_user, fake_hedy, fake_slack):
    fake_hedy.latency = 1.0
    response, url = await slack_user.command("list 2")
    assert response.status_code == 200
    assert fake_slack.response_posts(url) == []  # acked while Hedy was still thinking
    assert len(show_values((await slack_user.replies(url))[-1])) == 2


@pytestmark_connected
async def test_hedy_too_slow_gets_a_timeout_sentence(slack_user, fake_hedy, deps):
    deps.settings.provider_timeout_seconds = 0.5
    fake_hedy.latency = 2.0
    assert "taking too long" in text_of(await slack_user.ask("topics"))


@pytestmark_connected
async def test_another_workspace_sees_nothing_of_this_one(slack_user, fake_hedy):
    other = "T0OTHER"
    assert "isn't connected" in text_of(await slack_user.ask("list", team_id=other))
    meeting_id = fake_hedy.newest_session_ids(1)[0]
    _, url = await slack_user.click(ActionId.SHOW_MEETING, meeting_id, team_id=other)
    assert "isn't connected" in text_of((await slack_user.replies(url))[-1])


@pytestmark_connected
async def test_a_tampered_more_button_gets_a_plain_answer(slack_user):
    _, url = await slack_user.click(ActionId.MORE_MEETINGS, "{not json")
    assert "out of date" in text_of((await slack_user.replies(url))[-1])


@pytestmark_connected
async def test_a_team_asking_at_once_costs_hedy_one_request(slack_user, fake_hedy):
    fake_hedy.latency = 0.5
    fake_hedy.reset_requests()
    sent = [await slack_user.command("list 5") for _ in range(12)]
    replies = [(await slack_user.replies(url))[-1] for _response, url in sent]
    assert all(show_values(r) == shared(fake_hedy, fake_hedy.newest_session_ids(5)) for r in replies)
    assert fake_hedy.request_count("/sessions") == 1


@pytestmark_connected
async def test_a_new_key_is_used_at_once_after_reconnecting(slack_user, fake_hedy, deps):
    from bot.services.connections import connect

    clock = deps.connections.clock = ManualClock()
    await slack_user.ask("topics")
    fake_hedy.revoke_all_keys()
    assert "rejected this workspace's API key" in text_of(await slack_user.ask("list 3"))
    fake_hedy.allow_key("hedy_live_replacement_key_0000")
    await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider="hedy",
                  api_key="hedy_live_replacement_key_0000", channel=None)
    clock.advance(5.1)  # the workspace → connection lookup is reused for up to 5 s
    assert len(show_values(await slack_user.ask("list 3"))) == 3
