"""Run a stand-in on its own: `python -m bot.fakes slack|hedy|meetric|harmony|whereby --port N [...]`.

For local development without accounts (point SLACK_API_URL / HEDY_API_URL / MEETRIC_API_URL / HARMONY_API_URL at it,
or WHEREBY_API_URL at http://HOST:PORT/v1) and for
benchmarks that keep the stand-ins out of the measuring process.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.fakes", description=__doc__)
    parser.add_argument("service", choices=["slack", "hedy", "meetric", "harmony", "whereby"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bot-token", default="xoxb-test-token", help="slack: the accepted bot token")
    parser.add_argument("--team", default="T0001", help="slack: the workspace id")
    parser.add_argument("--channel", action="append", default=[],
                        help="slack: a public channel id the bot is in (repeatable); `connect` checks it")
    parser.add_argument("--api-key", action="append",
                        help="hedy, meetric, harmony, whereby: an accepted API key (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="hedy: seconds before every answer")
    parser.add_argument("--rate-limit", type=int, default=None,
                        help="requests per minute per key (hedy 200, meetric 60, harmony 60 unless given)")
    parser.add_argument("--bench-sessions", type=int, default=0,
                        help="hedy: also serve N ended sessions sess_bench_00000… titled 'Bench meeting 00000'…")
    parser.add_argument("--harmony-style", choices=["meetings", "conversations", "both"], default="both",
                        help="harmony: serve /api/v1/meetings (Bearer), /v1/conversations (X-API-Key) or both")
    parser.add_argument("--rate-limit-headers", action="store_true",
                        help="harmony: send X-RateLimit-Limit/Remaining/Reset on every answer")
    parser.add_argument("--whereby-points", type=int, default=1000,
                        help="whereby: the organization's points a minute (GET 1, DELETE 2, POST 3)")
    parser.add_argument("--post-interval", type=float, default=None,
                        help="slack: seconds between posts to one channel; faster posts get 429 + Retry-After")
    args = parser.parse_args()

    fake: Any  # the chosen stand-in; each serves its own `app`
    if args.service == "slack":
        from bot.fakes.slack import FakeSlack

        fake = FakeSlack(bot_token=args.bot_token, team_id=args.team, per_channel_post_interval=args.post_interval)
        fake.set_base_url(f"http://{args.host}:{args.port}")
        fake.open_response_urls = True
        for channel in args.channel:
            fake.add_channel(channel, channel.lower())
    elif args.service == "meetric":
        from bot.fakes.meetric import ALL_SCOPES, FakeMeetric

        fake = FakeMeetric(tokens={key: set(ALL_SCOPES) for key in (args.api_key or ["mt_demo_token_0123456789"])},
                           rate_limit_per_minute=args.rate_limit or 60)
        fake.seed_demo()
    elif args.service == "whereby":
        from bot.fakes.whereby import DEFAULT_KEY, FakeWhereby

        fake = FakeWhereby(api_keys=args.api_key or [DEFAULT_KEY], points_per_minute=args.whereby_points)
        fake.url = f"http://{args.host}:{args.port}"  # the transcript access links point here
        fake.seed_demo()
    elif args.service == "harmony":
        from bot.fakes.harmony import DEFAULT_KEY, FakeHarmony

        fake = FakeHarmony(api_keys=args.api_key or [DEFAULT_KEY], style=args.harmony_style,
                           rate_limit_per_minute=args.rate_limit or 60, rate_limit_headers=args.rate_limit_headers)
        fake.seed_demo()
    else:
        from bot.fakes.hedy import FakeHedy

        fake = FakeHedy(api_keys=args.api_key or ["hedy_live_demo_key"], rate_limit_per_minute=args.rate_limit or 200)
        fake.seed_demo()
        for number in range(args.bench_sessions):
            fake.add_session(sessionId=f"sess_bench_{number:05d}", title=f"Bench meeting {number:05d}")
        fake.latency = args.latency
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
