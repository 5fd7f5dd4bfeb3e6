"""What the facilitator's room shows, as plain data: the process at a glance, what people sent, the
programme — under the digest's privacy rules.

The list of observations and ideas is attributed like the digest (:class:`DigestAttribution`): a
group from the cell partition (small groups merged, so ``min_group`` holds), a name only where the
participant allowed it and the submission is not anonymous. The only group filter offered is that
same partition, so narrowing a list never singles out fewer people than the digest shows. Check-in
choices are never listed one by one (the digest shows them only in aggregate); a comment written with
one is. The programme edit goes through :func:`bot.domain.programme.edit.edit_prompt` and then
:func:`bot.services.outbox.replace_programme`, the code path of an uploaded ``/programme`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.digest_model import DigestFacts, IdeaFacts, Participation
from bot.domain.digest_sections import Audience, participation
from bot.domain.privacy import Attribution, DigestAttribution, Group, Partition, cell_partition
from bot.domain.process import phase_at
from bot.domain.programme import ProcessSpec, parse_process
from bot.domain.programme.edit import EditProblems, PromptEdit, edit_prompt
from bot.domain.states import Consent, DeliveryState
from bot.services import digest as digests
from bot.services.facilitator_views import Roster, roster
from bot.services.outbox import ProgrammeChange, replace_programme
from bot.services.people import ROLES
from messages import Catalog
from storage.models import Delivery, Membership, Process, Prompt, Submission, Support, User, Workshop

__all__ = [
    "KINDS",
    "PAGE",
    "ItemFilters",
    "ItemPage",
    "ListedItem",
    "OverviewData",
    "ProgrammeState",
    "RoomAccess",
    "access",
    "facilitator_chats",
    "item_page",
    "merge_targets",
    "overview",
    "programme_prompts",
    "save_prompt",
    "stored_spec",
]

KINDS: tuple[str, ...] = ("observation", "idea", "answer", "experiment")
PAGE = 50
SEARCH_MAX = 100


@dataclass(frozen=True)
class RoomAccess:
    """A consenting user and the processes they facilitate (id, name), most recent first."""

    user_id: int
    language: str | None
    processes: tuple[tuple[int, str], ...]
    active_process_id: int | None


async def access(session: AsyncSession, *, user_id: int) -> RoomAccess | None:
    """The user's facilitator memberships, or ``None`` when there are none (or no consent)."""
    user = await session.get(User, user_id)
    if user is None or user.consent != Consent.GIVEN:
        return None
    rows = (
        await session.execute(
            select(Process.id, Process.name, Membership.id)
            .join(Membership, Membership.process_id == Process.id)
            .where(Membership.user_id == user_id, Membership.is_facilitator.is_(True))
            .order_by(Process.created_at.desc(), Process.id.desc())
        )
    ).all()
    if not rows:
        return None
    active = next((pid for pid, _, mid in rows if mid == user.active_membership_id), None)
    return RoomAccess(
        user_id=user_id,
        language=user.language,
        processes=tuple((int(pid), str(name)) for pid, name, _ in rows),
        active_process_id=active,
    )


async def facilitator_chats(session: AsyncSession) -> list[tuple[int, str | None]]:
    """Every consenting facilitator (Telegram id, language), once each: whose chat gets the room."""
    rows = await session.execute(
        select(User.id, User.language)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.is_facilitator.is_(True), User.consent == Consent.GIVEN)
        .distinct()
        .order_by(User.id)
    )
    return [(int(user_id), language) for user_id, language in rows.all()]


async def _counts(session: AsyncSession, statement: Any) -> dict[int, int]:
    return {int(key): int(count) for key, count in (await session.execute(statement)).all()}


async def _participation_facts(session: AsyncSession, process: Process, now: datetime) -> DigestFacts:
    """What the digest's participation section needs for the whole process so far: a few grouped
    counts (no texts, no ideas, no chart weeks)."""
    contributions = await _counts(
        session,
        select(Submission.membership_id, func.count())
        .where(Submission.process_id == process.id, Submission.hidden.is_(False), Submission.created_at < now)
        .group_by(Submission.membership_id),
    )
    supports = await _counts(
        session,
        select(Support.membership_id, func.count())
        .join(Submission, Submission.id == Support.idea_id)
        .where(Submission.process_id == process.id)
        .group_by(Support.membership_id),
    )
    sent = await digests.sent_counts(session, process.id)
    return DigestFacts(
        process_id=process.id,
        process_name=process.name,
        timezone=process.timezone,
        start=process.created_at,
        end=now,
        now=now,
        process_end=process.end_at,
        min_group=max(1, process.min_group or 1),
        organisations=await digests.organisation_names(session, process.id),
        roles=ROLES,
        workshops=(),
        prompts=await digests.prompt_infos(session, process.id),
        members=await digests.load_members(session, process.id),
        contributions=contributions,
        supports_given=supports,
        sent=sent,
        ideas=IdeaFacts(0, 0, 0, ()),
        hours=(),
    )


