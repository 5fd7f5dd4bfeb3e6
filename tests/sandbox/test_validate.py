"""The validator flags what Telegram would reject or what shows a bug in the bot, and nothing else."""

from __future__ import annotations

import json

import pytest

from sandbox import check_object, decode_params, validate_request

CHAT = {"chat_id": 42}


def test_valid_send_message_has_no_problems() -> None:
    params = {**CHAT, "text": "<b>Hei</b> &amp; tervetuloa!", "parse_mode": "HTML"}
    assert validate_request("sendMessage", params) == []


def test_unknown_field_is_flagged() -> None:
    problems = validate_request("sendMessage", {**CHAT, "text": "x", "disable_web_page_preview": True})
    assert problems == ["disable_web_page_preview: unknown field for sendMessage"]


def test_missing_required_field_is_flagged() -> None:
    assert validate_request("sendMessage", {"text": "x"}) == [
        "chat_id: required parameter of sendMessage is missing"
    ]


def test_method_names_must_be_exact() -> None:
    assert validate_request("sendmessage", {**CHAT, "text": "x"}) == [
        "method 'sendmessage' must be spelled 'sendMessage'"
    ]
    assert validate_request("sendMessages", {}) == ["unknown method 'sendMessages'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("Tom & Jerry", "unescaped '&' at byte offset 4"),
        ("a -> b", "unescaped '>' at byte offset 3"),
        ("&nbsp;", "unsupported HTML entity '&nbsp;'"),
        ("<b>bold <i>both</b></i>", 'Unmatched end tag at byte offset 15, expected "</i>", found "</b>"'),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("line<br>break", 'Unsupported start tag "br"'),
    ],
)
def test_bad_html_is_flagged(text: str, expected: str) -> None:
    problems = validate_request("sendMessage", {**CHAT, "text": text, "parse_mode": "HTML"})
    assert len(problems) == 1
    assert expected in problems[0]


def test_html_is_only_checked_with_html_parse_mode() -> None:
    assert validate_request("sendMessage", {**CHAT, "text": "Tom & Jerry <3"}) == []


@pytest.mark.parametrize(
    "text",
    [
        '<a href="https://example.org/?a=1&amp;b=2">link</a>',
        "<pre><code class=\"language-python\">print('x')</code></pre>",
        '<tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">s</span>',
        "<blockquote expandable>long</blockquote>",
        "<u>u</u><ins>i</ins><s>s</s><strike>s</strike><del>d</del><em>e</em><strong>s</strong>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> &#128077; &#x1F44D; &quot;q&quot; &lt;&gt;',
    ],
)
def test_all_telegram_html_is_accepted(text: str) -> None:
    assert validate_request("sendMessage", {**CHAT, "text": text, "parse_mode": "HTML"}) == []


def test_text_length_counts_after_parsing_in_utf16_units() -> None:
    assert validate_request("sendMessage", {**CHAT, "text": "ä" * 4096}) == []
    assert (
        validate_request("sendMessage", {**CHAT, "text": "<b>" + "a" * 4096 + "</b>", "parse_mode": "HTML"})
        == []
    )
    assert validate_request("sendMessage", {**CHAT, "text": "x" * 4097}) == [
        "text: 4097 UTF-16 code units after entity parsing, limit is 4096"
    ]
    # Emoji outside the BMP are two UTF-16 code units each.
    assert validate_request("sendMessage", {**CHAT, "text": "😀" * 2048}) == []
    assert validate_request("sendMessage", {**CHAT, "text": "😀" * 2049}) != []


def test_empty_text_after_parsing_is_flagged() -> None:
    problems = validate_request("sendMessage", {**CHAT, "text": "<b> </b>", "parse_mode": "HTML"})
    assert problems == ["text: must not be empty after entity parsing"]


def test_caption_limit_is_1024() -> None:
    params = {**CHAT, "document": "BQACAgQAAxkBAAI000001sbxdocument", "caption": "c" * 1025}
    assert validate_request("sendDocument", params) == [
        "caption: 1025 UTF-16 code units after entity parsing, limit is 1024"
    ]


