"""The programme part of a process file: reading prompts, the ship-with programme, resolving times.

A prompt is read into a :class:`Draft` first; once the workshops are known, :func:`resolve_prompts`
turns drafts into :class:`~bot.domain.programme.spec.PromptSpec` with UTC times, dropping a
*default* prompt that falls outside the process's window instead of calling it a problem.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from yaml.nodes import Node

import messages
from bot.domain.programme.nodes import NodeReader, local_text
from bot.domain.programme.spec import KINDS, WORKSHOP_COUNT, ProcessFileError, PromptSpec
from bot.domain.timing import When, add_duration, format_duration, resolve_when

__all__ = [
    "DEFAULT_PROGRAMME_PATH",
    "PRE_START",
    "PROMPT_KEYS",
    "Draft",
    "default_close",
    "default_drafts",
    "read_prompts",
    "resolve_prompts",
]

DEFAULT_PROGRAMME_PATH = Path(messages.__file__).with_name("default_programme.yaml")
PRE_START = timedelta(days=14)
"""How long before workshop 1 a prompt may be due (a welcome, a pre-workshop reminder)."""

MAX_TEXT = 3000
MAX_OPTION = 40
MAX_OPTIONS = 8
MAX_PROMPTS = 200
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")

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
_REQUIRED = ("id", "phase", "when", "kind", "text")


@dataclass(frozen=True)
class Draft:
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


Fields = dict[str, tuple[Node, Node]]


def read_prompts(reader: NodeReader, node: Node, path: str, *, from_default: bool = False) -> list[Draft]:
    items = reader.sequence(node, path)
    if items is None:
        return []
    if len(items) > MAX_PROMPTS:
        reader.add(node, path, "too_many", count=len(items), limit=MAX_PROMPTS)
        return []
    drafts: list[Draft] = []
    first_line: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        item_path = f"{path}[{index}]"
        draft = read_prompt(reader, item, item_path, from_default=from_default)
        if draft is None:
            continue
        if draft.id in first_line:
            reader.add(item, f"{item_path}.id", "duplicate_id", id=draft.id, first_line=first_line[draft.id])
            continue
        first_line[draft.id] = draft.line
        drafts.append(draft)
    return drafts


def read_prompt(reader: NodeReader, node: Node, path: str, *, from_default: bool) -> Draft | None:
    """One prompt, or ``None`` if anything in it is wrong (every problem is recorded)."""
    fields = reader.mapping(node, path, PROMPT_KEYS, required=_REQUIRED)
    if fields is None:
        return None
    before = len(reader.problems)
    # Field order here is the order problems on one line are listed in.
    values = _required_values(reader, fields, path)
    options = _options(reader, fields, path)
    remind_after = _positive_duration(reader, fields, path, "remind_after")
    closes_after = _positive_duration(reader, fields, path, "closes_after")
    if len(reader.problems) > before or any(
        values.get(key) is None for key in ("id", "phase", "when", "kind", "texts")
    ):
        return None
    return Draft(
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
        when_line=_line(fields["when"][1]),
        remind_line=_line((fields.get("remind_after") or fields["when"])[1]),
        closes_line=_line((fields.get("closes_after") or fields["when"])[1]),
        from_default=from_default,
    )


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _required_values(reader: NodeReader, fields: Fields, path: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "id" in fields:
        raw = reader.text(fields["id"][1], f"{path}.id")
        if raw is not None and not _ID_RE.fullmatch(raw):
            reader.add(fields["id"][1], f"{path}.id", "bad_id", value=raw)
        values["id"] = raw
    if "phase" in fields:
        phase = reader.integer(fields["phase"][1], f"{path}.phase")
        if phase is not None and not 1 <= phase <= WORKSHOP_COUNT:
            reader.add(fields["phase"][1], f"{path}.phase", "bad_phase", value=phase)
        values["phase"] = phase
    if "when" in fields:
        values["when"] = reader.when(fields["when"][1], f"{path}.when")
    if "kind" in fields:
        kind = reader.text(fields["kind"][1], f"{path}.kind")
        if kind is not None and kind not in KINDS:
            reader.add(
                fields["kind"][1], f"{path}.kind", "unknown_kind", value=kind, allowed=", ".join(KINDS)
            )
        values["kind"] = kind
    if "text" in fields:
        values["texts"] = reader.localized(
            fields["text"][1], f"{path}.text", limit=MAX_TEXT, placeholders=True
        )
    return values


def _options(reader: NodeReader, fields: Fields, path: str) -> list[dict[str, str]]:
    if "options" not in fields:
        return []
    node = fields["options"][1]
    option_nodes = reader.sequence(node, f"{path}.options") or []
    if len(option_nodes) > MAX_OPTIONS:
        reader.add(node, f"{path}.options", "too_many", count=len(option_nodes), limit=MAX_OPTIONS)
    options: list[dict[str, str]] = []
    for index, option_node in enumerate(option_nodes, start=1):
        option = reader.localized(
            option_node, f"{path}.options[{index}]", limit=MAX_OPTION, placeholders=False
        )
        if option is not None:
            options.append(option)
    return options


def _positive_duration(reader: NodeReader, fields: Fields, path: str, key: str) -> timedelta | None:
    if key not in fields:
        return None
    node = fields[key][1]
    duration, _ = reader.duration(node, f"{path}.{key}")
    if duration is not None and duration <= timedelta(0):
        reader.add(node, f"{path}.{key}", "not_positive", value=format_duration(duration))
    return duration


@cache
def default_drafts() -> tuple[Draft, ...]:
    """The ship-with programme, read once. A problem in it is a packaging bug, reported as such."""
    text = DEFAULT_PROGRAMME_PATH.read_text(encoding="utf-8")
    reader = NodeReader()
    root = reader.compose(text)
    drafts: list[Draft] = []
    if root is not None:
        fields = reader.mapping(root, "", ("prompts",), required=("prompts",))
        if fields and "prompts" in fields:
            drafts = read_prompts(reader, fields["prompts"][1], "prompts", from_default=True)
    if reader.problems:
        raise ProcessFileError(reader.problems, str(DEFAULT_PROGRAMME_PATH))
    return tuple(drafts)


def default_close(draft: Draft, due: datetime, anchors: Mapping[str, datetime]) -> datetime:
    """Without ``closes_after``: a reminder closes when the workshop it announces starts, anything
    else when its phase ends."""
    if draft.kind == "reminder":
        return min((at for at in anchors.values() if at > due), default=anchors["END"])
    return anchors[f"W{draft.phase + 1}"] if draft.phase < WORKSHOP_COUNT else anchors["END"]


def resolve_prompts(
    reader: NodeReader,
    drafts: Sequence[Draft],
    anchors: Mapping[str, datetime],
    tz: ZoneInfo,
) -> tuple[list[PromptSpec], list[str]]:
    start = anchors["W1"] - PRE_START
    end = anchors["END"]
    resolved: list[tuple[datetime, int, Draft, datetime]] = []
    omitted: list[str] = []

    def local(instant: datetime) -> str:
        return local_text(instant.astimezone(tz))

    for position, draft in enumerate(drafts):
        due = resolve_when(draft.when, anchors, tz)
        if draft.closes_after:
            closes = min(add_duration(due, draft.closes_after, tz), end)
        else:
            closes = min(default_close(draft, due, anchors), end)
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
