"""Who is paired with whom, and when a round is due (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.pairing import Candidate, pair_up, round_due
from bot.domain.planning import DeliveryPolicy

HELSINKI = ZoneInfo("Europe/Helsinki")


def people(*rows: tuple[int, int | None, str]) -> list[Candidate]:
    return [Candidate(mid, org, role) for mid, org, role in rows]


def test_pairs_cross_organisations_and_prefer_mixing_management_and_staff() -> None:
    made = pair_up(
        people((1, 1, "management"), (2, 1, "employee"), (3, 2, "management"), (4, 2, "employee")), set()
    )
    assert set(made.groups) == {(1, 4), (2, 3)}
    assert not made.left and not made.single_organisation


def test_an_odd_one_out_makes_one_trio() -> None:
    made = pair_up(people((1, 1, "employee"), (2, 2, "employee"), (3, 3, "employee")), set())
    assert made.groups == ((1, 2, 3),)
    made = pair_up(people(*((i, i % 2, "employee") for i in range(1, 6))), set())
    assert sorted(len(g) for g in made.groups) == [2, 3] and not made.left


def test_nobody_is_paired_again_with_the_same_person_while_others_are_free() -> None:
    everyone = people((1, 1, "employee"), (2, 1, "employee"), (3, 2, "employee"), (4, 2, "employee"))
    first = pair_up(everyone, set())
    met = {frozenset(g) for g in first.groups}
    second = pair_up(everyone, met)
    assert not {frozenset(g) for g in second.groups} & met
    # With only the same two left, they meet again rather than wait.
    assert pair_up(everyone[:1] + everyone[2:3], {frozenset((1, 3))}).groups == ((1, 3),)


def test_a_single_organisation_pairs_nobody() -> None:
    made = pair_up(people((1, 1, "employee"), (2, 1, "management"), (3, None, "other")), set())
    assert made.groups == () and made.left == (1, 2, 3) and made.single_organisation


def test_the_round_is_due_on_the_second_working_day_after_the_workshop() -> None:
    policy = DeliveryPolicy(HELSINKI, skip_weekends=True)
    # Thursday's workshop: Friday is the first working day, Monday the second.
    due = round_due(datetime(2027, 1, 14, 9, 0, tzinfo=HELSINKI), policy)
    assert due == datetime(2027, 1, 18, 8, 0, tzinfo=HELSINKI)
