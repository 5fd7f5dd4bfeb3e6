"""``valitupa rehearse``: the JSON timeline's exact shape, the text calendar, the printable page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.services.people import ROLES
from tests.support.factories import DEFAULT_ORGANISATIONS, THURSDAYS, process_yaml

FIELDS = {"at", "to", "participant", "organisation", "role", "kind", "prompt_kind", "prompt_id"}


@pytest.fixture
def process_file(tmp_path: Path) -> Path:
    path = tmp_path / "prosessi.yaml"
    path.write_text(
        process_yaml(name="Kylä <script>alert(1)</script>", workshops=THURSDAYS, calendar=""),
        encoding="utf-8",
    )
    return path


def test_json_is_one_sorted_array_of_messages_with_exactly_the_documented_fields(
    process_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "aikajana.json"
    assert main(["rehearse", str(process_file), "--format", "json", "--out", str(out)]) == 0
    timeline = json.loads(out.read_text(encoding="utf-8"))
    assert all(set(item) == FIELDS for item in timeline)
    assert [item["at"] for item in timeline] == sorted(item["at"] for item in timeline)
    assert timeline[0]["at"].endswith(":00+02:00") and len(timeline[0]["at"]) == 25
    kinds = {"prompt", "reminder", "digest", "loop_nudge", "highlights", "pair"}
    assert {item["kind"] for item in timeline} == kinds
    participants = {item["participant"] for item in timeline if item["to"] == "participant"}
    assert len(participants) == len(DEFAULT_ORGANISATIONS) * len(ROLES) + 2
    reminded = {item["participant"] for item in timeline if item["kind"] == "reminder"}
    assert len(reminded) == 2, "only the two who never answer are reminded"
    # The one who never answers but pairs (of the last organisation) meets the first answering one.
    paired = "Kyläyhdistys · johto tai esihenkilö · vain lukee, mukana pareissa"
    introductions = [item for item in timeline if item["kind"] == "pair"]
    assert {item["participant"] for item in introductions} == {
        paired,
        "Ilomantsin kunta · johto tai esihenkilö",
    }
    assert [item["prompt_id"] for item in introductions if item["participant"] == paired] == [
        f"pair-w{n}" for n in range(1, 6)
    ]
    assert {item["prompt_kind"] for item in introductions} == {"introduction"}
    assert not [item for item in timeline if item["participant"] == paired and item["kind"] == "highlights"]
    digest = next(item for item in timeline if item["kind"] == "digest")
    assert (digest["to"], digest["prompt_id"], digest["prompt_kind"]) == ("facilitator", None, None)
    first = next(item for item in timeline if item["prompt_id"] == "p1-reflection")
    assert first["prompt_kind"] == "reflection" and first["at"] == "2026-02-20T09:00:00+02:00"


def test_the_text_calendar_goes_week_by_week_and_names_the_holidays(
    process_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rehearse", str(process_file), "--participants", "3"]) == 0
    text = capsys.readouterr().out
    assert "Viikko 8 · ma 16.2.–22.2.2026" in text
    assert "Pitkäperjantai" in text and "Helatorstai" in text
    assert "kaikille osallistujille" in text and "fasilitaattoreille" in text


def test_the_printable_page_escapes_the_process_name(process_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "kalenteri.html"
    assert main(["rehearse", str(process_file), "--format", "html", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page and "<section" in page


def test_a_broken_file_is_refused_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rikki.yaml"
    path.write_text(process_yaml(extra="holidays: se\n"), encoding="utf-8")
    assert main(["rehearse", str(path)]) == 1
    assert "holidays" in capsys.readouterr().err


def test_an_existing_out_file_is_kept_without_force(process_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "kalenteri.txt"
    out.write_text("vanha", encoding="utf-8")
    assert main(["rehearse", str(process_file), "--out", str(out)]) == 3
    assert out.read_text(encoding="utf-8") == "vanha"
    assert main(["rehearse", str(process_file), "--out", str(out), "--force"]) == 0
    assert out.read_text(encoding="utf-8").startswith("Harjoituskierros")
