"""Telegram HTML becomes the plain text and entities Telegram would store."""

from __future__ import annotations

import pytest

from sandbox import EntityParseError, parse_html, utf16_len


def test_entities_use_utf16_offsets() -> None:
    parsed = parse_html("😀 <b>Hyvää</b> <i>päivää</i>")
    assert parsed.text == "😀 Hyvää päivää"
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 5},
        {"type": "italic", "offset": 9, "length": 6},
    ]


def test_surrounding_whitespace_is_trimmed_and_entities_follow() -> None:
    parsed = parse_html("\n  <b> Hei </b>\n")
    assert parsed.text == "Hei"
    assert parsed.entities == [{"type": "bold", "offset": 0, "length": 3}]


def test_links_pre_blocks_and_quotes_carry_their_attributes() -> None:
    parsed = parse_html(
        '<a href="https://kunta.fi/?a=1&amp;b=2">kunta</a> '
        '<pre><code class="language-python">x = 1</code></pre> '
        "<blockquote expandable>pitkä</blockquote>"
    )
    assert parsed.entities == [
        {"type": "text_link", "offset": 0, "length": 5, "url": "https://kunta.fi/?a=1&b=2"},
        {"type": "pre", "offset": 6, "length": 5, "language": "python"},
        {"type": "expandable_blockquote", "offset": 12, "length": 5},
    ]


def test_entities_are_decoded() -> None:
    assert parse_html("&lt;b&gt; &amp; &quot; &#228; &#xE4;").text == '<b> & " ä ä'


def test_tags_are_case_insensitive_and_empty_end_tag_closes() -> None:
    parsed = parse_html("<B>x</>")
    assert parsed.entities == [{"type": "bold", "offset": 0, "length": 1}]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("</b>", "Unexpected end tag at byte offset 0"),
        ("ä<b", "Unclosed start tag at byte offset 2"),
        ('<a href=x"y">z</a>', "Unexpected end of name token at byte offset 8"),
        (
            "<b class>x</b>",
            'Expected equal sign in declaration of an attribute of the tag "b" at byte offset 0',
        ),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
    ],
)
def test_errors_read_like_telegrams(source: str, message: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_html(source)
    assert str(raised.value) == message


def test_utf16_len() -> None:
    assert utf16_len("ä") == 1
    assert utf16_len("😀") == 2
    assert utf16_len("👍🏽") == 4
