"""The phase of a date and the values of the prompt placeholders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.process import (
    PLACEHOLDERS,
    ProcessFacts,
    WorkshopFact,
    format_local,
    phase_at,
    placeholder_values,
)
from bot.domain.programme.spec import erasure_at
from messages import Catalog, default_catalog

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


WORKSHOPS = (
    WorkshopFact(1, local(2027, 1, 14), None),
    WorkshopFact(2, local(2027, 2, 4), "Kirkonkylän koulu"),
    WorkshopFact(3, local(2027, 2, 25, 12, 30), None),
    WorkshopFact(4, local(2027, 3, 18), None),
    WorkshopFact(5, local(2027, 4, 8), None),
)
FACTS = ProcessFacts(
    name="Hyvän tahdon Viitasaari 2027",
    language="fi",
    tz=HELSINKI,
    end_at=local(2027, 5, 6, 16),
    workshops=WORKSHOPS,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def test_phase_is_zero_before_workshop_1() -> None:
    assert phase_at(FACTS.workshop_starts, local(2027, 1, 1)) == 0
    assert phase_at(FACTS.workshop_starts, WORKSHOPS[0].starts_at - timedelta(seconds=1)) == 0


def test_phase_starts_when_its_workshop_starts() -> None:
    for workshop in WORKSHOPS:
        assert phase_at(FACTS.workshop_starts, workshop.starts_at) == workshop.number


def test_phase_runs_until_the_next_workshop() -> None:
    assert phase_at(FACTS.workshop_starts, WORKSHOPS[2].starts_at - timedelta(seconds=1)) == 2


def test_phase_5_runs_past_the_end() -> None:
    assert phase_at(FACTS.workshop_starts, local(2027, 4, 20)) == 5
    assert phase_at(FACTS.workshop_starts, local(2028, 1, 1)) == 5


def test_a_process_without_workshops_is_in_phase_0() -> None:
    assert phase_at((), local(2027, 1, 1)) == 0


def test_next_workshop_is_the_first_that_has_not_started() -> None:
    assert FACTS.next_workshop(local(2027, 1, 1)) == WORKSHOPS[0]
    assert FACTS.next_workshop(WORKSHOPS[1].starts_at) == WORKSHOPS[2]
    assert FACTS.next_workshop(WORKSHOPS[4].starts_at) is None


def test_placeholder_values_cover_every_placeholder(catalog: Catalog) -> None:
    assert set(placeholder_values(catalog, "fi", FACTS, local(2027, 1, 1))) == PLACEHOLDERS


def test_placeholders_describe_the_next_workshop_in_each_language(catalog: Catalog) -> None:
    before_w2 = local(2027, 1, 28)
    fi = placeholder_values(catalog, "fi", FACTS, before_w2)
    assert fi["workshop_number"] == "2"
    assert fi["workshop_place"] == "Kirkonkylän koulu"
    assert fi["workshop_time"] == format_local(
        catalog, "fi", WORKSHOPS[1].starts_at, HELSINKI, "programme.format.workshop_time"
    )
    assert fi["process_name"] == "Hyvän tahdon Viitasaari 2027"
    sv = placeholder_values(catalog, "sv", FACTS, before_w2)
    assert sv["workshop_time"] == "torsdag 4.2 kl. 9.00"
    assert "6 May 2027" in placeholder_values(catalog, "en", FACTS, before_w2)["end_date"]


def test_after_the_last_workshop_placeholders_name_workshop_5(catalog: Catalog) -> None:
    values = placeholder_values(catalog, "en", FACTS, local(2027, 4, 20))
    assert values["workshop_number"] == "5"


def test_a_workshop_without_a_place_says_the_place_is_unknown(catalog: Catalog) -> None:
    values = placeholder_values(catalog, "fi", FACTS, local(2027, 1, 1))
    assert values["workshop_number"] == "1"
    assert values["workshop_place"] == catalog.plain("fi", "programme.place.unknown")


def test_an_unknown_language_is_formatted_in_finnish(catalog: Catalog) -> None:
    at = local(2027, 1, 28)
    assert placeholder_values(catalog, "de", FACTS, at) == placeholder_values(catalog, "fi", FACTS, at)


def test_end_date_is_the_local_date(catalog: Catalog) -> None:
    late = ProcessFacts("P", "fi", HELSINKI, datetime(2027, 5, 6, 22, 30, tzinfo=UTC), WORKSHOPS)
    # 22:30 UTC on 6 May is already 7 May in Helsinki.
    assert "7 May 2027" in placeholder_values(catalog, "en", late, local(2027, 1, 1))["end_date"]


def test_erase_date_is_the_day_the_data_goes(catalog: Catalog) -> None:
    facts = replace(FACTS, erase_at=erasure_at(FACTS.end_at, 180))
    values = placeholder_values(catalog, "fi", facts, local(2027, 5, 1))
    assert values["end_date"] == "6.5.2027"
    assert values["erase_date"] == "2.11.2027"
    assert placeholder_values(catalog, "sv", facts, local(2027, 5, 1))["erase_date"] == "2.11.2027"
    assert erasure_at(FACTS.end_at, 10**9) == FACTS.end_at + timedelta(days=3650)
