"""The durable inbox: every update is in the database before Telegram hears that it arrived.

The webhook answers 200, and long polling asks for the next batch (which is what confirms the last
one to Telegram), only after the update's row is committed in ``inbox``. From there it is handled
(:mod:`bot.infra.updates`); one that was stored but not handled when the process died is handled
after the restart. A redelivered update finds its row and is not handled again.

What is atomic, exactly:

* The first unit of work that *writes* while an update is handled also marks its row handled, in
  the same transaction (:func:`storage.db.on_write`). A plain message filed as an answer or an
  observation, a button press, a dialogue step: each writes in one unit, so the update and its
  effect are committed together or not at all. A process killed before that commit handles the
  update again from the start; one killed after it never handles it again.
* A handler with several writing units (few do) is marked with its first; a crash before its later
  units loses those rather than doubling the first.
* An update whose handling writes nothing (``/help``, a refusal) is marked in a unit of its own
  after it is handled; a crash in between repeats its reply, never a database effect.
* Telegram messages sent while handling are outside any transaction: a reply can be lost (killed
  after the commit, before the send) or, for an update that wrote nothing, sent twice.

Consent first: the body (what the person wrote) and the sender's id stay only until the update is
handled; then the row keeps only ``update_id`` and its times, for deduplication, and is pruned after
:data:`KEEP_HANDLED`. So nothing of a person outlives handling, and ``/forget`` has nothing to erase
here: the rows still holding a body are that person's updates not yet handled, which come after it.

Several instances (PostgreSQL): a person's rows are handled by one instance at a time, which holds a
row of ``inbox_claims`` for them while it works through them in ``update_id`` order. The receiver
tries to claim in the row's own transaction, after its insert (a queue it holds already needs no
claim: :func:`store_reading` stores and reads its rows in one statement); the claimant keeps the
claim :data:`bot.infra.updates.LINGER_S` after the queue runs empty and then gives it back in a
transaction that looks for rows left (see :func:`release_claim`). A row whose arrival crosses a
release exactly is left without a claimant for a moment, and one another instance stores while this
one holds the queue waits in the holder's name; every instance's sweep takes both kinds every
:data:`bot.infra.updates.SWEEP_S` seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ExtBot

from storage.dialects import dialect_of, insert_ignoring_conflicts
from storage.models import InboxClaim, InboxUpdate

KEEP_HANDLED = timedelta(hours=48)
"""Telegram gives up redelivering an update after 24 hours; a handled id is kept twice as long."""
MAX_BIGINT = 2**63 - 1
MAX_DEPTH = 40
"""Nesting deeper than any update Telegram sends (a reply in a message is a few levels)."""

_INBOX = cast(Table, InboxUpdate.__table__)
_CLAIMS = cast(Table, InboxClaim.__table__)


class UpdateTakenOver(Exception):
    """The update's row was already handled (by another instance that took over): roll back."""


@dataclass(frozen=True)
class Received:
    """One update as it arrived: its id, whose queue it joins, the body to store and the parsed Update."""

    update_id: int
    queue: int
    body: str
    update: Update | None = None


def _bounded(data: object) -> bool:
    """Nesting at most :data:`MAX_DEPTH` and every integer fits a 64-bit column (iteratively)."""
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif (isinstance(value, int) and not -MAX_BIGINT <= value <= MAX_BIGINT) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            return False
    return True


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON a Bot API update may hold")


