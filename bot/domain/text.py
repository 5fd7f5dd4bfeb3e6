"""Small text rules shared by every output: one-line snippets, the language fallback of a text, text
that a spreadsheet must not run as a formula, and NUL characters out of what people send."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["localized", "shorten", "spreadsheet_safe", "without_nul"]

FORMULA_TRIGGERS = frozenset("=+-@\t\r")
"""What a spreadsheet may read as the start of a formula (OWASP's list). Full-width and small forms
(``＝ ＋ － ＠ ﹦``) count too: they are the same character after NFKC normalisation, which some
spreadsheets apply."""


def shorten(text: str | None, limit: int) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to at most ``limit``
    characters with an ellipsis when it is longer; ``None`` is the empty string."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def localized(texts: Mapping[str, Any], lang: str, default: str = "fi") -> str:
    """The text in ``lang``, else in ``default`` (the process language), else Finnish, else any
    non-empty one; the empty string when there is none. Values from JSON columns may be any
    type, hence ``str``."""
    for key in (lang, default, "fi"):
        value = texts.get(key)
        if value:
            return str(value)
    return str(next((value for value in texts.values() if value), ""))


def _skipped_before_a_formula(char: str) -> bool:
    """Whitespace, control and invisible format characters (zero-width space, BOM, word joiner…),
    which a spreadsheet may skip before it looks for a formula."""
    return char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zs", "Zl", "Zp"}


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet could read it as a formula: its first visible
    character (after spaces, newlines and zero-width characters) is one of :data:`FORMULA_TRIGGERS`
    in any width, or it starts with a tab or a carriage return."""
    for char in text:
        if char in FORMULA_TRIGGERS or unicodedata.normalize("NFKC", char) in FORMULA_TRIGGERS:
            return "'" + text
        if not _skipped_before_a_formula(char):
            return text
    return text


def without_nul(text: str | None) -> str | None:
    """``text`` without NUL characters: PostgreSQL cannot store them in text, and no person means one."""
    return text.replace("\x00", "") if text is not None and "\x00" in text else text
