"""What a prompt looks like in a participant's chat: header, text, quick-reply buttons, reminders.

Pure functions over database rows and the message catalogue; the dispatcher turns the result into
a Telegram message. Placeholders (``{workshop_time}`` …) are filled here at send time with the values
of :func:`bot.domain.process.placeholder_values`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.process import ProcessFacts, WorkshopFact, format_local, placeholder_values
from bot.domain.programme.spec import ANSWERABLE_KINDS
from bot.domain.sharing import RELAY_KIND
from bot.domain.text import localized, shorten
from messages import Catalog, escape
from storage.models import Prompt

__all__ = [
    "AD_HOC_KINDS",
    "ANSWERABLE_KINDS",
    "KIND_ICONS",
    "QUICK_REPLY_PREFIX",
    "ButtonRows",
    "ProcessFacts",
    "RenderedMessage",
    "WorkshopFact",
    "fill_placeholders",
    "format_local",
    "localized",
    "placeholder_values",
    "prompt_message",
    "prompt_snippet",
    "quick_reply_buttons",
    "reminder_message",
]

QUICK_REPLY_PREFIX = "qr"
AD_HOC_KINDS: tuple[str, ...] = ("announcement", "loop")
"""Prompt kinds made on the spot by a facilitator rather than by the programme."""
KIND_ICONS: Mapping[str, str] = {
    "reflection": "💭",
    "observation": "👀",
    "idea": "💡",
    "experiment": "🧪",
    "checkin": "📊",
    "reminder": "🗓",
    "highlights": "✨",
}
SNIPPET = 300

ButtonRows = list[list[tuple[str, str]]]


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    """Telegram HTML."""
    buttons: ButtonRows


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its ``{placeholders}`` filled. Programme texts are validated when the file is
    read; anything that still does not fit (an ad-hoc text with stray braces) is returned as is."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        if not names:
            return text
        return text.format_map(values)
    except (KeyError, ValueError, IndexError, AttributeError):
        return text


def prompt_snippet(catalog: Catalog, lang: str, prompt: Prompt, facts: ProcessFacts, limit: int = 80) -> str:
    """A prompt's text, placeholders filled, shortened to one line (plain text)."""
    return shorten(_filled_text(catalog, lang, prompt, facts, None), limit)


def quick_reply_buttons(
    options: Sequence[Mapping[str, Any]], lang: str, delivery_id: int, *, chosen: str | None = None
) -> ButtonRows:
    """One button per option, ``qr:<delivery id>:<option index>``; the chosen one ticked."""
    rows: ButtonRows = []
    for index, option in enumerate(options):
        label = localized(option, lang)
        mark = "✓ " if chosen is not None and chosen in {str(v) for v in option.values()} else ""
        rows.append([(mark + label, f"{QUICK_REPLY_PREFIX}:{delivery_id}:{index}")])
    return rows


def _header(catalog: Catalog, lang: str, prompt: Prompt, facts: ProcessFacts) -> str:
    if prompt.kind == "announcement":
        return catalog.t(lang, "prompt.header.announcement", process=facts.name)
    if prompt.kind == "loop":
        return catalog.t(lang, "prompt.header.loop", process=facts.name)
    if prompt.kind == "loop_nudge":
        return catalog.t(lang, "prompt.header.loop_nudge", process=facts.name)
    phase = min(max(prompt.phase, 1), 5)
    return catalog.t(
        lang,
        "prompt.header",
        icon=KIND_ICONS.get(prompt.kind, "💬"),
        phase=phase,
        phase_name=catalog.plain(lang, f"prompt.phase.{phase}"),
    )


def _filled_text(
    catalog: Catalog, lang: str, prompt: Prompt, facts: ProcessFacts, values: Mapping[str, str] | None
) -> str:
    text = localized(prompt.texts or {}, lang, facts.language)
    if prompt.kind in AD_HOC_KINDS:
        return text
    return fill_placeholders(text, values or placeholder_values(catalog, lang, facts, prompt.due_at))


def prompt_message(
    catalog: Catalog,
    lang: str,
    prompt: Prompt,
    facts: ProcessFacts,
    *,
    delivery_id: int,
    values: Mapping[str, str] | None = None,
) -> RenderedMessage:
    """The whole prompt message for one participant: header, text in their language with the
    placeholders filled (escaped), a one-line hint on how to answer, and option buttons.
    ``values`` are the placeholder values if already computed for this prompt and language."""
    if prompt.kind == RELAY_KIND:
        # A relayed response, rendered (and escaped) when it was written, in the recipient's language.
        return RenderedMessage(localized(prompt.texts or {}, lang, facts.language), [])
    text = _filled_text(catalog, lang, prompt, facts, values)
    parts = [_header(catalog, lang, prompt, facts), escape(text.strip())]
    options = list(prompt.options or [])
    if options:
        parts.append(catalog.t(lang, "prompt.hint.checkin"))
    elif prompt.kind in ("idea", "experiment"):
        # A reply to these is an idea or an experiment-log entry (bot.services.capture).
        parts.append(catalog.t(lang, f"prompt.hint.{prompt.kind}"))
    elif prompt.kind in ANSWERABLE_KINDS and prompt.kind != "loop":
        parts.append(catalog.t(lang, "prompt.hint.answer"))
    buttons = quick_reply_buttons(options, lang, delivery_id) if options else []
    return RenderedMessage("\n\n".join(parts), buttons)


def reminder_message(
    catalog: Catalog,
    lang: str,
    prompt: Prompt,
    facts: ProcessFacts,
    *,
    delivery_id: int,
    values: Mapping[str, str] | None = None,
) -> RenderedMessage:
    """A gentle reminder of an unanswered prompt: when it closes, what it asked, its buttons again."""
    text = _filled_text(catalog, lang, prompt, facts, values)
    if prompt.closes_at is not None:
        closes = format_local(catalog, lang, prompt.closes_at, facts.tz, "facilitator.format.when")
        body = catalog.t(lang, "prompt.reminder", closes=closes, prompt=shorten(text, SNIPPET))
    else:
        body = catalog.t(lang, "prompt.reminder_open", prompt=shorten(text, SNIPPET))
    options = list(prompt.options or [])
    buttons = quick_reply_buttons(options, lang, delivery_id) if options else []
    return RenderedMessage(body, buttons)