def decode(raw: bytes | str) -> object:
    """The JSON of a webhook body, or None: no NaN or Infinity (nor a number too big for a float),
    no nesting past :data:`MAX_DEPTH`, no integer past 64 bits."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if _bounded(data) else None


def queue_of(update: Update) -> int:
    """The sender's id (their updates are handled in order); minus the update id for an update
    without a sender, which is a queue of its own."""
    user = update.effective_user
    return user.id if user is not None else -update.update_id


def parse_update(data: object, bot: ExtBot[Any]) -> Received | None:
    """The update in a decoded body, or None when it is not one.

    An update is a JSON object with an ``update_id`` from 0 to 2⁶³−1 and exactly one payload object
    beside it, which PTB can read.
    """
    if not isinstance(data, dict) or not _bounded(data):
        return None
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id <= MAX_BIGINT:
        return None
    payloads = [key for key in data if key != "update_id"]
    if len(payloads) != 1 or not isinstance(data[payloads[0]], dict):
        return None
    try:
        update = Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError):
        return None
    # ASCII JSON: a lone surrogate or a NUL is escaped, so every backend stores the body as it came.
    return Received(update_id, queue_of(update), json.dumps(data, separators=(",", ":")), update)


def read_body(body: str, bot: ExtBot[Any]) -> Update | None:
    """The Update a stored body holds (after a restart), or None when PTB can no longer read it."""
    received = parse_update(decode(body), bot)
    return None if received is None else received.update


async def store(session: AsyncSession, received: Sequence[Received], *, now: datetime) -> set[int]:
    """Insert a batch of updates in one statement; returns the ids that were new (not redeliveries)."""
    if not received:
        return set()
    rows = [
        {"update_id": item.update_id, "user_id": item.queue, "body": item.body, "received_at": now}
        for item in received
    ]
    statement = insert_ignoring_conflicts(session, _INBOX, ("update_id",))
    result = await session.execute(statement.values(rows).returning(_INBOX.c.update_id))
    return {int(update_id) for (update_id,) in result.all()}


async def store_reading(
    session: AsyncSession, received: Sequence[Received], queues: Collection[int], *, now: datetime
) -> tuple[set[int], list[Stored]]:
    """:func:`store` and, in the same statement, the other unhandled rows of ``queues`` (PostgreSQL:
    a queue this instance holds already, so the batch needs no claim): the new ids, and every
    unhandled row of those queues in ``update_id`` order, the batch's own included."""
    rows = [
        {"update_id": item.update_id, "user_id": item.queue, "body": item.body, "received_at": now}
        for item in received
    ]
    fresh = (
        postgresql.insert(_INBOX)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(_INBOX.c.update_id)
        .cte("fresh")
    )
    # The insert's rows are not seen by the rest of the statement (one snapshot): they come back
    # through the CTE, the rows stored before through the select.
    waiting = select(_INBOX.c.update_id, _INBOX.c.user_id, _INBOX.c.body, literal(False).label("new")).where(
        _INBOX.c.handled_at.is_(None), _INBOX.c.user_id.in_(list(queues))
    )
    stored = select(
        fresh.c.update_id,
        literal(None, _INBOX.c.user_id.type),
        literal(None, _INBOX.c.body.type),
        literal(True),
    )
    result = await session.execute(union_all(waiting, stored))
    new: set[int] = set()
    found: dict[int, Stored] = {}
    for update_id, queue, body, is_new in result.all():
        if is_new:
            new.add(int(update_id))
        else:
            found[int(update_id)] = Stored(int(update_id), int(queue), body)
    wanted = set(queues)
    for item in received:
        if item.update_id in new and item.queue in wanted:
            found[item.update_id] = Stored(item.update_id, item.queue, item.body)
    return new, [found[update_id] for update_id in sorted(found)]


async def mark_handled(session: AsyncSession, update_id: int, *, now: datetime) -> bool:
    """Keep only the id and the times of a handled update; False when it was handled already."""
    result: Any = await session.execute(_MARK_HANDLED, {"marked_id": update_id, "marked_at": now})
    return bool(result.rowcount == 1)


# Every update passes here: built once, and on the table rather than the mapped class (the row is
# never loaded as an object), it skips building the statement and the ORM's bulk-update bookkeeping.
_MARK_HANDLED = (
    update(_INBOX)
    .where(_INBOX.c.update_id == bindparam("marked_id"), _INBOX.c.handled_at.is_(None))
    .values(handled_at=bindparam("marked_at"), body=None, user_id=None)
)


@dataclass(frozen=True)
class Stored:
    update_id: int
    queue: int
    body: str | None


async def unhandled(session: AsyncSession, queues: Collection[int] | None = None) -> list[Stored]:
    """Rows not handled yet (of these queues, or all), in ``update_id`` order."""
    statement = select(InboxUpdate.update_id, InboxUpdate.user_id, InboxUpdate.body).where(
        InboxUpdate.handled_at.is_(None)
    )
    if queues is not None:
        if not queues:
            return []
        statement = statement.where(InboxUpdate.user_id.in_(list(queues)))
    rows = await session.execute(statement.order_by(InboxUpdate.update_id))
    return [Stored(int(u), int(q) if q is not None else -int(u), b) for u, q, b in rows.all()]


