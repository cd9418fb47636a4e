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
from datetime import UTC, datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.delivery import outbox
from bot.delivery.inbox import backoff_delay
from bot.logging_setup import REQUEST_ID, TEAM
from bot.metrics import SLACK_POSTS, WEBHOOK_TO_DIGEST_SECONDS
from bot.slack.installations import NotInstalled
from bot.store.models import Connection, SlackMessage, utcnow
from bot.store.states import MessageKind, MessageState

log = logging.getLogger(__name__)

PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long", "msg_blocks_too_long",
    "no_text", "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
    "no_permission", "restricted_action", "missing_scope", "message_not_found", "cant_update_message",
    "edit_window_closed", "invalid_arguments", "team_access_not_granted", "ekm_access_denied",
})


# The longest the sender sleeps with nothing due: a message queued by a process that cannot wake
# it (the CLI retrying dead messages, a replica that died before sending) waits at most this long.
MAX_SLEEP = 30.0


class Sender:
    def __init__(self, deps, *, channel_interval: float = 1.0, max_in_flight: int = 50,
                 max_sleep: float = MAX_SLEEP, lease: timedelta = outbox.LEASE) -> None:
        self.deps = deps
        self.max_sleep = max_sleep
        self.lease = lease
        self.claimed: set[int] = set()  # messages being sent now: their claims are renewed (workers.py)
        self.channel_interval = channel_interval
        self.max_in_flight = max_in_flight
        self.wake = getattr(deps, "outbox_wakeup", None) or asyncio.Event()
        self._next_free: dict[str, float] = {}  # channel → monotonic time it may be posted to again
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._ticking = False  # reading the outbox and claiming: a claimed message has no task yet
        self._stopping = False
        # (connection id, meeting id) → (provider, when its webhook arrived, its request id), from this
        # process's inbox worker: the webhook-to-digest latency of the digest this sender then posts,
        # and the id its lines are logged under. Another replica's sender may post it instead; then
        # that one digest goes unmeasured and logs without the webhook's id.
        self._webhooks: dict[tuple[int, str], tuple[str, datetime, str | None]] = {}

    def note_webhook(self, connection_id: int, meeting_id: str, *, provider: str, received_at: datetime,
                     request_id: str | None = None) -> None:
        if len(self._webhooks) > 10_000:
            self._webhooks.pop(next(iter(self._webhooks)))
        # The latest webhook of a meeting counts: a "started" event before the one that brings
        # its digest must not make the digest look late.
        self._webhooks.pop((connection_id, meeting_id), None)
        self._webhooks[(connection_id, meeting_id)] = (provider, received_at, request_id)

    async def _provider_of(self, connection_id: int) -> str:
        async def load() -> str:
            async with self.deps.db.session() as session:
                connection = await session.get(Connection, connection_id)
            return connection.provider if connection else "-"
        return await self.deps.connections.get(("provider", connection_id), load)

    async def _log_sent(self, message: SlackMessage, *, edited: bool, took: float) -> None:
        noted = self._webhooks.pop((message.connection_id, message.meeting_id), None) \
            if message.kind == MessageKind.DIGEST else None
        provider = noted[0] if noted else await self._provider_of(message.connection_id)
        latency = ""
        if noted and not edited:
            seconds = (utcnow() - _aware(noted[1])).total_seconds()
            WEBHOOK_TO_DIGEST_SECONDS.labels(provider=provider).observe(seconds)
            latency = f", {seconds:.2f} s after its webhook"
        level = logging.INFO if message.kind == MessageKind.DIGEST else logging.DEBUG
        log.log(level, "%s %s: team %s, %s meeting %s, channel %s, Slack answered in %.0f ms%s",
                message.kind, "edited" if edited else "posted", message.team_id, provider, message.meeting_id,
                message.channel, took * 1000, latency)

    async def _retry(self, message: SlackMessage, error: str) -> None:
        state = await outbox.retry_later(self.deps.db, message, delay=backoff_delay(message.attempts), error=error)
        SLACK_POSTS.labels(result="dead" if state == MessageState.DEAD else "retry").inc()
        self._log_failure(message, error, dead=state == MessageState.DEAD)

    def _log_failure(self, message: SlackMessage, reason: str, *, dead: bool) -> None:
        what = f"{message.kind} for team {message.team_id}, meeting {message.meeting_id}, channel {message.channel}"
        if dead:
            log.error("gave up on the %s after %d attempts: %s; `/meetings status` shows it", what, message.attempts,
                      reason)
        else:
            log.warning("attempt %d to send the %s failed: %s; retrying later", message.attempts, what, reason)

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        while not self._stopping:
            # Cleared before the outbox is read, so a wake-up that comes during the read is kept.
            self.wake.clear()
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=pause)

    def busy(self) -> bool:
        """Reading the outbox or sending a message right now."""
        return self._ticking or bool(self._tasks)

    def _blocked(self, now: float) -> set[str]:
        # A channel that frees up within one interval may be claimed already: its send reads what
        # it needs from the database first and then waits for the channel (see _send), so the
        # database work is not added to the pace.
        horizon = now + self.channel_interval
        return self._busy | {channel for channel, free in self._next_free.items() if free > horizon}

    async def tick(self) -> float:
        """Start sends for every channel that may post now; return how long to sleep."""
        now = time.monotonic()
        started: set[str] = set()
        if len(self._tasks) < self.max_in_flight:
            for message in await outbox.due(self.deps.db, skip_channels=self._blocked(now)):
                if message.channel in started or message.channel in self._busy:
                    continue  # one at a time per channel: order and pace
                assert message.id is not None, "read from the outbox"
                claimed = await outbox.claim(self.deps.db, message.id, lease=self.lease)
                if claimed is None:
                    continue  # another replica took it
                started.add(claimed.channel)
                assert claimed.id is not None, "read from the outbox"
                self.claimed.add(claimed.id)
                self._busy.add(claimed.channel)
                task = asyncio.get_running_loop().create_task(self._send(claimed))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                if len(self._tasks) >= self.max_in_flight:
                    break
        if len(self._tasks) >= self.max_in_flight:
            return self.max_sleep  # each send that finishes wakes the sender
        blocked = self._blocked(time.monotonic())
        horizon = now + self.channel_interval
        waits = [free - horizon for channel, free in self._next_free.items()
                 if free > horizon and channel not in self._busy]
        # Asleep until the earliest retry (or another replica's lease) comes due, a paced channel
        # frees up, or something wakes the sender (a new message, a finished send); never a poll
        # a second of an idle outbox.
        # While sends are starting, each one that finishes wakes the sender again: the query for
        # the next due time (a second statement per tick, on SQLite's one connection) is only
        # worth it once a tick finds nothing to start.
        due_at = None if started else await outbox.next_due_at(self.deps.db, skip_channels=blocked)
        if due_at is not None:
            waits.append((due_at - utcnow()).total_seconds())
        return max(0.01, min([*waits, self.max_sleep]))

    async def _send(self, message: SlackMessage) -> None:
        db = self.deps.db
        channel = message.channel
        pause = self.channel_interval
        TEAM.set(message.team_id)
        if noted := self._webhooks.get((message.connection_id, message.meeting_id)):
            REQUEST_ID.set(noted[2])  # this task's lines join those of the webhook that made the message
        answered: float | None = None
        started = time.monotonic()
        try:
            payload = json.loads(message.payload)
            client = self.deps.slack_client(message.team_id)
            thread_ts = message.thread_ts if message.ts else await outbox.parent_ts(db, message)
            await self._wait_for_channel(channel)
            started = time.monotonic()
            try:
                if message.ts:
                    # A message posted to a user id lives in a DM (D…); chat.update only takes that id.
                    response = await client.chat_update(channel=message.sent_channel or channel, ts=message.ts,
                                                        text=payload["text"], blocks=payload.get("blocks"))
                else:
                    response = await client.chat_postMessage(channel=channel, text=payload["text"],
                                                             blocks=payload.get("blocks"), thread_ts=thread_ts,
                                                             unfurl_links=False, unfurl_media=False)
            finally:
                # Slack counted the post no later than its answer: the pace runs from there, not
                # from after our own bookkeeping below, which would otherwise add up post by post.
                answered = time.monotonic()
            await outbox.sent(db, message, ts=response.get("ts") or message.ts, thread_ts=thread_ts,
                              sent_hash=message.content_hash, sent_channel=response.get("channel"))
            SLACK_POSTS.labels(result="updated" if message.ts else "posted").inc()
            await self._log_sent(message, edited=bool(message.ts), took=answered - started)
        except SlackApiError as exc:
            status = exc.response.status_code
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = data.get("error") or f"HTTP {status}"
            if status == 429:
                retry_after = _retry_after(exc.response.headers)
                pause = max(pause, retry_after)
                log.warning("Slack rate-limited channel %s (team %s): waiting %.0f s", channel, message.team_id,
                            retry_after)
                await outbox.retry_later(db, message, delay=timedelta(seconds=retry_after), error="ratelimited",
                                         count_attempt=False)
                SLACK_POSTS.labels(result="ratelimited").inc()
            elif status >= 500:
                await self._retry(message, error)
            elif error in PERMANENT_ERRORS:
                self._log_failure(message, error, dead=True)
                await outbox.give_up(db, message, error=error)
                SLACK_POSTS.labels(result="dead").inc()
            else:
                await self._retry(message, error)
        except NotInstalled:
            self._log_failure(message, "the app is not installed in this workspace", dead=True)
            await outbox.give_up(db, message, error="not_installed")
            SLACK_POSTS.labels(result="dead").inc()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._retry(message, f"could not reach Slack: {type(exc).__name__}")
        except Exception as exc:
            log.exception("unexpected error sending a message to Slack (team %s)", message.team_id)
            await outbox.retry_later(db, message, delay=backoff_delay(message.attempts),
                                     error=f"unexpected error: {type(exc).__name__}")
        finally:
            self.claimed.discard(message.id)
            self._next_free[channel] = (answered or time.monotonic()) + pause
            self._busy.discard(channel)
            self.wake.set()

    async def _wait_for_channel(self, channel: str) -> None:
        delay = self._next_free.get(channel, 0.0) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def drain(self, timeout: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _retry_after(headers) -> float:
    try:
        return max(float(headers.get("Retry-After") or headers.get("retry-after") or 1), 1.0)
    except (TypeError, ValueError):
        return 1.0
