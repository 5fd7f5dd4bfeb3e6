"""The export and the digest on disk: nothing already there is overwritten unless asked (--force), and
no CSV cell can run as a formula, however the formula hides."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from bot.cli import build_parser
from bot.digest_cli import EXIT_EXISTS, write_digest, write_export
from bot.domain.clock import FakeClock
from bot.services.export import CSV_DELIMITER, XLSX_NAME
from bot.services.export import write_export as export_process
from bot.settings import Settings
from storage.models import Submission
from tests.support.seed import Seeded, seed_process

DISGUISED = (
    ' =HYPERLINK("http://example.invalid","klikkaa")',
    "\n=1+1",
    "＝1+1",
    "\u200b=1+1",
    "＠SUM(A1)",
)


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db)


def cli_settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


async def test_an_earlier_export_is_not_overwritten_without_force(db, seeded, tmp_path, capsys) -> None:
    out = tmp_path / "vienti"
    clock = FakeClock(seeded.end)
    assert await write_export(cli_settings(), reference="1", out=out, database=db, clock=clock) == 0
    (out / XLSX_NAME).write_bytes(b"facilitator's own notes")

    status = await write_export(cli_settings(), reference="1", out=out, database=db, clock=clock)

    assert status == EXIT_EXISTS
    complaint = capsys.readouterr().err
    assert "already holds an export" in complaint and "--force" in complaint
    assert (out / XLSX_NAME).read_bytes() == b"facilitator's own notes"
    assert (
        await write_export(cli_settings(), reference="1", out=out, database=db, clock=clock, force=True) == 0
    )
    assert (out / XLSX_NAME).read_bytes() != b"facilitator's own notes"


async def test_export_out_onto_an_existing_file_is_refused(db, seeded, tmp_path, capsys) -> None:
    target = tmp_path / "tärkeä.xlsx"
    target.write_bytes(b"keep me")
    status = await write_export(
        cli_settings(), reference="1", out=target, database=db, clock=FakeClock(seeded.end), force=True
    )
    assert status == EXIT_EXISTS and "is a file" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"


async def test_the_digest_does_not_overwrite_a_file_without_force(db, seeded, tmp_path, capsys) -> None:
    target = tmp_path / "kooste.html"
    target.write_text("vanha", encoding="utf-8")
    clock = FakeClock(seeded.end)
    settings = cli_settings()

    status = await write_digest(settings, reference="1", since=None, out=target, database=db, clock=clock)
    assert status == EXIT_EXISTS and "already exists" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "vanha"

    forced = await write_digest(
        settings, reference="1", since=None, out=target, database=db, clock=clock, force=True
    )
    assert forced == 0 and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_command_line_offers_force() -> None:
    parser = build_parser()
    assert parser.parse_args(["export", "1", "--out", "vienti", "--force"]).force is True
    assert parser.parse_args(["export", "1", "--out", "vienti"]).force is False
    assert parser.parse_args(["digest", "1", "--force"]).force is True


async def test_a_disguised_formula_in_a_csv_cell_is_neutralised(db, seeded, tmp_path) -> None:
    async with db.session() as session:
        for offset, text in enumerate(DISGUISED):
            session.add(
                Submission(
                    process_id=seeded.process_id,
                    membership_id=seeded.member_ids["kunta-tyo-3"],
                    kind="observation",
                    text=text,
                    created_at=seeded.start + timedelta(hours=30 + offset),
                )
            )
        await session.commit()
    result = await export_process(db, process_id=seeded.process_id, directory=tmp_path, now=seeded.end)
    assert result is not None

    with result.csv["observations"].open(encoding="utf-8-sig", newline="") as handle:
        cells = [row["text"] for row in csv.DictReader(handle, delimiter=CSV_DELIMITER)]
    for text in DISGUISED:
        assert "'" + text in cells
        assert text not in cells
