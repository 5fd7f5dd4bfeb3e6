"""Counted texts: a gettext plural entry per count, its forms chosen by each catalogue's Plural-Forms."""

from __future__ import annotations

import re

import pytest
from babel.messages.plurals import get_plural

from messages import LANGUAGES, Catalog, Html, default_catalog, missing_translations, placeholders
from sandbox.validate import validate_request

COUNTS = (0, 1, 2, 5)
_FIELD = re.compile(r"\{[a-z_]+\}")


def _sample(template: str) -> dict[str, object]:
    return {name: "x" for name in placeholders(template) if name != "count"}


def test_the_catalogue_has_counted_texts_in_every_language() -> None:
    catalog = default_catalog()
    for lang in LANGUAGES:
        assert {"forget.done", "facilitator.and_more", "report.figure.observations"} <= catalog.plural_keys(
            lang
        )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_catalogue_uses_babels_plural_rule_for_its_language(lang: str) -> None:
    rule = get_plural(lang)
    assert default_catalog().plural_forms(lang) == (rule.num_plurals, rule.plural_expr)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_counted_text_renders_for_0_1_2_and_5(lang: str) -> None:
    catalog = default_catalog()
    for key in sorted(catalog.plural_keys(lang)):
        params = _sample(" ".join(catalog.forms(lang, key)))
        for count in COUNTS:
            text = catalog.tn(lang, key, count, **params)
            assert text.strip(), f"{lang} {key} {count}"
            assert "{" not in text, f"{lang} {key} {count}: {text}"
            problems = validate_request("sendMessage", {"chat_id": 1, "text": text, "parse_mode": "HTML"})
            assert problems == [], f"{lang} {key} {count}: {problems}"


@pytest.mark.parametrize(
    ("lang", "count", "expected"),
    [
        ("fi", 1, "(1 viesti)"),
        ("fi", 0, "(0 viestiä)"),
        ("fi", 5, "(5 viestiä)"),
        ("sv", 1, "(1 meddelande)"),
        ("sv", 2, "(2 meddelanden)"),
        ("en", 1, "(1 message)"),
        ("en", 5, "(5 messages)"),
    ],
)
def test_the_form_follows_the_count(lang: str, count: int, expected: str) -> None:
    assert expected in default_catalog().tn(lang, "forget.done", count)


def test_figure_labels_agree_with_their_number_in_finnish() -> None:
    catalog = default_catalog()
    assert catalog.tn("fi", "report.figure.observations", 12) == "havaintoa"
    assert catalog.tn("fi", "report.figure.observations", 1) == "havainto"
    assert catalog.tn("fi", "report.figure.new_ideas", 3) == "uutta ideaa"
    assert catalog.tn("fi", "facilitator.and_more", 1) == "…ja 1 muu"


def test_counted_texts_escape_their_parameters_like_t() -> None:
    catalog = Catalog({"fi": {}}, {"fi": {"k": ("{count} <b>{x}</b>", "{count} <i>{x}</i>")}})
    assert catalog.tn("fi", "k", 1, x="<script>") == "1 <b>&lt;script&gt;</b>"
    assert catalog.tn("fi", "k", 2, x=Html("<u>ok</u>")) == "2 <i><u>ok</u></i>"
    assert catalog.plain_n("fi", "k", 2, x="<a>") == "2 <i><a></i>"


def test_count_can_be_shown_formatted_while_it_still_picks_the_form() -> None:
    catalog = Catalog({"fi": {}}, {"fi": {"k": ("{count} päivä", "{count} päivää")}})
    assert catalog.tn("fi", "k", 1234, count="1 234") == "1 234 päivää"


def test_a_language_without_the_text_falls_back_to_finnish() -> None:
    catalog = Catalog({"fi": {}, "sv": {}}, {"fi": {"k": ("{count} viesti", "{count} viestiä")}, "sv": {}})
    assert catalog.tn("sv", "k", 3) == "3 viestiä"
    with pytest.raises(KeyError):
        catalog.tn("fi", "nope", 1)


def test_a_counted_text_missing_in_one_language_is_reported() -> None:
    catalog = Catalog(
        {"fi": {}, "sv": {}, "en": {}},
        {"fi": {"k": ("{count} viesti", "{count} viestiä")}, "sv": {"k": ("{count} dag", "{count} dagar")}},
    )
    assert missing_translations(catalog) == ["en: missing counted k"]


def test_a_counted_text_without_all_its_forms_is_reported() -> None:
    both = ("{count} a", "{count} b")
    catalog = Catalog(
        {"fi": {}, "sv": {}, "en": {}},
        {"fi": {"k": ("{count} viesti",)}, "sv": {"k": ("{count} dag", "")}, "en": {"k": both}},
    )
    assert missing_translations(catalog) == ["fi: k has 1 of 2 plural forms", "sv: k has 1 of 2 plural forms"]


def test_a_counted_text_with_other_placeholders_in_one_language_is_reported() -> None:
    catalog = Catalog(
        {"fi": {}, "sv": {}, "en": {}},
        {
            "fi": {"k": ("yksi {who}", "{count} {who}")},
            "sv": {"k": ("{count}", "{count}")},
            "en": {"k": ("{count} {who}", "{count} {who}")},
        },
    )
    assert missing_translations(catalog) == ["sv: k has placeholders [], expected ['who']"]


def test_no_counted_text_is_left_as_a_plain_text_in_another_language() -> None:
    catalog = default_catalog()
    for lang in LANGUAGES:
        assert not catalog.keys(lang) & catalog.plural_keys(lang), lang


_CALL = re.compile(
    r"\b(t|plain|raw|say|tn|plain_n|raw_n|say_n)\(\s*(?:[\w.]+,\s*)?\"([a-z][a-z0-9_]*\.[a-z0-9_.]+)\""
)
_COUNTED_CALLS = {"tn", "plain_n", "raw_n", "say_n"}


def test_code_renders_counted_texts_with_a_count_and_other_texts_without() -> None:
    from pathlib import Path

    catalog = default_catalog()
    counted, plain = catalog.plural_keys("fi"), catalog.keys("fi")
    root = Path(__file__).resolve().parents[3]
    wrong: list[str] = []
    seen = 0
    for folder in ("bot", "handlers"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in {".py", ".j2"}:
                continue
            for call, key in _CALL.findall(path.read_text(encoding="utf-8")):
                if key not in counted | plain:
                    continue
                seen += 1
                if (call in _COUNTED_CALLS) != (key in counted):
                    wrong.append(f"{path.relative_to(root)}: {call}({key!r})")
    assert seen > 100
    assert wrong == []
