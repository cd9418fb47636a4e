"""Webhook to digest: from a meeting-ended webhook's 2xx to its digest reaching Slack.

20 workspaces, each with its own Hedy key and its own channel, receive signed `session.ended`
webhooks at --rate meetings per second in all (default 20, so one a second per channel, which
is Slack's own per-channel limit). The Hedy stand-in answers every request in --hedy-latency
(50 ms) and limits each key to 200 requests a minute; the Slack stand-in allows one post per
second per channel and answers 429 + Retry-After beyond that. Latency is the time from the
webhook's 2xx to the moment the Slack stand-in accepted the digest's chat.postMessage.

    python bench/webhook_to_digest.py [--seconds 10] [--rate 20] [--channels 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

import aiohttp
from _harness import WEBHOOK_SECRET, Stack, digests_by_meeting, percentile, signed_session_ended, stop, wait_for_digests


async def deliver(base: str, paths: list[str], *, rate: float, count: int) -> dict[int, float]:
    """Send meeting n to workspace n % len(paths) at its scheduled time; wall-clock time of each 2xx."""
    answered: dict[int, float] = {}
    async with aiohttp.ClientSession() as session:
        async def one(number: int, due: float) -> None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body, headers = signed_session_ended(number)
            async with session.post(base + paths[number % len(paths)], data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    answered[number] = time.time()

        begin = time.perf_counter() + 0.2
        await asyncio.gather(*(one(n, begin + n / rate) for n in range(count)))
    return answered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--hedy-latency", type=float, default=0.05)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)

    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(folder, hedy_keys=args.channels, hedy_latency=args.hedy_latency, bench_sessions=count,
                      post_interval=1.0)
        try:
            paths = [stack.connect(f"T0BENCH{i:02d}", f"C0BENCH{i:02d}", key_number=i, webhook_secret=WEBHOOK_SECRET)
                     for i in range(args.channels)]
            server, base = stack.serve()
            try:
                answered = asyncio.run(deliver(base, paths, rate=args.rate, count=count))
                posts = wait_for_digests(stack, count, timeout=120)
            finally:
                stop(server)
        finally:
            stack.close()

    digests = digests_by_meeting(posts)
    latencies = [digests[n][0]["at"] - answered[n] for n in answered if n in digests]
    doubled = sum(1 for found in digests.values() if len(found) > 1)
    refused = sum(1 for post in posts if post["status"] == 429)
    print(f"\n{count} meetings at {args.rate:.0f}/s across {args.channels} channels and workspaces; "
          f"Hedy answers in {args.hedy_latency * 1000:.0f} ms; Slack allows 1 post/s/channel\n")
    print("| webhooks answered 2xx | digests posted | posted twice | chat.postMessage 429s | p50 | p99 | max |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(answered)} | {len(digests)} | {doubled} | {refused} | {percentile(latencies, 50) * 1000:.0f} ms | "
          f"{percentile(latencies, 99) * 1000:.0f} ms | {max(latencies, default=float('nan')) * 1000:.0f} ms |")
    print(f"\ntarget: p99 under 1 s — {'met' if percentile(latencies, 99) < 1.0 else 'NOT met'}")
    return 0 if len(digests) == count and doubled == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
