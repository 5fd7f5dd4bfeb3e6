"""Who may be told what: the minimum group size, breakdown partitions and attribution.

One module for the rules every output inherits (the digest in Telegram and HTML, the CLI, the
export):

* A breakdown cell with fewer than ``min_group`` people is merged into "other", and if "other" would
  itself be that small the next smallest cells join it (otherwise "other" would name them by
  elimination). The same partition decides how much of an author's group may be told.
* Pseudonyms never appear in a digest; names only where the participant allowed it.

Attribution has two policies, on purpose:

* :class:`DigestAttribution` — the digest is read in chat and forwarded; a quote is shown next to who
  said it, so an author without a name shown is only their partition group (never a small one). A
  named author (``show_name``, not anonymous) is already identified, so their own cell is shown.
* :class:`ExportAttribution` — the export is the facilitators' working data, one row per
  contribution, where following one person's contributions is the point: an author is their name or
  their stable pseudonym with their organisation and role. Only an anonymous submission (the
  participant's explicit choice) drops the author and keeps no more of the group than the partition
  allows; a facilitator's anonymous submission keeps nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

__all__ = [
    "OTHER",
    "Attribution",
    "Author",
    "DigestAttribution",
    "ExportAttribution",
    "Group",
    "Member",
    "Partition",
    "cell_partition",
    "merged_keys",
    "single_partition",
]


@dataclass(frozen=True, slots=True, order=True)
class Group:
    """A breakdown cell. Both ``None`` is the merged "other"; ``rest`` marks an organisation's
    people in cells too small to show by role ("Kunta, other roles")."""

    organisation: str | None = None
    role: str | None = None
    rest: bool = False

    @property
    def is_other(self) -> bool:
        return self.organisation is None and self.role is None


OTHER = Group()
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Member:
    """A membership as reports see it; ``name`` only when the participant allowed it."""

    id: int
    organisation: str | None
    role: str | None
    name: str | None
    pseudonym: str
    facilitator: bool
    participant: bool
    language: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who said it, as far as may be told: a group (never a small one), a name if allowed."""

    group: Group
    name: str | None = None
    facilitator: bool = False


def merged_keys(sizes: Mapping[K, int], min_group: int, *, forced: Iterable[K] = ()) -> set[K]:
    """The keys whose groups go into "other": ``forced`` ones (people without an organisation),
    every group of 1…min_group-1 people, and then the smallest remaining groups until "other"
    itself has at least ``min_group`` people.

    Empty groups are never merged: "nobody from the parish" identifies no one and is worth seeing.
    """
    small = {key for key, size in sizes.items() if 0 < size < min_group}
    small |= {key for key in forced if sizes.get(key, 0) > 0}
    merged = sum(sizes[key] for key in small)
    rest = sorted(
        (key for key in sizes if key not in small and sizes[key] > 0), key=lambda k: (sizes[k], str(k))
    )
    while small and merged < min_group and rest:
        key = rest.pop(0)
        small.add(key)
        merged += sizes[key]
    return small


@dataclass(frozen=True, slots=True)
class Partition:
    """Who is shown as which group, for one breakdown."""

    groups: Mapping[int, Group]
    order: tuple[Group, ...]

    def of(self, member_id: int) -> Group:
        return self.groups.get(member_id, OTHER)


def single_partition(
    members: Sequence[Member], attribute: str, min_group: int, known: Sequence[str]
) -> Partition:
    """One attribute (``"organisation"`` or ``"role"``): its groups in the order the process lists
    them (``known``), small ones merged into "other"."""

    def make(value: str) -> Group:
        return Group(organisation=value) if attribute == "organisation" else Group(role=value)

    values: dict[int, str | None] = {member.id: getattr(member, attribute) for member in members}
    sizes: Counter[str | None] = Counter(values.values())
    for value in known:
        sizes.setdefault(value, 0)
    merged = merged_keys(sizes, min_group, forced=[None])
    groups = {
        member_id: OTHER if value is None or value in merged else make(value)
        for member_id, value in values.items()
    }
    shown = [value for value in known if value not in merged]
    shown += sorted(
        value for value in sizes if value is not None and value not in merged and value not in known
    )
    order = [make(value) for value in shown]
    if OTHER in groups.values():
        order.append(OTHER)
    return Partition(groups, tuple(order))


