"""Claims left behind by an instance that died go back to the outbox."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select
from telegram.ext import ExtBot

from bot.context import Services
from bot.infra.leader import Leader
from bot.services.outbox import CLAIM_LEASE, release_dead_claims
from storage.models import Delivery

log = logging.getLogger(__name__)

# An instance whose session has been gone this long is dead (a reconnect takes a tick or two).
DEPARTED_AFTER_S = 10.0


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

    async def claimants(session: Any) -> list[str]:
        rows = await session.scalars(
            select(Delivery.claimed_by)
            .where(Delivery.state == "sending", Delivery.claimed_by.is_not(None))
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

        async def release(session: Any, name: str = name) -> int:
            return await release_dead_claims(session, now=now, instance=name, lease=CLAIM_LEASE)

        released = await services.db.run(release)
        if released:
            log.warning("instance %s has gone; %d of its claimed deliveries go out again", name, released)
