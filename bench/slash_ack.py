"""Slash-command ack latency, open-loop: `meetings-bot serve` beside a minimal Bolt app, same run.

A constant-rate client sends signed `/meetings list` requests at --rate per second for
--seconds, whatever the server is doing: when the server stalls, requests keep coming and
queue, as they would from Slack. Latency is measured from the moment each request was due to
be sent, not from when the client got round to it (the "corrected" latency of wrk2: a closed-
loop client that waits for answers stops sending while the server stalls, and hides the stall).

The Hedy stand-in answers every request after --hedy-latency seconds, so the bot must ack long
before it has anything to say. For each server: requests, errors, achieved rate, ack latency
p50/p99/p99.9/max, answers given inside the ack; for the bot also the answers delivered later to
response_urls, when the last one arrived after the load stopped, and its memory before/after.

    python bench/slash_ack.py [--rate 800] [--seconds 10] [--hedy-latency 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from _harness import (
    ROOT,
    SIGNING_SECRET,
    TEAM,
    Stack,
    percentile,
    start,
    stop,
    wait_until_up,
)

from bot.fakes import slack_requests
from bot.fakes.server import free_port


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    in_ack: int = 0
    sent: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bodies(slack_url: str, count: int, text: str) -> list[tuple[bytes, dict]]:
    """Signed before the clock starts: signing is the client's cost, not the server's."""
    return [slack_requests.slash_command(SIGNING_SECRET, text=text, team_id=TEAM, user_id=f"U0B{n % 50:04d}",
                                         channel_id="C0BENCH", response_url=f"{slack_url}/response/bench{n}")
            for n in range(count)]


async def open_loop(url: str, requests: list[tuple[bytes, dict]], *, rate: float, warmup: float, run: Run) -> None:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start_at = time.perf_counter() + 0.2
        measure_from = start_at + warmup

        async def one(index: int, due: float) -> None:
            body, headers = requests[index]
            try:
                async with session.post(url + "/slack/events", data=body, headers=headers) as response:
                    content = await response.read()
                    ok = response.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok, content = False, b""
            done = time.perf_counter()
            if due < measure_from:
                return
            if not ok:
                run.errors += 1
                return
            run.latencies.append(done - due)  # from when it was due: the wait in the client counts too
            if content.strip():
                run.in_ack += 1

        tasks = []
        for index in range(len(requests)):
            due = start_at + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, due)))
        run.sent = sum(1 for i in range(len(requests)) if start_at + i / rate >= measure_from)
        await asyncio.gather(*tasks)


def delivered(slack_url: str, before: int, expected: int, load_ended: float, timeout: float = 60.0) -> dict:
    """Wait until every command not answered in its ack has its answer at the Slack stand-in."""
    deadline = time.monotonic() + timeout
    while True:
        stats = httpx.get(slack_url + "/_fake/stats").json()
        answered = stats["response_urls_answered"] - before
        if answered >= expected or time.monotonic() > deadline:
            last = stats["last_response_at"] or load_ended
            return {"answered_later": answered, "last_answer_after_load_s": max(0.0, last - load_ended)}
        time.sleep(0.25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=800.0, help="requests a second, held whatever the server does")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--hedy-latency", type=float, default=1.5)
    parser.add_argument("--text", default="list", help="the /meetings text every request sends")
    args = parser.parse_args()
    count = int(args.rate * (args.seconds + args.warmup))

    runs: list[Run] = []
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
                requests = bodies(slack_url, count, args.text)
                port = free_port()
                process = start([*command, str(port)], stack.env, folder)
                run = Run(name, seconds=args.seconds)
                try:
                    url = f"http://127.0.0.1:{port}"
                    wait_until_up(url)
                    before = httpx.get(slack_url + "/_fake/stats").json()["response_urls_answered"]
                    rss_before = rss_mb(process.pid)
                    asyncio.run(open_loop(url, requests, rate=args.rate, warmup=args.warmup, run=run))
                    load_ended = time.time()
                    run.extra["rss_mb"] = (rss_before, rss_mb(process.pid))
                    if "serve" in name:
                        # Every command gets an answer: in the ack, or later at its response_url.
                        expected = len(requests) - run.in_ack - run.errors
                        run.extra.update(delivered(slack_url, before, expected, load_ended))
                        run.extra["expected_later"] = expected
                    runs.append(run)
                finally:
                    stop(process)
        finally:
            stack.close()

    print(f"\nOpen loop: {args.rate:.0f} signed `/meetings {args.text}` a second for {args.seconds:.0f} s "
          f"(after {args.warmup:.0f} s of warm-up), to each server in turn; Hedy stand-in answers after "
          f"{args.hedy_latency} s. Latency from when each request was due.\n")
    print("| server | requests | errors | req/s | ack p50 | ack p99 | ack p99.9 | max | answered in the ack | RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        lat = run.latencies
        rss = run.extra.get("rss_mb", (float("nan"), float("nan")))
        print(f"| {run.name} | {len(lat)} | {run.errors} | {len(lat) / run.seconds:.0f} | "
              f"{percentile(lat, 50) * 1000:.1f} ms | {percentile(lat, 99) * 1000:.1f} ms | "
              f"{percentile(lat, 99.9) * 1000:.1f} ms | {max(lat, default=float('nan')) * 1000:.0f} ms | "
              f"{run.in_ack} | {rss[0]:.0f} → {rss[1]:.0f} MB |")
    ours = runs[-1]
    print(f"\nmeetings-bot: {ours.in_ack} answers inside the ack; {ours.extra['answered_later']} of "
          f"{ours.extra['expected_later']} others delivered to their response_url (warm-up included), the last "
          f"{ours.extra['last_answer_after_load_s']:.1f} s after the load stopped")
    print(f"p99 ack {percentile(ours.latencies, 99) * 1000:.1f} ms (target under 25 ms), peer "
          f"{percentile(runs[0].latencies, 99) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
