"""Who is shown how when a participant shares an observation or answers one.

Three attribution levels, coarsest last, never a name (not even when the author let facilitators
see it):

* ``org_role`` — organisation and role, only where that organisation × role has at least
  ``min_group`` participants (otherwise it would point at one person);
* ``org`` — the organisation alone;
* ``anyone`` — "a participant".

An anonymous observation is always shared as ``anyone``. Only text and photos can be shared: a
voice or a video gives the person away. ``author`` is how an author who shared as ``anyone``
answers a response ("the author").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Level = Literal["org_role", "org", "anyone", "author"]
SHARE_LEVELS: tuple[Level, ...] = ("org_role", "org", "anyone")
SHAREABLE_MEDIA: frozenset[str | None] = frozenset({None, "photo"})
RELAY_KIND = "relay"
"""The outbox item that carries a response to its recipient. It is kept pending while the recipient
is paused or unreachable (the dispatcher does not send to them) instead of being cancelled: a
person's words to another person are not a programme prompt that may lapse."""


def allowed_levels(
    *, anonymous: bool, has_organisation: bool, role_group: int, min_group: int
) -> list[Level]:
    """The levels a participant may choose, finest first.

    ``role_group`` is how many participants share the author's organisation and role.
    """
    if anonymous or not has_organisation:
        return ["anyone"]
    levels: list[Level] = ["org", "anyone"]
    if role_group >= min_group:
        levels.insert(0, "org_role")
    return levels


def effective_level(chosen: str | None, allowed: Sequence[Level]) -> Level:
    """``chosen`` if still allowed, else the finest allowed level coarser than it (groups shrink:
    someone leaves, and organisation and role would point at one person)."""
    if chosen in allowed:
        return chosen  # type: ignore[return-value]
    order: list[str] = list(SHARE_LEVELS)
    start = order.index(chosen) if chosen in order else 0
    for level in order[start:]:
        if level in allowed:
            return level  # type: ignore[return-value]
    return "anyone"


def shareable(media_type: str | None) -> bool:
    return media_type in SHAREABLE_MEDIA


def answering_level(share_level: str) -> Level:
    """How the author is attributed when answering a response to their shared observation."""
    return "author" if share_level == "anyone" else effective_level(share_level, SHARE_LEVELS)