def _fallback_groups(left: list[Member], groups: dict[int, Group], min_group: int) -> list[Member]:
    """People of too-small cells: by organisation ("Kunta, other roles"), then by role across
    organisations, where those are big enough. Returns who is still left (the "other")."""
    makers: tuple[tuple[str, Callable[[str], Group]], ...] = (
        ("organisation", lambda value: Group(value, None, rest=True)),
        ("role", lambda value: Group(None, value)),
    )
    for attribute, make in makers:
        buckets: dict[str, list[int]] = defaultdict(list)
        for member in left:
            value = getattr(member, attribute)
            if value is not None:
                buckets[value].append(member.id)
        kept = {value: ids for value, ids in buckets.items() if len(ids) >= min_group}
        for value, ids in kept.items():
            for member_id in ids:
                groups[member_id] = make(value)
        taken = {member_id for ids in kept.values() for member_id in ids}
        left = [member for member in left if member.id not in taken]
    return left


def cell_partition(
    members: Sequence[Member], min_group: int, organisations: Sequence[str], roles: Sequence[str]
) -> Partition:
    """Organisation × role where cells are big enough; then an organisation's remaining people
    ("Kunta, other roles"), then a role's remaining people across organisations, then "other".
    ``roles`` is the order roles are listed in."""
    cells: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for member in members:
        cells[(member.organisation, member.role)].append(member.id)
    groups: dict[int, Group] = {}
    left: list[Member] = []
    by_id = {member.id: member for member in members}
    for (organisation, role), ids in cells.items():
        if organisation is not None and role is not None and len(ids) >= min_group:
            for member_id in ids:
                groups[member_id] = Group(organisation, role)
        else:
            left.extend(by_id[member_id] for member_id in ids)
    left = _fallback_groups(left, groups, min_group)
    # Whatever is left is "other"; if that is a handful of people, the smallest shown groups join it.
    while 0 < len(left) < min_group:
        sizes = Counter(groups.values())
        if not sizes:
            break
        smallest = min(sizes, key=lambda group: (sizes[group], str(group)))
        moved = [member_id for member_id, group in groups.items() if group == smallest]
        for member_id in moved:
            del groups[member_id]
        left.extend(by_id[member_id] for member_id in moved)
    org_rank = {name: index for index, name in enumerate(organisations)}
    role_rank = {role: index for index, role in enumerate(roles)}

    def rank(group: Group) -> tuple[int, int, int]:
        if group.is_other:
            return (3, 0, 0)
        if group.organisation is None:
            return (2, role_rank.get(group.role or "", 99), 0)
        return (
            0 if not group.rest else 1,
            org_rank.get(group.organisation, 99),
            role_rank.get(group.role or "", 99) if not group.rest else 0,
        )

    order = sorted(set(groups.values()), key=rank)
    if left:
        order.append(OTHER)
    return Partition(groups, tuple(order))


class DigestAttribution:
    """The digest's policy: a group (the cell partition decides how much), a name only if allowed;
    a facilitator is shown as a facilitator, not by group."""

    def __init__(self, members: Mapping[int, Member], cells: Partition) -> None:
        self.members = members
        self.cells = cells
        self._cache: dict[tuple[int, bool], Attribution] = {}

    def __call__(self, member_id: int, anonymous: bool) -> Attribution:
        key = (member_id, anonymous)
        found = self._cache.get(key)
        if found is None:
            member = self.members.get(member_id)
            if member is None:
                found = Attribution(OTHER)
            elif member.facilitator:
                found = Attribution(OTHER, name=None if anonymous else member.name, facilitator=True)
            elif member.name and not anonymous:
                found = Attribution(Group(member.organisation, member.role), name=member.name)
            else:
                found = Attribution(self.cells.of(member_id))
            self._cache[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Author:
    """An export row's author columns; empty strings where nothing may be told."""

    author: str = ""
    organisation: str = ""
    role: str = ""


NOBODY = Author()


class ExportAttribution:
    """The export's policy: name or pseudonym with the member's own group; for an anonymous
    submission no author and only as much group as the cell partition allows."""

    def __init__(self, members: Sequence[Member], cells: Partition) -> None:
        self.members = {member.id: member for member in members}
        self.cells = cells

    @staticmethod
    def label(member: Member) -> str:
        return member.name or member.pseudonym

    def author(self, member_id: int, anonymous: bool) -> Author:
        member = self.members.get(member_id)
        if member is None:
            return NOBODY
        if anonymous:
            if member.facilitator:
                return NOBODY
            group = self.cells.of(member_id)
            return Author("", group.organisation or "", group.role or "")
        return Author(self.label(member), member.organisation or "", member.role or "")
