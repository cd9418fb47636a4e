"""`meetings-bot demo`: the real app, on SQLite in a temporary folder, with the shipped stand-ins
for Slack and the provider, driven by signed requests; prints what a person would see."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from rich.console import Console
from rich.rule import Rule

DEMO_TEAM = "T0DEMO"
DEMO_USER = "U0DEMO"
DEMO_CHANNEL = "C0MEETINGS"
DEMO_TOKEN = "xoxb-demo-token"


def run_demo(console: Console, *, provider: str = "hedy") -> int:
    from bot.cli import run_connect
    from bot.fakes import slack_requests
    from bot.fakes.hedy import FakeHedy, send_webhook
    from bot.fakes.render import print_message
    from bot.fakes.server import ThreadedServer
    from bot.fakes.slack import FakeSlack
    from bot.settings import Settings
    from bot.web import create_app

    if provider != "hedy":
        console.print(f"[red]The demo plays Hedy for now; {provider} comes with its adapter.[/]")
        return 2

    signing_secret = secrets.token_hex(16)
    hedy_key = "hedy_live_demo_" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="meetings-bot-demo-") as folder:
        fake_slack = FakeSlack(bot_token=DEMO_TOKEN, team_id=DEMO_TEAM, team_name="Demo Team")
        fake_hedy = FakeHedy(api_keys=[hedy_key])
        fake_hedy.seed_demo()
        with ThreadedServer(fake_slack.app) as slack_server, ThreadedServer(fake_hedy.app) as hedy_server:
            fake_slack.set_base_url(slack_server.url)
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}",
                data_dir=Path(folder),
                slack_signing_secret=signing_secret,
                slack_bot_token=DEMO_TOKEN,
                slack_api_url=slack_server.url + "/api/",
                hedy_api_url=hedy_server.url,
                encryption_key=Fernet.generate_key().decode(),
                public_url="https://meetings-bot.example.com",
            )
            console.print(Rule("[bold]meetings-bot demo"))
            console.print(f"Stand-in Slack API at {slack_server.url}, stand-in Hedy API at {hedy_server.url}, "
                          f"SQLite in {folder}.\n")

            console.print("[bold]1. An admin connects Hedy[/] (meetings-bot connect --team T0DEMO --provider hedy "
                          "--api-key … --channel C0MEETINGS)")
            webhook_secret = secrets.token_hex(16)
            connection, account, _created, url = asyncio.run(run_connect(
                settings, team=DEMO_TEAM, provider="hedy", api_key=hedy_key, channel=DEMO_CHANNEL,
                webhook_secret=webhook_secret))
            console.print(f"   ✓ key checked with Hedy ({account.email}), stored encrypted; webhook URL:\n   {url}\n")

            with ThreadedServer(create_app(settings), lifespan="on") as bot_server:
                def slash(text: str) -> dict | None:
                    response_url = fake_slack.new_response_url()
                    body, headers = slack_requests.slash_command(
                        signing_secret, text=text, team_id=DEMO_TEAM, user_id=DEMO_USER,
                        channel_id=DEMO_CHANNEL, response_url=response_url)
                    started = time.perf_counter()
                    response = httpx.post(bot_server.url + "/slack/events", content=body, headers=headers,
                                          timeout=10)
                    ack_ms = (time.perf_counter() - started) * 1000
                    console.print(f"[bold]You type:[/] /meetings {text}   "
                                  f"[dim](acknowledged in {ack_ms:.0f} ms, HTTP {response.status_code})[/]")
                    if response.content and response.headers.get("content-type", "").startswith("application/json"):
                        message = response.json()
                    else:
                        message = fake_slack.wait_for_response(response_url, timeout=20)[-1]
                    print_message(console, message, title=f"/meetings {text}")
                    console.print()
                    return message

                console.print("[bold]2. Someone asks for recent meetings[/]")
                listing = slash("list 5")
                meeting_id = _first_show_value(listing)
                console.print("[bold]3. …and opens one[/] (the same as pressing its Show button)")
                if meeting_id:
                    slash(f"show {meeting_id}")
                console.print("[bold]4. Open action items across meetings[/]")
                slash("todos")
                console.print("[bold]5. What happens with a typo[/]")
                slash("lst")

                console.print("[bold]6. A meeting ends: Hedy sends a signed webhook[/]")
                meeting_id = fake_hedy.newest_session_ids(1)[0]
                local_url = f"{bot_server.url}/webhooks/hedy/{connection.webhook_token}"
                started = time.perf_counter()
                status = send_webhook(local_url, "session.ended", fake_hedy.session_webhook_payload(meeting_id),
                                      secret=webhook_secret)
                console.print(f"   Hedy → POST /webhooks/hedy/… (X-Hedy-Signature) → HTTP {status} in "
                              f"{(time.perf_counter() - started) * 1000:.0f} ms; the digest follows:\n")
                digest = _wait_for(lambda: [m for m in fake_slack.channel_messages(DEMO_CHANNEL)
                                            if not m.get("thread_ts")])
                replies = _wait_for(lambda: len([m for m in fake_slack.channel_messages(DEMO_CHANNEL)
                                                 if m.get("thread_ts") == digest[0]["ts"]]) >= 2 and
                                    [m for m in fake_slack.channel_messages(DEMO_CHANNEL)
                                     if m.get("thread_ts") == digest[0]["ts"]], timeout=10) or []
                print_message(console, digest[0], title=f"#{DEMO_CHANNEL} · posted by meetings-bot",
                              ephemeral=False)
                for reply in replies:
                    print_message(console, reply, title="↳ in the thread", ephemeral=False)
                console.print("   Hedy retries the same delivery: ", end="")
                again = send_webhook(local_url, "session.ended", fake_hedy.session_webhook_payload(meeting_id),
                                     secret=webhook_secret)
                time.sleep(1.0)
                count = len([m for m in fake_slack.channel_messages(DEMO_CHANNEL) if not m.get("thread_ts")])
                console.print(f"HTTP {again}, and the channel still has {count} digest (stored once).\n")
            console.print(Rule("[bold green]demo finished"))
            console.print("Next: run the tests (see README), or connect a real Slack workspace with manifest.yml.")
    return 0


def _wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    return None


def _first_show_value(message: dict | None) -> str | None:
    for block in (message or {}).get("blocks", []):
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == "meetings_show":
            return accessory.get("value")
    return None
