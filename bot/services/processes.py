"""Processes: creating one from a process file, invite codes, listing."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.domain.bounds import plain_number
from bot.domain.loop_nudge import loop_nudge_prompts
from bot.domain.programme import ProcessSpec, PromptSpec
from bot.domain.rehearsal import spec_kept_reminders
from storage.models import Membership, Organisation, Process, Prompt, Workshop


def new_code(prefix: str) -> str:
    """An invite code for ``t.me/<bot>?start=<code>``: URL-safe, unguessable, well under 64 chars."""
    return prefix + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def whole_seconds(value: timedelta | None) -> int | None:
    """A duration as the whole seconds the database stores (``remind_after_s``)."""
    return int(value.total_seconds()) if value is not None else None


def prompt_row(process_id: int, prompt: PromptSpec, now: datetime, *, keep_reminder: bool = True) -> Prompt:
    """The stored prompt. Without ``keep_reminder`` (the week's reminders are used up, see
    :func:`bot.domain.planning.kept_reminders`) it is stored without its automatic reminder."""
    return Prompt(
        process_id=process_id,
        key=prompt.id,
        phase=prompt.phase,
        kind=prompt.kind,
        texts=dict(prompt.texts),
        options=[dict(option) for option in prompt.options],
        remind_after_s=whole_seconds(prompt.remind_after) if keep_reminder else None,
        position=prompt.order,
        due_at=prompt.due_at,
        closes_at=prompt.closes_at,
        active=True,
        created_at=now,
    )


def apply_settings(process: Process, spec: ProcessSpec, source_yaml: str) -> None:
    process.name = spec.name
    process.language = spec.language
    process.timezone = spec.timezone
    process.quiet_start = spec.quiet_hours[0].strftime("%H:%M") if spec.quiet_hours else None
    process.quiet_end = spec.quiet_hours[1].strftime("%H:%M") if spec.quiet_hours else None
    process.skip_weekends = spec.skip_weekends
    process.holidays = spec.holidays
    process.no_send = [str(item) for item in spec.no_send]
    process.daily_cap = spec.daily_cap
    process.reminders_per_week = spec.reminders_per_week
    process.digest_spec = str(spec.digest)
    process.min_group = spec.min_group
    process.retention_days = spec.retention_days
    process.invites_until = spec.invites_until
    process.end_at = spec.end_at
    process.source_yaml = source_yaml


async def create_process(
    session: AsyncSession, *, spec: ProcessSpec, source_yaml: str, created_by: int | None, now: datetime
) -> Process:
    process = Process(
        participant_code=new_code("p"),
        facilitator_code=new_code("f"),
        created_at=now,
        created_by=created_by,
    )
    apply_settings(process, spec, source_yaml)
    session.add(process)
    await session.flush()
    for position, name in enumerate(spec.organisations):
        session.add(Organisation(process_id=process.id, name=name, position=position))
    for workshop in spec.workshops:
        session.add(
            Workshop(
                process_id=process.id, number=workshop.number, starts_at=workshop.at_utc, place=workshop.place
            )
        )
    kept = spec_kept_reminders(spec)
    for prompt in spec.prompts:
        session.add(prompt_row(process.id, prompt, now, keep_reminder=prompt.id in kept))
    for nudge in loop_nudge_prompts(spec):
        session.add(prompt_row(process.id, nudge, now, keep_reminder=False))
    await session.flush()
    loaded = await get_process(session, process.id)
    assert loaded is not None
    await session.refresh(loaded, ["organisations", "workshops"])
    return loaded


async def get_process(session: AsyncSession, process_id: int) -> Process | None:
    return await session.scalar(
        select(Process)
        .where(Process.id == process_id)
        .options(selectinload(Process.organisations), selectinload(Process.workshops))
    )


async def find_process(session: AsyncSession, reference: str) -> Process | None:
    """A process by id or by exact name, for the CLI."""
    if reference.strip().isdigit():
        process_id = plain_number(reference)
        return await get_process(session, process_id) if process_id is not None else None
    process_id = await session.scalar(select(Process.id).where(Process.name == reference))
    return await get_process(session, process_id) if process_id is not None else None


async def list_processes(session: AsyncSession) -> list[tuple[Process, int, int]]:
    """Every process with its participant and facilitator counts."""
    participants = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.process_id == Process.id, Membership.is_facilitator.is_(False))
        .scalar_subquery()
    )
    facilitators = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.process_id == Process.id, Membership.is_facilitator.is_(True))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Process, participants, facilitators)
        .options(selectinload(Process.workshops))
        .order_by(Process.created_at, Process.id)
    )
    return [(process, int(p), int(f)) for process, p, f in rows.all()]


def rotate_links(process: Process) -> None:
    """New invite codes for both links: the old links stop working at once (a link that leaked)."""
    process.participant_code = new_code("p")
    process.facilitator_code = new_code("f")
