"""Reading composed YAML nodes into typed values, collecting every problem with its line.

:class:`NodeReader` never stops at the first mistake: each method returns ``None`` for a value it
cannot use and records a :class:`~bot.domain.programme.spec.FileProblem`, so a facilitator sees
everything wrong with a file at once.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from datetime import datetime, timedelta

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.domain.process import PLACEHOLDERS
from bot.domain.programme.spec import ERROR_PARAMS, FileProblem
from bot.domain.timing import SpanTooLong, When, WhenError, parse_duration, parse_when
from messages import LANGUAGES

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_CHARS",
    "MAX_WHEN",
    "OFF_WORDS",
    "NodeReader",
    "is_null",
    "is_off",
    "local_text",
]

MAX_FILE_CHARS = 500_000
FIRST_YEAR, LAST_YEAR = 2000, 2100
"""The years a time in a process file may fall in: beyond them, adding the default follow-up or the
retention to a date would leave the calendar."""
MAX_DEPTH = 50
"""How deeply lists and mappings may nest; a process file needs five levels. PyYAML composes
recursively, so a file nested a few hundred levels deep would otherwise end in a ``RecursionError``."""
MAX_WHEN = 64
_DATETIME_RE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:[Tt]|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
)
OFF_WORDS = frozenset({"off", "none", "no", "ei", "nej"})

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than :data:`MAX_DEPTH` where it starts."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(problem="nested too deeply", problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def local_text(value: datetime) -> str:
    """A naive local time as problems quote it: ``2027-02-04 09:00``."""
    return value.strftime("%Y-%m-%d %H:%M")


class NodeReader:
    """Walks composed YAML nodes, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[FileProblem] = []
        self._constructor = SafeConstructor()

    def add(self, where: Node | int, path: str, code: str, /, **params: object) -> None:
        expected = ERROR_PARAMS[code]
        assert set(params) == set(expected), f"{code} needs {expected}, got {sorted(params)}"
        line = where if isinstance(where, int) else where.start_mark.line + 1
        self.problems.append(FileProblem(line, path, code, {k: str(v) for k, v in params.items()}))

    def compose(self, text: str) -> Node | None:
        if len(text) > MAX_FILE_CHARS:
            self.add(1, "", "too_large", limit=MAX_FILE_CHARS)
            return None
        try:
            node = yaml.compose(text, Loader=_BoundedLoader)
        except _TooDeep as error:
            mark = error.problem_mark
            self.add((mark.line + 1) if mark else 1, "", "too_deep", limit=MAX_DEPTH)
            return None
        except RecursionError:
            self.add(1, "", "too_deep", limit=MAX_DEPTH)
            return None
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            problem = error.problem or error.context or "invalid YAML"
            self.add((mark.line + 1) if mark else 1, "", "syntax", problem=problem)
            return None
        except yaml.YAMLError as error:
            self.add(1, "", "syntax", problem=str(error).splitlines()[0] if str(error) else "invalid YAML")
            return None
        if node is None or is_null(node):
            self.add(1, "", "empty")
            return None
        return node

    def mapping(
        self, node: Node, path: str, allowed: Sequence[str], required: Sequence[str] = ()
    ) -> dict[str, tuple[Node, Node]] | None:
        if not isinstance(node, MappingNode):
            self.add(node, path, "not_mapping")
            return None
        fields: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            key_path = f"{path}.{key}" if path else str(key)
            if key is None or not isinstance(key, str):
                self.add(key_node, path, "not_text")
            elif key not in allowed:
                self.add(key_node, key_path, "unknown_key", key=key, allowed=", ".join(allowed))
            elif key in fields:
                self.add(key_node, key_path, "duplicate_key", key=key)
            else:
                fields[key] = (key_node, value_node)
        for key in required:
            if key not in fields or is_null(fields[key][1]):
                where = fields[key][0] if key in fields else node
                self.add(where, f"{path}.{key}" if path else key, "missing", key=key)
                fields.pop(key, None)
        return {key: pair for key, pair in fields.items() if not is_null(pair[1])}

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.add(node, path, "not_list")
            return None
        return list(node.value)

    def text(self, node: Node, path: str, *, limit: int | None = None) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            self.add(node, path, "not_text")
            return None
        value = str(node.value).strip()
        if not value:
            self.add(node, path, "empty")
            return None
        if limit is not None and len(value) > limit:
            self.add(node, path, "too_long", length=len(value), limit=limit)
            return None
        return value

    def integer(self, node: Node, path: str) -> int | None:
        if isinstance(node, ScalarNode):
            if node.tag == _INT:
                try:
                    return int(self._constructor.construct_yaml_int(node))
                except (ConstructorError, ValueError):
                    pass
            elif node.tag == _STR and node.value.strip().isascii() and node.value.strip().isdigit():
                return int(node.value.strip())
        self.add(node, path, "not_integer")
        return None

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(self._constructor.construct_yaml_bool(node))
        self.add(node, path, "not_boolean")
        return None

    def local_datetime(self, node: Node, path: str) -> datetime | None:
        raw = self.text(node, path)
        if raw is None:
            return None
        match = _DATETIME_RE.fullmatch(raw)
        try:
            if not match:
                raise ValueError(raw)
            year, month, day, hour, minute, second = (
                int(match[g] or 0) for g in ("y", "mo", "d", "h", "mi", "s")
            )
            if not FIRST_YEAR <= year <= LAST_YEAR:
                self.add(node, path, "year_out_of_range", value=raw, first=FIRST_YEAR, last=LAST_YEAR)
                return None
            return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - naive local wall time
        except ValueError:
            self.add(node, path, "bad_datetime", value=raw)
            return None

    def duration(self, node: Node, path: str) -> tuple[timedelta | None, bool]:
        """A duration or none/off; the flag says whether it could be read."""
        if is_off(node):
            return None, True
        raw = self.text(node, path)
        if raw is None:
            return None, False
        try:
            return parse_duration(raw), True
        except SpanTooLong:
            self.add(node, path, "too_far", value=raw)
            return None, False
        except ValueError:
            self.add(node, path, "bad_duration", value=raw)
            return None, False

    def localized(self, node: Node, path: str, *, limit: int, placeholders: bool) -> dict[str, str] | None:
        """A text in every language: a mapping ``{fi:, sv:, en:}`` (or, where allowed, one string)."""
        if isinstance(node, ScalarNode) and not placeholders:
            value = self.text(node, path, limit=limit)
            return dict.fromkeys(LANGUAGES, value) if value is not None else None
        fields = self.mapping(node, path, LANGUAGES)
        if fields is None:
            return None
        texts: dict[str, str] = {}
        ok = True
        for lang, (_, value_node) in fields.items():
            value = self.text(value_node, f"{path}.{lang}", limit=limit)
            if value is None or (
                placeholders and not self._placeholders_ok(value, value_node, f"{path}.{lang}")
            ):
                ok = False
            else:
                texts[lang] = value
        missing = [lang for lang in LANGUAGES if lang not in fields]
        if missing:
            self.add(node, path, "missing_text", languages=", ".join(missing))
            return None
        return texts if ok else None

    def _placeholders_ok(self, value: str, node: Node, path: str) -> bool:
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError:
            self.add(node, path, "bad_braces", example="{workshop_time}")
            return False
        ok = True
        for _, name, _, _ in parsed:
            if name is not None and name not in PLACEHOLDERS:
                allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
                self.add(node, path, "unknown_placeholder", name="{" + name + "}", allowed=allowed)
                ok = False
        return ok

    def when(self, node: Node, path: str) -> When | None:
        raw = self.text(node, path, limit=MAX_WHEN)
        if raw is None:
            return None
        try:
            return parse_when(raw)
        except WhenError as error:
            if error.code == "anchor":
                self.add(node, path, "unknown_anchor", value=raw, anchor=error.anchor)
            elif error.code == "too_far":
                self.add(node, path, "too_far", value=raw)
            elif error.code == "mixed":
                self.add(node, path, "when_mixed", value=raw)
            else:
                self.add(node, path, "bad_when", value=raw)
            return None


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def is_off(node: Node) -> bool:
    """``off``/``none`` however YAML typed it (unquoted ``off`` is a boolean false in YAML 1.1)."""
    if not isinstance(node, ScalarNode):
        return False
    if node.tag == _BOOL:
        return str(node.value).lower() in {"off", "no", "false", "n"}
    return node.tag == _STR and node.value.strip().lower() in OFF_WORDS
