"""Posts and edits the outbox's messages at Slack's pace.

About one message per second per channel (Slack's chat.postMessage rule), one message in
flight per channel (which also keeps a channel's messages in order), digests before thread
replies. A 429 pauses that channel for Retry-After and costs the message no attempt; 5xx and
network errors retry with backoff; errors Slack will repeat forever (not_in_channel,
channel_not_found, invalid_blocks, a revoked token…) dead-letter the message so that
`/meetings status` can say what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.delivery import outbox
from bot.delivery.inbox import backoff_delay
from bot.slack.installations import NotInstalled
from bot.metrics import SLACK_POSTS
from bot.store.models import SlackMessage

log = logging.getLogger(__name__)

PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long", "msg_blocks_too_long",
    "no_text", "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
    "no_permission", "restricted_action", "missing_scope", "message_not_found", "cant_update_message",
    "edit_window_closed", "invalid_arguments", "team_access_not_granted", "ekm_access_denied",
})


class Sender:
    def __init__(self, deps, *, channel_interval: float = 1.0, max_in_flight: int = 50) -> None:
        self.deps = deps
        self.channel_interval = channel_interval
        self.max_in_flight = max_in_flight
        self.wake = getattr(deps, "outbox_wakeup", None) or asyncio.Event()
        self._next_free: dict[str, float] = {}  # channel → monotonic time it may be posted to again
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._ticking = False  # reading the outbox and claiming: a claimed message has no task yet
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                self._ticking = True
                pause = await self.tick()
            except Exception:
                log.exception("the Slack sender failed to read the outbox; trying again shortly")
                pause = 2.0
            finally:
                self._ticking = False
            if self._stopping:
                break
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=pause)

    def busy(self) -> bool:
        """Reading the outbox or sending a message right now."""
        return self._ticking or bool(self._tasks)

    def _blocked(self, now: float) -> set[str]:
        return self._busy | {channel for channel, free in self._next_free.items() if free > now}

    async def tick(self) -> float:
        """Start sends for every channel that may post now; return how long to sleep."""
        now = time.monotonic()
        if len(self._tasks) < self.max_in_flight:
            started: set[str] = set()
            for message in await outbox.due(self.deps.db, skip_channels=self._blocked(now)):
                if message.channel in started or message.channel in self._busy:
                    continue  # one at a time per channel: order and pace
                assert message.id is not None, "read from the outbox"
                claimed = await outbox.claim(self.deps.db, message.id)
                if claimed is None:
                    continue  # another replica took it
                started.add(claimed.channel)
                self._busy.add(claimed.channel)
                task = asyncio.get_running_loop().create_task(self._send(claimed))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                if len(self._tasks) >= self.max_in_flight:
                    break
        waits = [free - now for channel, free in self._next_free.items() if free > now and channel not in self._busy]
        return max(0.01, min([*waits, 1.0]))

    async def _send(self, message: SlackMessage) -> None:
        db = self.deps.db
        channel = message.channel
        pause = self.channel_interval
        try:
            payload = json.loads(message.payload)
            client = self.deps.slack_client(message.team_id)
            if message.ts:
                # A message posted to a user id lives in a DM (D…); chat.update only takes that id.
                response = await client.chat_update(channel=message.sent_channel or channel, ts=message.ts,
                                                    text=payload["text"], blocks=payload.get("blocks"))
                thread_ts = message.thread_ts
            else:
                thread_ts = await outbox.parent_ts(db, message)
                response = await client.chat_postMessage(channel=channel, text=payload["text"],
                                                         blocks=payload.get("blocks"), thread_ts=thread_ts,
                                                         unfurl_links=False, unfurl_media=False)
            await outbox.sent(db, message, ts=response.get("ts") or message.ts, thread_ts=thread_ts,
                              sent_hash=message.content_hash, sent_channel=response.get("channel"))
            SLACK_POSTS.labels(result="updated" if message.ts else "posted").inc()
        except SlackApiError as exc:
            status = exc.response.status_code
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = data.get("error") or f"HTTP {status}"
            if status == 429:
                retry_after = _retry_after(exc.response.headers)
                pause = max(pause, retry_after)
                await outbox.retry_later(db, message, delay=timedelta(seconds=retry_after), error="ratelimited",
                                         count_attempt=False)
                SLACK_POSTS.labels(result="ratelimited").inc()
            elif status >= 500:
                await outbox.retry_later(db, message, delay=backoff_delay(message.attempts), error=error)
                SLACK_POSTS.labels(result="retry").inc()
            elif error in PERMANENT_ERRORS:
                log.warning("Slack refused a message for channel %s (team %s): %s", channel, message.team_id, error)
                await outbox.give_up(db, message, error=error)
                SLACK_POSTS.labels(result="dead").inc()
            else:
                await outbox.retry_later(db, message, delay=backoff_delay(message.attempts), error=error)
                SLACK_POSTS.labels(result="retry").inc()
        except NotInstalled:
            await outbox.give_up(db, message, error="not_installed")
            SLACK_POSTS.labels(result="dead").inc()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await outbox.retry_later(db, message, delay=backoff_delay(message.attempts),
                                     error=f"could not reach Slack: {type(exc).__name__}")
            SLACK_POSTS.labels(result="retry").inc()
        except Exception as exc:
            log.exception("unexpected error sending a message to Slack (team %s)", message.team_id)
            await outbox.retry_later(db, message, delay=backoff_delay(message.attempts),
                                     error=f"unexpected error: {type(exc).__name__}")
        finally:
            self._next_free[channel] = time.monotonic() + pause
            self._busy.discard(channel)
            self.wake.set()

    async def drain(self, timeout: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def _retry_after(headers) -> float:
    try:
        return max(float(headers.get("Retry-After") or headers.get("retry-after") or 1), 1.0)
    except (TypeError, ValueError):
        return 1.0
