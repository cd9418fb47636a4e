"""Webhook ingest: signed Hedy webhooks verified and stored per second by one `meetings-bot serve`.

Beside it, in the same run and under the same uvicorn settings, a bare ASGI app that reads the
body and answers 200: the ceiling. Two loads for each server:

- paced: an open loop at --rate requests per second (default 100) for --seconds; latency is
  counted from each request's scheduled send time, so a stall shows up instead of hiding;
- saturation: --concurrency clients sending back to back for --seconds.

Every request is a distinct signed `session.ended` for its own meeting. Afterwards the inbox
table is counted: every 2xx from meetings-bot must be a stored row.

    python bench/webhook_ingest.py [--seconds 10] [--rate 100] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import aiohttp
from _harness import ROOT, TEAM, WEBHOOK_SECRET, Stack, percentile, start, stop, wait_until_up

from bot.fakes.server import free_port

_numbers = itertools.count()


def signed_delivery() -> tuple[bytes, dict]:
    number = next(_numbers)
    ended = datetime.now(UTC)
    body = json.dumps({
        "event": "session.ended", "sessionId": f"sess_ingest_{number:07d}", "title": f"Ingest meeting {number}",
        "startTime": (ended - timedelta(minutes=30)).isoformat(), "endTime": ended.isoformat(), "duration": 30,
    }, separators=(",", ":")).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hedy-Event": "session.ended", "X-Hedy-Signature": signature}


async def paced(url: str, *, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        async def one(due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body, headers = signed_delivery()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    latencies.append(time.perf_counter() - due)
                else:
                    errors += 1

        begin = time.perf_counter() + 0.2
        await asyncio.gather(*(one(begin + i / rate) for i in range(int(rate * seconds))))
    return latencies, errors


async def saturate(url: str, *, concurrency: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        end = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while (sent := time.perf_counter()) < end:
                body, headers = signed_delivery()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        latencies.append(time.perf_counter() - sent)
                    else:
                        errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors


def row(server: str, load: str, latencies: list[float], errors: int, seconds: float) -> dict:
    return {"server": server, "load": load, "ok": len(latencies), "errors": errors, "rps": len(latencies) / seconds,
            "p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    rows: list[dict] = []
    stored = answered = 0
    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(folder)
        try:
            path = stack.connect(TEAM, "C0BENCH", webhook_secret=WEBHOOK_SECRET)
            port = free_port()
            bare = start([sys.executable, str(ROOT / "bench" / "bare_asgi_app.py"), str(port)], stack.env, folder)
            try:
                wait_until_up(f"http://127.0.0.1:{port}")
                url = f"http://127.0.0.1:{port}{path}"
                asyncio.run(saturate(url, concurrency=args.concurrency, seconds=1.0))  # warm-up
                rows.append(row("bare ASGI (ceiling)", f"paced {args.rate:.0f}/s",
                                *asyncio.run(paced(url, rate=args.rate, seconds=args.seconds)), args.seconds))
                rows.append(row("bare ASGI (ceiling)", f"saturation, {args.concurrency} clients",
                                *asyncio.run(saturate(url, concurrency=args.concurrency, seconds=args.seconds)),
                                args.seconds))
            finally:
                stop(bare)

            server, base = stack.serve()
            try:
                url = base + path
                warm_lat, _ = asyncio.run(saturate(url, concurrency=args.concurrency, seconds=1.0))
                paced_row = row("meetings-bot serve (SQLite)", f"paced {args.rate:.0f}/s",
                                *asyncio.run(paced(url, rate=args.rate, seconds=args.seconds)), args.seconds)
                sat_row = row("meetings-bot serve (SQLite)", f"saturation, {args.concurrency} clients",
                              *asyncio.run(saturate(url, concurrency=args.concurrency, seconds=args.seconds)),
                              args.seconds)
                rows += [paced_row, sat_row]
                answered = len(warm_lat) + paced_row["ok"] + sat_row["ok"]
                with sqlite3.connect(stack.database) as db:
                    (stored,) = db.execute("SELECT count(*) FROM inbox_events").fetchone()
            finally:
                stop(server)
        finally:
            stack.close()

    print(f"\nsigned Hedy session.ended webhooks, {args.seconds:.0f} s per load, one server process\n")
    print("| server | load | 2xx | errors | req/s | p50 | p99 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['server']} | {r['load']} | {r['ok']} | {r['errors']} | {r['rps']:.0f} | "
              f"{r['p50']:.1f} ms | {r['p99']:.1f} ms |")
    print(f"\nstored in the inbox: {stored} rows for {answered} answers with 2xx "
          f"({'every one stored' if stored == answered else 'MISMATCH'})")
    ours_paced, ours_sat = rows[2], rows[3]
    print(f"targets: p99 {ours_paced['p99']:.1f} ms at {args.rate:.0f}/s (< 20 ms), "
          f"{ours_sat['rps']:.0f} req/s at saturation (>= 1000)")
    return 0 if stored == answered else 1


if __name__ == "__main__":
    sys.exit(main())
