"""Burst into one channel: 60 meetings end together and all go to the same channel.

The Slack stand-in allows one post per second per channel and answers 429 + Retry-After beyond
that, so the floor is 59 s from the first post to the 60th. Every meeting must be posted
exactly once, within 1.1 x 59 s of the first webhook's 2xx, with under 5% of posts refused.

    python bench/channel_burst.py [--meetings 60]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

import aiohttp
from _harness import TEAM, WEBHOOK_SECRET, Stack, digests_by_meeting, signed_session_ended, stop, wait_for_digests


async def deliver_all(url: str, count: int) -> list[float]:
    async with aiohttp.ClientSession() as session:
        async def one(number: int) -> float | None:
            body, headers = signed_session_ended(number)
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return time.time() if response.status == 200 else None

        return [t for t in await asyncio.gather(*(one(n) for n in range(count))) if t is not None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meetings", type=int, default=60)
    args = parser.parse_args()
    count = args.meetings
    floor = float(count - 1)

    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(folder, bench_sessions=count, post_interval=1.0)
        try:
            path = stack.connect(TEAM, "C0BURST", webhook_secret=WEBHOOK_SECRET)
            server, base = stack.serve()
            try:
                answered = asyncio.run(deliver_all(base + path, count))
                posts = wait_for_digests(stack, count, timeout=floor * 1.5 + 30)
            finally:
                stop(server)
        finally:
            stack.close()

    digests = digests_by_meeting(posts)
    doubled = sum(1 for found in digests.values() if len(found) > 1)
    attempts = [post for post in posts if post["channel"] == "C0BURST"]
    refused = sum(1 for post in attempts if post["status"] == 429)
    first_answer = min(answered)
    last_post = max(found[0]["at"] for found in digests.values()) if digests else float("nan")
    elapsed = last_post - first_answer
    share = refused / len(attempts) if attempts else 0.0
    print(f"\n{count} meetings ending together, one channel; Slack allows 1 post/s/channel (floor {floor:.0f} s)\n")
    print("| webhooks 2xx | digests posted | posted twice | first 2xx → last digest | vs floor | "
          "chat.postMessage calls | answered 429 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(answered)} | {len(digests)} | {doubled} | {elapsed:.1f} s | {elapsed / floor:.3f}x | "
          f"{len(attempts)} | {refused} ({share:.1%}) |")
    ok = len(digests) == count and doubled == 0 and elapsed <= 1.1 * floor and share < 0.05
    print(f"\ntarget: all {count} exactly once within {1.1 * floor:.1f} s, under 5% answered 429 — "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
