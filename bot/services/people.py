"""Users and memberships: consent, joining a process, switching, pausing, own data and erasure."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from bot.domain.programme.spec import INFORMING_KINDS
from bot.domain.states import Consent, DeliveryState
from bot.services import dialogue_data, notices, outbox, pairs
from storage.models import (
    Delivery,
    Membership,
    Organisation,
    Process,
    Prompt,
    Submission,
    Support,
    User,
    UTCDateTime,
)

ROLES: tuple[str, ...] = ("management", "employee", "elected", "association", "other")


@dataclass(frozen=True)
class Invite:
    process: Process
    facilitator: bool
    closed: bool = False
    """The link no longer lets anyone join: the process has ended, or ``invites_until`` has passed
    (participant link)."""


def invites_closed(process: Process, *, facilitator: bool, now: datetime) -> bool:
    """Both links stop at the process end; the participant link at ``invites_until`` if earlier."""
    until = process.end_at
    if not facilitator and process.invites_until is not None:
        until = min(until, process.invites_until)
    return now >= until


def _user_with_membership_statement() -> Select[Any]:
    open_prompts = (
        select(func.count())
        .select_from(Delivery)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .where(
            Delivery.membership_id == Membership.id,
            Delivery.state == DeliveryState.SENT,
            Prompt.kind.not_in(INFORMING_KINDS),
            Prompt.closes_at > bindparam("now", type_=UTCDateTime()),
        )
        .correlate(Membership)
        .scalar_subquery()
    )
    return (
        select(User, Membership, open_prompts)
        .outerjoin(Membership, (Membership.id == User.active_membership_id) & (Membership.user_id == User.id))
        .where(User.id == bindparam("user_id"))
        .options(joinedload(Membership.process), joinedload(Membership.organisation))
    )


# Built once: every update runs it, and building the statement costs more than running it.
_USER_WITH_MEMBERSHIP = _user_with_membership_statement()


async def user_with_active_membership(
    session: AsyncSession, user_id: int, *, now: datetime
) -> tuple[User | None, Membership | None, int]:
    """The user, their active membership (with its process) and how many prompts are open for them.

    One query, because every update asks it; the open count lets a plain observation skip the
    prompt lookup entirely.
    """
    row = (await session.execute(_USER_WITH_MEMBERSHIP, {"user_id": user_id, "now": now})).first()
    if row is None:
        return None, None, 0
    user, membership, open_prompts = row
    return cast(User, user), cast(Membership | None, membership), int(open_prompts or 0)


async def find_invite(session: AsyncSession, code: str, *, now: datetime) -> Invite | None:
    """The process behind a ``/start`` code (``closed`` when it no longer lets anyone join), or None
    for an unknown code (an old one after the links were renewed, say)."""
    if not code or len(code) > 64:
        return None
    process = await session.scalar(
        select(Process)
        .where((Process.participant_code == code) | (Process.facilitator_code == code))
        .options(selectinload(Process.organisations), selectinload(Process.workshops))
    )
    if process is None:
        return None
    facilitator = process.facilitator_code == code
    return Invite(process, facilitator, invites_closed(process, facilitator=facilitator, now=now))


async def remove_facilitator(session: AsyncSession, *, process_id: int, user_id: int, now: datetime) -> bool:
    """Take a facilitator out of a process (their membership goes; anything they wrote as a
    participant of it too) and queue a notice telling them so (:mod:`bot.services.notices`). False
    when they are not a facilitator of it."""
    membership = await session.scalar(
        select(Membership).where(
            Membership.process_id == process_id,
            Membership.user_id == user_id,
            Membership.is_facilitator.is_(True),
        )
    )
    if membership is None:
        return False
    await session.execute(delete(Support).where(Support.membership_id == membership.id))
    await session.execute(
        update(Submission).where(Submission.membership_id == membership.id).values(idea_id=None)
    )
    await session.execute(delete(Submission).where(Submission.membership_id == membership.id))
    await session.execute(delete(Delivery).where(Delivery.membership_id == membership.id))
    await session.execute(
        update(User).where(User.active_membership_id == membership.id).values(active_membership_id=None)
    )
    await session.delete(membership)
    await notices.queue_facilitator_removed(session, user_id=user_id, process_id=process_id, now=now)
    return True


async def facilitates_any(session: AsyncSession, user_id: int) -> bool:
    """Whether the user is a facilitator of some process."""
    found = await session.scalar(
        select(Membership.id)
        .where(Membership.user_id == user_id, Membership.is_facilitator.is_(True))
        .limit(1)
    )
    return found is not None


async def facilitator_ids(session: AsyncSession, process_id: int) -> list[tuple[int, str | None]]:
    """The Telegram ids and names of a process's facilitators, in the order they joined."""
    rows = await session.execute(
        select(Membership.user_id, Membership.display_name)
        .where(Membership.process_id == process_id, Membership.is_facilitator.is_(True))
        .order_by(Membership.joined_at, Membership.id)
    )
    return [(int(uid), name) for uid, name in rows.all()]


