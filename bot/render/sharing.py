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
HIGHLIGHT_CHARS = 220
RECOGNISE_PREFIX = "rc"
RESPOND_PREFIX = "rs"
HIGHLIGHT_SUPPORT_PREFIX = "hs"


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


class SharedLike(Protocol):
    @property
    def submission_id(self) -> int: ...
    @property
    def text(self) -> str | None: ...
    @property
    def media_type(self) -> str | None: ...
    @property
    def shown(self) -> ShownLike: ...
    @property
    def recognised(self) -> bool: ...
    @property
    def respondable(self) -> bool: ...


class IdeaLike(Protocol):
    @property
    def idea_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def supports(self) -> int: ...
    @property
    def supported(self) -> bool: ...


def highlights(
    catalog: Catalog, lang: str, intro: str, shared: Sequence[SharedLike], ideas: Sequence[IdeaLike]
) -> tuple[str, list[list[tuple[str, str]]]]:
    """The highlights message: the programme's text, then numbered shared observations from other
    organisations and the most supported ideas, with a row of buttons for each."""
    parts = [intro]
    rows: list[list[tuple[str, str]]] = []
    if shared:
        lines = [catalog.t(lang, "highlights.shared")]
        for number, item in enumerate(shared, start=1):
            text = shorten(item.text, HIGHLIGHT_CHARS) if item.text else catalog.plain(lang, "media.photo")
            by = shown(catalog, lang, item.shown)
            lines.append(catalog.t(lang, "highlights.item", number=number, text=text, shown=by))
            recognise = f"{number}. " + catalog.plain(lang, "shared.button.recognise")
            row = [
                (("✓ " if item.recognised else "") + recognise, f"{RECOGNISE_PREFIX}:{item.submission_id}")
            ]
            if item.respondable:
                respond = catalog.plain(lang, "shared.button.respond")
                row.append((f"{number}. {respond}", f"{RESPOND_PREFIX}:{item.submission_id}"))
            rows.append(row)
        parts.append("\n".join(lines))
    else:
        parts.append(catalog.t(lang, "highlights.none_shared"))
    if ideas:
        lines = [catalog.t(lang, "highlights.ideas")]
        for letter, idea in zip("ABCDEFGH", ideas, strict=False):
            lines.append(
                catalog.t(lang, "highlights.idea", letter=letter, title=idea.title, supports=idea.supports)
            )
            support = f"{letter}. " + catalog.plain(lang, "highlights.button.support")
            mark = "✓ " if idea.supported else ""
            rows.append([(mark + support, f"{HIGHLIGHT_SUPPORT_PREFIX}:{idea.idea_id}")])
        parts.append("\n".join(lines))
    return "\n\n".join(parts), rows
