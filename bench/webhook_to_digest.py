"""Webhook to digest: from a meeting-ended webhook's 2xx to its digest reaching Slack.

20 workspaces, each with its own Hedy key and its own channel, receive signed `session.ended`
webhooks at --rate meetings per second in all (default 20, so one a second per channel, which
is Slack's own per-channel limit). The Hedy stand-in answers every request in --hedy-latency
(50 ms) and limits each key to 200 requests a minute; the Slack stand-in allows one post per
second per channel and answers 429 + Retry-After beyond that. Latency is the time from the
webhook's 2xx to the moment the Slack stand-in accepted the digest's chat.postMessage.

    python bench/webhook_to_digest.py [--seconds 10] [--rate 20] [--channels 20] [--reference REV --rounds N]

With --reference, the bot as of an earlier git revision runs the same load in turns with this
code (fresh stand-ins and database each run), so the two are compared on the same machine at the
same time: the only comparison that means much on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

import aiohttp
from _harness import (
    WEBHOOK_SECRET,
    Stack,
    checkout,
    digests_by_meeting,
    percentile,
    remove_checkout,
    signed_session_ended,
    stop,
    wait_for_digests,
)


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


def run_once(args, count: int, bot_source: str | None) -> dict:
    """One run on a fresh database and fresh stand-ins: what Slack received, and when."""
    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(folder, hedy_keys=args.channels, hedy_latency=args.hedy_latency, bench_sessions=count,
                      post_interval=1.0, bot_source=bot_source)
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
    return dict(answered=len(answered), posted=len(digests), doubled=sum(1 for f in digests.values() if len(f) > 1),
                refused=sum(1 for post in posts if post["status"] == 429), latencies=latencies)


def row(name: str, result: dict) -> str:
    latencies = result["latencies"]
    return (f"| {name} | {result['answered']} | {result['posted']} | {result['doubled']} | {result['refused']} | "
            f"{percentile(latencies, 50) * 1000:.0f} ms | {percentile(latencies, 99) * 1000:.0f} ms | "
            f"{max(latencies, default=float('nan')) * 1000:.0f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--hedy-latency", type=float, default=0.05)
    parser.add_argument("--reference", metavar="REV",
                        help="also run the bot as of this git revision (an earlier release), in turns with this code")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each (in turns when --reference is given)")
    args = parser.parse_args()
    count = int(args.rate * args.seconds)

    with tempfile.TemporaryDirectory() as folder:
        reference = checkout(args.reference, folder) if args.reference else None
        try:
            results: list[tuple[str, dict]] = []
            for _ in range(args.rounds):
                if reference:
                    results.append((args.reference, run_once(args, count, reference)))
                results.append(("this code", run_once(args, count, None)))
        finally:
            if reference:
                remove_checkout(reference)

    print(f"\n{count} meetings at {args.rate:.0f}/s across {args.channels} channels and workspaces; "
          f"Hedy answers in {args.hedy_latency * 1000:.0f} ms; Slack allows 1 post/s/channel\n")
    print("| code | webhooks answered 2xx | digests posted | posted twice | chat.postMessage 429s | p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, result in results:
        print(row(name, result))
    ours = [r for name, r in results if name == "this code"]
    worst = max(percentile(r["latencies"], 99) for r in ours)
    print(f"\ntarget: p99 under 1 s — {'met' if worst < 1.0 else 'NOT met'}")
    return 0 if all(r["posted"] == count and r["doubled"] == 0 for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
