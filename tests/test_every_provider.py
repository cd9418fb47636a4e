"""What every provider must do the same way: recover from an outage without losing the digest,
and connect from the command line. One test each, run once per provider."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from bot.delivery import inbox
from bot.services.connections import connect
from tests.conftest import (
    CHANNEL,
    HARMONY_KEY,
    HARMONY_SECRET,
    HEDY_KEY,
    MEETRIC_LIMITED,
    MEETRIC_SECRET,
    MEETRIC_TOKEN,
    TEAM,
    WEBHOOK_SECRET,
    WHEREBY_KEY,
    WHEREBY_SECRET,
)
from tests.helpers import digests_in, inbox_rows, wait_until


@dataclass(frozen=True)
class Outage:
    """How one provider fails while a meeting's notes are fetched, and the webhook that asks for them."""

    provider: str
    key: str
    secret: str  # the webhook signing secret
    status: int
    times: int  # enough failed requests to use up more than one attempt (each attempt retries a few times)
    path: str
    webhook: Callable[[object], tuple[bytes, dict]]  # fake -> (body, headers)
    fail_options: dict = field(default_factory=dict)


def _hedy_webhook(fake) -> tuple[bytes, dict]:
    from bot.fakes.hedy import webhook_request

    return webhook_request("session.ended", fake.session_webhook_payload("sess_demo_12", event="session.ended"),
                           secret=WEBHOOK_SECRET)


OUTAGES = [
    Outage("hedy", HEDY_KEY, WEBHOOK_SECRET, 500, 9, "/sessions/sess_demo_12", _hedy_webhook),
    Outage("harmony", HARMONY_KEY, HARMONY_SECRET, 500, 9, "/meetings/mtg_demo_3",
           lambda fake: fake.webhook_request("meeting.processed", fake.event_payload("meeting.processed", "mtg_demo_3"),
                                             secret=HARMONY_SECRET)),
    Outage("meetric", MEETRIC_TOKEN, MEETRIC_SECRET, 503, 6, "/conversations/conv_demo_2",
           lambda fake: fake.webhook_request("conv_demo_2", secret=MEETRIC_SECRET), {"retry_after": None}),
    Outage("whereby", WHEREBY_KEY, WHEREBY_SECRET, 503, 7, "/transcriptions/tr_demo_launch",
           lambda fake: fake.webhook_request(fake.transcription_event("tr_demo_launch"), secret=WHEREBY_SECRET)),
]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda o: o.provider)
async def test_down_then_back(outage: Outage, request, slack_user, fake_slack, deps, db, monkeypatch, workers):
    monkeypatch.setattr(inbox, "BACKOFF_BASE", 0.2)
    fake = request.getfixturevalue(f"fake_{outage.provider}")  # (async fixtures cannot be asked for like this)
    connection = (await connect(deps.db, deps.box, deps.factory, team_id=TEAM, provider=outage.provider,
                                api_key=outage.key, channel=CHANNEL, webhook_secret=outage.secret)).connection
    fake.fail_next(outage.status, times=outage.times, path=outage.path, **outage.fail_options)
    body, headers = outage.webhook(fake)
    response = await slack_user.client.post(f"/webhooks/{outage.provider}/{connection.webhook_token}", content=body,
                                            headers=headers)
    assert response.status_code == 200
    await wait_until(lambda: digests_in(fake_slack), timeout=30)
    await workers.idle()  # the event is marked done just after its digest is stored
    [row] = await inbox_rows(db)
    assert row.status == "done" and row.attempts >= 2
    if outage.provider == "whereby":
        assert fake.request_count("/summaries", "POST") == 1  # the retries asked for one summary, not three


@dataclass(frozen=True)
class CliConnect:
    provider: str
    key: str
    refused_key: str
    refusal: str  # what the command says about the refused key
    greeting: str  # what it says once connected
    url_setting: str
    url_attribute: str = "url"
    extra_args: tuple[str, ...] = ()
    extra_env: dict = field(default_factory=dict)


CLI_CONNECTS = [
    CliConnect("harmony", HARMONY_KEY, "lk_" + "0" * 64, "rejected the API key", "Connected workspace T0001 to harmony",
               "HARMONY_API_URL"),
    CliConnect("meetric", MEETRIC_TOKEN, MEETRIC_LIMITED, "`conversations` scope",
               "Connected workspace T0001 to meetric as Acme", "MEETRIC_API_URL",
               extra_env={"MEETINGS_BOT_WEBHOOK_SECRET": MEETRIC_SECRET}),
    CliConnect("whereby", WHEREBY_KEY, "wrong-key", "rejected the API key", "Connected workspace T0001 to whereby",
               "WHEREBY_API_URL", url_attribute="api_url",
               extra_args=("--webhook-secret", WHEREBY_SECRET, "--meeting-ended-notes")),
]


@pytest.mark.parametrize("case", CLI_CONNECTS, ids=lambda c: c.provider)
def test_connect_from_the_command_line(case: CliConnect, request, settings, db):
    fake = request.getfixturevalue(f"fake_{case.provider}")
    prefix = case.provider.upper() + "_"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", prefix, "DATABASE_", "MEETINGS_BOT"))}
    env.update(DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir), PUBLIC_URL=settings.public_url,
               ENCRYPTION_KEY=settings.encryption_key.get_secret_value(), COLUMNS="200",
               **{case.url_setting: getattr(fake, case.url_attribute)}, **case.extra_env)

    def connect(key: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", "connect", "--team", TEAM, "--provider", case.provider,
                               "--channel", CHANNEL, *case.extra_args], env={**env, "MEETINGS_BOT_API_KEY": key},
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                              cwd=settings.data_dir)

    refused = connect(case.refused_key)
    assert refused.returncode == 1 and case.refusal in refused.stderr + refused.stdout
    done = connect(case.key)
    assert done.returncode == 0, done.stderr
    assert case.greeting in done.stdout and f"/webhooks/{case.provider}/" in done.stdout
    assert case.key not in done.stdout + done.stderr
