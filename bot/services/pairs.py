"""Pairs across organisations: opting in, the rounds after each workshop, the pair's messages.

A participant opts in with ``/pair`` and agrees then to show a first name (stored with the opt-in,
``pair_optins``). Two working days after each workshop a round pairs the opted-in participants of
the process (:func:`bot.domain.pairing.pair_up`); the round row (``pair_rounds``) is written in the
same unit of work as its pairs, so a restart never pairs twice. Introductions and the messages the
members write to each other are outbox items of kind ``relay`` (``pair_messages`` links them to the
pair), so they wait out quiet hours and ``/pause`` like a relayed response. Texts are rendered by
the caller (services do not render).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.pairing import Candidate, pair_up, round_times
from bot.domain.planning import process_policy
from bot.services.relays import edit_as_removed, queue_relay, recipient_language
from storage.models import (
    Delivery,
    Membership,
    Organisation,
    Pair,
    PairMember,
    PairMessage,
    PairOptIn,
    PairRound,
    Process,
    Prompt,
    Workshop,
)

__all__ = [
    "FIRST_NAME_CHARS",
    "Member",
    "RoundDue",
    "RoundMade",
    "due_rounds",
    "end_pair",
    "erase_members",
    "erase_process",
    "introduced_in",
    "members_of",
    "open_pair",
    "opt_in",
    "opt_out",
    "optin_of",
    "own_pairs",
    "pair_replied_to",
    "queue",
    "run_round",
]

FIRST_NAME_CHARS = 64


@dataclass(frozen=True)
class Member:
    """A member of a pair as the others see them: the consented first name and the organisation."""

    membership: Membership
    first_name: str
    organisation: str
    language: str


@dataclass(frozen=True)
class RoundDue:
    process_id: int
    workshop: int


@dataclass(frozen=True)
class RoundMade:
    pairs: list[tuple[Pair, list[Member]]]
    unpaired: list[Member]
    single_organisation: bool


async def optin_of(session: AsyncSession, membership: Membership) -> PairOptIn | None:
    return await session.get(PairOptIn, membership.id)


async def opt_in(session: AsyncSession, membership: Membership, *, first_name: str, now: datetime) -> None:
    """Pair ``membership`` from the next round on, showing ``first_name`` to the pair."""
    name = first_name.strip()[:FIRST_NAME_CHARS]
    row = await session.get(PairOptIn, membership.id)
    if row is None:
        session.add(
            PairOptIn(
                membership_id=membership.id,
                process_id=membership.process_id,
                first_name=name,
                consented_at=now,
            )
        )
    else:
        row.first_name, row.consented_at = name, now
    await session.flush()


async def opt_out(session: AsyncSession, membership: Membership) -> bool:
    """No more pairing (the consent and the first name are deleted); False if not opted in."""
    result: Any = await session.execute(delete(PairOptIn).where(PairOptIn.membership_id == membership.id))
    return bool(result.rowcount)


async def open_pair(session: AsyncSession, membership: Membership) -> Pair | None:
    return await session.scalar(
        select(Pair)
        .join(PairMember, PairMember.pair_id == Pair.id)
        .where(PairMember.membership_id == membership.id, Pair.ended_at.is_(None))
        .order_by(Pair.id.desc())
        .limit(1)
    )


async def _member(session: AsyncSession, membership: Membership, first_name: str | None) -> Member:
    organisation = (
        await session.get(Organisation, membership.organisation_id) if membership.organisation_id else None
    )
    return Member(
        membership,
        first_name or "",
        organisation.name if organisation is not None else "",
        await recipient_language(session, membership),
    )


async def members_of(session: AsyncSession, pair_id: int) -> list[Member]:
    """The pair's members, with the first names they agreed to show when they were introduced."""
    rows = await session.execute(
        select(Membership, PairMember.first_name)
        .join(PairMember, PairMember.membership_id == Membership.id)
        .where(PairMember.pair_id == pair_id)
        .order_by(Membership.id)
    )
    return [await _member(session, membership, name) for membership, name in rows.all()]


async def introduced_in(session: AsyncSession, *, membership_id: int, workshop: int) -> bool:
    """Whether the participant was introduced to a pair in the round after workshop ``workshop``
    (that phase's round); such a participant is not sent the phase's highlights."""
    found = await session.scalar(
        select(PairMember.pair_id)
        .join(Pair, Pair.id == PairMember.pair_id)
        .where(PairMember.membership_id == membership_id, Pair.workshop == workshop)
        .limit(1)
    )
    return found is not None


async def end_pair(session: AsyncSession, pair: Pair, *, now: datetime) -> None:
    pair.ended_at = now
    await session.flush()