async def _audience(session: AsyncSession, process: Process, now: datetime) -> tuple[Audience, Participation]:
    facts = await _participation_facts(session, process, now)
    audience = Audience.of(facts)
    return audience, participation(facts, audience)


@dataclass(frozen=True)
class OverviewData:
    process: Process
    workshops: tuple[Workshop, ...]
    phase: int
    participation: Participation
    groups: tuple[Group, ...]
    """The cell partition's groups: what the items view may filter by."""
    roster: Roster


async def overview(session: AsyncSession, process: Process, now: datetime) -> OverviewData:
    audience, taking_part = await _audience(session, process, now)
    workshops = tuple(
        await session.scalars(
            select(Workshop).where(Workshop.process_id == process.id).order_by(Workshop.number)
        )
    )
    return OverviewData(
        process=process,
        workshops=workshops,
        phase=phase_at([w.starts_at for w in workshops], now),
        participation=taking_part,
        groups=audience.cells.order,
        roster=await roster(session, process),
    )


@dataclass(frozen=True)
class ItemFilters:
    kind: str | None = None
    theme: str | None = None
    phase: int | None = None
    search: str | None = None
    group: int | None = None
    """An index into the cell partition's groups (as the overview lists them)."""
    hidden: bool = False
    """Include hidden submissions (to restore them)."""
    offset: int = 0


@dataclass(frozen=True)
class ListedItem:
    id: int
    kind: str
    text: str | None
    title: str | None
    media_type: str | None
    theme: str | None
    anonymous: bool
    hidden: bool
    created_at: datetime
    phase: int
    by: Attribution
    supports: int | None
    """Only for ideas."""
    prompt_texts: dict[str, str] | None


@dataclass(frozen=True)
class ItemPage:
    items: tuple[ListedItem, ...]
    total: int
    offset: int
    groups: tuple[Group, ...]


def _phase_bounds(starts: Sequence[datetime], phase: int) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if phase > 0 and phase <= len(starts):
        conditions.append(Submission.created_at >= starts[phase - 1])
    if phase < len(starts):
        conditions.append(Submission.created_at < starts[phase])
    return conditions


def _conditions(
    process_id: int,
    filters: ItemFilters,
    starts: Sequence[datetime],
    cells: Partition,
    member_ids: Sequence[int],
) -> list[ColumnElement[bool]]:
    kinds = (filters.kind,) if filters.kind in KINDS else KINDS
    conditions: list[ColumnElement[bool]] = [
        Submission.process_id == process_id,
        Submission.kind.in_(kinds),
        Submission.merged_into_id.is_(None),
        # A check-in choice on its own is never listed: the digest shows choices only in aggregate.
        or_(Submission.kind != "answer", Submission.text.is_not(None), Submission.media_type.is_not(None)),
    ]
    if not filters.hidden:
        conditions.append(Submission.hidden.is_(False))
    if filters.theme:
        conditions.append(Submission.theme == filters.theme)
    if filters.phase is not None:
        conditions.extend(_phase_bounds(starts, filters.phase))
    if filters.search:
        pattern = "%" + filters.search[:SEARCH_MAX].replace("\\", "").replace("%", "").replace("_", "") + "%"
        conditions.append(
            or_(
                func.lower(Submission.text).like(pattern.lower()),
                func.lower(Submission.title).like(pattern.lower()),
            )
        )
    if filters.group is not None:
        wanted = cells.order[filters.group] if 0 <= filters.group < len(cells.order) else None
        # Anyone outside the partition (a facilitator, someone who joined later) counts as "other".
        chosen = [member_id for member_id in member_ids if cells.of(member_id) == wanted]
        conditions.append(Submission.membership_id.in_(chosen or [-1]))
    return conditions


