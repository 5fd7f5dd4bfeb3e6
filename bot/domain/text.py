"""Small text rules shared by every output: one-line snippets and the language fallback of a text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["localized", "shorten"]


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
