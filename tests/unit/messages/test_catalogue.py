"""Every text exists in Finnish, Swedish and English, with the same placeholders."""

from __future__ import annotations

import re

from messages import LANGUAGES, Catalog, Html, default_catalog, missing_translations
from sandbox.validate import validate_request


def test_every_key_exists_in_every_language_with_the_same_placeholders() -> None:
    assert missing_translations(default_catalog()) == []


def test_a_key_missing_in_one_language_is_reported() -> None:
    catalog = Catalog({"fi": {"a.b": "Hei {name}"}, "sv": {"a.b": "Hej {name}"}, "en": {}})
    assert missing_translations(catalog) == ["en: missing a.b"]


def test_a_placeholder_missing_in_one_language_is_reported() -> None:
    catalog = Catalog({"fi": {"a.b": "Hei {name}"}, "sv": {"a.b": "Hej"}, "en": {"a.b": "Hi {name}"}})
    assert missing_translations(catalog) == ["sv: a.b has placeholders [], expected ['name']"]


def test_parameters_are_escaped_but_trusted_html_is_not() -> None:
    catalog = Catalog({"fi": {"k": "<b>{x}</b> {y}"}})
    rendered = catalog.t("fi", "k", x="<script>&", y=Html("<i>ok</i>"))
    assert rendered == "<b>&lt;script&gt;&amp;</b> <i>ok</i>"


def test_every_text_is_valid_telegram_html_in_every_language() -> None:
    catalog = default_catalog()
    placeholder = re.compile(r"\{[a-z_]+\}")
    for lang in LANGUAGES:
        for key in catalog.keys(lang):
            text = placeholder.sub("x", catalog.raw(lang, key))
            problems = validate_request("sendMessage", {"chat_id": 1, "text": text, "parse_mode": "HTML"})
            assert problems == [], f"{lang} {key}: {problems}"


def test_finnish_texts_do_not_fall_back_to_english() -> None:
    catalog = default_catalog()

    def words(text: str) -> str:
        return re.sub(r"<[^>]+>|\{[a-z_]+\}|[^\w]", "", text)

    same = [
        key
        for key in catalog.keys("fi")
        if catalog.raw("fi", key) == catalog.raw("en", key) and len(words(catalog.raw("fi", key))) > 12
    ]
    assert same == []