async def due_rounds(session: AsyncSession, *, now: datetime) -> list[RoundDue]:
    """Rounds due now: after a workshop, from its second working day until the next workshop (or
    the end), with someone opted in, and not run yet."""
    processes = await session.scalars(
        select(Process)
        .where(Process.end_at > now, Process.id.in_(select(PairOptIn.process_id)))
        .order_by(Process.id)
    )
    due: list[RoundDue] = []
    for process in processes:
        done = set(
            await session.scalars(select(PairRound.workshop).where(PairRound.process_id == process.id))
        )
        workshops = await session.execute(
            select(Workshop.number, Workshop.starts_at).where(Workshop.process_id == process.id)
        )
        for round_time in round_times(
            [(n, at) for n, at in workshops.all()], process.end_at, process_policy(process)
        ):
            if round_time.workshop not in done and round_time.due <= now < round_time.until:
                due.append(RoundDue(process.id, round_time.workshop))
    return due


async def _met(session: AsyncSession, process_id: int) -> set[frozenset[int]]:
    rows = await session.execute(
        select(PairMember.pair_id, PairMember.membership_id)
        .join(Pair, Pair.id == PairMember.pair_id)
        .where(Pair.process_id == process_id)
    )
    groups: dict[int, list[int]] = {}
    for pair_id, membership_id in rows.all():
        groups.setdefault(pair_id, []).append(membership_id)
    return {frozenset((a, b)) for members in groups.values() for a in members for b in members if a < b}


async def run_round(session: AsyncSession, due: RoundDue, *, now: datetime) -> RoundMade:
    """Pair the opted-in participants of the process after workshop ``due.workshop``. Pairs of
    earlier rounds still open end now. The opted-in of a single organisation are returned as
    unpaired only the first round they are in that state (they are told once)."""
    process = await session.get(Process, due.process_id)
    assert process is not None
    session.add(PairRound(process_id=process.id, workshop=due.workshop, phase=due.workshop, ran_at=now))
    await session.flush()
    await session.execute(
        update(Pair).where(Pair.process_id == process.id, Pair.ended_at.is_(None)).values(ended_at=now)
    )
    rows = (
        await session.execute(
            select(Membership, PairOptIn)
            .join(PairOptIn, PairOptIn.membership_id == Membership.id)
            .where(
                PairOptIn.process_id == process.id,
                Membership.complete.is_(True),
                Membership.is_facilitator.is_(False),
            )
            .order_by(Membership.id)
        )
    ).all()
    by_id = {membership.id: (membership, optin) for membership, optin in rows}
    made = pair_up(
        [Candidate(m.id, m.organisation_id, m.role) for m, _ in rows], await _met(session, process.id)
    )
    pairs: list[tuple[Pair, list[Member]]] = []
    for group in made.groups:
        pair = Pair(process_id=process.id, workshop=due.workshop, created_at=now)
        session.add(pair)
        await session.flush()
        members = []
        for membership_id in group:
            membership, optin = by_id[membership_id]
            session.add(PairMember(pair_id=pair.id, membership_id=membership_id, first_name=optin.first_name))
            members.append(await _member(session, membership, optin.first_name))
        pairs.append((pair, members))
    unpaired = []
    for membership_id in made.left:
        membership, optin = by_id[membership_id]
        if made.single_organisation and optin.told_round is not None:
            continue
        optin.told_round = due.workshop
        unpaired.append(await _member(session, membership, optin.first_name))
    round_row = await session.get(PairRound, (process.id, due.workshop))
    assert round_row is not None
    round_row.pairs_made = len(pairs)
    await session.flush()
    return RoundMade(pairs, unpaired, made.single_organisation)


async def queue(
    session: AsyncSession,
    *,
    pair_id: int | None,
    sender_id: int | None,
    recipient: Member,
    rendered: str,
    now: datetime,
) -> Delivery:
    """Queue ``rendered`` (Telegram HTML, in the recipient's language) for one member of a pair
    (``pair_id``; None: a participant nobody could be paired with this round): now, or when their
    quiet hours end; a paused member gets it after ``/resume``."""
    process = await session.get(Process, recipient.membership.process_id)
    assert process is not None
    pair = await session.get(Pair, pair_id) if pair_id is not None else None
    prompt, delivery = await queue_relay(
        session,
        process=process,
        recipient_id=recipient.membership.id,
        language=recipient.language,
        rendered=rendered,
        phase=pair.workshop if pair is not None else 1,
        key_prefix="pair",
        now=now,
    )
    if pair_id is not None:
        session.add(PairMessage(pair_id=pair_id, sender_id=sender_id, prompt_id=prompt.id, created_at=now))
        await session.flush()
    return delivery


