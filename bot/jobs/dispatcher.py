"""The outbox dispatcher: claims due deliveries and reminders, sends them, records what Telegram said.

A tick (PTB's JobQueue, every :data:`TICK_INTERVAL_S`; nothing kept in memory matters) does
(a) housekeeping while this instance leads (``Services.is_leader``): stale claims back, closed
windows expired; and (b) claims due rows, sends them paced as bulk traffic, and records each result
as soon as Telegram answers. (b) is safe on every instance at once. What a claim is, what happens
after a crash and what each answer of Telegram means: :mod:`bot.jobs.claims`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.context import services_of
from bot.domain.planning import PlanResult
from bot.domain.states import DeliveryKind, DeliveryState
from bot.infra.ratelimit import retry_seconds
from bot.infra.transport import Fate, Wire, fate, watch_wire
from bot.jobs.claims import (
    AMBIGUOUS_PAUSE,
    BATCH_DEADLINE_S,
    CLAIM_LEASE,
    ClaimedReminder,
    claim_prompts,
    claim_reminders,
    expire_closed,
    record_ambiguous,
    record_failures,
    record_retry,
    record_skipped,
    record_unreachable,
    release_dead_claims,
    release_unsent,
    retry_backoff,
)
from bot.jobs.outgoing import Claimed, Outgoing, markup, prepare
from bot.jobs.recorder import Recorder
from bot.services.outbox import replan_process
from messages import Catalog
from storage.models import Process

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.context import Ctx, Services

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 2.0
TICK_BUDGET_S = 30.0
"""One tick keeps claiming batches for at most this long, then lets the next tick carry on."""
TROUBLE_PAUSE = timedelta(seconds=30)
UNREACHABLE_MARKERS = ("chat not found", "user not found", "bot was blocked", "user is deactivated")


def in_flight_limit(broadcast_rate: float) -> int:
    """How many chats are served at once: enough to keep the paced rate with real network latency,
    few enough that a crash leaves only a handful of requests in doubt."""
    return max(2, min(16, math.ceil(broadcast_rate / 5)))


def batch_size(broadcast_rate: float) -> int:
    """Rows claimed at a time: about two seconds' worth at the paced rate."""
    return max(20, min(500, int(broadcast_rate * 2)))


@dataclass
class TickReport:
    """What one tick (or the start-up recovery) did; tests and logs read it."""

    leader: bool = False
    sent: int = 0
    reminded: int = 0
    failed: int = 0
    unreachable: int = 0
    retried: int = 0
    released: int = 0
    skipped: int = 0
    recovered: int = 0
    expired: int = 0
    planned: int = 0


Outcome = Literal["sent", "failed", "unreachable", "retry", "halt"]


