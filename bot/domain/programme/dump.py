"""Writing a :class:`~bot.domain.programme.spec.ProcessSpec` back as a process file, for editing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import yaml

from bot.domain.calendar import format_no_send
from bot.domain.programme.spec import ProcessSpec
from bot.domain.timing import format_duration, format_quiet_hours
from messages import LANGUAGES, Catalog, default_catalog

__all__ = ["dump_process"]

_STR = "tag:yaml.org,2002:str"


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


def dump_process(
    spec: ProcessSpec,
    *,
    catalog: Catalog | None = None,
    replacing: Mapping[str, Mapping[str, object]] | None = None,
) -> str:
    """The spec as a process file that :func:`parse_process` reads back to an equal spec, with every
    prompt written out (no ``programme: default``), headed by comments in the process language.

    ``replacing`` maps a prompt id to fields written instead of the spec's (the room's programme
    form: the facilitator's values as they typed them, for :func:`parse_process` to judge)."""
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
        **({"invites_until": _datetime_text(spec.invites_local)} if spec.invites_local else {}),
        "quiet_hours": format_quiet_hours(spec.quiet_hours),
        "skip_weekends": spec.skip_weekends,
        "holidays": spec.holidays or "off",
        "no_send": format_no_send(spec.no_send),
        "daily_cap": spec.daily_cap if spec.daily_cap is not None else "off",
        "reminders_per_week": spec.reminders_per_week if spec.reminders_per_week is not None else "off",
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
            entry.update((replacing or {}).get(prompt.id, {}))
            prompt_blocks.append(_yaml([entry]).rstrip())
        parts.append("prompts:\n" + "\n\n".join(prompt_blocks))
    else:
        parts.append("prompts: []")
    return "\n\n".join(parts) + "\n"
