"""Telegram message formatting as the Bot API parses it.

The rules follow tdlib's ``parse_html`` (the parser behind ``parse_mode="HTML"``): which tags exist,
how attributes are read, which entities are decoded and the wording of its errors, so that the sandbox
rejects exactly what Telegram rejects with ``can't parse entities``. Telegram silently accepts a few
things that are nearly always a bug in a bot (a lone ``&``, a stray ``>``, ``&nbsp;``): they come out
as *warnings*, which the validator reports as violations while the sandbox still answers like Telegram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "FormattedText",
    "parse_html",
    "parse_text",
    "utf16_len",
]

_TAG_ENTITY_TYPES = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile(r"[<&>]")
_ENTITY = re.compile(r"&(?:#([0-9]{1,10})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]{0,31}));")
_SPACES = " \t\r\n\f\v"
# Telegram trims these from both ends of a message text or caption before counting its length.
_TRIMMED = " \t\r\n\f\v\u200b\ufeff"


class EntityParseError(ValueError):
    """The text is rejected by Telegram with ``Bad Request: can't parse entities: <message>``."""


@dataclass(frozen=True)
class FormattedText:
    """A text as Telegram stores it: trimmed plain text plus entities with UTF-16 offsets."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Length in UTF-16 code units, the unit of Telegram's text limits."""
        return utf16_len(self.text)


