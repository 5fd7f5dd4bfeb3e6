"""Every user-facing text of Välitupa, in Finnish, Swedish and English.

Texts live in gettext catalogues, ``messages/locales/<lang>/<domain>.po``, one domain per feature.
The msgid is a stable dotted key (``join.welcome``) and the msgstr is the text, with ``{name}``
placeholders. Texts may contain Telegram HTML (``<b>``, ``<i>``); every placeholder value is
HTML-escaped when rendered unless it is wrapped in :class:`Html`.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
DEFAULT_LANGUAGE = "fi"
LOCALES_DIR = Path(__file__).with_name("locales")


class Html(str):
    """A string that is already safe Telegram HTML and must not be escaped again."""

    __slots__ = ()


def escape(value: object) -> str:
    """Escape a value for Telegram HTML (``<``, ``>``, ``&`` and quotes)."""
    if isinstance(value, Html):
        return str(value)
    return html.escape(str(value), quote=True)


def normalise_language(code: str | None) -> str:
    """Map a Telegram ``language_code`` (``sv-FI``, ``en``…) to a supported language."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else ("sv" if base in {"no", "nb", "da"} else DEFAULT_LANGUAGE)


class Catalog:
    """All texts of all languages, loaded from the ``.po`` files once."""

    def __init__(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        self._texts = {lang: dict(entries) for lang, entries in texts.items()}

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalog:
        texts: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            entries: dict[str, str] = {}
            for po_file in sorted((directory / lang).glob("*.po")):
                with po_file.open("rb") as handle:
                    catalog = read_po(handle, locale=lang)
                for message in catalog:
                    if message.id and isinstance(message.id, str):
                        entries[message.id] = str(message.string)
            texts[lang] = entries
        return cls(texts)

    def languages(self) -> tuple[str, ...]:
        return tuple(self._texts)

    def keys(self, lang: str) -> set[str]:
        return set(self._texts.get(lang, {}))

    def raw(self, lang: str, key: str) -> str:
        lang = lang if lang in self._texts else DEFAULT_LANGUAGE
        text = self._texts[lang].get(key) or self._texts[DEFAULT_LANGUAGE].get(key)
        if text is None:
            raise KeyError(f"message key {key!r} is not in the catalogue")
        return text

    def t(self, lang: str, key: str, /, **params: object) -> str:
        """Render ``key`` in ``lang`` as Telegram HTML; every parameter is escaped."""
        template = self.raw(lang, key)
        if not params:
            return template
        return template.format_map({name: escape(value) for name, value in params.items()})

    def plain(self, lang: str, key: str, /, **params: object) -> str:
        """Render ``key`` without escaping, for plain-text places (button labels, file names)."""
        template = self.raw(lang, key)
        return (
            template.format_map({name: str(value) for name, value in params.items()}) if params else template
        )


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def missing_translations(catalog: Catalog, languages: Iterable[str] = LANGUAGES) -> list[str]:
    """Keys or placeholders present in one language but not another, as readable lines."""
    problems: list[str] = []
    langs = list(languages)
    all_keys = set().union(*(catalog.keys(lang) for lang in langs))
    for key in sorted(all_keys):
        present = {lang: catalog.raw(lang, key) for lang in langs if key in catalog.keys(lang)}
        for lang in langs:
            if lang not in present:
                problems.append(f"{lang}: missing {key}")
            elif not present[lang].strip():
                problems.append(f"{lang}: empty {key}")
        fields = {lang: placeholders(text) for lang, text in present.items()}
        reference = set().union(*fields.values())
        for lang, names in fields.items():
            if names != reference:
                problems.append(
                    f"{lang}: {key} has placeholders {sorted(names)}, expected {sorted(reference)}"
                )
    return problems


@cache
def default_catalog() -> Catalog:
    return Catalog.load()
