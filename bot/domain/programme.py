"""The process file: a facilitator's YAML description of a process and its programme.

:func:`parse_process` reads and validates a process file (from ``valitupa process create FILE.yaml``
or uploaded in chat) into a frozen :class:`ProcessSpec`, or raises :class:`ProcessFileError` listing
*every* problem with its line and field, so a facilitator fixes the file in one go.
:func:`dump_process` writes a spec back as YAML with the whole programme expanded, for editing.

Rules worth knowing when writing a file (also in the README):

* Workshop times, ``end`` and quiet hours are local to ``timezone``; all computed instants are UTC.
* ``programme: default`` starts from the ship-with programme (``messages/default_programme.yaml``);
  ``prompts`` then replace default prompts with the same id and add new ones.
* A prompt may be due from two weeks before workshop 1 (a welcome or pre-W1 reminder) until the end
  of the process; outside that window is an error for your own prompts. A *default* prompt that falls
  outside it (say, a short follow-up period) is left out and named in ``ProcessSpec.omitted_defaults``.
* Without ``closes_after`` a prompt stays open until its phase ends (the next workshop, or the end of
  the process for phase 5), and a reminder until the workshop it announces (the next anchor after
  it); no prompt stays open past the end of the process.
* Field paths in problems count list items from 1: ``workshops[2]`` is workshop 2.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel.dates import format_date, format_datetime
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

import messages
from bot.domain.timing import (
    DeliveryPolicy,
    DigestSpec,
    PlanItem,
    When,
    WhenError,
    add_duration,
    format_duration,
    format_quiet_hours,
    parse_digest_spec,
    parse_duration,
    parse_quiet_hours,
    parse_when,
    resolve_when,
    to_utc,
)
from messages import LANGUAGES, Catalog, Html, default_catalog

__all__ = [
    "DEFAULT_PROGRAMME_PATH",
    "ERROR_PARAMS",
    "KINDS",
    "PLACEHOLDERS",
    "FileProblem",
    "ProcessFileError",
    "ProcessSpec",
    "PromptSpec",
    "WorkshopSpec",
    "dump_process",
    "parse_process",
    "problem_text",
    "prompt_values",
    "render_prompt",
]

DEFAULT_PROGRAMME_PATH = Path(messages.__file__).with_name("default_programme.yaml")

KINDS: tuple[str, ...] = ("reflection", "observation", "idea", "experiment", "checkin", "reminder")
PLACEHOLDERS: frozenset[str] = frozenset(
    {"workshop_number", "workshop_time", "workshop_place", "end_date", "process_name"}
)
"""Placeholders a prompt text may use; :func:`prompt_values` fills them at send time."""

WORKSHOP_COUNT = 5
PRE_START = timedelta(days=14)
"""How long before workshop 1 a prompt may be due (a welcome, a pre-workshop reminder)."""
DEFAULT_FOLLOW_UP_DAYS = 28

DEFAULTS: Mapping[str, Any] = {
    "language": "fi",
    "timezone": "Europe/Helsinki",
    "quiet_hours": (time(20, 0), time(8, 0)),
    "skip_weekends": False,
    "daily_cap": 2,
    "digest": DigestSpec(0, time(8, 0)),
    "min_group": 3,
    "retention_days": 180,
}

MAX_FILE_CHARS = 500_000
MAX_NAME = 120
MAX_ORGANISATION = 60
MAX_PLACE = 120
MAX_TEXT = 3000
MAX_OPTION = 40
MAX_OPTIONS = 8
MAX_WHEN = 64
MAX_PROMPTS = 200
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_DATETIME_RE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:[Tt]|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
)

TOP_KEYS: tuple[str, ...] = (
    "name",
    "language",
    "timezone",
    "organisations",
    "workshops",
    "end",
    "quiet_hours",
    "skip_weekends",
    "daily_cap",
    "digest",
    "min_group",
    "retention_days",
    "programme",
    "prompts",
)
PROMPT_KEYS: tuple[str, ...] = (
    "id",
    "phase",
    "when",
    "kind",
    "text",
    "options",
    "remind_after",
    "closes_after",
)
WORKSHOP_KEYS: tuple[str, ...] = ("at", "place")
_OFF = frozenset({"off", "none", "no", "ei", "nej"})

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"

ERROR_PARAMS: Mapping[str, tuple[str, ...]] = {
    "syntax": ("problem",),
    "too_large": ("limit",),
    "empty": (),
    "not_mapping": (),
    "not_list": (),
    "not_text": (),
    "not_integer": (),
    "not_boolean": (),
    "unknown_key": ("key", "allowed"),
    "duplicate_key": ("key",),
    "missing": ("key",),
    "unknown_language": ("value",),
    "unknown_timezone": ("value",),
    "workshop_count": ("count",),
    "workshop_order": ("number", "previous"),
    "bad_datetime": ("value",),
    "end_before_workshops": ("end", "workshop"),
    "bad_when": ("value",),
    "unknown_anchor": ("value", "anchor"),
    "when_mixed": ("value",),
    "before_start": ("value", "due", "start"),
    "after_end": ("value", "due", "end"),
    "closes_before_due": ("due", "closes"),
    "reminder_after_close": ("remind_after",),
    "missing_text": ("languages",),
    "duplicate_id": ("id", "first_line"),
    "bad_id": ("value",),
    "bad_phase": ("value",),
    "unknown_kind": ("value", "allowed"),
    "bad_duration": ("value",),
    "not_positive": ("value",),
    "too_small": ("value", "minimum"),
    "too_long": ("length", "limit"),
    "too_many": ("count", "limit"),
    "duplicate_value": ("value",),
    "bad_quiet_hours": ("value",),
    "bad_digest": ("value",),
    "unknown_programme": ("value",),
    "unknown_placeholder": ("name", "allowed"),
    "bad_braces": ("example",),
}
"""Every problem code and the parameters its message uses (``programme.error.<code>``)."""


# --- the spec ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileProblem:
    """One problem in a process file: 1-based ``line``, a field path (``prompts[3].when``), a code
    from :data:`ERROR_PARAMS` and the values its message needs."""

    line: int
    field: str
    code: str
    params: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)


class ProcessFileError(ValueError):
    """A process file that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Sequence[FileProblem], source: str = "<upload>") -> None:
        self.problems: tuple[FileProblem, ...] = tuple(sorted(problems, key=lambda p: p.line))
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        count = len(self.problems)
        heading = f"{self.source}: {count} problem{'s' if count != 1 else ''} in the process file"
        try:
            catalog = default_catalog()
            lines = [problem_text(catalog, "en", problem, plain=True) for problem in self.problems]
        except (KeyError, ValueError, OSError):
            lines = [f"line {p.line}, {p.field}: {p.code} {dict(p.params)}" for p in self.problems]
        return "\n".join([heading, *(f"  {line}" for line in lines)])