def test_callback_data_must_be_1_to_64_bytes() -> None:
    def markup(data: str) -> dict[str, object]:
        return {"inline_keyboard": [[{"text": "OK", "callback_data": data}]]}

    assert validate_request("sendMessage", {**CHAT, "text": "x", "reply_markup": markup("ä" * 32)}) == []
    problems = validate_request("sendMessage", {**CHAT, "text": "x", "reply_markup": markup("a" * 65)})
    assert problems == ["reply_markup.inline_keyboard[0][0].callback_data: 65 bytes, must be 1-64 bytes"]


def test_inline_button_needs_text_and_exactly_one_action() -> None:
    markup = {
        "inline_keyboard": [
            [
                {"text": "", "callback_data": "a"},
                {"text": "Both", "url": "https://x.org", "callback_data": "b"},
            ],
            [{"text": "None"}],
        ]
    }
    problems = validate_request("sendMessage", {**CHAT, "text": "x", "reply_markup": markup})
    assert problems == [
        "reply_markup.inline_keyboard[0][0].text: button text must be non-empty",
        "reply_markup.inline_keyboard[0][1]: exactly one action field is required, got ['url', 'callback_data']",
        "reply_markup.inline_keyboard[1][0]: exactly one action field is required, got none",
    ]


def test_reply_keyboard_must_be_sane() -> None:
    good = {"keyboard": [[{"text": "Kyllä"}, {"text": "Ei"}]], "one_time_keyboard": True}
    assert validate_request("sendMessage", {**CHAT, "text": "x", "reply_markup": good}) == []
    bad = {"keyboard": [[], [{"text": " ", "request_contact": True, "request_location": True}]]}
    assert validate_request("sendMessage", {**CHAT, "text": "x", "reply_markup": bad}) == [
        "reply_markup.keyboard[0]: empty row",
        "reply_markup.keyboard[1][0].text: button text must be non-empty",
        "reply_markup.keyboard[1][0]: at most one request field is allowed, got "
        "['request_contact', 'request_location']",
    ]


def test_nested_objects_are_checked_against_their_types() -> None:
    params = {
        "commands": [{"command": "start", "description": "Aloita", "emoji": "x"}],
        "scope": {"type": "chat"},
        "language_code": "fin",
    }
    assert validate_request("setMyCommands", params) == [
        "commands[0].emoji: unknown field for BotCommand",
        "scope.chat_id: required field of BotCommandScopeChat is missing",
        "language_code: 'fin' is not a two-letter ISO 639-1 code",
    ]


def test_command_names_follow_telegram_rules() -> None:
    params = {"commands": [{"command": "Start", "description": "x"}, {"command": "start", "description": ""}]}
    assert validate_request("setMyCommands", params) == [
        "commands[0].command: 'Start' must be 1-32 lowercase letters, digits, underscores",
        "commands[1].description: must be 1-256 characters",
    ]


def test_wrong_scalar_types_are_flagged() -> None:
    assert validate_request("sendMessage", {"chat_id": 4.2, "text": "x"}) == [
        "chat_id: expected Integer or String, got Float"
    ]
    assert validate_request("getUpdates", {"timeout": "10"}) == ["timeout: expected Integer, got String"]


def test_uploaded_file_satisfies_required_input_file() -> None:
    assert validate_request("sendDocument", CHAT, files=["document"]) == []
    assert validate_request("sendDocument", CHAT) == [
        "document: required parameter of sendDocument is missing"
    ]
    assert validate_request("sendDocument", CHAT, files=["document", "extra"]) == [
        "extra: unknown file field for sendDocument"
    ]


def test_decode_params_reads_form_fields_like_telegram() -> None:
    form = {
        "chat_id": "42",
        "text": "123",
        "reply_markup": json.dumps({"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}),
        "disable_notification": "true",
    }
    assert decode_params("sendMessage", form) == {
        "chat_id": 42,
        "text": "123",
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]},
        "disable_notification": True,
    }
    assert decode_params("sendMessage", {"chat_id": "@valitupa"})["chat_id"] == "@valitupa"
    assert decode_params("sendDocument", {"document": "123"})["document"] == "123"
    assert decode_params("getUpdates", {"allowed_updates": '["message"]', "offset": 7}) == {
        "allowed_updates": ["message"],
        "offset": 7,
    }


def test_check_object_knows_subtypes_and_discriminators() -> None:
    assert check_object("MenuButton", {"type": "commands"}) == []
    assert check_object("BotCommandScope", {"type": "chat", "chat_id": 1}) == []
    assert check_object("BotCommandScope", {"type": "galaxy"}) != []
