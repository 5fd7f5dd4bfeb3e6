"""One term per concept: no catalogue text and no default-programme text uses a word GLOSSARY.md rules out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

import messages
from messages import LANGUAGES, Catalog, default_catalog

GLOSSARY = Path(messages.__file__).with_name("GLOSSARY.md")
PROGRAMME = Path(messages.__file__).with_name("default_programme.yaml")
_NOT_CHECKED = re.compile(r"<[^>]+>|\{[a-z_]+\}|/[a-z_]+")


def forbidden_words(text: str) -> dict[str, list[re.Pattern[str]]]:
    """The "not fi / not sv / not en" columns of the glossary table, as patterns per language."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    patterns: dict[str, list[re.Pattern[str]]] = {lang: [] for lang in LANGUAGES}
    for row in rows[2:]:
        cells = dict(zip(header, (cell.strip() for cell in row.strip("|").split("|")), strict=True))
        for lang in LANGUAGES:
            for word in cells[f"not {lang}"].split(","):
                word = word.strip()
                if word and word not in {"–", "-"}:
                    stem = re.escape(word.rstrip("*")).replace(r"\ ", r"\s+")
                    tail = r"\w*" if word.endswith("*") else r"(?!\w)"
                    patterns[lang].append(re.compile(rf"(?<!\w){stem}{tail}", re.IGNORECASE))
    return patterns


def catalogue_texts(catalog: Catalog) -> Iterator[tuple[str, str, str]]:
    for lang in LANGUAGES:
        for key in sorted(catalog.keys(lang)):
            yield lang, key, catalog.raw(lang, key)
        for key in sorted(catalog.plural_keys(lang)):
            for form in catalog.forms(lang, key):
                yield lang, key, form


def programme_texts(path: Path = PROGRAMME) -> Iterator[tuple[str, str, str]]:
    for prompt in yaml.safe_load(path.read_text(encoding="utf-8"))["prompts"]:
        for lang, text in prompt.get("text", {}).items():
            yield lang, f"programme {prompt['id']}", text
        for number, option in enumerate(prompt.get("options") or [], start=1):
            labels = option.get("label", option) if isinstance(option, dict) else {}
            for lang, text in labels.items() if isinstance(labels, dict) else ():
                yield lang, f"programme {prompt['id']} option {number}", str(text)


def drift(texts: Iterable[tuple[str, str, str]], patterns: dict[str, list[re.Pattern[str]]]) -> list[str]:
    found = []
    for lang, where, text in texts:
        checked = _NOT_CHECKED.sub(" ", text)
        for pattern in patterns.get(lang, []):
            for match in pattern.finditer(checked):
                found.append(f"{lang} {where}: {match.group(0)!r}")
    return found


def test_the_glossary_rules_out_the_words_that_drifted() -> None:
    patterns = forbidden_words(GLOSSARY.read_text(encoding="utf-8"))
    assert len(patterns["fi"]) >= 5 and len(patterns["sv"]) >= 10


def test_no_catalogue_text_uses_a_word_the_glossary_rules_out() -> None:
    patterns = forbidden_words(GLOSSARY.read_text(encoding="utf-8"))
    assert drift(catalogue_texts(default_catalog()), patterns) == []


def test_no_default_programme_text_uses_a_word_the_glossary_rules_out() -> None:
    patterns = forbidden_words(GLOSSARY.read_text(encoding="utf-8"))
    assert drift(programme_texts(), patterns) == []


def test_a_ruled_out_word_is_found_in_any_form_but_not_inside_placeholders_or_commands() -> None:
    patterns = forbidden_words(GLOSSARY.read_text(encoding="utf-8"))
    catalog = Catalog(
        {
            "fi": {
                "a": "Kuntalaisten arki",
                "b": "Näin palautteenne vaikutti",
                "c": "Palauta viesti {kuntalainen}",
            },
            "sv": {"a": "Veckans sammanställning", "b": "Lämna  bort namn", "c": "/experiment och försök"},
            "en": {"a": "Your feedback", "b": "feedbacks are fine to the rule"},
        }
    )
    assert drift(catalogue_texts(catalog), patterns) == [
        "fi a: 'Kuntalaisten'",
        "fi b: 'palautteenne'",
        "sv a: 'sammanställning'",
        "sv b: 'Lämna  bort'",
        "en a: 'feedback'",
    ]
