"""The one lemmatiser: content words, readable forms, similar titles."""

from __future__ import annotations

from bot.domain.words import lemma_forms, lemmas, same_stem, similar_pairs, similarity


def test_lemmas_handle_finnish_inflection_and_drop_stop_words() -> None:
    assert lemmas("Kirjastossa ja kirjastoon on tulossa ikäihmisiä", "fi") >= {"kirjasto", "ikäihminen"}
    assert "ja" not in lemmas("Kirjastossa ja kirjastoon", "fi")
    assert "bibliotek" in lemmas("Biblioteket och byn", "sv")


def test_short_words_and_numbers_are_not_content_words() -> None:
    assert lemmas("Yö 2027 ok", "fi") == set()


def test_forms_keep_the_word_as_written() -> None:
    assert lemma_forms("Kirjastossa", "fi") == {"kirjasto": "kirjastossa"}
    assert same_stem("kirjasto", "kirjastossa")
    assert not same_stem("gammal", "äldre")


def test_similar_idea_names_match_across_inflection_and_word_order() -> None:
    assert similarity("Yksinäisten vanhusten kerho", "Kerho yksinäisille vanhuksille", "sv") == 1.0
    assert similarity("Kerho yksinäisille", "Kerho yksinäisille vanhuksille") >= 0.5
    assert similarity("Bykyyti till butiken", "Naapuriapurinki") < 0.5


def test_similar_pairs_flag_each_other_and_leave_the_rest() -> None:
    pairs = similar_pairs(
        [
            (1, "Kirjaston kahvihetki ikäihmisille", "fi"),
            (2, "Kirjaston kahvihetket ikäihmisille", "fi"),
            (3, "Bykyyti till butiken", "sv"),
        ]
    )

    assert pairs == {1: [2], 2: [1]}
