"""A prompt and its reminder as a participant sees them: header, filled text, hints and buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.process import ProcessFacts, WorkshopFact, format_local
from bot.render.prompt import (
    fill_placeholders,
    prompt_message,
    prompt_snippet,
    quick_reply_buttons,
    reminder_message,
)
from messages import Catalog, default_catalog
from storage.models import Prompt

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=HELSINKI).astimezone(UTC)


FACTS = ProcessFacts(
    name="Viitasaari <2027>",
    language="fi",
    tz=HELSINKI,
    end_at=local(5, 6, 16),
    workshops=(
        WorkshopFact(1, local(1, 14), None),
        WorkshopFact(2, local(2, 4), "Kirkonkylän koulu"),
        WorkshopFact(3, local(2, 25), None),
        WorkshopFact(4, local(3, 18), None),
        WorkshopFact(5, local(4, 8), None),
    ),
)


def prompt(kind: str = "reflection", *, texts: dict[str, Any] | None = None, **fields: Any) -> Prompt:
    return Prompt(
        id=7,
        process_id=1,
        key="p",
        phase=fields.pop("phase", 2),
        kind=kind,
        texts=texts
        or {"fi": "Työpaja {workshop_number}: {workshop_place}", "en": "Workshop {workshop_number}"},
        options=fields.pop("options", []),
        due_at=fields.pop("due_at", local(1, 28)),
        closes_at=fields.pop("closes_at", None),
        **fields,
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def test_prompt_has_its_phase_header_filled_text_and_answer_hint(catalog: Catalog) -> None:
    message = prompt_message(catalog, "en", prompt(), FACTS, delivery_id=3)
    header, text, hint = message.text.split("\n\n")
    assert header == catalog.t("en", "prompt.header", icon="💭", phase=2, phase_name="Observations")
    assert text == "Workshop 2"
    assert hint == catalog.t("en", "prompt.hint.answer")
    assert message.buttons == []


def test_prompt_text_falls_back_to_the_process_language_and_is_escaped(catalog: Catalog) -> None:
    texts = {"fi": "Kerro <b>{process_name}</b>"}
    message = prompt_message(catalog, "sv", prompt(texts=texts), FACTS, delivery_id=3)
    assert "Kerro &lt;b&gt;Viitasaari &lt;2027&gt;&lt;/b&gt;" in message.text


def test_prompt_phase_in_the_header_is_kept_between_1_and_5(catalog: Catalog) -> None:
    message = prompt_message(catalog, "en", prompt(phase=0), FACTS, delivery_id=3)
    assert message.text.startswith(
        catalog.t("en", "prompt.header", icon="💭", phase=1, phase_name=catalog.plain("en", "prompt.phase.1"))
    )


def test_checkin_has_a_button_per_option_and_the_checkin_hint(catalog: Catalog) -> None:
    options = [{"fi": "Hyvin", "en": "Well"}, {"fi": "Huonosti", "en": "Badly"}]
    message = prompt_message(catalog, "en", prompt("checkin", options=options), FACTS, delivery_id=3)
    assert message.text.endswith(catalog.t("en", "prompt.hint.checkin"))
    assert message.buttons == [[("Well", "qr:3:0")], [("Badly", "qr:3:1")]]


def test_reminder_kind_only_informs(catalog: Catalog) -> None:
    message = prompt_message(catalog, "fi", prompt("reminder"), FACTS, delivery_id=3)
    assert catalog.t("fi", "prompt.hint.answer") not in message.text
    assert "Työpaja 2: Kirkonkylän koulu" in message.text


def test_announcement_text_is_sent_as_written(catalog: Catalog) -> None:
    texts = {"fi": "Kahvit {tarjolla}"}
    message = prompt_message(catalog, "fi", prompt("announcement", texts=texts), FACTS, delivery_id=3)
    assert message.text.startswith(catalog.t("fi", "prompt.header.announcement", process=FACTS.name))
    assert "Kahvit {tarjolla}" in message.text


def test_reminder_says_when_the_prompt_closes(catalog: Catalog) -> None:
    closes = local(2, 4)
    message = reminder_message(catalog, "en", prompt(closes_at=closes), FACTS, delivery_id=3)
    when = format_local(catalog, "en", closes, HELSINKI, "facilitator.format.when")
    assert message.text == catalog.t("en", "prompt.reminder", closes=when, prompt="Workshop 2")
    open_ended = reminder_message(catalog, "en", prompt(), FACTS, delivery_id=3)
    assert open_ended.text == catalog.t("en", "prompt.reminder_open", prompt="Workshop 2")


def test_reminder_repeats_the_option_buttons(catalog: Catalog) -> None:
    options = [{"fi": "Kyllä", "en": "Yes"}]
    message = reminder_message(catalog, "en", prompt("checkin", options=options), FACTS, delivery_id=9)
    assert message.buttons == [[("Yes", "qr:9:0")]]


def test_snippet_is_the_filled_text_on_one_line(catalog: Catalog) -> None:
    long = {"fi": "Mitä\nhavaitsit ennen työpajaa {workshop_number}? " + "sana " * 40}
    snippet = prompt_snippet(catalog, "fi", prompt(texts=long), FACTS, limit=40)
    assert snippet.startswith("Mitä havaitsit ennen työpajaa 2?")
    assert len(snippet) <= 40
    assert snippet.endswith("…")


def test_chosen_option_is_ticked() -> None:
    options = [{"fi": "Hyvin", "en": "Well"}, {"fi": "Huonosti", "en": "Badly"}]
    assert quick_reply_buttons(options, "fi", 5, chosen="Badly") == [
        [("Hyvin", "qr:5:0")],
        [("✓ Huonosti", "qr:5:1")],
    ]


def test_text_without_placeholders_or_with_stray_braces_is_kept() -> None:
    values = {"workshop_number": "2"}
    assert fill_placeholders("Ei paikkoja", values) == "Ei paikkoja"
    assert fill_placeholders("Työpaja {workshop_number}", values) == "Työpaja 2"
    assert fill_placeholders("Avoin { sulku", values) == "Avoin { sulku"
    assert fill_placeholders("Tuntematon {muu}", values) == "Tuntematon {muu}"


def test_prompt_due_after_the_last_workshop_names_workshop_5(catalog: Catalog) -> None:
    late = prompt(due_at=FACTS.workshops[-1].starts_at + timedelta(days=1))
    assert "Workshop 5" in prompt_message(catalog, "en", late, FACTS, delivery_id=1).text