class Dispatcher:
    """Claims due deliveries and reminders, sends them, records what Telegram said.

    ``await dispatcher.tick()`` runs one tick now (tests drive it with a fake clock); the JobQueue
    calls it every :data:`TICK_INTERVAL_S` while :attr:`auto` is true, skipping a run while one is in
    progress. ``last_tick`` (monotonic seconds) is what ``/healthz`` watches.
    """

    def __init__(self, application: Application, *, interval: float = TICK_INTERVAL_S) -> None:
        self.application = application
        self.services: Services = services_of(application.bot_data)
        self.interval = interval
        self.auto = True
        self.closed = False
        self.last_tick: float | None = None
        self.quiet_until: datetime | None = None
        """After a send that was not made, refused by a 5xx or in doubt, no sending until then: in an
        outage one send per :data:`TROUBLE_PAUSE` meets it, not one per tick."""
        self._lock = asyncio.Lock()
        self._was_running = False
        rate = self.services.settings.broadcast_rate
        self.in_flight = in_flight_limit(rate)
        self.batch = batch_size(rate)
        self._recorder = Recorder(self.services.db)

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    @property
    def instance(self) -> str:
        return self.services.instance

    async def start(self, application: Application) -> None:
        """Start hook: recover what a previous run left behind, then tick on the JobQueue."""
        try:
            report = await self.recover()
        except Exception as error:
            log.error("start-up recovery of the outbox failed: %s", type(error).__name__, exc_info=error)
        else:
            if report.recovered or report.expired or report.planned:
                log.info(
                    "outbox recovered: %d claims returned, %d expired, %d re-planned",
                    report.recovered,
                    report.expired,
                    report.planned,
                )
        job_queue = application.job_queue
        if job_queue is None:
            log.error("no JobQueue (install python-telegram-bot[job-queue]); prompts will not be sent")
            return
        job_queue.run_repeating(
            self._scheduled,
            interval=self.interval,
            first=min(1.0, self.interval),
            name="dispatcher",
            # A second instance of the job only finds the tick busy and returns; allowing it keeps
            # APScheduler from logging a skipped run every two seconds during a long broadcast.
            job_kwargs={"max_instances": 2, "coalesce": True},
        )

    async def stop(self, application: Application) -> None:
        """Stop hook: no tick claims anything after shutdown."""
        self.closed = True

    async def _scheduled(self, context: Ctx) -> None:
        if not self.auto or self.closed or self._lock.locked():
            return
        try:
            await self.tick()
        except Exception as error:
            log.error("dispatcher tick failed: %s", type(error).__name__, exc_info=error)

    def _stopping(self) -> bool:
        if self.services.stopping.is_set():
            return True
        return self.closed or (self._was_running and not self.application.running)

    async def tick(self) -> TickReport:
        """(a) housekeeping if leading (stale claims, closed windows), (b) send due prompts and reminders.

        The leader's other duties (digests, retention…) are jobs of their own (:mod:`bot.jobs.duties`),
        so they never hold this lock."""
        async with self._lock:
            self.last_tick = time.monotonic()
            self._was_running = self.application.running
            report = TickReport()
            report.leader = await self.services.is_leader()
            if report.leader:
                await self._housekeeping(report)
            if self.quiet_until is not None and self.services.clock.now() < self.quiet_until:
                return report  # Telegram was out of reach or in doubt a moment ago: let it recover
            self.quiet_until = None
            try:
                await self._send_due(report, DeliveryKind.PROMPT)
                await self._send_due(report, DeliveryKind.REMINDER)
            finally:
                self.last_tick = time.monotonic()
            return report

    async def recover(self) -> TickReport:
        """Start-up: return dead claims, expire what closed, re-plan running processes so overdue
        prompts whose window is still open go out now (capped and out of quiet hours)."""
        db, now = self.services.db, self.services.clock.now()
        report = TickReport()
        own = None if db.is_sqlite else self.instance
        report.recovered = await db.run(
            lambda s: release_dead_claims(s, now=now, instance=own, lease=CLAIM_LEASE)
        )
        report.leader = await self.services.is_leader()
        if not report.leader:
            return report
        report.expired = await db.run(lambda s: expire_closed(s, now=now))

        async def running(session: AsyncSession) -> list[int]:
            return list(
                await session.scalars(select(Process.id).where(Process.end_at > now).order_by(Process.id))
            )

        for process_id in await db.run(running):

            async def work(session: AsyncSession, process_id: int = process_id) -> PlanResult:
                process = await session.get(Process, process_id)
                return await replan_process(session, process, now) if process else PlanResult()

            result = await db.run(work)
            report.planned += result.moved
            report.expired += result.expired
        return report

    async def _housekeeping(self, report: TickReport) -> None:
        db, now = self.services.db, self.services.clock.now()
        report.recovered += await db.run(
            lambda s: release_dead_claims(s, now=now, instance=None, lease=CLAIM_LEASE, all_rows=False)
        )
        report.expired += await db.run(lambda s: expire_closed(s, now=now))
        if report.expired:
            self.services.metrics.deliveries.labels(state=DeliveryState.EXPIRED).inc(report.expired)

    async def _send_due(self, report: TickReport, kind: DeliveryKind) -> None:
        """Claim due rows a batch at a time and send them until none are due (or the tick's budget
        is spent, or sending must pause). The next batch is claimed while the last chats of the
        current one are still being served, so the paced rate has no gaps between batches."""
        run = _SendingRun(
            report,
            claim=lambda: self._claim_batch(kind, self.services.clock.now()),
            send=lambda item: self._send_one(item, report),
            release=self._release,
            stopping=self._stopping,
            in_flight=self.in_flight,
            batch=self.batch,
        )
        await run.refill()
        if run.queue:
            await run.serve()

    async def _claim_batch(self, kind: DeliveryKind, now: datetime) -> Claimed:
        db = self.services.db
        claim = claim_prompts if kind == DeliveryKind.PROMPT else claim_reminders

        async def work(session: AsyncSession) -> Claimed:
            ids = await claim(
                session, now=now, instance=self.instance, limit=self.batch, postgres=db.is_postgres
            )
            if not ids:
                return Claimed(0, [], 0)
            outgoing, broken, skipped = await prepare(session, self.catalog, ids, kind)
            if broken:
                await record_failures(session, kind, broken)
            if skipped:
                await record_skipped(session, skipped)
            return Claimed(len(ids), outgoing, len(broken), len(skipped))

        claimed = await db.run(work)
        if claimed.skipped:
            self.services.metrics.deliveries.labels(state=DeliveryState.SKIPPED).inc(claimed.skipped)
        return claimed

    async def _release(self, items: Sequence[Outgoing]) -> int:
        """Give back claims never handed to Telegram."""
        prompts = [item.delivery_id for item in items if item.kind == DeliveryKind.PROMPT]
        reminders = [
            ClaimedReminder(item.delivery_id, item.reminded_at)
            for item in items
            if item.kind == DeliveryKind.REMINDER
        ]
        return await self.services.db.run(
            lambda s: release_unsent(s, prompts=prompts, reminders=reminders, instance=self.instance)
        )

    async def _send_one(self, item: Outgoing, report: TickReport) -> Outcome:
        with watch_wire() as wire:
            try:
                sent = await self.application.bot.send_message(
                    chat_id=item.chat_id,
                    text=item.message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup(item.message),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    rate_limit_args={"bulk": True},
                )
            except Exception as error:
                return await self._not_taken(item, report, error, wire)
        return await self._taken(item, report, sent.message_id)

    async def _taken(self, item: Outgoing, report: TickReport, message_id: int | None) -> Outcome:
        metrics = self.services.metrics
        await self._recorder.record(item, message_id, self.services.clock.now())
        self.last_tick = time.monotonic()  # progress during a long broadcast is liveness too
        if item.kind == DeliveryKind.PROMPT:
            report.sent += 1
            metrics.deliveries.labels(state=DeliveryState.SENT).inc()
        else:
            report.reminded += 1
            metrics.deliveries.labels(state="reminded").inc()
        return "sent"

    async def _not_taken(self, item: Outgoing, report: TickReport, error: Exception, wire: Wire) -> Outcome:
        """What a failed send means (:func:`bot.infra.transport.fate`, the rules in bot.jobs.claims)."""
        metrics = self.services.metrics
        if isinstance(error, RetryAfter):
            seconds = retry_seconds(error)
            log.warning("Telegram asked to pause for %.0f s; delivery %d waits", seconds, item.delivery_id)
            await self._retry_later(
                item, self.services.clock.now() + timedelta(seconds=seconds), counts=False
            )
            report.retried += 1
            metrics.deliveries.labels(state="retry_after").inc()
            return "halt"
        if isinstance(error, Forbidden):
            return await self._unreachable(item, report, error)
        if isinstance(error, BadRequest):
            if any(marker in error.message.lower() for marker in UNREACHABLE_MARKERS):
                return await self._unreachable(item, report, error)
            log.warning("Telegram refused delivery %d: %s", item.delivery_id, error.message[:120])
            failure = (item.delivery_id, f"BadRequest: {error.message}")
            await self.services.db.run(lambda s: record_failures(s, item.kind, [failure]))
            report.failed += 1
            metrics.deliveries.labels(state=DeliveryState.FAILED).inc()
            return "failed"
        outcome = fate(error, wire)
        if outcome is Fate.SENT:
            log.warning(
                "delivery %d was sent, but Telegram's answer could not be read (%s)",
                item.delivery_id,
                type(error).__name__,
            )
            metrics.unreadable_answers.inc()
            return await self._taken(item, report, wire.message_id())
        if outcome is Fate.AMBIGUOUS:
            return await self._ambiguous(item, report, error)
        level = logging.WARNING if isinstance(error, TelegramError) else logging.ERROR
        log.log(
            level,
            "could not send delivery %d (%s, %s); it waits",
            item.delivery_id,
            type(error).__name__,
            "nothing was sent" if outcome is Fate.NOT_SENT else "Telegram refused it",
        )
        self.quiet_until = self.services.clock.now() + TROUBLE_PAUSE
        counts = outcome is Fate.REFUSED
        if item.kind == DeliveryKind.REMINDER and not counts:
            await self._release([item])
        else:
            due = self.services.clock.now() + retry_backoff(item.attempts + 1)
            await self._retry_later(item, due, counts=counts)
        report.retried += 1
        metrics.deliveries.labels(state="retry").inc()
        return "halt"

    async def _ambiguous(self, item: Outgoing, report: TickReport, error: Exception) -> Outcome:
        """The request was written and no usable answer came: it may have arrived. Sent once more
        after a pause (a prompt, the first time), never in a loop; a reminder is not repeated."""
        metrics = self.services.metrics
        kind = type(error).__name__
        metrics.ambiguous_sends.labels(what=item.kind).inc()
        self.quiet_until = self.services.clock.now() + TROUBLE_PAUSE
        again = False
        if item.kind == DeliveryKind.PROMPT:
            now = self.services.clock.now()
            again = await self.services.db.run(
                lambda s: record_ambiguous(
                    s, delivery_id=item.delivery_id, instance=self.instance, now=now, error=kind
                )
            )
        if again:
            log.warning(
                "delivery %d may or may not have arrived (%s); sending it once more in %d s",
                item.delivery_id,
                kind,
                AMBIGUOUS_PAUSE.total_seconds(),
            )
            report.retried += 1
            metrics.deliveries.labels(state="ambiguous_retry").inc()
        else:
            log.warning(
                "%s %d may or may not have arrived (%s); not sent again",
                item.kind,
                item.delivery_id,
                kind,
            )
            metrics.deliveries.labels(state=DeliveryState.AMBIGUOUS).inc()
        return "halt"

    async def _retry_later(self, item: Outgoing, due: datetime, *, counts: bool) -> None:
        """A prompt goes back to ``pending`` at ``due``; a reminder is given back only after a 429
        (``counts`` false: nothing was sent), otherwise it is not repeated."""
        if item.kind == DeliveryKind.REMINDER:
            if not counts:
                await self._release([item])
            return
        await self.services.db.run(
            lambda s: record_retry(
                s,
                delivery_id=item.delivery_id,
                attempts=item.attempts,
                instance=self.instance,
                due=due,
                counts=counts,
            )
        )

    async def _unreachable(self, item: Outgoing, report: TickReport, error: TelegramError) -> Outcome:
        log.info("membership %d is unreachable (%s)", item.membership_id, type(error).__name__)
        message = f"{type(error).__name__}: {error.message}"
        await self.services.db.run(
            lambda s: record_unreachable(
                s,
                kind=item.kind,
                delivery_id=item.delivery_id,
                membership_id=item.membership_id,
                error=message,
                instance=self.instance,
            )
        )
        report.unreachable += 1
        self.services.metrics.deliveries.labels(state="unreachable").inc()
        return "unreachable"


