"""Handling updates from the durable inbox: one person's in the order they were sent, many people at once.

:class:`UpdateInbox` takes what the webhook or :class:`Poller` received, stores it
(:mod:`bot.infra.inbox`) and only then lets the caller acknowledge it. Each person has a queue; one
task per queue works through it in ``update_id`` order, so a person never has two updates in hand at
once, however many are waiting (up to ``concurrency`` people are served at a time). Waiting updates
cost no handler slot. This replaces PTB's update queue and update processor: the Application's
handlers are run with :meth:`telegram.ext.Application.process_update`.

On SQLite only one instance runs (:class:`bot.infra.leader.InstanceLock`), so the queues in memory
are the whole truth: at start-up every unhandled row is queued. On PostgreSQL several instances may
share the inbox; a queue is worked by the instance holding its claim, rows of a queue someone else
holds are left to them, and every few seconds an instance claims queues left without a claimant
(their receiver died: the leader frees the claims of departed instances).

A worker whose queue runs empty keeps its claim for :data:`LINGER_S` before giving it back, woken at
once by a new row for that person, so a person writing several messages pays one claim and one
release (:meth:`UpdateInbox.stop` gives every claim back at once). Behind a webhook the runner sets
the linger to 0: one person's updates may reach any instance there. While a worker is on a queue (in
hand or lingering) and not giving it back, this instance's accepts store that person's rows without
claiming again (they read the queue's other unhandled rows in the same transaction, so another
instance's older row still comes first), and the worker does not give the claim back while such an
accept is in flight. A row another instance stores for a queue this one holds (its claim attempt
fails) is taken up by this instance's next sweep, which looks at every queue it holds but is not
giving back, or when the claim is given back (the release looks for rows left): it waits at most
:data:`SWEEP_S` (plus the rows before it), the bound a row crossing a release has always had.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.context import Services
from bot.infra import inbox
from bot.infra.leader import Leader
from bot.infra.logs import handling
from bot.infra.ratelimit import retry_seconds
from storage.db import on_write

log = logging.getLogger(__name__)

SWEEP_S = 2.0
"""How often an instance on PostgreSQL looks for queues nobody holds (and rows of held ones)."""
LINGER_S = 5.0
"""How long a worker keeps its queue's claim after the queue ran empty (PostgreSQL)."""
MARK_ATTEMPTS = 5
POLL_TIMEOUT_S = 10
POLL_BACKOFF_MAX_S = 30.0
DEPARTED_AFTER_S = 10.0
"""An instance whose database session has been gone this long is dead (a reconnect takes less)."""

# The poller asks for getUpdates by name to get the raw JSON, so one update PTB cannot read does
# not make the whole batch (and every later one) unreadable; PTB warns that a method of that name
# exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)


@dataclass
class _Ticket:
    """The update in hand: marked handled by its first writing unit of work, while it is open."""

    inbox: UpdateInbox
    update_id: int
    open: bool = True
    marking: bool = False
    marked: bool = False

    async def before_commit(self, session: AsyncSession) -> None:
        if not self.open or self.marked:
            return
        if not await inbox.mark_handled(session, self.update_id, now=self.inbox.services.clock.now()):
            raise inbox.UpdateTakenOver(self.update_id)
        self.marking = True

    def committed(self) -> None:
        if self.marking:
            self.marked = True