def utf16_len(text: str) -> int:
    """Count UTF-16 code units: characters outside the BMP (most emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    byte_offset: int
    piece_index: int
    expandable: bool = False


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code <= 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


class _HtmlParser:
    """One pass over the source, building the plain text, the entities and the warnings."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pieces: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    def append(self, text: str) -> None:
        self.pieces.append(text)
        self.utf16 += utf16_len(text)

    def error(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def parse(self) -> FormattedText:
        source = self.source
        pos = 0
        while True:
            match = _SPECIAL.search(source, pos)
            end = match.start() if match else len(source)
            if end > pos:
                self.append(source[pos:end])
            if match is None:
                break
            char = match.group()
            if char == "&":
                pos = self.entity(end)
            elif char == ">":
                self.warnings.append(f"unescaped '>' at byte offset {_byte_offset(source, end)}")
                self.append(">")
                pos = end + 1
            elif source.startswith("</", end):
                pos = self.end_tag(end)
            else:
                pos = self.start_tag(end)
        if self.stack:
            raise self.error(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        return _trim("".join(self.pieces), self.entities, self.warnings)

    def entity(self, index: int) -> int:
        """Decode ``&...;`` at ``index``; Telegram keeps an undecodable ``&`` literally."""
        match = _ENTITY.match(self.source, index)
        decoded = _decode_entity(match) if match else None
        if match is None or decoded is None:
            offset = _byte_offset(self.source, index)
            if match is None:
                self.warnings.append(f"unescaped '&' at byte offset {offset}")
            else:
                self.warnings.append(f"unsupported HTML entity {match.group()!r} at byte offset {offset}")
            self.append("&")
            return index + 1
        self.append(decoded)
        return match.end()

    def end_tag(self, index: int) -> int:
        source = self.source
        begin = _byte_offset(source, index)
        if not self.stack:
            raise self.error(f"Unexpected end tag at byte offset {begin}")
        pos = index + 2
        while pos < len(source) and source[pos] not in _SPACES and source[pos] != ">":
            pos += 1
        name = source[index + 2 : pos].lower()
        while pos < len(source) and source[pos] in _SPACES:
            pos += 1
        if pos >= len(source) or source[pos] != ">":
            raise self.error(f"Can't find end of the end tag at byte offset {begin}")
        opened = self.stack.pop()
        if name and name != opened.name:
            raise self.error(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.name}>", found "</{name}>"'
            )
        self.close(opened)
        return pos + 1

    def start_tag(self, index: int) -> int:
        source = self.source
        size = len(source)
        begin = _byte_offset(source, index)
        pos = index + 1
        while pos < size and source[pos] not in _SPACES and source[pos] != ">":
            pos += 1
        if pos >= size:
            raise self.error(f"Unclosed start tag at byte offset {begin}")
        name = source[index + 1 : pos].lower()
        if name not in _TAG_ENTITY_TYPES:
            raise self.error(f'Unsupported start tag "{name}" at byte offset {begin}')
        tag = _OpenTag(
            name=name, argument="", utf16_offset=self.utf16, byte_offset=begin, piece_index=len(self.pieces)
        )
        attributes: dict[str, str] = {}
        while True:
            while pos < size and source[pos] in _SPACES:
                pos += 1
            if pos >= size:
                raise self.error(f"Unclosed start tag at byte offset {begin}")
            if source[pos] == ">":
                break
            attribute_begin = pos
            while pos < size and source[pos] not in _SPACES and source[pos] not in "=>":
                pos += 1
            attribute = source[attribute_begin:pos].lower()
            if not attribute:
                raise self.error(f'Empty attribute name in the tag "{name}" at byte offset {begin}')
            while pos < size and source[pos] in _SPACES:
                pos += 1
            if pos >= size or source[pos] != "=":
                if name == "blockquote" and attribute == "expandable":
                    tag.expandable = True
                    continue
                raise self.error(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {begin}"
                )
            pos += 1
            while pos < size and source[pos] in _SPACES:
                pos += 1
            if pos >= size:
                raise self.error(f"Unclosed start tag at byte offset {begin}")
            value, pos = self.attribute_value(pos)
            if pos >= size:
                raise self.error(f"Unclosed start tag at byte offset {begin}")
            attributes[attribute] = value
        self.apply_attributes(tag, attributes)
        self.stack.append(tag)
        return pos + 1

    def attribute_value(self, pos: int) -> tuple[str, int]:
        source = self.source
        quote = source[pos]
        if quote not in "'\"":
            token_begin = pos
            while pos < len(source) and (source[pos].isalnum() or source[pos] in ".-"):
                pos += 1
            if pos < len(source) and source[pos] not in _SPACES and source[pos] != ">":
                raise self.error(
                    f"Unexpected end of name token at byte offset {_byte_offset(source, token_begin)}"
                )
            return source[token_begin:pos].lower(), pos
        end = source.find(quote, pos + 1)
        if end < 0:
            return "", len(source)
        raw = source[pos + 1 : end]
        value = []
        cursor = 0
        for match in re.finditer("&", raw):
            value.append(raw[cursor : match.start()])
            entity = _ENTITY.match(raw, match.start())
            decoded = _decode_entity(entity) if entity else None
            if entity is None or decoded is None:
                offset = _byte_offset(source, pos + 1 + match.start())
                self.warnings.append(f"unescaped '&' in an attribute at byte offset {offset}")
                value.append("&")
                cursor = match.start() + 1
            else:
                value.append(decoded)
                cursor = entity.end()
        value.append(raw[cursor:])
        return "".join(value), end + 1

    def apply_attributes(self, tag: _OpenTag, attributes: dict[str, str]) -> None:
        name = tag.name
        if name == "a":
            tag.argument = attributes.get("href", "")
        elif name == "code":
            css = attributes.get("class", "")
            tag.argument = css.removeprefix("language-") if css.startswith("language-") else ""
        elif name == "span":
            if attributes.get("class") != "tg-spoiler":
                raise self.error(f'Tag "span" must have class "tg-spoiler" at byte offset {tag.byte_offset}')
        elif name == "tg-emoji":
            emoji_id = attributes.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise self.error("Invalid custom emoji identifier specified")
            tag.argument = emoji_id
        elif name == "tg-time":
            unix = attributes.get("unix", "")
            if not unix.isdigit():
                raise self.error("Invalid Unix time specified")
            tag.argument = unix + "\0" + attributes.get("format", "")

    def close(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.utf16_offset
        if length <= 0:
            return
        entity: dict[str, Any] = {
            "type": _TAG_ENTITY_TYPES[tag.name],
            "offset": tag.utf16_offset,
            "length": length,
        }
        if tag.name == "a":
            url = tag.argument or "".join(self.pieces[tag.piece_index :])
            if not url:
                return
            entity["url"] = url
        elif tag.name == "blockquote" and tag.expandable:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "code" and tag.argument:
            # Only meaningful inside <pre>; kept on the entity until the enclosing <pre> closes.
            entity["language"] = tag.argument
        elif tag.name == "pre":
            last = self.entities[-1] if self.entities else None
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == tag.utf16_offset
                and last["length"] == length
            ):
                self.entities.pop()
                if "language" in last:
                    entity["language"] = last["language"]
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.argument
        elif tag.name == "tg-time":
            unix, time_format = tag.argument.split("\0")
            entity["unix_time"] = int(unix)
            if time_format:
                entity["date_time_format"] = time_format
        self.entities.append(entity)


def _trim(text: str, entities: list[dict[str, Any]], warnings: list[str]) -> FormattedText:
    """Strip surrounding whitespace like Telegram and clip the entities to what remains."""
    stripped = text.strip(_TRIMMED)
    if stripped == text:
        kept = entities
    else:
        lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIMMED))])
        total = utf16_len(stripped)
        kept = []
        for entity in entities:
            start = max(entity["offset"] - lead, 0)
            end = min(entity["offset"] + entity["length"] - lead, total)
            if end > start:
                kept.append({**entity, "offset": start, "length": end - start})
    for entity in kept:
        if entity["type"] == "code":
            entity.pop("language", None)
    kept.sort(key=lambda e: (e["offset"], -e["length"]))
    return FormattedText(text=stripped, entities=kept, warnings=warnings)


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML; raise :class:`EntityParseError` where the Bot API answers 400."""
    return _HtmlParser(source).parse()


def parse_text(source: str, parse_mode: str | None) -> FormattedText:
    """Apply ``parse_mode`` (``HTML`` is parsed; anything else is taken as plain text, trimmed).

    MarkdownV2 is not parsed: its length check then counts the markup too, erring on the strict side.
    """
    if parse_mode is not None and parse_mode.lower() == "html":
        return parse_html(source)
    return _trim(source, [], [])
