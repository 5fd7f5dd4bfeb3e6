"""The privacy rules: small groups merge into "other", and the two attribution policies."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.privacy import (
    OTHER,
    Attribution,
    Author,
    DigestAttribution,
    ExportAttribution,
    Group,
    Member,
    cell_partition,
    merged_keys,
    single_partition,
)

ROLES = ("management", "employee", "elected", "other")
JOINED = datetime(2027, 1, 4, tzinfo=UTC)


def member(
    member_id: int,
    organisation: str | None,
    role: str | None,
    *,
    name: str | None = None,
    facilitator: bool = False,
) -> Member:
    return Member(
        id=member_id,
        organisation=organisation,
        role=role,
        name=name,
        pseudonym=f"P-{member_id}",
        facilitator=facilitator,
        participant=not facilitator,
        language="fi",
        joined_at=JOINED,
    )


def people(counts: dict[tuple[str | None, str | None], int]) -> list[Member]:
    found: list[Member] = []
    for (organisation, role), count in counts.items():
        found += [member(len(found) + n + 1, organisation, role) for n in range(count)]
    return found


def test_small_groups_go_to_other_and_other_is_never_tiny() -> None:
    assert merged_keys({"a": 10, "b": 4, "c": 3}, 3) == set()
    assert merged_keys({"a": 10, "b": 2, "c": 2}, 3) == {"b", "c"}
    # "other" of one person would name them by elimination: the next smallest group joins.
    assert merged_keys({"a": 10, "b": 4, "c": 1}, 3) == {"b", "c"}
    assert merged_keys({"a": 5, "b": 1}, 3) == {"a", "b"}
    # Nobody from an organisation identifies no one, and stays visible.
    assert merged_keys({"a": 10, "b": 0}, 3) == set()


def test_people_without_an_organisation_are_always_other() -> None:
    members = people({("Kunta", "employee"): 4, (None, "employee"): 3})

    partition = single_partition(members, "organisation", 3, ["Kunta", "Seurakunta"])

    assert partition.order == (Group("Kunta"), Group("Seurakunta"), OTHER)
    assert {partition.of(m.id) for m in members if m.organisation is None} == {OTHER}


def test_cells_fall_back_to_organisation_then_role_then_other() -> None:
    members = people(
        {
            ("Kunta", "employee"): 3,
            ("Kunta", "management"): 1,
            ("Kunta", "elected"): 2,
            ("Seurakunta", "elected"): 1,
            ("Kylä", "elected"): 1,
            ("Kylä", "other"): 1,
            ("Kylä", "management"): 1,
        }
    )

    cells = cell_partition(members, 3, ["Kunta", "Seurakunta", "Kylä"], ROLES)

    # Kunta's three small cells make "Kunta, other roles"; Kylä's three people likewise. The lone
    # parish member would be an "other" of one, so the smallest shown group joins them there.
    assert cells.order == (Group("Kunta", None, rest=True), Group("Kylä", None, rest=True), OTHER)
    assert {cells.of(m.id) for m in members if m.organisation == "Kylä"} == {Group("Kylä", None, rest=True)}
    in_other = {m.id for m in members if cells.of(m.id) == OTHER}
    assert in_other == {1, 2, 3, 7}


def test_other_is_never_a_single_person() -> None:
    members = people({("Kunta", "employee"): 3, ("Kunta", "elected"): 3, ("Seurakunta", "other"): 1})

    cells = cell_partition(members, 3, ["Kunta", "Seurakunta"], ROLES)

    in_other = [m for m in members if cells.of(m.id) == OTHER]
    assert len(in_other) >= 3
    assert cells.order[-1] == OTHER


def test_digest_names_only_who_allowed_it_and_groups_the_rest() -> None:
    named = member(1, "Kunta", "management", name="Aino")
    unnamed = member(2, "Kunta", "management")
    facilitator = member(3, None, None, name="Fanni", facilitator=True)
    members = {m.id: m for m in (named, unnamed, facilitator)}
    cells = cell_partition([named, unnamed], 3, ["Kunta"], ROLES)
    attribute = DigestAttribution(members, cells)

    assert attribute(1, False) == Attribution(Group("Kunta", "management"), name="Aino")
    # Anonymous: the group the partition allows (too small here: "other"), never the name.
    assert attribute(1, True) == Attribution(OTHER)
    assert attribute(2, False) == Attribution(OTHER)
    assert attribute(3, False) == Attribution(OTHER, name="Fanni", facilitator=True)
    assert attribute(3, True) == Attribution(OTHER, facilitator=True)
    assert attribute(99, False) == Attribution(OTHER)


def test_export_shows_a_pseudonym_and_keeps_nothing_of_an_anonymous_author() -> None:
    members = people({("Kunta", "employee"): 4, ("Kunta", "elected"): 3, ("Seurakunta", "other"): 1})
    facilitator = member(10, "Kunta", "management", facilitator=True)
    everyone = [*members, facilitator]
    cells = cell_partition(members, 3, ["Kunta", "Seurakunta"], ROLES)
    policy = ExportAttribution(everyone, cells)

    assert policy.author(1, False) == Author("P-1", "Kunta", "employee")
    assert policy.author(1, True) == Author("", "Kunta", "employee")
    # A lone member's own row names their group (the pseudonym already stands for them) …
    assert policy.author(8, False) == Author("P-8", "Seurakunta", "other")
    # … but anonymously they are only as much of a group as the partition allows.
    assert policy.author(8, True) == Author("", "", "")
    assert policy.author(10, True) == Author()
    assert policy.author(99, False) == Author()
    assert policy.label(member(5, None, None, name="Bertil")) == "Bertil"