class UpdateInbox:
    """Stores updates before they are acknowledged, then handles them per person in order."""

    def __init__(self, application: Application, *, concurrency: int = 64, linger: float = LINGER_S) -> None:
        self.application = application
        self.services: Services = application.bot_data["services"]
        self.shared = self.services.db.is_postgres
        self.linger = linger
        self._queues: dict[int, deque[inbox.Stored | inbox.Received]] = {}
        self._queued: set[int] = set()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._resting: set[int] = set()  # lingering with the claim, nothing queued or in hand
        self._releasing: set[int] = set()  # giving the claim back: an accept must claim again
        self._arriving: dict[int, int] = {}  # accepts in flight that rely on the claim held
        self._reads: dict[int, set[int]] = {}  # per read in flight: the ids handled meanwhile
        self._read_ids = itertools.count()
        self._slots = asyncio.Semaphore(concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._sweeper: asyncio.Task[None] | None = None
        self.started = False
        # Leader bookkeeping: when each claimant instance was first seen without a session.
        self.absent: dict[str, float] = {}

    # -- receiving ---------------------------------------------------------------------------

    async def accept(self, received: Sequence[inbox.Received]) -> int:
        """Store a batch in one transaction and queue what was new; returns how many were new.

        Raises when the database does not take the batch: then nothing may be acknowledged. On
        PostgreSQL the same transaction claims the batch's queues (or keeps the claims this instance
        has) and reads their unhandled rows, another instance's older rows first; a queue another
        instance holds is left to it. A queue a worker of this instance is on needs no claim: its rows
        are stored and read in one statement.
        """
        now, instance = self.services.clock.now(), self.services.instance
        taking = self.shared and self.started and not self._stopping
        batch = {item.queue for item in received} if taking else set()
        # A queue a worker of ours is on, and not giving back, is held: no claim to write. Every
        # other queue is claimed, also one whose worker is giving its claim back right now (a row
        # read here without a claim would then be worked on while nobody holds the queue).
        held = {queue for queue in batch if queue in self._workers and queue not in self._releasing}
        queues = batch - held
        for queue in held:
            self._arriving[queue] = self._arriving.get(queue, 0) + 1

        async def work(session: AsyncSession) -> tuple[set[int], list[inbox.Stored]]:
            if held:  # one statement when every queue is held (a person writing again)
                fresh, rows = await inbox.store_reading(session, received, held, now=now)
            else:
                fresh, rows = await inbox.store(session, received, now=now), []
            return fresh, rows + await inbox.claim(session, queues, instance=instance, now=now)

        try:
            with self._reading() as handled:
                fresh, rows = await self.services.db.run(work)
            new = sorted(
                (item for item in received if item.update_id in fresh), key=lambda item: item.update_id
            )
            if not self.started or self._stopping:
                return len(new)  # stored: handled at the next start (or by another instance)
            if not self.shared:
                self._enqueue(new)
                return len(new)
            in_hand = {item.update_id: item for item in new}
            rows = sorted(
                (row for row in rows if row.update_id not in handled), key=lambda row: row.update_id
            )
            self._enqueue([in_hand.get(row.update_id, row) for row in rows])
            return len(new)
        finally:
            for queue in held:
                self._arriving[queue] -= 1
                if not self._arriving[queue]:
                    del self._arriving[queue]
                if queue in self._wake:
                    self._wake[queue].set()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[set[int]]:
        """The ids this instance handles while rows are read: a read that began before their
        handling was committed may still hold them, and they are not queued again."""
        key = next(self._read_ids)
        handled: set[int] = set()
        self._reads[key] = handled
        try:
            yield handled
        finally:
            del self._reads[key]

    def _enqueue(self, items: Sequence[inbox.Stored | inbox.Received]) -> None:
        for item in items:
            if item.update_id in self._queued:
                continue
            self._queued.add(item.update_id)
            pending = self._queues.setdefault(item.queue, deque())
            # In update_id order behind the one in hand (the head), whatever order they came in.
            at = len(pending)
            while at > 1 and pending[at - 1].update_id > item.update_id:
                at -= 1
            pending.insert(at, item)
            self._idle.clear()
            self._resting.discard(item.queue)
            if item.queue in self._workers:
                self._wake[item.queue].set()
            else:
                self._wake[item.queue] = asyncio.Event()
                self._workers[item.queue] = asyncio.create_task(
                    self._work(item.queue), name=f"inbox-queue-{item.queue}"
                )

    # -- handling ----------------------------------------------------------------------------

    async def _work(self, queue: int) -> None:
        try:
            while not self._stopping:
                pending = self._queues.get(queue)
                while pending and not self._stopping:
                    item = pending[0]
                    async with self._slots:
                        await self._handle(item)
                    pending.popleft()
                    self._queued.discard(item.update_id)
                    for handled in self._reads.values():
                        handled.add(item.update_id)
                if self._stopping or not self.shared:
                    return
                if await self._linger(queue):
                    continue
                if not await self._keep_claim(queue):
                    return
        except Exception:
            log.exception("the inbox queue worker stopped; its rows wait for the next start")
        finally:
            self._workers.pop(queue, None)
            self._wake.pop(queue, None)
            self._resting.discard(queue)
            for item in self._queues.pop(queue, ()):
                self._queued.discard(item.update_id)
            self._settle()

    def _settle(self) -> None:
        """Idle when every worker left is lingering: nothing queued or in hand."""
        if self._resting.issuperset(self._workers):
            self._idle.set()
        else:
            self._idle.clear()

    async def _linger(self, queue: int) -> bool:
        """Queue empty (PostgreSQL): keep the claim a while; True when rows came (or we stop), False
        when it is time to give it back (no accept relying on the claim is in flight)."""
        wake = self._wake[queue]
        while True:
            wake.clear()
            if self._queues.get(queue) or self._stopping:
                return True
            self._resting.add(queue)
            self._settle()
            try:
                async with asyncio.timeout(self.linger):
                    await wake.wait()
            except TimeoutError:
                if not self._arriving.get(queue) and not self._queues.get(queue):
                    self._releasing.add(queue)  # before any await: later accepts claim again
                    return False

    async def _keep_claim(self, queue: int) -> bool:
        """Give the claim back, or keep it when rows came meanwhile."""
        instance, now = self.services.instance, self.services.clock.now()
        self._resting.discard(queue)
        self._releasing.add(queue)
        self._settle()
        try:
            rows = await self.services.db.run(
                lambda session: inbox.release_claim(session, queue, instance=instance, now=now)
            )
            pending = self._queues.get(queue)
            if rows:
                self._enqueue(rows)
                return True
            if not pending:
                return False
            # Accepted while the claim was being given back: claim again, or leave them to whoever won.
            self._queues.pop(queue, None)
            for item in pending:
                self._queued.discard(item.update_id)
            claimed = await self.services.db.run(
                lambda session: inbox.claim(session, [queue], instance=instance, now=now)
            )
            in_hand = {item.update_id: item for item in pending}
            self._queues[queue] = deque()
            for row in claimed:
                self._queued.add(row.update_id)
                self._queues[queue].append(in_hand.get(row.update_id, row))
            return bool(claimed)
        finally:
            self._releasing.discard(queue)

    async def _handle(self, item: inbox.Stored | inbox.Received) -> None:
        update: Update | None
        if isinstance(item, inbox.Received):
            update = item.update
        else:
            update = None if item.body is None else inbox.read_body(item.body, self.application.bot)
        ticket = _Ticket(self, item.update_id)
        with handling(item.update_id):
            if update is None:
                log.warning("stored update %s can no longer be read; dropped", item.update_id)
            else:
                with on_write(ticket):
                    try:
                        await self.application.process_update(update)
                    except Exception as error:  # PTB gives handler errors to on_error; this is anything else
                        kind = type(error).__name__
                        log.error("update %s failed outside its handlers: %s", item.update_id, kind)
                    finally:
                        ticket.open = False
            if not ticket.marked:
                await self._mark(item.update_id)

    async def _mark(self, update_id: int) -> None:
        now = self.services.clock.now()
        try:
            await self.services.db.run(
                lambda session: inbox.mark_handled(session, update_id, now=now), attempts=MARK_ATTEMPTS
            )
        except Exception as error:
            # Left unhandled: handled again at the next start (a reply may come twice; nothing was written).
            log.error("could not mark update %s handled: %s", update_id, type(error).__name__)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue what an earlier run stored but did not handle, then take new updates."""
        if self.started:
            return
        self.started = True
        self._stopping = False
        if not self.shared:
            rows = await self.services.db.run(lambda session: inbox.unhandled(session))
            if rows:
                log.info("handling %d updates stored before the restart", len(rows))
            self._enqueue(rows)
            return
        instance = self.services.instance
        # Claims in this instance's name are a previous life's (a restart under the same name).
        await self.services.db.run(lambda session: inbox.release_claims(session, [instance]))
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="inbox-sweep")

    async def sweep(self) -> None:
        """Claim queues with rows and no claimant, and take up the rows of queues this instance
        holds and is not giving back (PostgreSQL): rows another instance stored while this one
        held the queue (in hand or lingering), or of a queue whose worker stopped on an error."""
        instance, now = self.services.instance, self.services.clock.now()
        releasing = set(self._releasing)
        workers = dict(self._workers)
        # Every queue with a worker may come back (none is left out by the limit for that).
        limit = 200 + len(workers)

        async def work(session: AsyncSession) -> list[inbox.Stored]:
            rows = await inbox.claim_orphans(session, instance=instance, now=now, limit=200)
            return rows + await inbox.held_without_worker(
                session, instance=instance, working=releasing, limit=limit
            )

        with self._reading() as handled:
            rows = await self.services.db.run(work)
        # Not a queue whose worker gave its claim back meanwhile (or is giving it back now).
        gone = {queue for queue, task in workers.items() if self._workers.get(queue) is not task}
        gone |= self._releasing
        self._enqueue(
            sorted(
                (
                    row
                    for row in rows
                    if row.update_id not in self._queued
                    and row.update_id not in handled
                    and row.queue not in gone
                ),
                key=lambda row: row.update_id,
            )
        )

    async def _sweep_loop(self) -> None:
        while not self._stopping:
            try:
                await self.sweep()
            except Exception as error:
                log.warning("could not look for unclaimed updates: %s", type(error).__name__)
            await asyncio.sleep(SWEEP_S)

    async def idle(self) -> None:
        """Wait until nothing is queued or in hand."""
        await self._idle.wait()

    @property
    def busy(self) -> bool:
        """Something queued or in hand (a worker lingering with its claim is not busy)."""
        return not self._resting.issuperset(self._workers)

    async def stop(self) -> None:
        """Finish the updates in hand, leave the queued ones in the database, give back the claims
        (a lingering worker's too, at once)."""
        if not self.started:
            return
        self._stopping = True
        self.started = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for wake in self._wake.values():
            wake.set()  # lingering workers end at once; their claims are given back below
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        if self.shared:
            instance = self.services.instance
            with contextlib.suppress(Exception):
                await self.services.db.run(
                    lambda session: inbox.release_claims(session, [instance]), attempts=1
                )


class Poller:
    """Long polling that stores every batch before asking for the next one (which confirms it)."""

    def __init__(
        self,
        application: Application,
        updates: UpdateInbox,
        *,
        allowed_updates: Sequence[str],
        timeout: int = POLL_TIMEOUT_S,
    ) -> None:
        self.application = application
        self.updates = updates
        self.allowed_updates = list(allowed_updates)
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        await self.application.bot.delete_webhook()
        self._task = asyncio.create_task(self._run(), name="poller")

    async def stop(self) -> None:
        """Stop asking; whatever was fetched but not stored is fetched again by the next poll."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        try:
            await self._poll()
        except Exception:
            log.exception("polling stopped")
            raise

    async def _poll(self) -> None:
        offset: int | None = None
        backoff = 1.0
        while True:
            try:
                batch = await self._fetch(offset)
            except InvalidToken:
                log.error("Telegram refused the token while polling; polling stopped")
                return
            except RetryAfter as error:
                await asyncio.sleep(retry_seconds(error))
                continue
            except (TelegramError, OSError, ValueError) as error:
                log.warning("getUpdates failed (%s); trying again in %.0f s", type(error).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, POLL_BACKOFF_MAX_S)
                continue
            backoff = 1.0
            if not batch:
                continue
            received, last = self._read(batch)
            await self._store(received)
            offset = last + 1

    async def _fetch(self, offset: int | None) -> list[Any]:
        kwargs: dict[str, Any] = {"timeout": self.timeout, "allowed_updates": self.allowed_updates}
        if offset is not None:
            kwargs["offset"] = offset
        result = await self.application.bot.do_api_request(
            "getUpdates", api_kwargs=kwargs, read_timeout=self.timeout + 5
        )
        if not isinstance(result, list):
            raise ValueError("getUpdates did not answer with a list")
        return result

    def _read(self, batch: list[Any]) -> tuple[list[inbox.Received], int]:
        received: list[inbox.Received] = []
        last = -1
        for data in batch:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if isinstance(update_id, int) and not isinstance(update_id, bool):
                last = max(last, update_id)
            item = inbox.parse_update(data, self.application.bot)
            if item is None:
                log.warning("update %s from getUpdates could not be read; skipped", update_id)
            else:
                received.append(item)
        if last < 0:
            raise ValueError("a getUpdates batch without update ids")
        return received, last

    async def _store(self, received: list[inbox.Received]) -> None:
        """Store the batch, however long the database takes: the offset waits for it."""
        delay = 0.5
        while True:
            try:
                await self.updates.accept(received)
                return
            except Exception as error:
                log.warning("could not store %d updates (%s); retrying", len(received), type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_BACKOFF_MAX_S)


PRUNE_EVERY_S = 3600.0


async def prune_job(services: Services, bot: Any, now: Any) -> None:
    """Leader duty: forget handled update ids older than :data:`inbox.KEEP_HANDLED`, hourly."""
    last = services.updates_pruned_at
    if last is not None and (now - last).total_seconds() < PRUNE_EVERY_S:
        return
    services.updates_pruned_at = now
    removed = await services.db.run(lambda session: inbox.prune(session, before=now - inbox.KEEP_HANDLED))
    if removed:
        log.info("forgot %d handled update ids older than 48 hours", removed)


async def release_departed_queues(services: Services, bot: Any, now: Any) -> None:
    """Leader duty (PostgreSQL): the inbox queues claimed by an instance that died are freed, so the
    next sweep of a live instance handles their rows (the dead one's uncommitted work is redone)."""
    leader = services.leader
    updates = services.updates
    if not services.db.is_postgres or not isinstance(leader, Leader) or not leader.leading or updates is None:
        return
    names = await services.db.run(inbox.claimants) - {services.instance}
    live = await leader.live_instances(names) if names else set()
    absent = updates.absent
    for name in list(absent):
        if name in live or name not in names:
            del absent[name]
    checked = time.monotonic()
    gone = [
        name
        for name in sorted(names - live)
        if checked - absent.setdefault(name, checked) >= DEPARTED_AFTER_S
    ]
    if gone:
        released = await services.db.run(lambda session: inbox.release_claims(session, gone))
        log.warning("instances %s have gone; %d people's updates are handled here", ", ".join(gone), released)
        for name in gone:
            absent.pop(name, None)
