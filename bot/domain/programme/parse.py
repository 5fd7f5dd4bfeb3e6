"""Reading and validating a process file into a :class:`~bot.domain.programme.spec.ProcessSpec`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yaml.nodes import MappingNode, Node, ScalarNode

from bot.domain.calendar import DateRange, parse_holidays, parse_no_send_item
from bot.domain.programme.nodes import OFF_WORDS, NodeReader, is_null, is_off, local_text
from bot.domain.programme.prompts import Draft, default_drafts, read_prompts, resolve_prompts
from bot.domain.programme.spec import (
    MAX_RETENTION_DAYS,
    WORKSHOP_COUNT,
    ProcessFileError,
    ProcessSpec,
    PromptSpec,
    WorkshopSpec,
)
from bot.domain.timing import DigestSpec, parse_digest_spec, parse_quiet_hours, to_utc
from messages import LANGUAGES

__all__ = ["DEFAULTS", "TOP_KEYS", "parse_process"]

DEFAULT_FOLLOW_UP_DAYS = 28

DEFAULTS: Mapping[str, Any] = {
    "language": "fi",
    "timezone": "Europe/Helsinki",
    "quiet_hours": (time(20, 0), time(8, 0)),
    "skip_weekends": True,
    "holidays": "fi",
    "reminders_per_week": 1,
    "daily_cap": 2,
    "digest": DigestSpec(0, time(8, 0)),
    "min_group": 3,
    "retention_days": 180,
}

MAX_NAME = 120
MAX_MIN_GROUP = 1000
MAX_DAILY_CAP = 50
MAX_ORGANISATION = 60
MAX_PLACE = 120

TOP_KEYS: tuple[str, ...] = (
    "name",
    "language",
    "timezone",
    "organisations",
    "workshops",
    "end",
    "quiet_hours",
    "skip_weekends",
    "holidays",
    "no_send",
    "daily_cap",
    "reminders_per_week",
    "invites_until",
    "digest",
    "min_group",
    "retention_days",
    "programme",
    "prompts",
)
WORKSHOP_KEYS: tuple[str, ...] = ("at", "place")


def parse_process(text: str, *, source: str = "<upload>") -> ProcessSpec:
    """Read and validate a process file; raise :class:`ProcessFileError` listing every problem."""
    reader = NodeReader()
    root = reader.compose(text)
    if root is None:
        raise ProcessFileError(reader.problems, source)
    fields = reader.mapping(root, "", TOP_KEYS, required=("name", "organisations", "workshops"))
    if fields is None:
        raise ProcessFileError(reader.problems, source)

    def value(key: str) -> Node | None:
        pair = fields.get(key)
        return pair[1] if pair else None

    # Fields are read in file-format order: problems on one line are listed in this order.
    name = reader.text(node, "name", limit=MAX_NAME) if (node := value("name")) else None
    language = _language(reader, value("language"))
    timezone = _timezone(reader, value("timezone"))
    tz = ZoneInfo(timezone) if timezone else None
    organisations = _organisations(reader, value("organisations"))
    workshops_local = _workshops(reader, fields.get("workshops"))
    end_local = _end(reader, value("end"), workshops_local)
    invites_local = _invites_until(reader, value("invites_until"), end_local)
    quiet_hours = _quiet_hours(reader, value("quiet_hours"))
    calendar = _calendar(reader, value)
    daily_cap = _daily_cap(reader, value("daily_cap"))
    reminders_per_week = _reminders_per_week(reader, value("reminders_per_week"))
    digest = _digest(reader, value("digest"))
    min_group = _bounded_int(
        reader, value("min_group"), "min_group", DEFAULTS["min_group"], minimum=2, maximum=MAX_MIN_GROUP
    )
    retention_days = _bounded_int(
        reader,
        value("retention_days"),
        "retention_days",
        DEFAULTS["retention_days"],
        minimum=1,
        maximum=MAX_RETENTION_DAYS,
    )
    drafts = _drafts(reader, value("programme"), value("prompts"))

    workshops: list[WorkshopSpec] = []
    prompts: list[PromptSpec] = []
    omitted: list[str] = []
    end_at: datetime | None = None
    if tz is not None and end_local is not None and len(workshops_local) == WORKSHOP_COUNT:
        workshops = [
            WorkshopSpec(number, at_local, to_utc(at_local, tz), place)
            for number, (at_local, place) in enumerate(workshops_local, start=1)
        ]
        end_at = to_utc(end_local, tz)
        anchors = {f"W{w.number}": w.at_utc for w in workshops} | {"END": end_at}
        prompts, omitted = resolve_prompts(reader, drafts, anchors, tz)

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
        daily_cap=daily_cap,
        digest=digest,
        min_group=min_group,
        retention_days=retention_days,
        prompts=tuple(prompts),
        omitted_defaults=tuple(omitted),
        reminders_per_week=reminders_per_week,
        invites_local=invites_local,
        invites_until=to_utc(invites_local, ZoneInfo(timezone)) if invites_local else None,
        **calendar,
    )


def _language(reader: NodeReader, node: Node | None) -> str:
    language: str = DEFAULTS["language"]
    if node is not None:
        raw = reader.text(node, "language")
        if raw is not None and raw.lower() not in LANGUAGES:
            reader.add(node, "language", "unknown_language", value=raw)
        elif raw is not None:
            language = raw.lower()
    return language


def _timezone(reader: NodeReader, node: Node | None) -> str | None:
    timezone: str | None = DEFAULTS["timezone"]
    if node is not None:
        timezone = reader.text(node, "timezone")
        if timezone is not None and not _zone_exists(timezone):
            reader.add(node, "timezone", "unknown_timezone", value=timezone)
            timezone = None
    return timezone


def _end(
    reader: NodeReader, node: Node | None, workshops_local: list[tuple[datetime, str | None]]
) -> datetime | None:
    """The end as written, checked against the last workshop; four weeks after it if not written."""
    if node is not None:
        end_local = reader.local_datetime(node, "end")
        last = workshops_local[-1][0] if workshops_local else None
        if end_local is not None and last is not None and end_local <= last:
            reader.add(
                node, "end", "end_before_workshops", end=local_text(end_local), workshop=local_text(last)
            )
            return None
        return end_local
    if workshops_local:
        last = workshops_local[-1][0]
        return datetime.combine(last.date() + timedelta(days=DEFAULT_FOLLOW_UP_DAYS), last.time())
    return None


def _invites_until(reader: NodeReader, node: Node | None, end_local: datetime | None) -> datetime | None:
    """``invites_until:`` a local time before the end, after which the participant link stops."""
    if node is None:
        return None
    until = reader.local_datetime(node, "invites_until")
    if until is not None and end_local is not None and until > end_local:
        reader.add(
            node, "invites_until", "invites_after_end", value=local_text(until), end=local_text(end_local)
        )
        return None
    return until


def _quiet_hours(reader: NodeReader, node: Node | None) -> tuple[time, time] | None:
    quiet_hours: tuple[time, time] | None = DEFAULTS["quiet_hours"]
    if node is not None:
        if is_off(node):
            quiet_hours = None
        elif (raw := reader.text(node, "quiet_hours")) is not None:
            try:
                quiet_hours = parse_quiet_hours(raw)
            except ValueError:
                reader.add(node, "quiet_hours", "bad_quiet_hours", value=raw)
    return quiet_hours


def _daily_cap(reader: NodeReader, node: Node | None) -> int | None:
    daily_cap: int | None = DEFAULTS["daily_cap"]
    if node is not None:
        if is_off(node):
            daily_cap = None
        elif (cap := reader.integer(node, "daily_cap")) is not None:
            daily_cap = cap
            if cap < 1:
                reader.add(node, "daily_cap", "too_small", value=cap, minimum=1)
            elif cap > MAX_DAILY_CAP:
                reader.add(node, "daily_cap", "too_big", value=cap, maximum=MAX_DAILY_CAP)
    return daily_cap


def _calendar(reader: NodeReader, value: Callable[[str], Node | None]) -> dict[str, Any]:
    """``skip_weekends``, ``holidays`` and ``no_send``: the days nothing goes out on."""
    skip_weekends: bool = DEFAULTS["skip_weekends"]
    if (node := value("skip_weekends")) and (flag := reader.boolean(node, "skip_weekends")) is not None:
        skip_weekends = flag
    return {
        "skip_weekends": skip_weekends,
        "holidays": _holidays(reader, value("holidays")),
        "no_send": _no_send(reader, value("no_send")),
    }


def _holidays(reader: NodeReader, node: Node | None) -> str | None:
    holidays: str | None = DEFAULTS["holidays"]
    if node is not None:
        if is_off(node):
            return None
        raw = reader.text(node, "holidays")
        if raw is not None:
            try:
                holidays = parse_holidays(raw)
            except ValueError:
                reader.add(node, "holidays", "bad_holidays", value=raw)
    return holidays


def _no_send(reader: NodeReader, node: Node | None) -> tuple[DateRange, ...]:
    """``no_send:`` a list of dates and ``FROM..TO`` ranges (a single one may stand alone)."""
    if node is None or is_off(node) or is_null(node):
        return ()
    items = [node] if isinstance(node, ScalarNode) else reader.sequence(node, "no_send")
    ranges: list[DateRange] = []
    for index, item in enumerate(items or (), start=1):
        path = f"no_send[{index}]"
        raw = reader.text(item, path)
        if raw is None:
            continue
        try:
            ranges.append(parse_no_send_item(raw))
        except ValueError:
            reader.add(item, path, "bad_no_send", value=raw)
    return tuple(sorted(ranges))


def _reminders_per_week(reader: NodeReader, node: Node | None) -> int | None:
    cap: int | None = DEFAULTS["reminders_per_week"]
    if node is not None:
        if is_off(node):
            return None
        if (number := reader.integer(node, "reminders_per_week")) is not None:
            cap = number
            if number < 0:
                reader.add(node, "reminders_per_week", "too_small", value=number, minimum=0)
            elif number > MAX_DAILY_CAP * 7:
                reader.add(node, "reminders_per_week", "too_big", value=number, maximum=MAX_DAILY_CAP * 7)
    return cap


def _digest(reader: NodeReader, node: Node | None) -> DigestSpec:
    digest: DigestSpec = DEFAULTS["digest"]
    if node is not None and (raw := reader.text(node, "digest")) is not None:
        try:
            digest = parse_digest_spec(raw)
        except ValueError:
            reader.add(node, "digest", "bad_digest", value=raw)
    return digest


def _drafts(reader: NodeReader, programme: Node | None, own: Node | None) -> list[Draft]:
    """The default programme if asked for, with the file's own prompts replacing default prompts
    of the same id and the rest added after them."""
    drafts: list[Draft] = []
    if programme is not None:
        raw = reader.text(programme, "programme")
        if raw is not None and raw.lower() == "default":
            drafts = list(default_drafts())
        elif raw is not None and raw.lower() not in OFF_WORDS:
            reader.add(programme, "programme", "unknown_programme", value=raw)
    if own is not None:
        positions = {draft.id: index for index, draft in enumerate(drafts)}
        for draft in read_prompts(reader, own, "prompts"):
            if draft.id in positions:
                drafts[positions[draft.id]] = draft
            else:
                drafts.append(draft)
    return drafts


def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _bounded_int(
    reader: NodeReader, node: Node | None, path: str, default: int, *, minimum: int, maximum: int
) -> int:
    if node is None:
        return default
    number = reader.integer(node, path)
    if number is None:
        return default
    if number < minimum:
        reader.add(node, path, "too_small", value=number, minimum=minimum)
    elif number > maximum:
        reader.add(node, path, "too_big", value=number, maximum=maximum)
    return number


def _organisations(reader: NodeReader, node: Node | None) -> tuple[str, ...]:
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


def _workshops(reader: NodeReader, pair: tuple[Node, Node] | None) -> list[tuple[datetime, str | None]]:
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
            reader.add(at_node, path_at, "workshop_order", number=number, previous=local_text(previous))
            ok = False
        previous = at
        workshops.append((at, place))
    return workshops if ok and len(workshops) == WORKSHOP_COUNT else []
