"""Exports (XLSX, CSV, JSON) and the digest/export console commands, over the seeded process."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.digest_cli import write_digest, write_export
from bot.domain.clock import FakeClock
from bot.services.export import COLUMNS, CSV_DELIMITER, JSON_NAME, SHEETS, XLSX_NAME, csv_name, zip_csv_json
from bot.services.export import write_export as export_process
from bot.settings import Settings
from storage.models import DigestRun, Submission
from tests.support.seed import (
    ANONYMOUS_ONLY,
    CHECKIN_ANSWERS,
    EXPERIMENTS,
    OBSERVATIONS,
    PEOPLE,
    REFLECTION_ANSWERS,
    Seeded,
    seed_process,
)

CONTENT_SHEETS = ("observations", "ideas", "answers", "check-ins", "experiments")


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db)


async def exported(db, seeded: Seeded, directory: Path):
    result = await export_process(db, process_id=seeded.process_id, directory=directory, now=seeded.end)
    assert result is not None
    return result


def sheet_rows(path: Path, sheet: str) -> list[dict[str, object]]:
    workbook = load_workbook(path, read_only=True)
    rows = list(workbook[sheet].iter_rows(values_only=True))
    workbook.close()
    header = [str(name) for name in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def person(key: str):
    return next(p for p in PEOPLE if p.key == key)


async def test_workbook_has_every_sheet_with_stable_columns_and_the_seeds_rows(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")

    workbook = load_workbook(result.xlsx)
    assert workbook.sheetnames == list(SHEETS)
    for sheet in SHEETS:
        header = next(workbook[sheet].iter_rows(max_row=1, values_only=True))
        assert header == COLUMNS[sheet]
    workbook.close()
    counts = {sheet: len(sheet_rows(result.xlsx, sheet)) for sheet in SHEETS}
    assert counts == {
        "observations": sum(1 for item in OBSERVATIONS if not item.hidden),
        "ideas": 5,  # seven seeded, one hidden and one merged
        "answers": len(REFLECTION_ANSWERS),
        "check-ins": len(CHECKIN_ANSWERS),
        "experiments": len(EXPERIMENTS),
        "participation": len(PEOPLE),
        "shares": 0,  # the dialogue sheets: tests/e2e/test_shared_data.py
        "responses": 0,
    }
    assert result.rows == counts


async def test_finnish_and_swedish_letters_survive_xlsx_csv_and_json(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")

    organisations = {row["organisation"] for row in sheet_rows(result.xlsx, "participation")}
    assert organisations == {"Ilomantsin kunta", "Ilomantsin seurakunta", "Kyläyhdistys"}
    raw = result.csv["observations"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=CSV_DELIMITER))
    assert tuple(rows[0]) == COLUMNS["observations"]
    assert "Äldre personer i byn känner sig ensamma på vintern." in {row["text"] for row in rows}
    document = json.loads(result.json.read_text(encoding="utf-8"))
    assert document["process"]["name"] == "Hyvän tahdon Ilomantsi 2027"
    assert set(document) >= set(SHEETS)
    assert all(tuple(record) == COLUMNS[sheet] for sheet in SHEETS for record in document[sheet])
    assert any(record["organisation"] == "Kyläyhdistys" for record in document["participation"])


async def test_times_are_local_and_check_ins_carry_their_number(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")

    first = sheet_rows(result.xlsx, "observations")[0]
    # Seeded at 09:00 UTC on 8 January: 11:00 in Helsinki.
    assert str(first["created_at"]) == "2027-01-08 11:00:00"
    checkins = sheet_rows(result.xlsx, "check-ins")
    values = sorted(int(str(row["value"])) for row in checkins)
    assert values == sorted(index + 1 for _, index in CHECKIN_ANSWERS)
    assert {row["option_number"] for row in checkins} == {row["value"] for row in checkins}
    document = json.loads(result.json.read_text(encoding="utf-8"))
    assert document["observations"][0]["created_at"] == "2027-01-08T11:00:00+02:00"


async def test_anonymous_submissions_carry_no_identity_anywhere(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")
    salla = person(ANONYMOUS_ONLY)
    identities = {salla.name, seeded.pseudonyms[ANONYMOUS_ONLY]}

    for sheet in CONTENT_SHEETS:
        for row in sheet_rows(result.xlsx, sheet):
            assert not identities & {str(value) for value in row.values()}
            if row["anonymous"]:
                assert row["author"] in (None, "")
        text = result.csv[sheet].read_text(encoding="utf-8-sig")
        assert not any(identity in text for identity in identities if identity)
    document = json.loads(result.json.read_text(encoding="utf-8"))
    content = json.dumps({sheet: document[sheet] for sheet in CONTENT_SHEETS}, ensure_ascii=False)
    assert not any(identity in content for identity in identities if identity)
    anonymous = [row for row in sheet_rows(result.xlsx, "observations") if row["anonymous"]]
    assert len(anonymous) == sum(1 for item in OBSERVATIONS if item.anonymous)
    # Her group (six parish employees) is big enough to tell; her own row does not count them.
    assert {(row["organisation"], row["role"]) for row in anonymous if "naapuria" in str(row["text"])} == {
        ("Ilomantsin seurakunta", "employee")
    }
    [her_row] = [row for row in sheet_rows(result.xlsx, "participation") if row["participant"] == salla.name]
    assert her_row["observations"] == 0


async def test_participants_appear_by_pseudonym_unless_they_allowed_their_name(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")

    authors = {row["text"]: row["author"] for row in sheet_rows(result.xlsx, "observations")}
    assert authors[OBSERVATIONS[0].text] == "Aino Esimerkki"
    assert authors[OBSERVATIONS[1].text] == seeded.pseudonyms["kunta-tyo-2"]
    participants = {row["participant"] for row in sheet_rows(result.xlsx, "participation")}
    assert "Bertil Byström" in participants
    assert seeded.pseudonyms["kunta-johto-1"] in participants
    assert "Fanni" not in participants  # facilitators are not participants


async def test_hidden_and_merged_submissions_are_not_exported(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")

    everything = "\n".join(path.read_text(encoding="utf-8-sig") for path in result.csv.values())
    everything += result.json.read_text(encoding="utf-8")
    assert "piilotettu loukkaava" not in everything
    assert "Piilotettu idea" not in everything
    assert "Kahvihetki kirjastossa" not in everything


async def test_text_that_looks_like_a_formula_stays_text(db, seeded, tmp_path) -> None:
    async with db.session() as session:
        session.add(
            Submission(
                process_id=seeded.process_id,
                membership_id=seeded.member_ids["kunta-tyo-3"],
                kind="observation",
                text='=HYPERLINK("http://example.invalid","klikkaa")',
                created_at=seeded.start + timedelta(hours=30),
            )
        )
    result = await exported(db, seeded, tmp_path / "out")

    workbook = load_workbook(result.xlsx)
    cells = [
        row[4] for row in workbook["observations"].iter_rows(min_row=2) if str(row[4].value).startswith("=")
    ]
    assert [(cell.value, cell.data_type) for cell in cells] == [
        ('=HYPERLINK("http://example.invalid","klikkaa")', "s")
    ]
    text = result.csv["observations"].read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(" in text


async def test_zip_holds_the_csv_files_and_the_json(db, seeded, tmp_path) -> None:
    result = await exported(db, seeded, tmp_path / "out")

    archive = zip_csv_json(result, tmp_path / "export.zip")
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == sorted([*(csv_name(sheet) for sheet in SHEETS), JSON_NAME])


# --- the console commands --------------------------------------------------------------------


def cli_settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


async def test_cli_writes_the_digest_as_html(db, seeded, tmp_path, capsys) -> None:
    out = tmp_path / "kooste.html"
    status = await write_digest(
        cli_settings(),
        reference=str(seeded.process_id),
        since="2027-01-11",
        out=out,
        database=db,
        clock=FakeClock(seeded.end),
    )

    assert status == 0
    document = out.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert "Kirjaston kahvihetki ikäihmisille" in document
    assert "data:image/png;base64," in document
    assert f"to {out}" in capsys.readouterr().out
    async with db.session() as session:
        [run] = await session.scalars(select(DigestRun))
    assert (run.trigger, run.due_at) == ("cli", None)


async def test_cli_finds_a_process_by_name_and_writes_the_export(db, seeded, tmp_path, capsys) -> None:
    status = await write_export(
        cli_settings(),
        reference="Hyvän tahdon Ilomantsi 2027",
        out=tmp_path / "vienti",
        database=db,
        clock=FakeClock(seeded.end),
    )

    assert status == 0
    assert (tmp_path / "vienti" / XLSX_NAME).exists()
    assert all((tmp_path / "vienti" / csv_name(sheet)).exists() for sheet in SHEETS)
    assert "observations 19" in capsys.readouterr().out


async def test_cli_names_an_unknown_process_in_one_line(db, seeded, tmp_path, capsys) -> None:
    settings = cli_settings()
    assert await write_digest(settings, reference="Ei ole", since=None, out=None, database=db) == 1
    assert await write_export(settings, reference="999", out=tmp_path, database=db) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [
        "No process 'Ei ole': give its id or exact name (see: valitupa process list).",
        "No process '999': give its id or exact name (see: valitupa process list).",
    ]
    bad = await write_digest(
        settings, reference=str(seeded.process_id), since="11.1.2027", out=None, database=db
    )
    assert bad == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
