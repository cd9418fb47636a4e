"""Slash-command ack latency: `meetings-bot serve` against the floor of a minimal Bolt app.

The Hedy stand-in answers every request after 1.5 s, so the bot must ack long before it has
anything to say. 16 concurrent clients send signed `/meetings list` requests for 10 s to each
server in turn; we report ack latency p50/p99 and requests per second.

    python bench/slash_ack.py [--seconds 10] [--concurrency 16] [--hedy-latency 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

import aiohttp
import httpx

from _harness import ROOT, SIGNING_SECRET, TEAM, Stack, percentile, start, stop, wait_until_up
from bot.fakes import slack_requests
from bot.fakes.server import free_port


def answers(slack_url: str, before: int, sent: int, load_ended: float, timeout: float = 60.0) -> dict:
    """Wait until every command sent has its answer at the Slack stand-in (or time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = httpx.get(slack_url + "/_fake/stats").json()
        answered = stats["response_urls_answered"] - before
        if answered >= sent or time.monotonic() > deadline:
            last = stats["last_response_at"] or load_ended
            return {"answered": answered, "sent": sent, "last_answer_after_load_s": max(0.0, last - load_ended)}
        time.sleep(0.25)


async def load(url: str, slack_url: str, *, seconds: float, concurrency: int, warmup: float = 1.0):
    latencies: list[float] = []
    errors = 0
    sent_total = 0
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker() -> None:
            nonlocal errors, sent_total
            while True:
                body, headers = slack_requests.slash_command(
                    SIGNING_SECRET, text="list", team_id=TEAM, user_id="U0BENCH", channel_id="C0BENCH",
                    response_url=f"{slack_url}/response/bench{next(counter)}")
                sent = time.perf_counter()
                if sent >= stop:
                    return
                sent_total += 1
                async with session.post(url + "/slack/events", data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
                done = time.perf_counter()
                if sent >= measure_from:
                    if ok:
                        latencies.append(done - sent)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, sent_total


def summarize(name: str, latencies: list[float], errors: int, seconds: float) -> dict:
    return {"name": name, "requests": len(latencies), "errors": errors, "rps": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--hedy-latency", type=float, default=1.5)
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(folder, hedy_latency=args.hedy_latency)
        try:
            slack_url = stack.slack_url
            stack.connect(TEAM, "C0BENCH")
            servers = [
                ("minimal Bolt AsyncApp (ack only)", [sys.executable, str(ROOT / "bench" / "minimal_bolt_app.py")]),
                ("meetings-bot serve", [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port"]),
            ]
            for name, command in servers:
                port = free_port()
                process = start([*command, str(port)], stack.env, folder)
                try:
                    url = f"http://127.0.0.1:{port}"
                    wait_until_up(url)
                    before = httpx.get(slack_url + "/_fake/stats").json()["response_urls_answered"]
                    sent_at = time.time()
                    latencies, errors, sent = asyncio.run(load(url, slack_url, seconds=args.seconds,
                                                               concurrency=args.concurrency))
                    row = summarize(name, latencies, errors, args.seconds)
                    if "serve" in name:
                        row.update(answers(slack_url, before, sent, sent_at + args.seconds + 1.0))
                    results.append(row)
                finally:
                    stop(process)
        finally:
            stack.close()

    floor, ours = results
    print(f"\n{args.concurrency} concurrent signed /meetings list for {args.seconds:.0f} s each; "
          f"Hedy stand-in answers after {args.hedy_latency} s\n")
    print("| server | requests | errors | req/s | ack p50 | ack p99 |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in results:
        print(f"| {row['name']} | {row['requests']} | {row['errors']} | {row['rps']:.0f} | "
              f"{row['p50_ms']:.1f} ms | {row['p99_ms']:.1f} ms |")
    print(f"\nanswers delivered to response_urls: {ours['answered']} of {ours['sent']} commands "
          f"(warm-up included); the last arrived {ours['last_answer_after_load_s']:.1f} s after the load stopped")
    ratio = ours["rps"] / floor["rps"] if floor["rps"] else 0
    print(f"\nthroughput ratio (meetings-bot / minimal): {ratio:.2f}  (target ≥ 0.80); "
          f"p99 ack {ours['p99_ms']:.1f} ms (target ≤ 25 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
