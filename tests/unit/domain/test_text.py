"""Snippets and the language fallback of a text."""

from __future__ import annotations

from bot.domain.text import localized, shorten


def test_short_text_is_kept_on_one_line() -> None:
    assert shorten("  Mitä\n\tjäi   mieleen? ", 40) == "Mitä jäi mieleen?"


def test_long_text_is_cut_to_the_limit_with_an_ellipsis() -> None:
    cut = shorten("Kirkonkylän koulu on auki", 12)
    assert cut == "Kirkonkylän…"
    assert len(cut) <= 12


def test_text_exactly_at_the_limit_is_not_cut() -> None:
    assert shorten("abcde", 5) == "abcde"


def test_cut_does_not_leave_a_space_before_the_ellipsis() -> None:
    assert shorten("yksi kaksi kolme", 6) == "yksi…"


def test_missing_text_is_empty() -> None:
    assert shorten(None, 10) == ""
    assert shorten("   ", 10) == ""


def test_text_in_the_asked_language() -> None:
    texts = {"fi": "Hei", "sv": "Hej", "en": "Hello"}
    assert localized(texts, "sv") == "Hej"


def test_unknown_language_falls_back_to_the_process_language_then_finnish() -> None:
    texts = {"fi": "Hei", "sv": "Hej"}
    assert localized(texts, "de", "sv") == "Hej"
    assert localized(texts, "en", "en") == "Hei"
    assert localized(texts, "en") == "Hei"


def test_empty_text_counts_as_missing() -> None:
    assert localized({"fi": "", "sv": "Hej"}, "fi") == "Hej"


def test_no_text_at_all_is_empty() -> None:
    assert localized({}, "fi") == ""
    assert localized({"fi": ""}, "fi") == ""


def test_values_from_json_are_text() -> None:
    assert localized({"fi": 3}, "fi") == "3"