@dataclass(frozen=True)
class WorkshopSpec:
    number: int
    at_local: datetime
    """Naive wall-clock time in the process timezone, as written in the file."""
    at_utc: datetime
    place: str | None = None


@dataclass(frozen=True)
class PromptSpec:
    """One programme item. ``order`` is its position in the programme (chronological by ``due_at``);
    ``due_at`` and ``closes_at`` are aware UTC."""

    id: str
    phase: int
    when: When
    kind: str
    texts: dict[str, str] = dataclasses.field(hash=False)
    options: tuple[dict[str, str], ...] = dataclasses.field(hash=False)
    remind_after: timedelta | None
    closes_after: timedelta | None
    order: int
    due_at: datetime
    closes_at: datetime

    @property
    def when_text(self) -> str:
        return self.when.text

    def text(self, lang: str) -> str:
        """The raw text (placeholders unfilled) in ``lang``, Finnish if the language is unknown."""
        return self.texts.get(lang) or self.texts["fi"]

    def option_labels(self, lang: str) -> tuple[str, ...]:
        return tuple(option.get(lang) or option["fi"] for option in self.options)

    def plan_item(self) -> PlanItem:
        return PlanItem(self.id, self.due_at, self.closes_at, self.order)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    language: str
    timezone: str
    organisations: tuple[str, ...]
    workshops: tuple[WorkshopSpec, ...]
    end_local: datetime
    end_at: datetime
    quiet_hours: tuple[time, time] | None
    skip_weekends: bool
    daily_cap: int | None
    digest: DigestSpec
    min_group: int
    retention_days: int
    prompts: tuple[PromptSpec, ...]
    omitted_defaults: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    """Ids of default prompts left out because they fell outside this process's time window."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start_at(self) -> datetime:
        """The earliest a prompt may be due: two weeks before workshop 1."""
        return self.workshops[0].at_utc - PRE_START

    def anchors(self) -> dict[str, datetime]:
        anchors = {f"W{workshop.number}": workshop.at_utc for workshop in self.workshops}
        anchors["END"] = self.end_at
        return anchors

    def delivery_policy(self) -> DeliveryPolicy:
        start, end = self.quiet_hours if self.quiet_hours else (None, None)
        return DeliveryPolicy(self.tz, start, end, self.skip_weekends, self.daily_cap)

    def plan_items(self) -> list[PlanItem]:
        return [prompt.plan_item() for prompt in self.prompts]

    def prompt(self, prompt_id: str) -> PromptSpec:
        for prompt in self.prompts:
            if prompt.id == prompt_id:
                return prompt
        raise KeyError(prompt_id)

    def phase_at(self, instant: datetime) -> int:
        """The phase running at ``instant``: 1 until workshop 2, …, 5 from workshop 5 on."""
        phase = 1
        for workshop in self.workshops[1:]:
            if instant >= workshop.at_utc:
                phase = workshop.number
        return phase

    def phase_end(self, phase: int) -> datetime:
        return self.workshops[phase].at_utc if phase < WORKSHOP_COUNT else self.end_at


# --- reading YAML nodes ------------------------------------------------------------------------


def _local_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class _Draft:
    """A prompt read from a file, before its times are resolved against the workshops."""

    id: str
    phase: int
    when: When
    kind: str
    texts: dict[str, str] = dataclasses.field(hash=False)
    options: tuple[dict[str, str], ...] = dataclasses.field(hash=False)
    remind_after: timedelta | None
    closes_after: timedelta | None
    line: int
    path: str
    when_line: int
    remind_line: int
    closes_line: int
    from_default: bool = False


class _Reader:
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
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            problem = error.problem or error.context or "invalid YAML"
            self.add((mark.line + 1) if mark else 1, "", "syntax", problem=problem)
            return None
        except yaml.YAMLError as error:
            self.add(1, "", "syntax", problem=str(error).splitlines()[0] if str(error) else "invalid YAML")
            return None
        if node is None or _is_null(node):
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
            if key not in fields or _is_null(fields[key][1]):
                where = fields[key][0] if key in fields else node
                self.add(where, f"{path}.{key}" if path else key, "missing", key=key)
                fields.pop(key, None)
        return {key: pair for key, pair in fields.items() if not _is_null(pair[1])}

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
            elif node.tag == _STR and node.value.strip().isdigit():
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
            return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - naive local wall time
        except ValueError:
            self.add(node, path, "bad_datetime", value=raw)
            return None

    def duration(self, node: Node, path: str) -> tuple[timedelta | None, bool]:
        """A duration or none/off; the flag says whether it could be read."""
        if _is_off(node):
            return None, True
        raw = self.text(node, path)
        if raw is None:
            return None, False
        try:
            return parse_duration(raw), True
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

    def prompts(self, node: Node, path: str, *, from_default: bool = False) -> list[_Draft]:
        items = self.sequence(node, path)
        if items is None:
            return []
        if len(items) > MAX_PROMPTS:
            self.add(node, path, "too_many", count=len(items), limit=MAX_PROMPTS)
            return []
        drafts: list[_Draft] = []
        first_line: dict[str, int] = {}
        for index, item in enumerate(items, start=1):
            item_path = f"{path}[{index}]"
            draft = self.prompt(item, item_path, from_default=from_default)
            if draft is None:
                continue
            if draft.id in first_line:
                self.add(
                    item, f"{item_path}.id", "duplicate_id", id=draft.id, first_line=first_line[draft.id]
                )
                continue
            first_line[draft.id] = draft.line
            drafts.append(draft)
        return drafts

    def prompt(self, node: Node, path: str, *, from_default: bool) -> _Draft | None:
        fields = self.mapping(node, path, PROMPT_KEYS, required=("id", "phase", "when", "kind", "text"))
        if fields is None:
            return None
        before = len(self.problems)
        values: dict[str, Any] = {}
        if "id" in fields:
            raw = self.text(fields["id"][1], f"{path}.id")
            if raw is not None and not _ID_RE.fullmatch(raw):
                self.add(fields["id"][1], f"{path}.id", "bad_id", value=raw)
            values["id"] = raw
        if "phase" in fields:
            phase = self.integer(fields["phase"][1], f"{path}.phase")
            if phase is not None and not 1 <= phase <= WORKSHOP_COUNT:
                self.add(fields["phase"][1], f"{path}.phase", "bad_phase", value=phase)
            values["phase"] = phase
        if "when" in fields:
            values["when"] = self.when(fields["when"][1], f"{path}.when")
        if "kind" in fields:
            kind = self.text(fields["kind"][1], f"{path}.kind")
            if kind is not None and kind not in KINDS:
                self.add(
                    fields["kind"][1], f"{path}.kind", "unknown_kind", value=kind, allowed=", ".join(KINDS)
                )
            values["kind"] = kind
        if "text" in fields:
            values["texts"] = self.localized(
                fields["text"][1], f"{path}.text", limit=MAX_TEXT, placeholders=True
            )
        options: list[dict[str, str]] = []
        if "options" in fields:
            option_nodes = self.sequence(fields["options"][1], f"{path}.options") or []
            if len(option_nodes) > MAX_OPTIONS:
                self.add(
                    fields["options"][1],
                    f"{path}.options",
                    "too_many",
                    count=len(option_nodes),
                    limit=MAX_OPTIONS,
                )
            for index, option_node in enumerate(option_nodes, start=1):
                option = self.localized(
                    option_node, f"{path}.options[{index}]", limit=MAX_OPTION, placeholders=False
                )
                if option is not None:
                    options.append(option)
        remind_after: timedelta | None = None
        if "remind_after" in fields:
            remind_after, _ = self.duration(fields["remind_after"][1], f"{path}.remind_after")
            if remind_after is not None and remind_after <= timedelta(0):
                self.add(
                    fields["remind_after"][1],
                    f"{path}.remind_after",
                    "not_positive",
                    value=format_duration(remind_after),
                )
        closes_after: timedelta | None = None
        if "closes_after" in fields:
            closes_after, _ = self.duration(fields["closes_after"][1], f"{path}.closes_after")
            if closes_after is not None and closes_after <= timedelta(0):
                self.add(
                    fields["closes_after"][1],
                    f"{path}.closes_after",
                    "not_positive",
                    value=format_duration(closes_after),
                )
        if len(self.problems) > before or any(
            values.get(key) is None for key in ("id", "phase", "when", "kind", "texts")
        ):
            return None
        return _Draft(
            id=values["id"],
            phase=values["phase"],
            when=values["when"],
            kind=values["kind"],
            texts=values["texts"],
            options=tuple(options),
            remind_after=remind_after,
            closes_after=closes_after,
            line=node.start_mark.line + 1,
            path=path,
            when_line=fields["when"][1].start_mark.line + 1,
            remind_line=(fields.get("remind_after") or fields["when"])[1].start_mark.line + 1,
            closes_line=(fields.get("closes_after") or fields["when"])[1].start_mark.line + 1,
            from_default=from_default,
        )

    def when(self, node: Node, path: str) -> When | None:
        raw = self.text(node, path, limit=MAX_WHEN)
        if raw is None:
            return None
        try:
            return parse_when(raw)
        except WhenError as error:
            if error.code == "anchor":
                self.add(node, path, "unknown_anchor", value=raw, anchor=error.anchor)
            elif error.code == "mixed":
                self.add(node, path, "when_mixed", value=raw)
            else:
                self.add(node, path, "bad_when", value=raw)
            return None


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _is_off(node: Node) -> bool:
    """``off``/``none`` however YAML typed it (unquoted ``off`` is a boolean false in YAML 1.1)."""
    if not isinstance(node, ScalarNode):
        return False
    if node.tag == _BOOL:
        return str(node.value).lower() in {"off", "no", "false", "n"}
    return node.tag == _STR and node.value.strip().lower() in _OFF


@cache
def _default_drafts() -> tuple[_Draft, ...]:
    """The ship-with programme, read once. A problem in it is a packaging bug, reported as such."""
    text = DEFAULT_PROGRAMME_PATH.read_text(encoding="utf-8")
    reader = _Reader()
    root = reader.compose(text)
    drafts: list[_Draft] = []
    if root is not None:
        fields = reader.mapping(root, "", ("prompts",), required=("prompts",))
        if fields and "prompts" in fields:
            drafts = reader.prompts(fields["prompts"][1], "prompts", from_default=True)
    if reader.problems:
        raise ProcessFileError(reader.problems, str(DEFAULT_PROGRAMME_PATH))
    return tuple(drafts)


# --- parsing -----------------------------------------------------------------------------------


def parse_process(text: str, *, source: str = "<upload>") -> ProcessSpec:
    """Read and validate a process file; raise :class:`ProcessFileError` listing every problem."""
    reader = _Reader()
    root = reader.compose(text)
    if root is None:
        raise ProcessFileError(reader.problems, source)
    fields = reader.mapping(root, "", TOP_KEYS, required=("name", "organisations", "workshops"))
    if fields is None:
        raise ProcessFileError(reader.problems, source)

    def value(key: str) -> Node | None:
        pair = fields.get(key)
        return pair[1] if pair else None

    name: str | None = None
    if node := value("name"):
        name = reader.text(node, "name", limit=MAX_NAME)

    language: str = DEFAULTS["language"]
    if node := value("language"):
        raw = reader.text(node, "language")
        if raw is not None and raw.lower() not in LANGUAGES:
            reader.add(node, "language", "unknown_language", value=raw)
        elif raw is not None:
            language = raw.lower()

    timezone: str | None = DEFAULTS["timezone"]
    if node := value("timezone"):
        timezone = reader.text(node, "timezone")
        if timezone is not None and not _zone_exists(timezone):
            reader.add(node, "timezone", "unknown_timezone", value=timezone)
            timezone = None
    tz = ZoneInfo(timezone) if timezone else None

    organisations = _organisations(reader, value("organisations"))
    workshops_local = _workshops(reader, fields.get("workshops"))

    end_local: datetime | None = None
    if node := value("end"):
        end_local = reader.local_datetime(node, "end")
        last = workshops_local[-1][0] if workshops_local else None
        if end_local is not None and last is not None and end_local <= last:
            reader.add(
                node, "end", "end_before_workshops", end=_local_text(end_local), workshop=_local_text(last)
            )
            end_local = None
    elif workshops_local:
        last = workshops_local[-1][0]
        end_local = datetime.combine(last.date() + timedelta(days=DEFAULT_FOLLOW_UP_DAYS), last.time())

    quiet_hours: tuple[time, time] | None = DEFAULTS["quiet_hours"]
    if node := value("quiet_hours"):
        if _is_off(node):
            quiet_hours = None
        elif (raw := reader.text(node, "quiet_hours")) is not None:
            try:
                quiet_hours = parse_quiet_hours(raw)
            except ValueError:
                reader.add(node, "quiet_hours", "bad_quiet_hours", value=raw)

    skip_weekends: bool = DEFAULTS["skip_weekends"]
    if (node := value("skip_weekends")) and (flag := reader.boolean(node, "skip_weekends")) is not None:
        skip_weekends = flag

    daily_cap: int | None = DEFAULTS["daily_cap"]
    if node := value("daily_cap"):
        if _is_off(node):
            daily_cap = None
        elif (cap := reader.integer(node, "daily_cap")) is not None:
            daily_cap = cap
            if cap < 1:
                reader.add(node, "daily_cap", "too_small", value=cap, minimum=1)

    digest: DigestSpec = DEFAULTS["digest"]
    if (node := value("digest")) and (raw := reader.text(node, "digest")) is not None:
        try:
            digest = parse_digest_spec(raw)
        except ValueError:
            reader.add(node, "digest", "bad_digest", value=raw)

    min_group = _bounded_int(reader, value("min_group"), "min_group", DEFAULTS["min_group"], minimum=2)
    retention_days = _bounded_int(
        reader, value("retention_days"), "retention_days", DEFAULTS["retention_days"], minimum=1
    )

    drafts: list[_Draft] = []
    if node := value("programme"):
        raw = reader.text(node, "programme")
        if raw is not None and raw.lower() == "default":
            drafts = list(_default_drafts())
        elif raw is not None and raw.lower() not in _OFF:
            reader.add(node, "programme", "unknown_programme", value=raw)
    if node := value("prompts"):
        own = reader.prompts(node, "prompts")
        positions = {draft.id: index for index, draft in enumerate(drafts)}
        for draft in own:
            if draft.id in positions:
                drafts[positions[draft.id]] = draft
            else:
                drafts.append(draft)

    prompts: list[PromptSpec] = []
    omitted: list[str] = []
    end_at: datetime | None = None
    workshops: list[WorkshopSpec] = []
    if tz is not None and end_local is not None and len(workshops_local) == WORKSHOP_COUNT:
        workshops = [
            WorkshopSpec(number, at_local, to_utc(at_local, tz), place)
            for number, (at_local, place) in enumerate(workshops_local, start=1)
        ]
        end_at = to_utc(end_local, tz)
        anchors = {f"W{w.number}": w.at_utc for w in workshops} | {"END": end_at}
        prompts, omitted = _resolve_prompts(reader, drafts, anchors, tz)

    if reader.problems:
        raise ProcessFileError(reader.problems, source)
    assert name is not None
    assert timezone is not None
    assert end_local is not None
    assert end_at is not None
    return ProcessSpec(
        name=name,
        language=language,
        timezone=timezone,
        organisations=organisations,
        workshops=tuple(workshops),
        end_local=end_local,
        end_at=end_at,
        quiet_hours=quiet_hours,
        skip_weekends=skip_weekends,
        daily_cap=daily_cap,
        digest=digest,
        min_group=min_group,
        retention_days=retention_days,
        prompts=tuple(prompts),
        omitted_defaults=tuple(omitted),
    )


def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _bounded_int(reader: _Reader, node: Node | None, path: str, default: int, *, minimum: int) -> int:
    if node is None:
        return default
    number = reader.integer(node, path)
    if number is None:
        return default
    if number < minimum:
        reader.add(node, path, "too_small", value=number, minimum=minimum)
    return number


def _organisations(reader: _Reader, node: Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    items = reader.sequence(node, "organisations")
    if items is None:
        return ()
    if not items:
        reader.add(node, "organisations", "empty")
    names: list[str] = []
    for index, item in enumerate(items, start=1):
        path = f"organisations[{index}]"
        name = reader.text(item, path, limit=MAX_ORGANISATION)
        if name is None:
            continue
        if name in names:
            reader.add(item, path, "duplicate_value", value=name)
            continue
        names.append(name)
    return tuple(names)


def _workshops(reader: _Reader, pair: tuple[Node, Node] | None) -> list[tuple[datetime, str | None]]:
    """The five workshops as (naive local time, place); empty if they cannot be used."""
    if pair is None:
        return []
    key_node, node = pair
    items = reader.sequence(node, "workshops")
    if items is None:
        return []
    if len(items) != WORKSHOP_COUNT:
        reader.add(key_node, "workshops", "workshop_count", count=len(items))
    workshops: list[tuple[datetime, str | None]] = []
    ok = True
    previous: datetime | None = None
    for number, item in enumerate(items, start=1):
        path = f"workshops[{number}]"
        at_node, place = item, None
        if isinstance(item, MappingNode):
            fields = reader.mapping(item, path, WORKSHOP_KEYS, required=("at",))
            if fields is None or "at" not in fields:
                ok = False
                continue
            at_node = fields["at"][1]
            path_at = f"{path}.at"
            if "place" in fields:
                place = reader.text(fields["place"][1], f"{path}.place", limit=MAX_PLACE)
        else:
            path_at = path
        at = reader.local_datetime(at_node, path_at)
        if at is None:
            ok = False
            continue
        if previous is not None and at <= previous:
            reader.add(at_node, path_at, "workshop_order", number=number, previous=_local_text(previous))
            ok = False
        previous = at
        workshops.append((at, place))
    return workshops if ok and len(workshops) == WORKSHOP_COUNT else []


def _default_close(draft: _Draft, due: datetime, anchors: Mapping[str, datetime]) -> datetime:
    """Without ``closes_after``: a reminder closes when the workshop it announces starts, anything
    else when its phase ends."""
    if draft.kind == "reminder":
        return min((at for at in anchors.values() if at > due), default=anchors["END"])
    return anchors[f"W{draft.phase + 1}"] if draft.phase < WORKSHOP_COUNT else anchors["END"]


def _resolve_prompts(
    reader: _Reader,
    drafts: Sequence[_Draft],
    anchors: Mapping[str, datetime],
    tz: ZoneInfo,
) -> tuple[list[PromptSpec], list[str]]:
    start = anchors["W1"] - PRE_START
    end = anchors["END"]
    resolved: list[tuple[datetime, int, _Draft, datetime]] = []
    omitted: list[str] = []

    def local(instant: datetime) -> str:
        return _local_text(instant.astimezone(tz))

    for position, draft in enumerate(drafts):
        due = resolve_when(draft.when, anchors, tz)
        if draft.closes_after:
            closes = min(add_duration(due, draft.closes_after, tz), end)
        else:
            closes = min(_default_close(draft, due, anchors), end)
        path = draft.path
        if due < start:
            problem = (draft.when_line, f"{path}.when", "before_start")
            params = {"value": draft.when.text, "due": local(due), "start": local(start)}
        elif due >= end:
            problem = (draft.when_line, f"{path}.when", "after_end")
            params = {"value": draft.when.text, "due": local(due), "end": local(end)}
        elif closes <= due:
            problem = (draft.closes_line, f"{path}.closes_after", "closes_before_due")
            params = {"due": local(due), "closes": local(closes)}
        elif draft.remind_after is not None and add_duration(due, draft.remind_after, tz) >= closes:
            problem = (draft.remind_line, f"{path}.remind_after", "reminder_after_close")
            params = {"remind_after": format_duration(draft.remind_after)}
        else:
            resolved.append((due, position, draft, closes))
            continue
        if draft.from_default:
            omitted.append(draft.id)
        else:
            reader.add(*problem, **params)
    resolved.sort(key=lambda entry: (entry[0], entry[1]))
    prompts = [
        PromptSpec(
            id=draft.id,
            phase=draft.phase,
            when=draft.when,
            kind=draft.kind,
            texts=dict(draft.texts),
            options=tuple(dict(option) for option in draft.options),
            remind_after=draft.remind_after,
            closes_after=draft.closes_after,
            order=order,
            due_at=due,
            closes_at=closes,
        )
        for order, (due, _, draft, closes) in enumerate(resolved)
    ]
    return prompts, omitted


# --- rendering ---------------------------------------------------------------------------------


def problem_text(catalog: Catalog, lang: str, problem: FileProblem, *, plain: bool = False) -> str:
    """One problem as a line for the facilitator: ``Rivi 12, kohta workshops[2]: …``.

    Telegram HTML with every value escaped, or with ``plain`` unescaped text (CLI, logs).
    """
    render = catalog.plain if plain else catalog.t
    message = render(lang, f"programme.error.{problem.code}", **dict(problem.params))
    if problem.field:
        return render(
            lang, "programme.error.line", line=problem.line, field=problem.field, problem=Html(message)
        )
    return render(lang, "programme.error.line_only", line=problem.line, problem=Html(message))


def prompt_values(
    spec: ProcessSpec,
    prompt: PromptSpec,
    lang: str,
    *,
    catalog: Catalog | None = None,
    at: datetime | None = None,
) -> dict[str, str]:
    """Values for a prompt text's placeholders, in ``lang``.

    ``{workshop_*}`` describe the next workshop after ``at`` (default: the prompt's programme time),
    or workshop 5 if all are past; ``{end_date}`` is the end of the process; ``{process_name}`` its name.
    """
    catalog = catalog or default_catalog()
    at = at or prompt.due_at
    workshop = next((w for w in spec.workshops if w.at_utc > at), spec.workshops[-1])
    locale = lang if lang in LANGUAGES else "fi"
    workshop_local = workshop.at_utc.astimezone(spec.tz).replace(tzinfo=None)
    return {
        "workshop_number": str(workshop.number),
        "workshop_time": format_datetime(
            workshop_local, catalog.raw(locale, "programme.format.workshop_time"), locale=locale
        ),
        "workshop_place": workshop.place or catalog.plain(locale, "programme.place.unknown"),
        "end_date": format_date(
            spec.end_local.date(), catalog.raw(locale, "programme.format.end_date"), locale=locale
        ),
        "process_name": spec.name,
    }


def render_prompt(
    spec: ProcessSpec,
    prompt: PromptSpec,
    lang: str,
    *,
    catalog: Catalog | None = None,
    at: datetime | None = None,
) -> str:
    """A prompt's text in ``lang`` with its placeholders filled, as plain text (escape it before
    sending as Telegram HTML)."""
    return prompt.text(lang).format_map(prompt_values(spec, prompt, lang, catalog=catalog, at=at))


# --- dumping -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style throughout; multi-line texts as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar(_STR, data, style="|")
    return dumper.represent_scalar(_STR, data)


_Dumper.add_representer(str, _represent_str)


def _yaml(data: object) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100, default_flow_style=False
    )


def _localized(texts: Mapping[str, str]) -> str | dict[str, str]:
    values = {texts[lang] for lang in LANGUAGES}
    if len(values) == 1:
        return texts["fi"]
    return {lang: texts[lang] for lang in LANGUAGES}


def _datetime_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")


def dump_process(spec: ProcessSpec, *, catalog: Catalog | None = None) -> str:
    """The spec as a process file that :func:`parse_process` reads back to an equal spec, with every
    prompt written out (no ``programme: default``), headed by comments in the process language."""
    catalog = catalog or default_catalog()
    header = catalog.plain(spec.language, "programme.dump.header")
    lines = [f"# {line}".rstrip() for line in header.strip().splitlines()]
    settings: dict[str, object] = {
        "name": spec.name,
        "language": spec.language,
        "timezone": spec.timezone,
        "organisations": list(spec.organisations),
        "workshops": [
            {"at": _datetime_text(w.at_local), "place": w.place} if w.place else _datetime_text(w.at_local)
            for w in spec.workshops
        ],
        "end": _datetime_text(spec.end_local),
        "quiet_hours": format_quiet_hours(spec.quiet_hours),
        "skip_weekends": spec.skip_weekends,
        "daily_cap": spec.daily_cap if spec.daily_cap is not None else "off",
        "digest": str(spec.digest),
        "min_group": spec.min_group,
        "retention_days": spec.retention_days,
    }
    parts = ["\n".join(lines), _yaml(settings).rstrip()]
    if spec.prompts:
        prompt_blocks = []
        for prompt in spec.prompts:
            entry: dict[str, object] = {
                "id": prompt.id,
                "phase": prompt.phase,
                "when": prompt.when.text,
                "kind": prompt.kind,
                "text": {lang: prompt.texts[lang] for lang in LANGUAGES},
            }
            if prompt.options:
                entry["options"] = [_localized(option) for option in prompt.options]
            entry["remind_after"] = format_duration(prompt.remind_after)
            if prompt.closes_after is not None:
                entry["closes_after"] = format_duration(prompt.closes_after)
            prompt_blocks.append(_yaml([entry]).rstrip())
        parts.append("prompts:\n" + "\n\n".join(prompt_blocks))
    else:
        parts.append("prompts: []")
    return "\n\n".join(parts) + "\n"
