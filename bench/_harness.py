"""What every benchmark shares: stand-ins and servers as subprocesses, signed webhooks, percentiles.

The stand-ins run in their own processes so they do not compete with the load generator for
this process's GIL; Slack and Hedy are not on our machine either.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bot.fakes.server import free_port

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
TEAM = "T0BENCH"
WEBHOOK_SECRET = "bench-hedy-webhook-secret"


def hedy_key(number: int = 0) -> str:
    return f"hedy_live_bench_key_{number:04d}_0123456789"


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=5)
            return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(command: list[str], env: dict, cwd: str) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=cwd)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Stack:
    """The Slack and Hedy stand-ins plus the bot's environment, in a temporary folder."""

    def __init__(self, folder: str, *, hedy_keys: int = 1, hedy_latency: float = 0.0, bench_sessions: int = 0,
                 post_interval: float | None = None, bot_source: str | None = None) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        slack_port, hedy_port = free_port(), free_port()
        self.slack_url, self.hedy_url = f"http://127.0.0.1:{slack_port}", f"http://127.0.0.1:{hedy_port}"
        slack = [sys.executable, "-m", "bot.fakes", "slack", "--port", str(slack_port), "--bot-token", BOT_TOKEN,
                 "--team", TEAM]
        if post_interval:
            slack += ["--post-interval", str(post_interval)]
        hedy = [sys.executable, "-m", "bot.fakes", "hedy", "--port", str(hedy_port), "--latency", str(hedy_latency),
                "--bench-sessions", str(bench_sessions)]
        for number in range(hedy_keys):
            hedy += ["--api-key", hedy_key(number)]
        self.processes.append(start(slack, os.environ.copy(), folder))
        self.processes.append(start(hedy, os.environ.copy(), folder))
        wait_until_up(self.slack_url)
        wait_until_up(self.hedy_url)
        self.database = f"{folder}/bench.db"
        self.env = dict(os.environ, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN=BOT_TOKEN,
                        SLACK_API_URL=self.slack_url + "/api/", HEDY_API_URL=self.hedy_url,
                        DATABASE_URL=f"sqlite+aiosqlite:///{self.database}", DATA_DIR=folder,
                        ENCRYPTION_KEY=Fernet.generate_key().decode(), LOG_LEVEL="WARNING")
        if bot_source:
            # The bot (connect and serve) from another checkout, e.g. an earlier release; the
            # stand-ins above stay this checkout's, so both face the same Slack and Hedy.
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [bot_source, os.environ.get("PYTHONPATH")]))

    def connect(self, team: str, channel: str, *, key_number: int = 0, webhook_secret: str | None = None) -> str:
        """`meetings-bot connect` for real; returns the connection's webhook URL path."""
        # Without the Slack settings `connect` skips its workspace and channel checks: the benchmarks
        # connect made-up workspaces to one stand-in Slack.
        env = {k: v for k, v in self.env.items() if not k.startswith("SLACK_")}
        env["MEETINGS_BOT_API_KEY"] = hedy_key(key_number)
        command = [sys.executable, "-m", "bot", "connect", "--team", team, "--provider", "hedy", "--channel", channel]
        if webhook_secret:
            command += ["--webhook-secret", webhook_secret]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=self.folder)
        with sqlite3.connect(self.database) as db:
            (token,) = db.execute("SELECT webhook_token FROM connections WHERE team_id = ?", (team,)).fetchone()
        return f"/webhooks/hedy/{token}"

    def serve(self) -> tuple[subprocess.Popen, str]:
        port = free_port()
        process = start([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                        self.env, self.folder)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        return process, url

    def slack_posts(self) -> list[dict]:
        return httpx.get(self.slack_url + "/_fake/posts", timeout=30).json()

    def close(self) -> None:
        for process in self.processes:
            stop(process)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else values[0]


def signed_session_ended(number: int, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict]:
    """Hedy's flat `session.ended` for the stand-in's bench session `number`, signed."""
    import hashlib
    import hmac
    import json

    body = json.dumps({"event": "session.ended", "sessionId": f"sess_bench_{number:05d}",
                       "title": f"Bench meeting {number:05d}"}, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hedy-Event": "session.ended", "X-Hedy-Signature": signature}


def digests_by_meeting(posts: list[dict]) -> dict[int, list[dict]]:
    """Accepted top-level chat.postMessage calls for bench meetings, by meeting number."""
    import re

    found: dict[int, list[dict]] = {}
    for post in posts:
        match = re.search(r"Bench meeting (\d{5})", post["text"])
        if post["ok"] and not post["thread_ts"] and match:
            found.setdefault(int(match.group(1)), []).append(post)
    return found


def checkout(revision: str, folder: str) -> str:
    """This repository at `revision`, checked out (without touching the working tree) under `folder`."""
    target = os.path.join(folder, "reference")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", target, revision], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return target


def remove_checkout(target: str) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", target], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_digests(stack: Stack, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        posts = stack.slack_posts()
        if len(digests_by_meeting(posts)) >= count or time.monotonic() > deadline:
            return posts
        time.sleep(0.25)