class _SendingRun:
    """One tick's sending of prompts (or reminders): a queue of chats fed by claimed batches and
    served by ``in_flight`` workers.

    A chat's messages are sent one after another in programme order, by one worker at a time; a row
    claimed in a later batch for a chat still being served joins that chat's list rather than
    racing it. Rows never handed to Telegram (a pause, stopping, the deadline) are given back.
    """

    def __init__(
        self,
        report: TickReport,
        *,
        claim: Callable[[], Awaitable[Claimed]],
        send: Callable[[Outgoing], Awaitable[Outcome]],
        release: Callable[[Sequence[Outgoing]], Awaitable[int]],
        stopping: Callable[[], bool],
        in_flight: int,
        batch: int,
    ) -> None:
        self.report = report
        self._claim, self._send, self._release = claim, send, release
        self._stopping = stopping
        self.in_flight = in_flight
        self.batch = batch
        self.groups: dict[int, list[Outgoing]] = {}
        self.queue: deque[int] = deque()
        self.leftovers: list[Outgoing] = []
        self.halted = False
        self.exhausted = False
        self.deadline = time.monotonic() + TICK_BUDGET_S
        self._refilling: asyncio.Task[None] | None = None

    def _must_stop(self) -> bool:
        return self.halted or self._stopping()

    async def refill(self) -> None:
        if self.exhausted or self._must_stop() or time.monotonic() > self.deadline:
            self.exhausted = True
            return
        claimed_batch = await self._claim()
        self.report.failed += claimed_batch.broken
        self.report.skipped += claimed_batch.skipped
        if claimed_batch.claimed < self.batch:
            self.exhausted = True
        claimed = time.monotonic()
        for item in claimed_batch.outgoing:
            item.claimed = claimed
            group = self.groups.get(item.chat_id)
            if group is None:
                self.groups[item.chat_id] = [item]
                self.queue.append(item.chat_id)
            else:
                group.append(item)

    def _prefetch(self) -> None:
        """Claim the next batch in the background once fewer chats wait than there are workers."""
        if self.exhausted or len(self.queue) >= self.in_flight:
            return
        if self._refilling is None or self._refilling.done():
            self._refilling = asyncio.create_task(self.refill())

    async def _next_chat(self) -> int | None:
        if not self.queue:
            self._prefetch()
            if self._refilling is not None:
                await self._refilling
        return self.queue.popleft() if self.queue else None

    async def _worker(self) -> None:
        while (chat := await self._next_chat()) is not None:
            group = self.groups[chat]
            index = 0
            while index < len(group):
                item = group[index]
                if self._must_stop() or time.monotonic() - item.claimed > BATCH_DEADLINE_S:
                    self.leftovers.extend(group[index:])
                    break
                self._prefetch()
                outcome = await self._send(item)
                index += 1
                if outcome == "halt":
                    self.halted = True
                    self.leftovers.extend(group[index:])
                    break
                if outcome == "unreachable":
                    # The rest of this chat's claims were cancelled with the membership.
                    break
            del self.groups[chat]

    async def serve(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(self.in_flight)]
        try:
            await asyncio.gather(*workers)
            if self._refilling is not None:
                await self._refilling
        except asyncio.CancelledError:
            # Killed, as far as the outbox knows: every claim stays for the crash rule.
            self._cancel(workers)
            raise
        except Exception:
            # The database or a bug stopped the run: give back what was surely not sent, then fail.
            self._cancel(workers)
            with contextlib.suppress(Exception):
                await self._release_unsent()
            raise
        await self._release_unsent()

    def _cancel(self, workers: list[asyncio.Task[None]]) -> None:
        for task in [*workers, self._refilling]:
            if task is not None:
                task.cancel()

    async def _release_unsent(self) -> None:
        for chat in self.queue:
            self.leftovers.extend(self.groups.pop(chat, []))
        self.queue.clear()
        if self.leftovers:
            leftovers, self.leftovers = self.leftovers, []
            self.report.released += await self._release(leftovers)