async def record_refusal(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """Declining stores nothing but the refusal itself."""
    user = await session.get(User, user_id)
    if user is None:
        session.add(User(id=user_id, consent=Consent.DECLINED, consent_at=now, created_at=now))
    elif user.consent != Consent.GIVEN:
        user.consent, user.consent_at = Consent.DECLINED, now


async def give_consent(session: AsyncSession, *, user_id: int, language: str, now: datetime) -> User:
    user = await session.get(User, user_id)
    if user is None:
        user = User(id=user_id, consent=Consent.GIVEN, consent_at=now, language=language, created_at=now)
        session.add(user)
    else:
        user.consent, user.consent_at = Consent.GIVEN, now
        user.language = user.language or language
    await session.flush()
    return user


async def new_pseudonym(session: AsyncSession, process_id: int) -> str:
    while True:
        candidate = "P-" + secrets.token_hex(3).upper()
        taken = await session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.process_id == process_id, Membership.pseudonym == candidate)
        )
        if not taken:
            return candidate


async def join(
    session: AsyncSession, *, user: User, invite: Invite, display_name: str | None, now: datetime
) -> tuple[Membership, bool]:
    """Add the user to the invite's process (or upgrade to facilitator). Returns (membership, new)."""
    membership = await session.scalar(
        select(Membership).where(Membership.process_id == invite.process.id, Membership.user_id == user.id)
    )
    created = membership is None
    if membership is None:
        membership = Membership(
            process_id=invite.process.id,
            user_id=user.id,
            is_facilitator=invite.facilitator,
            pseudonym=await new_pseudonym(session, invite.process.id),
            display_name=display_name,
            joined_at=now,
            complete=invite.facilitator,
        )
        session.add(membership)
    elif invite.facilitator and not membership.is_facilitator:
        membership.is_facilitator = True
        membership.complete = True
    await session.flush()
    user.active_membership_id = membership.id
    if membership.is_facilitator:
        # The day-after-workshop nudges to send /loop.
        await outbox.plan_member(session, membership, now)
    return membership, created


async def membership_by_id(
    session: AsyncSession, membership_id: int | None, *, full: bool = True
) -> Membership | None:
    """A membership with its process; ``full`` also loads the process's organisations and workshops.

    Every update looks up the sender's membership, so the light form is one query.
    """
    if membership_id is None:
        return None
    options = (
        [
            selectinload(Membership.process).selectinload(Process.organisations),
            selectinload(Membership.process).selectinload(Process.workshops),
            selectinload(Membership.organisation),
        ]
        if full
        else [joinedload(Membership.process), joinedload(Membership.organisation)]
    )
    return await session.scalar(select(Membership).where(Membership.id == membership_id).options(*options))


async def active_membership(session: AsyncSession, user: User) -> Membership | None:
    membership = await membership_by_id(session, user.active_membership_id, full=False)
    if membership is not None and membership.user_id == user.id:
        return membership
    memberships = await memberships_of(session, user.id)
    if memberships:
        user.active_membership_id = memberships[-1].id
        return memberships[-1]
    return None


