"""`meetings-bot demo [--provider NAME]`: the real app, on SQLite in a temporary folder, with the
shipped stand-ins for Slack and the provider, driven by signed requests; prints what a person
would see.

The flow is the same for every provider (connect, slash commands, a meeting ends, a webhook
comes twice); what differs is in one small entry per provider in `STAND_INS`: its stand-in, the
settings that point the bot at it, and how it tells the bot that a meeting ended.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from rich.console import Console
from rich.rule import Rule

DEMO_TEAM = "T0DEMO"
DEMO_USER = "U0DEMO"
DEMO_CHANNEL = "C0MEETINGS"
DEMO_TOKEN = "xoxb-demo-token"


@dataclass
class StandIn:
    """One provider as the demo plays it. `settings(url)` points the bot at the stand-in served
    at `url`; `meeting_ends(webhook_url, secret)` makes the provider report a finished meeting
    (returns the HTTP statuses and a line saying what was sent); `again` delivers the last
    webhook once more, as providers retry."""

    display_name: str
    app: Any
    api_key: str
    settings: Callable[[str], dict]
    meeting_ends: Callable[[str, str], tuple[list[int], str]]
    again: Callable[[str, str], int]
    bind: Callable[[str], None] = lambda url: None
    thread_replies: int = 2  # replies the digest gets in its thread (todos, highlights)
    connect_options: dict = field(default_factory=dict)
    after_digest: Callable[[], str | None] = lambda: None


def _hedy() -> StandIn:
    from bot.fakes.hedy import FakeHedy, send_webhook

    key = "hedy_live_demo_" + secrets.token_hex(8)
    fake = FakeHedy(api_keys=[key])
    fake.seed_demo()
    meeting_id = fake.newest_session_ids(1)[0]

    def ends(url: str, secret: str) -> tuple[list[int], str]:
        status = send_webhook(url, "session.ended", fake.session_webhook_payload(meeting_id), secret=secret)
        return [status], "Hedy → POST /webhooks/hedy/… (X-Hedy-Signature)"

    def again(url: str, secret: str) -> int:
        return send_webhook(url, "session.ended", fake.session_webhook_payload(meeting_id), secret=secret)

    return StandIn("Hedy", fake.app, key, lambda url: {"hedy_api_url": url}, ends, again)


def _whereby() -> StandIn:
    from bot.fakes.whereby import FakeWhereby

    key = "whereby_demo_" + secrets.token_hex(8)
    fake = FakeWhereby(api_keys=[key])
    for room, days in (("product-sync", 3), ("customer-acme", 2), ("design-review", 1)):
        fake.add_session(room=room, minutes_ago=days * 24 * 60, summarised=True)
    sent: dict[str, Any] = {}  # the transcription id and its finished event

    def bind(url: str) -> None:
        fake.url = url  # the transcript access links point here

    def ends(url: str, secret: str) -> tuple[list[int], str]:
        # A meeting that just ended: transcribed, with no summary yet. Whereby sends the room's
        # "session ended" and, a little later, "transcription finished"; there is no summary event.
        tid = fake.add_session(room="launch-planning", minutes_ago=35)["transcriptionId"]
        sent["finished"] = fake.transcription_event(tid)
        sent["tid"] = tid
        statuses = fake.send_webhook(url, fake.room_event(tid, "room.session.ended"), secret=secret)
        statuses += fake.send_webhook(url, sent["finished"], secret=secret)
        return statuses, ("Whereby → room.session.ended, then transcription.finished (Whereby-Signature t=…,v1=…); "
                          "the bot starts a summary and polls it until it is ready")

    def again(url: str, secret: str) -> int:
        return fake.send_webhook(url, sent["finished"], secret=secret)[-1]

    def after_digest() -> str:
        summaries = fake.summaries_of(sent["tid"])
        polls = sum(fake.polls(s["summaryId"]) for s in summaries)
        return (f"   Whereby made {len(summaries)} summary; the bot polled it {polls} times before it was ready "
                f"({fake.points_spent()} of the organization's API points used so far).")

    return StandIn("Whereby", fake.app, key,
                   lambda url: {"whereby_api_url": url + "/v1", "whereby_summary_poll_seconds": 1.0,
                                # the stand-in's transcript links point at itself, on loopback
                                "whereby_transcript_private_hosts": httpx.URL(url).host},
                   ends, again, bind=bind, thread_replies=0, connect_options={"meeting_ended_notes": True},
                   after_digest=after_digest)


def _meetric() -> StandIn:
    from bot.fakes.meetric import ALL_SCOPES, FakeMeetric

    key = "mt_demo_" + secrets.token_hex(8)
    fake = FakeMeetric(tokens={key: set(ALL_SCOPES)})
    fake.seed_demo()
    delivery = "d-" + secrets.token_hex(6)

    def ends(url: str, secret: str) -> tuple[list[int], str]:
        statuses = fake.send_webhook(url, "conv_demo_1", secret=secret, delivery_id=delivery,
                                     scopes={"conversations", "insights"})
        return statuses, "Meetric → conversation.completed (X-Webhook-Signature sha256=…, X-Webhook-Delivery-Id)"

    def again(url: str, secret: str) -> int:
        return fake.send_webhook(url, "conv_demo_1", secret=secret, delivery_id=delivery)[-1]

    return StandIn("Meetric", fake.app, key, lambda url: {"meetric_api_url": url}, ends, again)


def _harmony() -> StandIn:
    from bot.fakes.harmony import DEFAULT_KEY, FakeHarmony

    fake = FakeHarmony(api_keys=[DEFAULT_KEY])
    fake.seed_demo()
    delivery = "dl_" + secrets.token_hex(6)

    def ends(url: str, secret: str) -> tuple[list[int], str]:
        statuses = fake.send_webhook(url, "meeting.processed", "mtg_demo_1", secret=secret, delivery_id=delivery)
        return statuses, "Harmony → meeting.processed (X-Harmony-Signature)"

    def again(url: str, secret: str) -> int:
        return fake.send_webhook(url, "meeting.processed", "mtg_demo_1", secret=secret, delivery_id=delivery)[-1]

    return StandIn("Harmony", fake.app, DEFAULT_KEY, lambda url: {"harmony_api_url": url}, ends, again)


# Each provider's entry: a function building its stand-in. A provider without one yet maps to None.
STAND_INS: dict[str, Callable[[], StandIn] | None] = {
    "hedy": _hedy,
    "meetric": _meetric,
    "harmony": _harmony,
    "whereby": _whereby,
}


def run_demo(console: Console, *, provider: str = "hedy") -> int:
    from bot.fakes import slack_requests
    from bot.fakes.render import print_message
    from bot.fakes.server import ThreadedServer
    from bot.fakes.slack import FakeSlack
    from bot.services.connections import connect_standalone
    from bot.settings import Settings
    from bot.web import create_app

    name = provider.strip().lower()
    if name not in STAND_INS:
        console.print(f"[red]No provider called {provider!r}; the demo plays {', '.join(sorted(STAND_INS))}.[/]")
        return 2
    build = STAND_INS[name]
    if build is None:
        console.print(f"[yellow]The demo cannot play {name} yet: its stand-in is not written. "
                      f"Try --provider hedy.[/]")
        return 2
    stand_in = build()
    shown = stand_in.display_name

    signing_secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="meetings-bot-demo-") as folder:
        fake_slack = FakeSlack(bot_token=DEMO_TOKEN, team_id=DEMO_TEAM, team_name="Demo Team")
        fake_slack.add_channel(DEMO_CHANNEL, "meetings")  # `connect` checks the channel with Slack
        with ThreadedServer(fake_slack.app) as slack_server, ThreadedServer(stand_in.app) as provider_server:
            fake_slack.set_base_url(slack_server.url)
            stand_in.bind(provider_server.url)
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}",
                data_dir=Path(folder),
                slack_signing_secret=signing_secret,
                slack_bot_token=DEMO_TOKEN,
                slack_api_url=slack_server.url + "/api/",
                encryption_key=Fernet.generate_key().decode(),
                public_url="https://meetings-bot.example.com",
                **stand_in.settings(provider_server.url),
            )
            console.print(Rule(f"[bold]meetings-bot demo · {shown}"))
            console.print(f"Stand-in Slack API at {slack_server.url}, stand-in {shown} API at "
                          f"{provider_server.url}, SQLite in {folder}.\n")

            console.print(f"[bold]1. An admin connects {shown}[/] (meetings-bot connect --team T0DEMO "
                          f"--provider {name} --api-key … --channel C0MEETINGS)")
            webhook_secret = secrets.token_hex(16)
            connection, account, _created, url = asyncio.run(connect_standalone(
                settings, team=DEMO_TEAM, provider=name, api_key=stand_in.api_key, channel=DEMO_CHANNEL,
                webhook_secret=webhook_secret, **stand_in.connect_options))
            who = account.email or account.name or "the key's account"
            console.print(f"   ✓ key checked with {shown} ({who}), stored encrypted; webhook URL:\n   {url}\n")

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

                console.print(f"[bold]6. A meeting ends: {shown} sends a signed webhook[/]")
                local_url = f"{bot_server.url}/webhooks/{name}/{connection.webhook_token}"
                started = time.perf_counter()
                statuses, what = stand_in.meeting_ends(local_url, webhook_secret)
                console.print(f"   {what} → HTTP {', '.join(map(str, statuses))} in "
                              f"{(time.perf_counter() - started) * 1000:.0f} ms; the digest follows:\n")

                def channel() -> list[dict]:
                    return fake_slack.channel_messages(DEMO_CHANNEL)

                digest = _wait_for(lambda: [m for m in channel() if _is_digest(m)], timeout=30)
                if not digest:
                    console.print("[red]   No digest arrived.[/]")
                    return 1
                notes = [m for m in channel() if not m.get("thread_ts") and not _is_digest(m)]
                for note in notes:
                    print_message(console, note, title=f"#{DEMO_CHANNEL} · posted by meetings-bot", ephemeral=False)
                replies = (_wait_for(lambda: len(_replies(channel(), digest[0])) >= stand_in.thread_replies and
                                     _replies(channel(), digest[0]), timeout=10) or []
                           if stand_in.thread_replies else [])
                print_message(console, digest[0], title=f"#{DEMO_CHANNEL} · posted by meetings-bot",
                              ephemeral=False)
                for reply in replies:
                    print_message(console, reply, title="↳ in the thread", ephemeral=False)
                if (line := stand_in.after_digest()) is not None:
                    console.print(line)
                console.print(f"   {shown} retries the same delivery: ", end="")
                again = stand_in.again(local_url, webhook_secret)
                time.sleep(1.0)
                count = len([m for m in channel() if _is_digest(m)])
                console.print(f"HTTP {again}, and the channel still has {count} digest (stored once).\n")
            console.print(Rule("[bold green]demo finished"))
            console.print("Next: run the tests (see README), or connect a real Slack workspace with the app "
                          "manifest that `meetings-bot manifest` prints.")
    return 0


def _is_digest(message: dict) -> bool:
    return not message.get("thread_ts") and str(message.get("text", "")).startswith("Meeting notes:")


def _replies(messages: list[dict], digest: dict) -> list[dict]:
    return [m for m in messages if m.get("thread_ts") == digest["ts"] and m["ts"] != digest["ts"]]


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