async def pair_replied_to(
    session: AsyncSession, *, user_id: int, chat_id: int, message_id: int
) -> tuple[Pair, Membership] | None:
    """The pair whose message (introduction or relayed) the user replied to, with the user's
    membership that received it; ``None`` if it was not a pair message to them."""
    row = (
        await session.execute(
            select(Pair, Membership)
            .join(PairMessage, PairMessage.pair_id == Pair.id)
            .join(Delivery, Delivery.prompt_id == PairMessage.prompt_id)
            .join(Membership, Membership.id == Delivery.membership_id)
            .where(
                Delivery.chat_id == chat_id,
                Delivery.message_id == message_id,
                Membership.user_id == user_id,
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def _erase_messages(session: AsyncSession, condition: Any) -> None:
    prompt_ids = [int(p) for p in await session.scalars(select(PairMessage.prompt_id).where(condition)) if p]
    await session.execute(delete(PairMessage).where(condition))
    if prompt_ids:
        await session.execute(delete(Delivery).where(Delivery.prompt_id.in_(prompt_ids)))
        await session.execute(delete(Prompt).where(Prompt.id.in_(prompt_ids)))


async def erase_members(session: AsyncSession, memberships: Select[Any]) -> None:
    """``/forget``: the opt-ins, and every pair these memberships were in, with all its messages
    (the other members keep nothing of a pair with someone who is gone). Call it after the dialogue
    tables' erasure, which deletes the copies the erased people themselves received."""
    pair_ids = select(PairMember.pair_id).where(PairMember.membership_id.in_(memberships))
    # The pair's messages the others got (the introductions name them, the relays are theirs) are
    # edited to say they were removed.
    relayed = await session.execute(
        select(Delivery.membership_id, Delivery.chat_id, Delivery.message_id, PairMessage.created_at)
        .join(PairMessage, PairMessage.prompt_id == Delivery.prompt_id)
        .where(
            or_(PairMessage.pair_id.in_(pair_ids), PairMessage.sender_id.in_(memberships)),
            Delivery.membership_id.not_in(memberships),
            Delivery.chat_id.is_not(None),
            Delivery.message_id.is_not(None),
        )
    )
    edit_as_removed(session, relayed.all())
    await _erase_messages(
        session, or_(PairMessage.pair_id.in_(pair_ids), PairMessage.sender_id.in_(memberships))
    )
    ids = list(await session.scalars(pair_ids))
    if ids:
        await session.execute(delete(PairMember).where(PairMember.pair_id.in_(ids)))
        await session.execute(delete(Pair).where(Pair.id.in_(ids)))
    await session.execute(delete(PairOptIn).where(PairOptIn.membership_id.in_(memberships)))


async def erase_process(session: AsyncSession, process_id: int) -> None:
    """The retention purge: every pair row of the process."""
    pair_ids = select(Pair.id).where(Pair.process_id == process_id)
    await _erase_messages(session, PairMessage.pair_id.in_(pair_ids))
    await session.execute(delete(PairMember).where(PairMember.pair_id.in_(pair_ids)))
    await session.execute(delete(Pair).where(Pair.process_id == process_id))
    await session.execute(delete(PairRound).where(PairRound.process_id == process_id))
    await session.execute(delete(PairOptIn).where(PairOptIn.process_id == process_id))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def own_pairs(session: AsyncSession, membership_id: int) -> dict[str, Any]:
    """``/mydata``: the opt-in (with the first name shown), the pairs one was in, each with the
    first names and organisations the others were introduced with, and when one wrote to a pair."""
    optin = await session.get(PairOptIn, membership_id)
    pairs: Sequence[Pair] = list(
        await session.scalars(
            select(Pair)
            .join(PairMember, PairMember.pair_id == Pair.id)
            .where(PairMember.membership_id == membership_id)
            .order_by(Pair.id)
        )
    )
    listed = []
    for pair in pairs:
        others = [m for m in await members_of(session, pair.id) if m.membership.id != membership_id]
        listed.append(
            {
                "after_workshop": pair.workshop,
                "introduced_at": _iso(pair.created_at),
                "ended_at": _iso(pair.ended_at),
                "with": [{"first_name": m.first_name, "organisation": m.organisation} for m in others],
            }
        )
    sent = await session.execute(
        select(Pair.workshop, PairMessage.created_at)
        .join(Pair, Pair.id == PairMessage.pair_id)
        .where(PairMessage.sender_id == membership_id)
        .order_by(PairMessage.id)
    )
    return {
        "opt_in": None
        if optin is None
        else {"first_name_shown": optin.first_name, "consented_at": _iso(optin.consented_at)},
        "pairs": listed,
        # What they wrote is kept only in the outbox items that carried it (deleted with /forget).
        "messages_sent": [{"after_workshop": w, "sent_at": _iso(at)} for w, at in sent.all()],
    }