async def memberships_of(session: AsyncSession, user_id: int) -> list[Membership]:
    result = await session.scalars(
        select(Membership)
        .where(Membership.user_id == user_id)
        .options(selectinload(Membership.process), selectinload(Membership.organisation))
        .order_by(Membership.joined_at, Membership.id)
    )
    return list(result)


async def organisation_of_process(
    session: AsyncSession, *, process_id: int, organisation_id: int
) -> Organisation | None:
    organisation = await session.get(Organisation, organisation_id)
    return organisation if organisation is not None and organisation.process_id == process_id else None


async def forget(session: AsyncSession, *, user_id: int) -> int:
    """Erase the user and everything they submitted. Returns how many submissions went."""
    membership_ids = select(Membership.id).where(Membership.user_id == user_id)
    count = await session.scalar(
        select(func.count()).select_from(Submission).where(Submission.membership_id.in_(membership_ids))
    )
    # Explicit deletes, not only cascades: SQLite needs foreign keys on for cascades, and erasure
    # must not depend on a pragma.
    await session.execute(delete(Support).where(Support.membership_id.in_(membership_ids)))
    await dialogue_data.erase_members(session, membership_ids)
    await pairs.erase_members(session, membership_ids)
    await notices.erase_user(session, user_id)
    await session.execute(delete(Submission).where(Submission.membership_id.in_(membership_ids)))
    await session.execute(delete(Delivery).where(Delivery.membership_id.in_(membership_ids)))
    await session.execute(delete(Membership).where(Membership.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))
    await session.execute(update(Process).where(Process.created_by == user_id).values(created_by=None))
    return int(count or 0)


@dataclass(frozen=True)
class FacilitatorContact:
    chat_id: int
    language: str
    """The facilitator's own language, else the process's."""


async def facilitators_to_tell(session: AsyncSession, process_id: int) -> list[FacilitatorContact]:
    """The facilitators a message about their process goes to (a digest, a purge notice): those
    who gave consent and whose chat is not known to be unreachable."""
    rows = await session.execute(
        select(User.id, User.language, Process.language.label("fallback"))
        .join(Membership, Membership.user_id == User.id)
        .join(Process, Process.id == Membership.process_id)
        .where(
            Membership.process_id == process_id,
            Membership.is_facilitator.is_(True),
            Membership.unreachable.is_(False),
            User.consent == Consent.GIVEN,
        )
        .order_by(User.id)
    )
    return [FacilitatorContact(int(row.id), row.language or row.fallback) for row in rows]


async def choose_organisation(
    session: AsyncSession, membership: Membership, organisation_id: int
) -> str | None:
    """Set the membership's organisation; its name, or None when it is not one of the process."""
    organisation = await organisation_of_process(
        session, process_id=membership.process_id, organisation_id=organisation_id
    )
    if organisation is None:
        return None
    membership.organisation_id = organisation.id
    return organisation.name


def choose_role(membership: Membership, role: str) -> None:
    membership.role = role


async def complete_joining(
    session: AsyncSession, membership: Membership, *, show_name: bool, now: datetime
) -> None:
    """The last joining question answered: the membership is complete, and a participant who has
    just completed it gets the programme planned from now on."""
    membership.show_name = show_name
    if not show_name:
        membership.display_name = None
    newly_complete = not membership.complete
    membership.complete = True
    if newly_complete:
        await outbox.plan_member(session, membership, now)


async def make_active(session: AsyncSession, user: User, membership_id: int) -> Membership | None:
    """Make one of the user's memberships the active one; None when it is not theirs."""
    membership = await membership_by_id(session, membership_id)
    if membership is None or membership.user_id != user.id:
        return None
    user.active_membership_id = membership.id
    return membership


async def set_paused(session: AsyncSession, membership: Membership, *, paused: bool, now: datetime) -> None:
    """/pause and /resume: nothing is sent while paused, and what is still open is planned again after."""
    membership.paused = paused
    await outbox.on_pause_change(session, membership, now)


def set_language(user: User, language: str) -> None:
    user.language = language
