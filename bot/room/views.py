"""The room's read models as JSON: localised labels and local times, nothing the digest would not say.

Every label a person reads (group names, dates, phase names) is made here from the catalogues, so
the page only places strings; user text goes out as JSON strings and the page sets it as text, never
as HTML.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale

from bot.domain.digest_model import GroupStat
from bot.domain.programme import problem_text
from bot.domain.programme.edit import EditProblems
from bot.domain.timing import format_duration
from bot.render.labels import Labels
from bot.services.room_views import ItemPage, ListedItem, OverviewData, ProgrammeState
from messages import LANGUAGES, Catalog

__all__ = ["item_page_json", "overview_json", "problems_json", "programme_json", "texts_json"]

UI_PREFIXES = ("room.ui.", "theme.", "role.")


def texts_json(catalog: Catalog, lang: str) -> dict[str, str | dict[str, str]]:
    """The page's own words in one language (plain text: the page sets them as text).

    A counted text comes as its forms by CLDR plural category (``{"one": "{count} viesti", "other":
    "{count} viestiä"}``): the page picks one with the browser's ``Intl.PluralRules``, which follows the
    same CLDR rules as Babel; each form is the catalogue's own gettext form for a number of that category.
    """
    texts: dict[str, str | dict[str, str]] = {
        key: catalog.plain(lang, key) for key in sorted(catalog.keys(lang)) if key.startswith(UI_PREFIXES)
    }
    category_of = Locale.parse(lang).plural_form
    for key in sorted(catalog.plural_keys(lang)):
        if key.startswith(UI_PREFIXES):
            by_category: dict[str, str] = {}
            for number in range(_PLURAL_SAMPLES):
                by_category.setdefault(category_of(number), catalog.raw_n(lang, key, number))
            texts[key] = by_category
    return texts


_PLURAL_SAMPLES = 200
"""Numbers 0…199 meet every CLDR plural category of Finnish, Swedish and English (and most languages)."""


def _local(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).replace(tzinfo=None).isoformat(timespec="minutes")


def _group_stat(stat: GroupStat, labels: Labels) -> dict[str, Any]:
    return {
        "label": labels.group(stat.group),
        "people": stat.people,
        "active": stat.active,
        "contributions": stat.contributions,
        "quiet": stat.quiet,
    }


def overview_json(data: OverviewData, catalog: Catalog, lang: str, now: datetime) -> dict[str, Any]:
    process = data.process
    tz = ZoneInfo(process.timezone)
    labels = Labels(catalog, lang, tz)
    taking_part = data.participation
    return {
        "process": {"id": process.id, "name": process.name, "timezone": process.timezone},
        "today": _local(now, tz),
        "today_label": labels.date(now),
        "phase": data.phase,
        "ended": now >= process.end_at,
        "end": _local(process.end_at, tz),
        "end_label": labels.date(process.end_at),
        "start": _local(process.created_at, tz),
        "workshops": [
            {
                "number": w.number,
                "at": _local(w.starts_at, tz),
                "label": labels.when(w.starts_at),
                "place": w.place,
                "past": w.starts_at <= now,
            }
            for w in data.workshops
        ],
        "participants": taking_part.participants,
        "active": taking_part.active,
        "min_group": max(1, process.min_group or 1),
        "groups": [_group_stat(stat, labels) for stat in taking_part.by_cell],
        "rates": [
            {
                "key": rate.key,
                "text": labels.prompt(rate.texts),
                "sent": rate.sent,
                "answered": rate.answered,
                "percent": round(100 * rate.rate),
            }
            for rate in taking_part.prompt_rates
        ],
        "unreachable": [
            {
                "name": line.name,
                "organisation": line.organisation,
                "role": catalog.plain(lang, f"role.{line.role}") if line.role else None,
            }
            for line in data.roster.unreachable
        ],
    }


def _item(item: ListedItem, labels: Labels) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "text": item.text,
        "title": item.title,
        "media": labels.media(item.media_type) if item.media_type else None,
        "theme": item.theme,
        "anonymous": item.anonymous,
        "hidden": item.hidden,
        "when": labels.day(item.created_at),
        "phase": item.phase,
        "by": labels.attribution(item.by),
        "supports": item.supports,
        "prompt": labels.prompt(item.prompt_texts) if item.prompt_texts else None,
    }


def item_page_json(page: ItemPage, catalog: Catalog, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    labels = Labels(catalog, lang, tz)
    return {
        "total": page.total,
        "offset": page.offset,
        "items": [_item(item, labels) for item in page.items],
        "groups": [labels.group(group) for group in page.groups],
    }


def _planned(state: ProgrammeState, prompt_id: str, due: datetime, labels: Labels) -> str | None:
    planned = state.planned.get(prompt_id)
    if planned is None or abs((planned - due).total_seconds()) < 60:
        return None
    return labels.when(planned)


def programme_json(state: ProgrammeState, catalog: Catalog, lang: str) -> dict[str, Any]:
    spec = state.spec
    tz = ZoneInfo(spec.timezone)
    labels = Labels(catalog, lang, tz)
    return {
        "timezone": spec.timezone,
        "workshops": [
            {"number": w.number, "at": w.at_local.isoformat(timespec="minutes")} for w in spec.workshops
        ],
        "end": spec.end_local.isoformat(timespec="minutes"),
        "prompts": [
            {
                "id": prompt.id,
                "phase": prompt.phase,
                "kind": prompt.kind,
                "when": prompt.when.text,
                "at": _local(prompt.due_at, tz),
                "at_label": labels.when(prompt.due_at),
                "texts": {language: prompt.texts[language] for language in LANGUAGES},
                "remind_after": format_duration(prompt.remind_after) if prompt.remind_after else "",
                "deliveries": state.deliveries.get(prompt.id, 0),
                "planned_label": _planned(state, prompt.id, prompt.due_at, labels),
            }
            for prompt in spec.prompts
        ],
    }


def problems_json(problems: EditProblems, catalog: Catalog, lang: str) -> dict[str, Any]:
    """The YAML check's own messages, by form field (plain text)."""
    return {
        "fields": {
            field: [catalog.plain(lang, f"programme.error.{p.code}", **dict(p.params)) for p in items]
            for field, items in problems.by_field.items()
        },
        "general": [problem_text(catalog, lang, problem, plain=True) for problem in problems.general],
    }
