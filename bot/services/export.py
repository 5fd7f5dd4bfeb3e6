"""Exports of a whole process: an XLSX workbook, the same sheets as CSV, and JSON.

Column names are stable (documented in ``docs/export-columns.md``); values are codes where a code
exists (``theme``, ``role``, ``kind``) so a spreadsheet or a script can rely on them. Times are the
process's local time.

Privacy: hidden submissions and merged ideas are left out; authors follow the export's attribution
policy (:class:`bot.domain.privacy.ExportAttribution`: name or pseudonym, nothing of an anonymous
author beyond a big enough group), and an anonymous submission is not counted in its author's row of
the participation sheet.

Each sheet is a query and a row builder (:class:`_Rows`). Rows are read from the database in
batches, each its own short unit of work; building and writing a batch happens in a worker thread,
so a large process neither fills memory, nor stalls the bot, nor keeps the database's connection.
Text that a spreadsheet would run as a formula is neutralised.
"""

from __future__ import annotations

import asyncio
import csv
import json
import zipfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.digest_model import PromptInfo
from bot.domain.digest_sections import option_value
from bot.domain.loop_nudge import FACILITATOR_KINDS
from bot.domain.privacy import ExportAttribution, Member, cell_partition
from bot.domain.sharing import RELAY_KIND
from bot.domain.states import DeliveryState
from bot.domain.text import localized, spreadsheet_safe
from bot.services import export_dialogue as dialogue
from bot.services.digest import load_members, organisation_names, prompt_infos, read_rows
from bot.services.export_xlsx import Workbook
from bot.services.people import ROLES
from storage.db import Database
from storage.models import Delivery, Process, Prompt, Submission, Support

__all__ = [
    "COLUMNS",
    "CSV_DELIMITER",
    "JSON_NAME",
    "SHEETS",
    "XLSX_NAME",
    "ExportResult",
    "csv_name",
    "write_export",
    "zip_csv_json",
]

SHEETS = ("observations", "ideas", "answers", "check-ins", "experiments", "participation", *dialogue.SHEETS)
AUTHOR = ("author", "organisation", "role")
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "observations": ("ref", "created_at", "updated_at", "theme", "text", "media_type", "anonymous", *AUTHOR),
    "ideas": (
        "ref",
        "created_at",
        "title",
        "need",
        "partners",
        "first_experiment",
        "supports",
        "anonymous",
        *AUTHOR,
    ),
    "answers": (
        "ref",
        "created_at",
        "prompt_key",
        "prompt_kind",
        "prompt_text",
        "text",
        "media_type",
        "anonymous",
        *AUTHOR,
    ),
    "check-ins": (
        "ref",
        "created_at",
        "prompt_key",
        "prompt_text",
        "choice",
        "option_number",
        "value",
        "comment",
        "anonymous",
        *AUTHOR,
    ),
    "experiments": (
        "ref",
        "created_at",
        "title",
        "idea_ref",
        "done",
        "happened",
        "learned",
        "obstacles",
        "anonymous",
        *AUTHOR,
    ),
    "participation": (
        "participant",
        "organisation",
        "role",
        "joined_at",
        "observations",
        "ideas",
        "answers",
        "check_ins",
        "experiments",
        "supports_given",
        "prompts_sent",
        "prompts_answered",
    ),
    **dialogue.COLUMNS,
}
"""Every sheet's columns, in order. Changing them breaks people's spreadsheets: add, never rename."""

XLSX_NAME = "valitupa-export.xlsx"
JSON_NAME = "valitupa-export.json"
CSV_DELIMITER = ";"
"""Excel in Finnish and Swedish locales splits CSV on semicolons (the comma is the decimal mark)."""
BATCH = 2000


def csv_name(sheet: str) -> str:
    return f"{sheet}.csv"


@dataclass
class ExportResult:
    directory: Path
    xlsx: Path
    json: Path
    csv: dict[str, Path]
    timezone: str
    rows: dict[str, int] = field(default_factory=dict)


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """Local time of the process, to the second (workbooks get it without the offset)."""
    return value.astimezone(tz).replace(microsecond=0) if value is not None else None


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:g}"
    return spreadsheet_safe(str(value))


_JSON_RECORD = json.JSONEncoder(ensure_ascii=False)


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


