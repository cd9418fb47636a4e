"""A team asking the same thing at once while the provider is slow: answered inside the ack from a
fresh cache, identical questions in flight waiting on one task and one provider call, a polite
"busy" past the bound of pending work, and the start-up heap frozen out of the collector."""

from __future__ import annotations

import asyncio
import gc
import json

from bot.slack.background import Background
from bot.web import create_app


def acked_with_answer(response) -> dict | None:
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return None


async def test_a_fresh_answer_is_given_inside_the_ack(slack_user, fake_hedy, connected):
    first = await slack_user.ask("list 3")  # answered later, through the response_url
    assert "Weekly Product Sync" in json.dumps(first)
    calls = fake_hedy.request_count("/sessions")
    response, _url = await slack_user.command("list 3")
    in_ack = acked_with_answer(response)
    assert in_ack is not None and in_ack["response_type"] == "ephemeral"
    assert (in_ack["text"], in_ack["blocks"]) == (first["text"], first["blocks"])  # the same answer, at once
    assert fake_hedy.request_count("/sessions") == calls  # no provider call, no task, no response_url post


async def test_identical_questions_in_flight_share_one_task_and_one_provider_call(slack_user, fake_hedy, deps,
                                                                                 connected):
    fake_hedy.latency = 1.0
    sent = [await slack_user.command("list 4") for _ in range(20)]
    assert all(response.status_code == 200 and not response.content for response, _ in sent)
    assert len(deps.background) == 1  # one task for twenty askers
    replies = await asyncio.gather(*(slack_user.replies(url) for _, url in sent))
    assert all("Weekly Product Sync" in json.dumps(reply[-1]) for reply in replies)
    assert fake_hedy.request_count("/sessions") == 1


async def test_past_the_bound_new_questions_are_told_to_try_again(slack_user, fake_hedy, deps, connected):
    deps.background = Background(max_pending=2)
    fake_hedy.latency = 1.0
    first, first_url = await slack_user.command("show sess_demo_12")
    second, second_url = await slack_user.command("show sess_demo_11")
    assert not first.content and not second.content
    busy, _ = await slack_user.command("list 2")
    assert "try again in a moment" in acked_with_answer(busy)["text"]
    same, same_url = await slack_user.command("show sess_demo_12")  # already being answered: one more asker
    assert not same.content
    for url in (first_url, second_url, same_url):
        assert await slack_user.replies(url)
    fake_hedy.latency = 0.0
    assert "Recent meetings" in json.dumps(await slack_user.ask("list 2"))  # room again once answered


async def test_the_start_up_heap_is_frozen(settings, deps):
    gc.unfreeze()
    app = create_app(settings, deps=deps, run_migrations=False, start_workers=False)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000
    gc.unfreeze()
