"""Sharing observations with the other participants: share and unshare, ``/shared``, recognition.

A share is a row in ``shares`` next to the observation; what the others see is only ever its text
or photo with the attribution its author confirmed (:mod:`bot.domain.sharing`). Every copy sent to
a viewer is remembered (``shared_copies``) so that unsharing, a facilitator's ``/hide`` and
``/forget`` can edit it to say it was removed (:func:`withdrawn_copies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.sharing import Level, allowed_levels, effective_level, shareable
from storage.models import (
    Membership,
    Organisation,
    Process,
    Recognition,
    Share,
    SharedCopy,
    SharingPref,
    Submission,
)

__all__ = [
    "ACK_EDIT_INTERVAL",
    "PAGE",
    "AckDue",
    "Attributed",
    "CopySent",
    "NeedsConfirmation",
    "ShareChange",
    "ShareDisplay",
    "SharedItem",
    "SharedPage",
    "ack_edited",
    "acks_due",
    "attributed",
    "confirm_share",
    "display",
    "drop_copies",
    "levels_for",
    "muted",
    "preference",
    "recognition_count",
    "record_copies",
    "set_muted",
    "share_of",
    "shared_item",
    "shared_page",
    "toggle_recognition",
    "toggle_share",
    "visible_share",
    "withdrawn_copies",
]

PAGE = 5
ACK_EDIT_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True)
class Attributed:
    """How a participant is shown: the level and what it reveals (organisation, role)."""

    level: Level
    organisation: str | None
    role: str | None


async def _role_group(session: AsyncSession, membership: Membership) -> int:
    if membership.organisation_id is None or membership.role is None:
        return 0
    count = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.process_id == membership.process_id,
            Membership.organisation_id == membership.organisation_id,
            Membership.role == membership.role,
            Membership.is_facilitator.is_(False),
            Membership.complete.is_(True),
        )
    )
    return int(count or 0)


async def levels_for(session: AsyncSession, membership: Membership, *, anonymous: bool) -> list[Level]:
    """The attribution levels ``membership`` may use now, finest first."""
    process = await session.get(Process, membership.process_id)
    min_group = process.min_group if process is not None else 3
    return allowed_levels(
        anonymous=anonymous,
        has_organisation=membership.organisation_id is not None,
        role_group=await _role_group(session, membership),
        min_group=min_group,
    )


async def attributed(session: AsyncSession, membership: Membership, level: str) -> Attributed:
    """What ``level`` shows of ``membership`` (coarsened if the group has shrunk meanwhile)."""
    if level == "author":
        return Attributed("author", None, None)
    allowed = await levels_for(session, membership, anonymous=False)
    effective = effective_level(level, allowed)
    organisation = None
    if effective != "anyone" and membership.organisation_id is not None:
        org = await session.get(Organisation, membership.organisation_id)
        organisation = org.name if org is not None else None
    role = membership.role if effective == "org_role" else None
    return Attributed(effective if organisation is not None else "anyone", organisation, role)


async def preference(session: AsyncSession, membership_id: int) -> SharingPref:
    pref = await session.get(SharingPref, membership_id)
    if pref is None:
        pref = SharingPref(membership_id=membership_id, level=None, confirmed_at=None, muted=False)
        session.add(pref)
    return pref


async def muted(session: AsyncSession, membership_id: int) -> bool:
    """Whether the participant closed what they shared to responses (``/shared mute``)."""
    pref = await session.get(SharingPref, membership_id)
    return pref is not None and pref.muted


async def share_of(session: AsyncSession, submission_id: int) -> Share | None:
    return await session.scalar(select(Share).where(Share.submission_id == submission_id))


async def recognition_count(session: AsyncSession, submission_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Recognition).where(Recognition.submission_id == submission_id)
    )
    return int(count or 0)


@dataclass(frozen=True)
class NeedsConfirmation:
    """The first share: the participant confirms how they are shown, or picks a coarser level."""

    levels: list[Level]
    shown: list[Attributed]


@dataclass(frozen=True)
class ShareChange:
    """``share`` is the share now in place, ``None`` after unsharing; ``refused`` says why not."""

    share: Share | None
    refused: str | None = None


async def toggle_share(
    session: AsyncSession,
    *,
    submission: Submission,
    membership: Membership,
    ack: tuple[int, int] | None,
    now: datetime,
) -> ShareChange | NeedsConfirmation:
    """The share button on an acknowledgement: unshare a shared observation, share one (with the
    level confirmed before), or ask for the confirmation the first time."""
    existing = await share_of(session, submission.id)
    if existing is not None:
        await session.delete(existing)
        await session.flush()
        return ShareChange(None)
    if submission.kind != "observation" or submission.hidden:
        return ShareChange(None, "gone")
    if not shareable(submission.media_type):
        return ShareChange(None, "media")
    pref = await preference(session, membership.id)
    allowed = await levels_for(session, membership, anonymous=submission.anonymous)
    if pref.confirmed_at is None:
        return NeedsConfirmation(allowed, [await attributed(session, membership, level) for level in allowed])
    return await _share(session, submission, membership, effective_level(pref.level, allowed), ack, now)


async def confirm_share(
    session: AsyncSession,
    *,
    submission: Submission,
    membership: Membership,
    level: str,
    ack: tuple[int, int] | None,
    now: datetime,
) -> ShareChange:
    """The participant confirmed ``level`` in the first-share question: remembered for next time."""
    if submission.kind != "observation" or submission.hidden or not shareable(submission.media_type):
        return ShareChange(None, "gone")
    allowed = await levels_for(session, membership, anonymous=submission.anonymous)
    chosen = effective_level(level, allowed)
    pref = await preference(session, membership.id)
    pref.confirmed_at = now
    if not submission.anonymous:
        pref.level = chosen
    existing = await share_of(session, submission.id)
    if existing is not None:
        return ShareChange(existing)
    return await _share(session, submission, membership, chosen, ack, now)


async def _share(
    session: AsyncSession,
    submission: Submission,
    membership: Membership,
    level: Level,
    ack: tuple[int, int] | None,
    now: datetime,
) -> ShareChange:
    share = Share(
        submission_id=submission.id,
        membership_id=membership.id,
        process_id=submission.process_id,
        level="anyone" if submission.anonymous else level,
        ack_chat_id=ack[0] if ack else None,
        ack_message_id=ack[1] if ack else None,
        ack_count_shown=await recognition_count(session, submission.id),
        ack_edited_at=None,
        created_at=now,
    )
    session.add(share)
    await session.flush()
    return ShareChange(share)


@dataclass(frozen=True)
class SharedItem:
    submission_id: int
    text: str | None
    media_type: str | None
    file_id: str | None
    theme: str | None
    shown: Attributed
    recognised: bool
    respondable: bool


@dataclass(frozen=True)
class SharedPage:
    items: list[SharedItem]
    total: int
    offset: int


def _visible(process_id: int) -> tuple[object, ...]:
    return (
        Share.process_id == process_id,
        Submission.hidden.is_(False),
        Submission.kind == "observation",
    )


async def shared_item(
    session: AsyncSession, viewer: Membership, share: Share, submission: Submission
) -> SharedItem:
    author = await session.get(Membership, share.membership_id)
    shown = (
        await attributed(session, author, share.level)
        if author is not None
        else Attributed("anyone", None, None)
    )
    recognised = await session.get(Recognition, (submission.id, viewer.id)) is not None
    respondable = not await muted(session, share.membership_id)
    return SharedItem(
        submission_id=submission.id,
        text=submission.text,
        media_type=submission.media_type,
        file_id=submission.file_id,
        theme=submission.theme,
        shown=shown,
        recognised=recognised,
        respondable=respondable,
    )


async def shared_page(
    session: AsyncSession, *, viewer: Membership, theme: str | None, offset: int, limit: int = PAGE
) -> SharedPage:
    """What others shared in the viewer's process, newest first, never the viewer's own."""
    conditions = [*_visible(viewer.process_id), Share.membership_id != viewer.id]
    if theme is not None:
        conditions.append(Submission.theme == theme)
    base = select(Share, Submission).join(Submission, Submission.id == Share.submission_id).where(*conditions)  # type: ignore[arg-type]
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = (
        await session.execute(
            base.order_by(Share.created_at.desc(), Share.id.desc()).offset(max(0, offset)).limit(limit)
        )
    ).all()
    items = [await shared_item(session, viewer, share, submission) for share, submission in rows]
    return SharedPage(items, int(total or 0), max(0, offset))


async def visible_share(session: AsyncSession, *, viewer: Membership, submission_id: int) -> Share | None:
    """The share of ``submission_id`` if the viewer may act on it (shared in their process, shown,
    not their own)."""
    share = await session.scalar(
        select(Share)
        .join(Submission, Submission.id == Share.submission_id)
        .where(Share.submission_id == submission_id, *_visible(viewer.process_id))  # type: ignore[arg-type]
    )
    if share is None or share.membership_id == viewer.id:
        return None
    return share


async def toggle_recognition(
    session: AsyncSession, *, viewer: Membership, submission_id: int, now: datetime
) -> SharedItem | None:
    """Recognise or stop recognising; ``None`` when the observation is no longer shared."""
    share = await visible_share(session, viewer=viewer, submission_id=submission_id)
    if share is None:
        return None
    existing = await session.get(Recognition, (submission_id, viewer.id))
    if existing is not None:
        await session.delete(existing)
    else:
        session.add(Recognition(submission_id=submission_id, membership_id=viewer.id, created_at=now))
    await session.flush()
    submission = await session.get(Submission, submission_id)
    assert submission is not None
    return await shared_item(session, viewer, share, submission)


@dataclass(frozen=True)
class CopySent:
    submission_id: int
    chat_id: int
    message_id: int
    media: bool


async def record_copies(
    session: AsyncSession, *, viewer_id: int, copies: Sequence[CopySent], now: datetime
) -> None:
    for copy in copies:
        session.add(
            SharedCopy(
                submission_id=copy.submission_id,
                membership_id=viewer_id,
                chat_id=copy.chat_id,
                message_id=copy.message_id,
                media=copy.media,
                created_at=now,
            )
        )


async def withdrawn_copies(session: AsyncSession, *, limit: int = 200) -> list[tuple[SharedCopy, str]]:
    """Copies whose observation is no longer shared (unshared, hidden or erased), with the
    viewer's language, to be edited and then dropped."""
    from storage.models import User

    still_shared = (
        select(Share.submission_id)
        .join(Submission, Submission.id == Share.submission_id)
        .where(Submission.hidden.is_(False), Submission.kind == "observation")
    )
    rows = await session.execute(
        select(SharedCopy, User.language)
        .join(Membership, Membership.id == SharedCopy.membership_id)
        .join(User, User.id == Membership.user_id)
        .where(or_(SharedCopy.submission_id.is_(None), SharedCopy.submission_id.not_in(still_shared)))
        .order_by(SharedCopy.id)
        .limit(limit)
    )
    return [(copy, language or "fi") for copy, language in rows.all()]


