"""Claiming deliveries from the outbox, giving claims back, and recording what Telegram answered.

The states of a delivery (:class:`~bot.domain.states.DeliveryState`)::

    pending ──claim──▶ sending ──▶ sent ──▶ answered
       │                  │
       │                  ├──▶ failed      (Telegram refused it for good, or refused it too often)
       │                  ├──▶ pending     (429, not sent, shutting down: try again later;
       │                  │                 outcome unknown for the first time: once more, after a pause)
       │                  ├──▶ ambiguous   (outcome unknown a second time: it may have arrived)
       │                  └──▶ skipped     (highlights for someone paired that phase: not sent)
       ├──▶ expired   (its answer window closed before it could go out)
       └──▶ cancelled (paused, unreachable, or the prompt was removed from the programme)

A claim is atomic (``UPDATE … WHERE state='pending' … RETURNING``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so every instance may claim at once and no row is claimed twice.

What each failed send means (:func:`bot.infra.transport.fate`):

* *not sent* — the request provably never left: no pool slot, no connection, an error before the
  request was made, or a 429. The row goes back to ``pending`` without counting an attempt.
* *refused* — Telegram answered with an error (a ``BadRequest`` fails the row; a 5xx JSON error is
  retried with backoff, each counting an attempt, failed after :data:`MAX_ATTEMPTS`).
* *sent* — Telegram answered ``ok`` but PTB could not read the rest (a ``date`` in milliseconds): the
  row is recorded ``sent`` (with the message id if the answer holds one) and never sent again.
* *ambiguous* — the request was written but no usable answer came: a read timeout, a reset after
  writing, a body that is not JSON (a gateway's HTML page, a cut answer). The row notes
  ``doubted_at`` and goes back to ``pending`` after :data:`AMBIGUOUS_PAUSE`, *once*; if the second
  send is ambiguous too, the row ends ``ambiguous`` and is not sent again. So an ambiguous send can
  arrive at most twice, and is never sent in a loop.

``attempts`` counts only sends that reached the wire and got an answer or a doubt, never claims: a
crash loop never marks an unsent delivery failed.

Crash rule (what happens to a row left in ``sending``):

* A live instance never keeps a claim for long: it claims a batch it can send within seconds, and a
  row it has not handed to Telegram within :data:`BATCH_DEADLINE_S` (a long 429 pause), or when the
  process is asked to stop, goes back to ``pending`` at once.
* So a row still ``sending`` belongs to a process that died. It goes back to ``pending`` (no attempt
  counted) and is sent again: at start-up at once if this instance made the claim (same instance
  name) or if the database is SQLite (only one instance can run on a SQLite file, so any claim found
  at start-up is dead); otherwise by the leader, as soon as the claimant's database session is gone
  (:func:`release_departed_claims`), or once the claim is older than :data:`CLAIM_LEASE`.
* Each result is committed the moment Telegram answers (results arriving together share one
  commit). So exactly these sends can arrive twice: (1) one whose request was on the wire, or whose
  answer was not yet committed, when the process died — at most one per chat being served, and
  ``in_flight_limit`` chats are served at a time; (2) an *ambiguous* send, which is sent once more.
  Rows claimed but not yet handed to Telegram are sent exactly once. (Telegram offers no
  idempotency key or way to ask whether a message went out, so no rule can make the request on the
  wire exactly-once; this one makes those the only doubts.)

Reminders are sent *at most once*: the claim sets ``reminded_at`` before sending, and a reminder
interrupted by a crash, refused, or with an unknown outcome is not repeated (a missing nudge is
better than a doubled one). A 429, a send that was provably not made, or a shutdown before the
request frees the claim again.

``Forbidden`` (and "chat not found") marks the membership unreachable, cancels its pending rows and
is never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot.context import Services
from bot.domain.states import DELIVERED_STATES, DeliveryKind, DeliveryState
from bot.infra.leader import Leader
from storage.models import Delivery, Membership, Prompt

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)
"""A claim older than this belongs to a dead instance: a live one hands each claimed row to Telegram
or gives it back within :data:`BATCH_DEADLINE_S` (plus, at worst, the rate limiter's 429 retries)."""
BATCH_DEADLINE_S = 60.0
"""A claimed row not handed to Telegram within this long (a long 429 pause) is given back."""
MAX_ATTEMPTS = 5
AMBIGUOUS_PAUSE = timedelta(minutes=2)
"""How long a send whose outcome is unknown waits before its one more try."""
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(minutes=30)
ERROR_CHARS = 200
# An instance whose session has been gone this long is dead (a reconnect takes a tick or two).
DEPARTED_AFTER_S = 10.0

_DELIVERIES = cast(Table, Delivery.__table__)


def retry_backoff(attempts: int) -> timedelta:
    """How long a delivery waits after network trouble on its ``attempts``-th claim."""
    return min(RETRY_BASE * 2 ** max(0, attempts - 1), RETRY_MAX)


def _returning_ids(result: Any) -> list[int]:
    return [int(row[0]) for row in result.all()]


def _sendable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The prompt is active and open, the participant unpaused and reachable."""
    return (
        Prompt.active.is_(True),
        or_(Prompt.closes_at.is_(None), Prompt.closes_at > now),
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )


async def claim_prompts(
    session: AsyncSession, *, now: datetime, instance: str, limit: int, postgres: bool
) -> list[int]:
    """Atomically move up to ``limit`` due, sendable rows from ``pending`` to ``sending``."""
    candidates = (
        select(Delivery.id)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(Delivery.state == DeliveryState.PENDING, Delivery.due_at <= now, *_sendable(now))
        .order_by(Delivery.due_at, Prompt.position, Delivery.id)
        .limit(limit)
    )
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=Delivery)
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates), Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SENDING, claimed_by=instance, claimed_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return _returning_ids(result)


async def claim_reminders(
    session: AsyncSession, *, now: datetime, instance: str, limit: int, postgres: bool
) -> list[int]:
    """Atomically mark up to ``limit`` due reminders as taken (``reminded_at``): at most once."""
    candidates = (
        select(Delivery.id)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(
            Delivery.state == DeliveryState.SENT,
            Delivery.reminded_at.is_(None),
            Delivery.remind_at <= now,
            *_sendable(now),
        )
        .order_by(Delivery.remind_at, Delivery.id)
        .limit(limit)
    )
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=Delivery)
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(candidates), Delivery.state == DeliveryState.SENT, Delivery.reminded_at.is_(None)
        )
        .values(reminded_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return _returning_ids(result)


async def release_dead_claims(
    session: AsyncSession, *, now: datetime, instance: str | None, lease: timedelta, all_rows: bool = True
) -> int:
    """Return claims of dead processes to ``pending`` (the crash rule above), counting no attempt.

    ``instance=None`` with ``all_rows`` takes every ``sending`` row (SQLite at start-up); otherwise
    rows claimed by ``instance`` and rows whose claim is older than ``lease``.
    """
    stale = Delivery.claimed_at < now - lease
    if instance is None:
        condition: ColumnElement[bool] = stale if not all_rows else Delivery.state == DeliveryState.SENDING
    else:
        condition = or_(Delivery.claimed_by == instance, stale)
    released: Any = await session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.SENDING, condition)
        .values(state=DeliveryState.PENDING, claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(released.rowcount or 0)


async def expire_closed(session: AsyncSession, *, now: datetime) -> int:
    """Pending rows whose prompt closed will never be sent: mark them expired."""
    closed = select(Prompt.id).where(Prompt.closes_at.is_not(None), Prompt.closes_at <= now)
    result: Any = await session.execute(
        update(Delivery)
        .where(
            Delivery.state == DeliveryState.PENDING, Delivery.due_at <= now, Delivery.prompt_id.in_(closed)
        )
        .values(state=DeliveryState.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


class ClaimedReminder(NamedTuple):
    delivery_id: int
    reminded_at: datetime | None
    """As the claim set it: a reminder is given back only if no one has claimed it since."""


async def release_unsent(
    session: AsyncSession, *, prompts: Sequence[int], reminders: Sequence[ClaimedReminder], instance: str
) -> int:
    """Give back claims that were never handed to Telegram (stopping, 429 pause, deadline)."""
    released = 0
    if prompts:
        result: Any = await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(list(prompts)),
                Delivery.state == DeliveryState.SENDING,
                Delivery.claimed_by == instance,
            )
            .values(state=DeliveryState.PENDING, claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        released += int(result.rowcount or 0)
    for reminder in reminders:
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == reminder.delivery_id,
                Delivery.reminded_at == reminder.reminded_at,
                Delivery.reminder_message_id.is_(None),
            )
            .values(reminded_at=None)
            .execution_options(synchronize_session=False)
        )
        released += int(result.rowcount or 0)
    return released


class SentPrompt(NamedTuple):
    delivery_id: int
    at: datetime
    chat_id: int
    message_id: int | None
    remind_at: datetime | None


class SentReminder(NamedTuple):
    delivery_id: int
    message_id: int | None


# The per-message statements are built once: compiling an ORM UPDATE costs more than running it,
# and they run once for every message sent.
_RECORD_SENT = (
    _DELIVERIES.update()
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        *(_DELIVERIES.c.state != literal(state.value) for state in DELIVERED_STATES),
    )
    .values(
        state=literal(DeliveryState.SENT.value),
        sent_at=bindparam("b_at"),
        chat_id=bindparam("b_chat"),
        message_id=bindparam("b_message"),
        remind_at=bindparam("b_remind"),
        attempts=_DELIVERIES.c.attempts + 1,
        last_error=None,
    )
)
_RECORD_REMINDER = (
    _DELIVERIES.update()
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(reminder_message_id=bindparam("b_message"))
)


async def record_sent(
    session: AsyncSession, prompts: Sequence[SentPrompt], reminders: Sequence[SentReminder]
) -> None:
    """Telegram took these messages. Whatever happened to a row meanwhile (a pause, a re-plan), the
    message did go out."""
    if prompts:
        await session.execute(
            _RECORD_SENT,
            [
                {
                    "b_id": p.delivery_id,
                    "b_at": p.at,
                    "b_chat": p.chat_id,
                    "b_message": p.message_id,
                    "b_remind": p.remind_at,
                }
                for p in prompts
            ],
        )
    if reminders:
        await session.execute(
            _RECORD_REMINDER, [{"b_id": r.delivery_id, "b_message": r.message_id} for r in reminders]
        )


async def record_failures(
    session: AsyncSession, kind: DeliveryKind, failures: Sequence[tuple[int, str]]
) -> None:
    """Claimed rows (delivery id, reason) that will not go out: a prompt fails with the reason; a
    reminder keeps its prompt's state and only notes the reason."""
    for delivery_id, error in failures:
        values: dict[str, Any] = {"last_error": error[:ERROR_CHARS]}
        if kind == DeliveryKind.PROMPT:
            values["state"] = DeliveryState.FAILED
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id, Delivery.state.in_((DeliveryState.SENDING, DeliveryState.SENT))
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def record_skipped(session: AsyncSession, delivery_ids: Sequence[int]) -> None:
    """Claimed prompts left out on purpose (a phase's highlights for someone introduced to a pair
    in its round): ``skipped``, never sent, retried, re-planned or counted as delivered."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)), Delivery.state == DeliveryState.SENDING)
        .values(state=DeliveryState.SKIPPED, claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )


async def record_unreachable(
    session: AsyncSession,
    *,
    kind: DeliveryKind,
    delivery_id: int,
    membership_id: int,
    error: str,
    instance: str,
) -> None:
    """The participant blocked the bot (or is gone): stop trying, tell the facilitator via /process.
    Their other pending rows, and those this instance claimed with this one, are cancelled; planning
    brings them back if they become reachable again."""
    await session.execute(
        update(Membership)
        .where(Membership.id == membership_id)
        .values(unreachable=True)
        .execution_options(synchronize_session=False)
    )
    # The prompt fails (unless it was no longer claimed); a reminder only notes why it did not go out.
    this: list[ColumnElement[bool]] = [Delivery.id == delivery_id]
    values: dict[str, Any] = {"last_error": error[:ERROR_CHARS]}
    if kind == DeliveryKind.PROMPT:
        this.append(Delivery.state == DeliveryState.SENDING)
        values["state"] = DeliveryState.FAILED
    await session.execute(
        update(Delivery).where(*this).values(**values).execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Delivery)
        .where(
            Delivery.membership_id == membership_id,
            or_(
                Delivery.state == DeliveryState.PENDING,
                and_(Delivery.state == DeliveryState.SENDING, Delivery.claimed_by == instance),
            ),
        )
        .values(state=DeliveryState.CANCELLED, claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )


async def record_retry(
    session: AsyncSession, *, delivery_id: int, attempts: int, instance: str, due: datetime, counts: bool
) -> None:
    """A prompt back to ``pending`` at ``due``. A send that was not made (a 429, no connection) does
    not count as an attempt; one Telegram refused does (``attempts`` is the count before it), and
    after :data:`MAX_ATTEMPTS` the row fails. (A reminder is not retried this way: when it was not
    sent it is given back with :func:`release_unsent`, otherwise it is dropped.)"""
    if counts and attempts + 1 >= MAX_ATTEMPTS:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.SENDING)
            .values(
                state=DeliveryState.FAILED,
                attempts=Delivery.attempts + 1,
                last_error=f"refused by Telegram {attempts + 1} times",
            )
            .execution_options(synchronize_session=False)
        )
        return
    await session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.state == DeliveryState.SENDING,
            Delivery.claimed_by == instance,
        )
        .values(
            state=DeliveryState.PENDING,
            due_at=due,
            claimed_by=None,
            claimed_at=None,
            attempts=Delivery.attempts + 1 if counts else Delivery.attempts,
        )
        .execution_options(synchronize_session=False)
    )


async def record_ambiguous(
    session: AsyncSession, *, delivery_id: int, instance: str, now: datetime, error: str
) -> bool:
    """A prompt's send ended without knowing whether it arrived. The first time, it goes back to
    ``pending`` after :data:`AMBIGUOUS_PAUSE` (``doubted_at`` notes the doubt); the second time it
    ends ``ambiguous``. Returns whether it will be sent once more."""
    mine = (
        Delivery.id == delivery_id,
        Delivery.state == DeliveryState.SENDING,
        Delivery.claimed_by == instance,
    )
    common: dict[str, Any] = {
        "claimed_by": None,
        "claimed_at": None,
        "attempts": Delivery.attempts + 1,
        "last_error": f"outcome unknown: {error}"[:ERROR_CHARS],
    }
    again: Any = await session.execute(
        update(Delivery)
        .where(*mine, Delivery.doubted_at.is_(None))
        .values(state=DeliveryState.PENDING, due_at=now + AMBIGUOUS_PAUSE, doubted_at=now, **common)
        .execution_options(synchronize_session=False)
    )
    if again.rowcount:
        return True
    await session.execute(
        update(Delivery)
        .where(*mine)
        .values(state=DeliveryState.AMBIGUOUS, **common)
        .execution_options(synchronize_session=False)
    )
    return False


async def release_departed_claims(services: Services, bot: ExtBot[Any], now: datetime) -> None:
    """Leader duty: deliveries claimed by an instance that has died go back to ``pending`` now.

    The dispatcher alone returns a dead instance's claims only after a long lease, since it cannot
    tell a dead instance from a slow one. On PostgreSQL it can be told: a live instance keeps its
    leadership session open (:meth:`Leader.live_instances`), and the database drops the session of a
    process that died. What the dead instance had claimed but not recorded is sent again; only a
    message that was on the wire at the moment it died can arrive twice.
    """
    leader = services.leader
    if not services.db.is_postgres or not isinstance(leader, Leader) or not leader.leading:
        return

    async def claimants(session: AsyncSession) -> list[str]:
        rows = await session.scalars(
            select(Delivery.claimed_by)
            .where(Delivery.state == DeliveryState.SENDING, Delivery.claimed_by.is_not(None))
            .where(Delivery.claimed_by != services.instance)
            .distinct()
        )
        return [str(name) for name in rows]

    names = await services.db.run(claimants)
    # When each claimant was first seen without a session; a reconnecting instance is not dead.
    absent = services.absent_instances
    live = await leader.live_instances(names) if names else set()
    for name in list(absent):
        if name in live or name not in names:
            del absent[name]
    checked = time.monotonic()
    for name in sorted(set(names) - live):
        if checked - absent.setdefault(name, checked) < DEPARTED_AFTER_S:
            continue

        async def release(session: AsyncSession, name: str = name) -> int:
            return await release_dead_claims(session, now=now, instance=name, lease=CLAIM_LEASE)

        released = await services.db.run(release)
        if released:
            log.warning("instance %s has gone; %d of its claimed deliveries go out again", name, released)
