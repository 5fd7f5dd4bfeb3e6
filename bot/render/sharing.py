"""What sharing looks like in chat: the first-share question, ``/shared`` items, relayed responses.

Pure functions of the catalogue, a language and plain data. Everything a participant wrote is
escaped; an attribution is an organisation, a role or "a participant", never a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain.text import shorten
from messages import Catalog, escape

__all__ = [
    "SNIPPET",
    "ShownLike",
    "ack_lines",
    "confirm_text",
    "item_text",
    "relay_text",
    "removed_text",
    "shown",
]

SNIPPET = 120


class ShownLike(Protocol):
    """What :class:`bot.services.sharing.Attributed` offers (structural: render imports no service)."""

    @property
    def level(self) -> str: ...
    @property
    def organisation(self) -> str | None: ...
    @property
    def role(self) -> str | None: ...


def shown(catalog: Catalog, lang: str, who: ShownLike) -> str:
    """The attribution as plain text: "Ilomantsin kunta · työntekijä", "Ilomantsin kunta",
    "Osallistuja" or "Havainnon kirjoittaja"."""
    if who.level == "author":
        return catalog.plain(lang, "attribution.author")
    if who.organisation is None:
        return catalog.plain(lang, "attribution.anyone")
    if who.role is not None and who.level == "org_role":
        return catalog.plain(
            lang,
            "attribution.org_role",
            organisation=who.organisation,
            role=catalog.plain(lang, f"role.{who.role}"),
        )
    return who.organisation


def confirm_text(catalog: Catalog, lang: str, first: ShownLike) -> str:
    return catalog.t(lang, "share.confirm", shown=shown(catalog, lang, first))


def item_text(catalog: Catalog, lang: str, *, who: ShownLike, theme: str | None, text: str | None) -> str:
    """One shared observation as others see it (a message text, or a photo's caption)."""
    lines = [catalog.t(lang, "shared.by", shown=shown(catalog, lang, who))]
    if theme:
        lines.append(catalog.t(lang, "observation.theme_is", theme=catalog.plain(lang, f"theme.{theme}")))
    if text:
        lines.append("")
        lines.append(escape(text.strip()))
    return "\n".join(lines)


def removed_text(catalog: Catalog, lang: str) -> str:
    return catalog.t(lang, "shared.removed")


def relay_text(
    catalog: Catalog, lang: str, *, who: ShownLike, observation: str | None, text: str, first: bool
) -> str:
    """A response as its recipient reads it: what it is about, who writes (never a name), the text."""
    about = shorten(observation or catalog.plain(lang, "media.photo"), SNIPPET)
    key = "relay.first" if first else "relay.reply"
    return catalog.t(lang, key, observation=about, shown=shown(catalog, lang, who), text=text)


def ack_lines(catalog: Catalog, lang: str, *, who: ShownLike | None, recognised: int) -> Sequence[str]:
    """The lines added to an observation's acknowledgement while it is shared."""
    if who is None:
        return []
    lines = [catalog.t(lang, "share.is_shared", shown=shown(catalog, lang, who))]
    if recognised:
        lines.append(catalog.t(lang, "share.recognised", count=recognised))
    return lines