async def item_page(session: AsyncSession, process: Process, filters: ItemFilters, now: datetime) -> ItemPage:
    """One page of the process's observations, ideas, answers and experiment logs, newest first."""
    members = await digests.load_members(session, process.id)
    participants = [m for m in members if m.participant and m.joined_at < now]
    organisations = await digests.organisation_names(session, process.id)
    cells = cell_partition(participants, max(1, process.min_group or 1), organisations, ROLES)
    attribute = DigestAttribution({m.id: m for m in members}, cells)
    starts = list(
        await session.scalars(
            select(Workshop.starts_at).where(Workshop.process_id == process.id).order_by(Workshop.number)
        )
    )
    conditions = _conditions(process.id, filters, starts, cells, [m.id for m in members])
    total = int(await session.scalar(select(func.count()).select_from(Submission).where(*conditions)) or 0)
    supports = select(func.count()).where(Support.idea_id == Submission.id).scalar_subquery()
    rows = (
        await session.execute(
            select(Submission, supports, Prompt.texts)
            .outerjoin(Prompt, Prompt.id == Submission.prompt_id)
            .where(*conditions)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
            .offset(max(0, filters.offset))
            .limit(PAGE)
        )
    ).all()
    items = tuple(
        ListedItem(
            id=item.id,
            kind=item.kind,
            text=item.text,
            title=item.title if item.kind in ("idea", "experiment") else None,
            media_type=item.media_type,
            theme=item.theme,
            anonymous=item.anonymous,
            hidden=item.hidden,
            created_at=item.created_at,
            phase=phase_at(starts, item.created_at),
            by=attribute(item.membership_id, item.anonymous),
            supports=int(count) if item.kind == "idea" else None,
            prompt_texts=texts,
        )
        for item, count, texts in rows
    )
    return ItemPage(items, total, filters.offset, cells.order)


async def merge_targets(session: AsyncSession, process_id: int) -> tuple[tuple[int, str], ...]:
    """Every visible idea of the process (id, title), oldest first: what an idea may be merged into."""
    rows = await session.execute(
        select(Submission.id, Submission.title)
        .where(
            Submission.process_id == process_id,
            Submission.kind == "idea",
            Submission.hidden.is_(False),
            Submission.merged_into_id.is_(None),
        )
        .order_by(Submission.id)
    )
    return tuple((int(idea_id), title or "—") for idea_id, title in rows.all())


def stored_spec(process: Process) -> ProcessSpec:
    """The process's programme as last uploaded (``ProcessFileError`` if it no longer reads)."""
    return parse_process(process.source_yaml, source=process.name)


@dataclass(frozen=True)
class ProgrammeState:
    spec: ProcessSpec
    deliveries: dict[str, int]
    """Per prompt id, how many deliveries it has (0 for none yet)."""
    planned: dict[str, datetime]
    """Per prompt id, when its first unsent delivery goes out: the programme time moved by the
    calendar rules (quiet hours, weekends, holidays, caps), as the planner decided."""


async def programme_prompts(session: AsyncSession, process: Process) -> ProgrammeState:
    """The programme as written, with what the outbox holds of each prompt."""
    rows = (
        await session.execute(
            select(
                Prompt.key,
                func.count(Delivery.id),
                func.min(case((Delivery.state.in_(_UNSENT), Delivery.due_at), else_=None)),
            )
            .outerjoin(Delivery, Delivery.prompt_id == Prompt.id)
            .where(Prompt.process_id == process.id, Prompt.active.is_(True))
            .group_by(Prompt.key)
        )
    ).all()
    deliveries = {key: int(count) for key, count, _ in rows}
    planned = {key: _aware(first) for key, _, first in rows if first is not None}
    return ProgrammeState(stored_spec(process), deliveries, planned)


_UNSENT = (DeliveryState.PENDING, DeliveryState.SENDING)


def _aware(value: datetime | str) -> datetime:
    """``min()`` over a CASE comes back from SQLite as text; both backends give UTC."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def save_prompt(
    session: AsyncSession, process: Process, edit: PromptEdit, now: datetime, catalog: Catalog
) -> ProgrammeChange | EditProblems:
    """Apply one prompt's edit as if the facilitator had uploaded the whole file edited so."""
    result = edit_prompt(stored_spec(process), edit, catalog=catalog)
    if isinstance(result, EditProblems):
        return result
    spec, text = result
    return await replace_programme(session, process, spec, text, now)
