"""Every user-facing text of Välitupa, in Finnish, Swedish and English.

Texts live in gettext catalogues, ``messages/locales/<lang>/<domain>.po``, one domain per feature.
The msgid is a stable dotted key (``join.welcome``) and the msgstr is the text, with ``{name}``
placeholders. Texts may contain Telegram HTML (``<b>``, ``<i>``); every placeholder value is
HTML-escaped when rendered unless it is wrapped in :class:`Html`.

A text that depends on a number is a gettext plural entry: ``msgid`` and ``msgid_plural`` are both
the key, ``msgstr[0]``… are the forms, and the catalogue's ``Plural-Forms`` header chooses between
them (:meth:`Catalog.tn`). The header is parsed by Babel and evaluated with the standard library's
gettext compiler (``gettext.c2py``, what ``ngettext`` itself uses), so no plural rule is written
here; a test checks each header against Babel's CLDR-derived rule for the language.
"""

from __future__ import annotations

import gettext
import html
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

from babel.messages.plurals import get_plural
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


PluralRule = Callable[[int], int]


def plural_rule(expression: str) -> PluralRule:
    """The form index for a count, from a gettext ``plural=`` expression (``(n != 1)``)."""
    return gettext.c2py(expression)


def babel_plural_forms(lang: str) -> tuple[int, str]:
    """Babel's ``nplurals`` and gettext ``plural=`` expression for a language (from CLDR)."""
    rule = get_plural(lang)
    return int(rule.num_plurals), str(rule.plural_expr)


class Catalog:
    """All texts of all languages, loaded from the ``.po`` files once."""

    def __init__(
        self,
        texts: Mapping[str, Mapping[str, str]],
        plurals: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        plural_forms: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self._texts = {lang: dict(entries) for lang, entries in texts.items()}
        given = plurals or {}
        self._plurals = {lang: {k: tuple(v) for k, v in given.get(lang, {}).items()} for lang in self._texts}
        headers = plural_forms or {}
        self._plural_forms = {lang: headers.get(lang) or babel_plural_forms(lang) for lang in self._texts}
        self._rules = {lang: plural_rule(expr) for lang, (_, expr) in self._plural_forms.items()}

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalog:
        texts: dict[str, dict[str, str]] = {}
        plurals: dict[str, dict[str, tuple[str, ...]]] = {}
        headers: dict[str, tuple[int, str]] = {}
        for lang in LANGUAGES:
            entries: dict[str, str] = {}
            counted: dict[str, tuple[str, ...]] = {}
            for po_file in sorted((directory / lang).glob("*.po")):
                with po_file.open("rb") as handle:
                    catalog = read_po(handle, locale=lang)
                header = (int(catalog.num_plurals), str(catalog.plural_expr))
                if headers.setdefault(lang, header) != header:
                    raise ValueError(f"{po_file}: Plural-Forms differs from the other {lang} catalogues")
                for message in catalog:
                    if isinstance(message.id, tuple) and message.id[0]:
                        forms = message.string if isinstance(message.string, tuple) else (message.string,)
                        counted[message.id[0]] = tuple(str(form or "") for form in forms)
                    elif message.id and isinstance(message.id, str):
                        entries[message.id] = str(message.string)
            texts[lang] = entries
            plurals[lang] = counted
        return cls(texts, plurals, headers)

    def languages(self) -> tuple[str, ...]:
        return tuple(self._texts)

    def keys(self, lang: str) -> set[str]:
        return set(self._texts.get(lang, {}))

    def plural_keys(self, lang: str) -> set[str]:
        """Keys of the texts that depend on a number (render them with :meth:`tn`)."""
        return set(self._plurals.get(lang, {}))

    def forms(self, lang: str, key: str) -> tuple[str, ...]:
        """A counted text's forms in ``lang`` as written (empty when the language lacks it)."""
        return self._plurals.get(lang, {}).get(key, ())

    def plural_forms(self, lang: str) -> tuple[int, str]:
        """``nplurals`` and the ``plural=`` expression of ``lang``'s catalogues."""
        return self._plural_forms.get(lang) or babel_plural_forms(lang)

    def raw(self, lang: str, key: str) -> str:
        lang = lang if lang in self._texts else DEFAULT_LANGUAGE
        text = self._texts[lang].get(key) or self._texts[DEFAULT_LANGUAGE].get(key)
        if text is None:
            raise KeyError(f"message key {key!r} is not in the catalogue")
        return text

    def raw_n(self, lang: str, key: str, count: int) -> str:
        """The form of counted text ``key`` for ``count``, chosen by the catalogue's ``Plural-Forms``."""
        for candidate in (lang if lang in self._texts else DEFAULT_LANGUAGE, DEFAULT_LANGUAGE):
            forms = self.forms(candidate, key)
            if forms:
                index = self._rules[candidate](abs(count))
                text = forms[index] if index < len(forms) else ""
                if text:
                    return text
        raise KeyError(f"counted message key {key!r} is not in the catalogue")

    def t(self, lang: str, key: str, /, **params: object) -> str:
        """Render ``key`` in ``lang`` as Telegram HTML; every parameter is escaped."""
        template = self.raw(lang, key)
        if not params:
            return template
        return template.format_map({name: escape(value) for name, value in params.items()})

    def tn(self, lang: str, key: str, count: int, /, **params: object) -> str:
        """Render counted text ``key`` for ``count`` as Telegram HTML; every parameter is escaped.

        ``{count}`` is the number; pass ``count=`` as a keyword too to show it formatted
        (``1 234``) while ``count`` still picks the form.
        """
        values = {"count": count, **params}
        return self.raw_n(lang, key, count).format_map({n: escape(v) for n, v in values.items()})

    def plain(self, lang: str, key: str, /, **params: object) -> str:
        """Render ``key`` without escaping, for plain-text places (button labels, file names)."""
        template = self.raw(lang, key)
        return (
            template.format_map({name: str(value) for name, value in params.items()}) if params else template
        )

    def plain_n(self, lang: str, key: str, count: int, /, **params: object) -> str:
        """:meth:`tn` without escaping, for plain-text places (button labels, file names)."""
        values = {"count": count, **params}
        return self.raw_n(lang, key, count).format_map({n: str(v) for n, v in values.items()})


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def missing_translations(catalog: Catalog, languages: Iterable[str] = LANGUAGES) -> list[str]:
    """Keys, plural forms or placeholders present in one language but not another, as readable lines."""
    langs = list(languages)
    return _missing_texts(catalog, langs) + _missing_plurals(catalog, langs)


def _missing_plurals(catalog: Catalog, langs: list[str]) -> list[str]:
    problems: list[str] = []
    all_keys = set().union(*(catalog.plural_keys(lang) for lang in langs))
    for key in sorted(all_keys):
        fields: dict[str, set[str]] = {}
        for lang in langs:
            forms = catalog.forms(lang, key)
            expected = catalog.plural_forms(lang)[0]
            if not forms:
                problems.append(f"{lang}: missing counted {key}")
                continue
            if len(forms) != expected or not all(form.strip() for form in forms):
                filled = sum(1 for form in forms if form.strip())
                problems.append(f"{lang}: {key} has {filled} of {expected} plural forms")
            fields[lang] = set().union(*(placeholders(form) for form in forms)) - {"count"}
        reference = set().union(*fields.values())
        for lang, names in fields.items():
            if names != reference:
                problems.append(
                    f"{lang}: {key} has placeholders {sorted(names)}, expected {sorted(reference)}"
                )
    return problems


def _missing_texts(catalog: Catalog, langs: list[str]) -> list[str]:
    problems: list[str] = []
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
