"""CSV cells a spreadsheet could run as a formula get a leading apostrophe, however the formula hides."""

from __future__ import annotations

import pytest

from bot.domain.text import spreadsheet_safe, without_nul


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        "+358401234567",
        "-2+3",
        "@SUM(A1)",
        "\tkuvaus",
        "\rkuvaus",
        ' =HYPERLINK("http://example.invalid")',
        "\n=1+1",
        "\r\n  +1",
        "＝1+1",  # full-width
        "＋1",
        "－1",
        "＠SUM(A1)",
        "﹦1",  # small form
        "\u200b=1+1",  # zero-width space
        "\ufeff=1",  # byte-order mark
        "\u2060\u200d@x",  # word joiner, zero-width joiner
        "\u00a0=1",  # no-break space
        "\u3000=1",  # ideographic space
    ],
)
def test_a_formula_in_any_disguise_is_neutralised(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("text", ["Kahvi loppui", " väli alussa", "\nRivinvaihto", "", "   ", "1-2", "a=b"])
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert spreadsheet_safe(text) == text


def test_nul_characters_are_removed() -> None:
    assert without_nul("Hei\x00 maailma\x00") == "Hei maailma"
    assert without_nul(None) is None
    assert without_nul("Hei") == "Hei"