async def drop_copies(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(SharedCopy).where(SharedCopy.id.in_(list(ids))))


@dataclass(frozen=True)
class AckDue:
    share_id: int
    submission: Submission
    chat_id: int
    message_id: int
    shared: ShareDisplay
    language: str


async def acks_due(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[AckDue]:
    """Shared observations whose acknowledgement shows an old recognition count and was not edited
    in the last hour."""
    from storage.models import User

    counts = (
        select(Recognition.submission_id, func.count().label("n"))
        .group_by(Recognition.submission_id)
        .subquery()
    )
    count = func.coalesce(counts.c.n, 0)
    rows = await session.execute(
        select(Share, Submission, count, User.language)
        .join(Submission, Submission.id == Share.submission_id)
        .join(Membership, Membership.id == Share.membership_id)
        .join(User, User.id == Membership.user_id)
        .outerjoin(counts, counts.c.submission_id == Share.submission_id)
        .where(
            Share.ack_message_id.is_not(None),
            count != Share.ack_count_shown,
            or_(Share.ack_edited_at.is_(None), Share.ack_edited_at <= now - ACK_EDIT_INTERVAL),
        )
        .order_by(Share.id)
        .limit(limit)
    )
    due: list[AckDue] = []
    for share, submission, _count, lang in rows.all():
        shared = await display(session, submission)
        if shared is not None:
            ack = (int(share.ack_chat_id or 0), int(share.ack_message_id or 0))
            due.append(AckDue(share.id, submission, *ack, shared, lang or "fi"))
    return due


async def ack_edited(session: AsyncSession, *, share_id: int, count: int, now: datetime) -> None:
    share = await session.get(Share, share_id)
    if share is not None:
        share.ack_count_shown = count
        share.ack_edited_at = now


async def set_muted(session: AsyncSession, membership: Membership, *, muted: bool) -> None:
    """``/shared mute``: nobody can respond to what this participant shared until unmuted."""
    (await preference(session, membership.id)).muted = muted


@dataclass(frozen=True)
class ShareDisplay:
    """What the author's acknowledgement says of a shared observation."""

    shown: Attributed
    recognised: int


async def display(session: AsyncSession, submission: Submission) -> ShareDisplay | None:
    share = await share_of(session, submission.id)
    if share is None:
        return None
    if submission.anonymous and share.level != "anyone":
        # Marked anonymous after it was shared: from now on "a participant".
        share.level = "anyone"
    author = await session.get(Membership, share.membership_id)
    shown = (
        await attributed(session, author, share.level)
        if author is not None
        else Attributed("anyone", None, None)
    )
    return ShareDisplay(shown, await recognition_count(session, submission.id))
