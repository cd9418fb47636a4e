"""Background work of a running server: the inbox worker, the Slack sender and the scheduled jobs.

Started and stopped by the web app's lifespan. SQLite runs one process, so at start-up every
claim it held when it died is released at once; on PostgreSQL claims expire with their lease,
so replicas never take each other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery import digests, inbox, outbox
from bot.delivery.sender import Sender
from bot.jobs.scheduler import RECONCILE_EVERY, start_scheduler
from bot.logging_setup import REQUEST_ID, TEAM
from bot.metrics import INBOX
from bot.providers.base import AuthError, NotReady, ProviderError
from bot.store.models import InboxEvent
from bot.store.states import InboxStatus

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, deps, *, concurrency: int = 8, poll_seconds: float = 1.0,
                 reconcile_every: timedelta = RECONCILE_EVERY, channel_interval: float = 1.0,
                 lease: timedelta = inbox.LEASE) -> None:
        self.deps = deps
        # A claim lasts `lease` and is renewed every third of it while the event is worked on, so
        # a slow provider never loses its claim, and a replica that dies holds its events for at
        # most one lease before another replica takes them.
        self.lease = lease
        self._held: set[int] = set()
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.reconcile_every = reconcile_every
        self.sender = Sender(deps, channel_interval=channel_interval, lease=lease)
        self._running: set[asyncio.Task] = set()
        self._claiming = False  # between the claim and the tasks for what it took
        self._loops: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        if self.deps.db.engine.dialect.name == "sqlite":
            released = await inbox.release_all_claims(self.deps.db)
            await outbox.release_all_claims(self.deps.db)
            if released:
                log.info("resuming %d webhook events left unfinished by the last run", released)
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._inbox_loop(), name="inbox"),
                       loop.create_task(self.sender.run(), name="slack-sender"),
                       loop.create_task(self._heartbeat_loop(), name="inbox-heartbeat")]
        self._scheduler = start_scheduler(self.deps, reconcile_every=self.reconcile_every)

    async def stop(self) -> None:
        """Let the loops finish what they are doing and leave at their next wait. Cancelling them
        mid-query can leave a database connection stuck, so that is only the last resort."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        self._stopping.set()
        self.sender.stop()
        self.deps.inbox_wakeup.set()
        if self._running:
            await asyncio.wait(set(self._running), timeout=10)
        # After the inbox tasks, which may ask for a read: reads of new workspaces' directories
        # outlive the events that started them, so they are stopped here (bot/jobs/directory.py).
        await self.deps.directory_reads.stop()
        await self.sender.drain()
        if self._loops:
            _done, pending = await asyncio.wait(self._loops, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._loops, return_exceptions=True)

    async def idle(self, *, timeout: float = 30.0, interval: float = 0.02) -> None:
        """Return once there is nothing to do right now: no webhook event due or being processed, no
        Slack message due or being sent, no member directory being read in the background (nor the
        work waiting for it). Work scheduled for later (a retry after a backoff, notes that are not
        ready yet) does not count. Lets a test assert that nothing else happens.
        Raises TimeoutError if the work never stops within `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not await self._idle_now():
                await asyncio.sleep(interval)

    def _busy(self) -> bool:
        return self._claiming or bool(self._running) or self.sender.busy() or self.deps.directory_reads.busy()

    async def _idle_now(self) -> bool:
        if self._busy() or await inbox.has_due(self.deps.db) or await outbox.has_due(self.deps.db):
            return False
        return not self._busy()  # nothing started while the database was asked

    async def _inbox_loop(self) -> None:
        wake = self.deps.inbox_wakeup
        while not self._stopping.is_set():
            try:
                self._claiming = True
                free = self.concurrency - len(self._running)
                events = await inbox.claim(self.deps.db, limit=free, lease=self.lease) if free > 0 else []
                for event in events:
                    task = asyncio.get_running_loop().create_task(self._process(event))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
            except Exception:
                log.exception("the inbox worker could not read the inbox; trying again shortly")
                events = []
            finally:
                self._claiming = False
            if events and len(self._running) < self.concurrency and not self._stopping.is_set():
                continue  # more may be due right away
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.poll_seconds)

    @asynccontextmanager
    async def _heartbeat(self, event: InboxEvent) -> AsyncIterator[None]:
        assert event.id is not None, "claimed from the inbox"
        self._held.add(event.id)
        try:
            yield
        finally:
            self._held.discard(event.id)

    async def _heartbeat_loop(self) -> None:
        every = self.lease.total_seconds() / 3
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=every)
            if self._stopping.is_set():
                break
            try:
                if self._held:
                    await inbox.extend_claims(self.deps.db, sorted(self._held), lease=self.lease)
                if self.sender.claimed:
                    await outbox.extend_claims(self.deps.db, sorted(self.sender.claimed), lease=self.lease)
            except Exception as exc:  # the next beat tries again; the lease has room for two misses
                log.warning("could not renew the inbox and outbox claims: %s", type(exc).__name__)

    async def _process(self, event: InboxEvent) -> None:
        assert event.id is not None, "claimed from the inbox"
        TEAM.set(event.team_id)  # this task's own context: every line it logs names the workspace
        # ... and the webhook's request id, so its processing, retries and dead letter join the line of
        # the request that brought it. An event stored before migration 0012 has none: its inbox id.
        request_id = event.request_id or f"inbox-{event.id}"
        REQUEST_ID.set(request_id)
        db = self.deps.db
        if event.meeting_id:
            # Noted before processing: the digest may be posted before processing ends.
            self.sender.note_webhook(event.connection_id, event.meeting_id, provider=event.provider,
                                     received_at=event.received_at, request_id=request_id)
        try:
            async with self._heartbeat(event):
                note = await digests.process(event, self.deps)
        except NotReady as exc:
            status = await inbox.later(db, event, delay=timedelta(seconds=exc.retry_after), note=exc.message)
            INBOX.labels(result=status).inc()
        except AuthError as exc:
            await self._failed(event, f"the provider rejected the API key ({exc.code or exc.status})")
        except ProviderError as exc:
            await self._failed(event, f"{type(exc).__name__}: {exc.message}")
        except Exception as exc:
            log.exception("processing inbox event %s failed", event.id)
            await self._failed(event, f"unexpected error: {type(exc).__name__}")
        else:
            await inbox.finish(db, event.id, note=note)
            INBOX.labels(result="done").inc()
            self.sender.wake.set()
        finally:
            self.deps.inbox_wakeup.set()  # a slot is free

    async def _failed(self, event: InboxEvent, reason: str) -> None:
        status = await inbox.fail(self.deps.db, event, reason)
        INBOX.labels(result=status).inc()
        where = f"{event.provider} event {event.event_type} (inbox {event.id}, meeting {event.meeting_id or '-'})"
        if status == InboxStatus.DEAD:
            log.error("gave up on %s after %d attempts: %s; `meetings-bot inbox retry %s` tries again",
                      where, event.attempts, reason, event.id)
        else:
            log.warning("attempt %d of %d failed for %s: %s; retrying later", event.attempts,
                        inbox.MAX_ATTEMPTS, where, reason)