async def claim(
    session: AsyncSession, queues: Collection[int], *, instance: str, now: datetime
) -> list[Stored]:
    """Claim the queues nobody else holds (one this instance holds already counts: its sweep may
    have taken it), and return their unhandled rows in order."""
    if not queues:
        return []
    rows = [{"user_id": q, "instance": instance, "claimed_at": now} for q in queues]
    insert_ = postgresql.insert(_CLAIMS) if dialect_of(session) == "postgresql" else sqlite.insert(_CLAIMS)
    statement = insert_.values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["user_id"],
        set_={"claimed_at": statement.excluded.claimed_at},
        where=_CLAIMS.c.instance == instance,
    )
    result = await session.execute(statement.returning(_CLAIMS.c.user_id))
    claimed = {int(queue) for (queue,) in result.all()}
    return await unhandled(session, claimed)


async def claim_orphans(session: AsyncSession, *, instance: str, now: datetime, limit: int) -> list[Stored]:
    """Claim queues that have unhandled rows and no claimant (their receiver died, or a release
    crossed their arrival); returns their rows in order."""
    waiting = (
        select(InboxUpdate.user_id, literal(instance), literal(now, type_=InboxUpdate.received_at.type))
        .where(
            InboxUpdate.handled_at.is_(None),
            InboxUpdate.user_id.is_not(None),
            ~exists().where(InboxClaim.user_id == InboxUpdate.user_id),
        )
        .distinct()
        .limit(limit)
    )
    statement = insert_ignoring_conflicts(session, _CLAIMS, ("user_id",))
    result = await session.execute(
        statement.from_select(["user_id", "instance", "claimed_at"], waiting).returning(_CLAIMS.c.user_id)
    )
    claimed = {int(queue) for (queue,) in result.all()}
    return await unhandled(session, claimed)


async def release_claim(session: AsyncSession, queue: int, *, instance: str, now: datetime) -> list[Stored]:
    """Give a queue back, unless rows arrived for it meanwhile: then keep it and return them.

    The claim is deleted first and the rows looked for after, in one transaction. A receiver's claim
    attempt made meanwhile waits for this transaction and then succeeds; one made just before the
    delete fails, and if its row commits only after this look, the sweep takes the queue. Rows left
    are claimed again as any claim is (:func:`claim`): when another instance holds the queue by then
    (its claim committed in between, or it took the queue over), they are its to handle and this
    returns nothing.
    """
    await session.execute(
        delete(InboxClaim).where(InboxClaim.user_id == queue, InboxClaim.instance == instance)
    )
    if not await unhandled(session, [queue]):
        return []
    return await claim(session, [queue], instance=instance, now=now)


async def held_without_worker(
    session: AsyncSession, *, instance: str, working: Collection[int], limit: int
) -> list[Stored]:
    """Unhandled rows of queues this instance holds a claim for, but for those in ``working`` (whose
    worker is giving the claim back, or is on them): rows another instance stored meanwhile, or of a
    worker that stopped on an error. The sweep takes them up instead of leaving them to a restart."""
    statement = (
        select(InboxClaim.user_id)
        .where(
            InboxClaim.instance == instance,
            exists().where(InboxUpdate.user_id == InboxClaim.user_id, InboxUpdate.handled_at.is_(None)),
        )
        .limit(limit + len(working))
    )
    queues = {int(queue) for queue in await session.scalars(statement)} - set(working)
    return await unhandled(session, queues)


async def release_claims(session: AsyncSession, instances: Collection[str]) -> int:
    """Free every claim of these instances (this one stopping or restarted, or departed ones)."""
    if not instances:
        return 0
    result: Any = await session.execute(delete(InboxClaim).where(InboxClaim.instance.in_(list(instances))))
    return int(result.rowcount or 0)


async def claimants(session: AsyncSession) -> set[str]:
    return {str(name) for name in await session.scalars(select(InboxClaim.instance).distinct())}


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Forget handled update ids received before ``before``."""
    result: Any = await session.execute(
        delete(InboxUpdate).where(InboxUpdate.received_at < before, InboxUpdate.handled_at.is_not(None))
    )
    return int(result.rowcount or 0)