class _Writers:
    """One XLSX workbook, one CSV per sheet and one JSON document, written side by side."""

    def __init__(self, directory: Path, tz: ZoneInfo, header: Mapping[str, Any]) -> None:
        self.directory = directory
        self.tz = tz
        self.workbook = Workbook(directory / XLSX_NAME)
        self.csv_files: dict[str, IO[str]] = {}
        self.csv_writers: dict[str, Any] = {}
        self.rows: Counter[str] = Counter()
        self.json_file = (directory / JSON_NAME).open("w", encoding="utf-8")
        self.json_file.write("{\n")
        for key, value in header.items():
            self.json_file.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        self.json_sheet: str | None = None

    def begin(self, sheet: str) -> None:
        columns = COLUMNS[sheet]
        self.workbook.begin(sheet, columns)
        handle = (self.directory / csv_name(sheet)).open("w", encoding="utf-8-sig", newline="")
        self.csv_files[sheet] = handle
        writer = csv.writer(handle, delimiter=CSV_DELIMITER, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(columns)
        self.csv_writers[sheet] = writer
        if self.json_sheet is not None:
            self.json_file.write("\n],\n")
        self.json_file.write(f"{json.dumps(sheet)}: [")
        self.json_sheet = sheet

    def write(self, sheet: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        self.workbook.write(sheet, rows)
        self.csv_writers[sheet].writerows([[_csv_value(value) for value in row] for row in rows])
        columns = COLUMNS[sheet]
        dumps = _JSON_RECORD.encode
        records = (
            dumps({column: _json_value(value) for column, value in zip(columns, row, strict=True)})
            for row in rows
        )
        self.json_file.write((",\n" if self.rows[sheet] else "\n") + ",\n".join(records))
        self.rows[sheet] += len(rows)

    def close(self) -> None:
        if self.json_sheet is not None:
            self.json_file.write("\n]")
        self.json_file.write("\n}\n")
        self.json_file.close()
        for handle in self.csv_files.values():
            handle.close()
        self.workbook.close()


Builder = Callable[[Any], "list[object] | None"]
Keys = tuple[Any, Any]
"""A sheet's order: its ``created_at`` and ``id`` columns."""


class _Rows:
    """One row builder per sheet. Counts each member's own (not anonymous) rows as it goes, for the
    participation sheet written last."""

    def __init__(
        self, tz: ZoneInfo, people: ExportAttribution, prompts: Mapping[int, PromptInfo], language: str
    ) -> None:
        self.tz = tz
        self.people = people
        self.prompts = prompts
        self.language = language
        self.counts: dict[int, Counter[str]] = defaultdict(Counter)

    def builders(self) -> dict[str, Builder]:
        return {
            "observations": self.observation,
            "ideas": self.idea,
            "answers": self.answer,
            "check-ins": self.checkin,
            "experiments": self.experiment,
        }

    def _own(self, row: Any, column: str) -> list[object]:
        """The row's last columns (anonymous, author, organisation, role), counting it as the
        author's own unless anonymous."""
        if not row.anonymous:
            self.counts[row.membership_id][column] += 1
        author = self.people.author(row.membership_id, row.anonymous)
        return [bool(row.anonymous), author.author, author.organisation, author.role]

    def _prompt_text(self, prompt: PromptInfo) -> str:
        return localized(prompt.texts or {}, self.language)

    def observation(self, row: Any) -> list[object]:
        return [
            row.id,
            _local(row.created_at, self.tz),
            _local(row.updated_at, self.tz),
            row.theme or "",
            row.text or "",
            row.media_type or "",
            *self._own(row, "observations"),
        ]

    def idea(self, row: Any) -> list[object]:
        return [
            row.id,
            _local(row.created_at, self.tz),
            row.title or "",
            row.need or "",
            row.partners or "",
            row.first_experiment or "",
            int(row.total or 0),
            *self._own(row, "ideas"),
        ]

    def answer(self, row: Any) -> list[object] | None:
        prompt = self.prompts.get(row.prompt_id)
        if prompt is not None and prompt.kind == "checkin":
            return None
        return [
            row.id,
            _local(row.created_at, self.tz),
            prompt.key if prompt else "",
            prompt.kind if prompt else "",
            self._prompt_text(prompt) if prompt else "",
            row.text or "",
            row.media_type or "",
            *self._own(row, "answers"),
        ]

    def checkin(self, row: Any) -> list[object]:
        prompt = self.prompts[row.prompt_id]
        picked = option_value(prompt.options or [], row.choice)
        return [
            row.id,
            _local(row.created_at, self.tz),
            prompt.key,
            self._prompt_text(prompt),
            row.choice or "",
            picked[0] + 1 if picked else None,
            picked[1] if picked else None,
            row.text or "",
            *self._own(row, "check_ins"),
        ]

    def experiment(self, row: Any) -> list[object]:
        return [
            row.id,
            _local(row.created_at, self.tz),
            row.title or "",
            row.idea_id,
            row.text or "",
            row.happened or "",
            row.learned or "",
            row.obstacles or "",
            *self._own(row, "experiments"),
        ]

    def participation(
        self, members: Sequence[Member], given: Mapping[int, int], delivered: Mapping[int, tuple[int, int]]
    ) -> list[list[object]]:
        rows: list[list[object]] = []
        for member in members:
            if not member.participant:
                continue
            made = self.counts[member.id]
            sent, answered = delivered.get(member.id, (0, 0))
            rows.append(
                [
                    self.people.label(member),
                    member.organisation or "",
                    member.role or "",
                    _local(member.joined_at, self.tz),
                    made["observations"],
                    made["ideas"],
                    made["answers"],
                    made["check_ins"],
                    made["experiments"],
                    int(given.get(member.id, 0)),
                    sent,
                    answered,
                ]
            )
        return rows


def _content_queries(process_id: int, prompts: Mapping[int, PromptInfo]) -> dict[str, Any]:
    """Each content sheet's rows, oldest first."""
    visible = (Submission.process_id == process_id, Submission.hidden.is_(False))
    order = (Submission.created_at, Submission.id)
    supports = (
        select(Support.idea_id.label("idea_id"), func.count().label("total"))
        .group_by(Support.idea_id)
        .subquery()
    )
    answer_columns = (
        Submission.id,
        Submission.membership_id,
        Submission.created_at,
        Submission.prompt_id,
        Submission.text,
        Submission.media_type,
        Submission.choice,
        Submission.anonymous,
    )
    checkin_ids = [prompt_id for prompt_id, prompt in prompts.items() if prompt.kind == "checkin"]
    return {
        "observations": select(
            Submission.id,
            Submission.membership_id,
            Submission.created_at,
            Submission.updated_at,
            Submission.theme,
            Submission.text,
            Submission.media_type,
            Submission.anonymous,
        )
        .where(*visible, Submission.kind == "observation")
        .order_by(*order),
        "ideas": select(
            Submission.id,
            Submission.membership_id,
            Submission.created_at,
            Submission.title,
            Submission.need,
            Submission.partners,
            Submission.first_experiment,
            Submission.anonymous,
            supports.c.total,
        )
        .outerjoin(supports, supports.c.idea_id == Submission.id)
        .where(*visible, Submission.kind == "idea", Submission.merged_into_id.is_(None))
        .order_by(*order),
        "answers": select(*answer_columns).where(*visible, Submission.kind == "answer").order_by(*order),
        "check-ins": select(*answer_columns)
        .where(*visible, Submission.kind == "answer", Submission.prompt_id.in_(checkin_ids))
        .order_by(*order),
        "experiments": select(
            Submission.id,
            Submission.membership_id,
            Submission.created_at,
            Submission.title,
            Submission.idea_id,
            Submission.text,
            Submission.happened,
            Submission.learned,
            Submission.obstacles,
            Submission.anonymous,
        )
        .where(*visible, Submission.kind == "experiment")
        .order_by(*order),
    }


async def _participation_counts(
    session: AsyncSession, process_id: int
) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """Per member: supports given, and prompts (not reminders) sent and answered."""
    given = {
        int(member_id): int(count)
        for member_id, count in await session.execute(
            select(Support.membership_id, func.count())
            .join(Submission, Submission.id == Support.idea_id)
            .where(Submission.process_id == process_id)
            .group_by(Support.membership_id)
        )
    }
    delivered = {
        int(member_id): (int(sent), int(answered or 0))
        for member_id, sent, answered in await session.execute(
            select(
                Delivery.membership_id,
                func.count(),
                func.sum(case((Delivery.state == DeliveryState.ANSWERED, 1), else_=0)),
            )
            .join(Prompt, Prompt.id == Delivery.prompt_id)
            .where(
                Prompt.process_id == process_id,
                Prompt.kind.not_in(("reminder", RELAY_KIND, *FACILITATOR_KINDS)),
                Delivery.sent_at.is_not(None),
            )
            .group_by(Delivery.membership_id)
        )
    }
    return given, delivered


_ORDER = (Submission.created_at, Submission.id)


async def _batches(db: Database, statement: Any, order: Keys = _ORDER) -> AsyncIterator[Sequence[Any]]:
    """A sheet's rows (ordered by ``order``: its ``created_at`` and ``id`` columns, which every row
    carries by those names) in batches, each its own short unit of work reading after the last row
    of the one before: a long export never keeps the database's connection (SQLite's only one) from
    the rest of the bot, and a database that blinks costs one batch again, not the export."""
    created_at, ident = order
    after: tuple[datetime, int] | None = None
    while True:
        page = statement
        if after is not None:
            # Written out rather than as a row value, so both databases narrow the index range.
            page = statement.where(created_at >= after[0], or_(created_at > after[0], ident > after[1]))
        rows = await read_rows(db, page.limit(BATCH))
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = (rows[-1].created_at, rows[-1].id)


def _write_batch(writers: _Writers, sheet: str, batch: Sequence[Any], build: Builder) -> None:
    rows = [made for row in batch if (made := build(row)) is not None]
    if rows:
        writers.write(sheet, rows)


async def _write_sheet(
    db: Database, writers: _Writers, sheet: str, statement: Any, build: Builder, order: Keys = _ORDER
) -> None:
    """One sheet, batch by batch: while a worker thread builds and writes one batch, the next is
    read from the database."""
    await asyncio.to_thread(writers.begin, sheet)
    writing: asyncio.Future[None] | None = None
    try:
        async for batch in _batches(db, statement, order):
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(asyncio.to_thread(_write_batch, writers, sheet, batch, build))
    finally:
        # Never leave a batch being written behind (the writers are closed next).
        if writing is not None:
            await asyncio.shield(writing)


@dataclass(frozen=True)
class _Facts:
    process: Process
    organisations: tuple[str, ...]
    members: list[Member]
    prompts: dict[int, PromptInfo]


async def _facts(session: AsyncSession, process_id: int) -> _Facts | None:
    process = await session.get(Process, process_id)
    if process is None:
        return None
    return _Facts(
        process,
        await organisation_names(session, process_id),
        await load_members(session, process_id),
        await prompt_infos(session, process_id),
    )


async def write_export(
    db: Database, *, process_id: int, directory: Path, now: datetime
) -> ExportResult | None:
    """Write the XLSX, the CSVs and the JSON of a process into ``directory``; ``None`` if no process.

    Only reads, in short units of work of its own: the process, its people and prompts in one, each
    batch of a sheet's rows in one (:func:`_batches`), the participation counts in one; the files
    are written in worker threads between them, when no connection is held. So it is not one
    snapshot: a submission hidden (or erased) while the export is written is left out of the
    sheets not yet read but stays in a batch already written, and a submission filed meanwhile is
    in the sheets read after it; the participation sheet counts what the content sheets wrote.
    """
    facts = await db.run(lambda session: _facts(session, process_id))
    if facts is None:
        return None
    process, members, prompts = facts.process, facts.members, facts.prompts
    tz = ZoneInfo(process.timezone)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    participants = [member for member in members if member.participant]
    cells = cell_partition(participants, max(1, process.min_group or 1), facts.organisations, ROLES)
    rows = _Rows(tz, ExportAttribution(members, cells), prompts, process.language)
    header = {
        "process": {"id": process.id, "name": process.name, "timezone": process.timezone},
        "generated_at": now.astimezone(tz).isoformat(),
        "columns_version": 1,
    }
    writers = await asyncio.to_thread(_Writers, directory, tz, header)
    try:
        builders = rows.builders()
        for sheet, statement in _content_queries(process_id, prompts).items():
            await _write_sheet(db, writers, sheet, statement, builders[sheet])
        given, delivered = await db.run(lambda session: _participation_counts(session, process_id))
        await asyncio.to_thread(writers.begin, "participation")
        await asyncio.to_thread(writers.write, "participation", rows.participation(members, given, delivered))
        extra = dialogue.builders(rows.people, lambda value: _local(value, tz))
        for sheet, statement in dialogue.queries(process_id).items():
            await _write_sheet(db, writers, sheet, statement, extra[sheet], dialogue.ORDER[sheet])
    finally:
        await asyncio.to_thread(writers.close)
    return ExportResult(
        directory=directory,
        xlsx=directory / XLSX_NAME,
        json=directory / JSON_NAME,
        csv={name: directory / csv_name(name) for name in SHEETS},
        timezone=process.timezone,
        rows={name: writers.rows[name] for name in SHEETS},
    )


def zip_csv_json(result: ExportResult, target: Path) -> Path:
    """The CSVs and the JSON in one ZIP (for sending as a single document)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in SHEETS:
            archive.write(result.csv[name], arcname=csv_name(name))
        archive.write(result.json, arcname=JSON_NAME)
    return target
