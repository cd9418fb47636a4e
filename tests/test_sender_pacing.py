"""The sender keeps to Slack's one post per second per channel as Slack itself counts it: from
the moment Slack answered the previous post. Meetings ending together in one channel are each
posted once, and Slack never has to refuse one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from bot.delivery.workers import Workers
from tests.helpers import digests_in, wait_until

INTERVAL = 0.3  # a strict channel limit, scaled down from Slack's one second
MEETINGS = 6


async def test_meetings_ending_together_post_in_order_without_a_429(deps, hedy_webhooks, fake_hedy, fake_slack):
    fake_slack.per_channel_post_interval = INTERVAL  # refuses any post sooner than this after the last
    start = datetime.now(UTC) - timedelta(hours=2)
    sessions = [fake_hedy.add_session(sessionId=f"sess_pace_{i}", title=f"Pacing check {i}", user_todos=[],
                                      highlights=[], startTime=start + timedelta(minutes=i))
                for i in range(MEETINGS)]
    running = Workers(deps, poll_seconds=0.05, channel_interval=INTERVAL)
    await running.start()
    try:
        for session in sessions:
            assert (await hedy_webhooks.session_event(session["sessionId"])).status_code == 200
        await wait_until(lambda: len(digests_in(fake_slack)) >= MEETINGS, timeout=30)
        await running.idle()
    finally:
        await running.stop()

    posts = fake_slack.calls_to("chat.postMessage")
    assert [p.status for p in posts] == [200] * MEETINGS, "Slack refused a post: the pace was too quick"
    titles = [m["text"] for m in digests_in(fake_slack)]
    assert sorted(t.split(" (")[0] for t in titles) == [f"Meeting notes: Pacing check {i}" for i in range(MEETINGS)]
    gaps = [later.at - earlier.at for earlier, later in pairwise(posts)]
    assert min(gaps) >= INTERVAL, gaps
