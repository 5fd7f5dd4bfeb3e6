"""Localised words and formats for the digest: dates, numbers, groups, attributions, prompts.

Shared by the Telegram summary, the HTML document and the chart, so all three name a group or a
date the same way in the facilitator's language. Texts from the catalogue (:meth:`Labels.t`) are
already HTML; :meth:`Labels.plain` texts and everything from the digest are plain and must be
escaped where they are used.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from bot.domain.digest_model import MEDIA_ICONS, CheckinResult, Digest
from bot.domain.privacy import Attribution, Group
from bot.domain.text import localized, shorten
from messages import Catalog

__all__ = ["BABEL_LOCALES", "Labels", "digest_filename", "esc", "ref_label"]

BABEL_LOCALES = {"fi": "fi", "sv": "sv_FI", "en": "en_GB"}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Labels:
    """Localised words and formats for one digest in one language."""

    catalog: Catalog
    lang: str
    tz: ZoneInfo

    @property
    def locale(self) -> str:
        return BABEL_LOCALES.get(self.lang, "fi")

    def t(self, key: str, /, **params: object) -> str:
        return self.catalog.t(self.lang, key, **params)

    def plain(self, key: str, /, **params: object) -> str:
        return self.catalog.plain(self.lang, key, **params)

    def tn(self, key: str, count: int, /, **params: object) -> str:
        return self.catalog.tn(self.lang, key, count, **params)

    def plain_n(self, key: str, count: int, /, **params: object) -> str:
        return self.catalog.plain_n(self.lang, key, count, **params)

    def day(self, instant: datetime) -> str:
        return format_date(
            instant.astimezone(self.tz).date(),
            self.catalog.raw(self.lang, "report.format.day"),
            locale=self.locale,
        )

    def date(self, instant: datetime) -> str:
        return format_date(
            instant.astimezone(self.tz).date(),
            self.catalog.raw(self.lang, "report.format.date"),
            locale=self.locale,
        )

    def when(self, instant: datetime) -> str:
        local = instant.astimezone(self.tz).replace(tzinfo=None)
        return format_datetime(
            local, self.catalog.raw(self.lang, "report.format.datetime"), locale=self.locale
        )

    def decimal(self, value: float) -> str:
        return format_decimal(value, "#,##0.0", locale=self.locale)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, "#,##0", locale=self.locale)

    def group(self, group: Group) -> str:
        """A group's name as plain text (escape it before use)."""
        role = self.plain(f"role.{group.role}") if group.role else None
        if group.is_other:
            return self.plain("report.other_group")
        if group.organisation is None:
            return role or ""
        if group.rest:
            return self.plain("report.other_roles", organisation=group.organisation)
        return f"{group.organisation} · {role}" if role else group.organisation

    def attribution(self, attribution: Attribution) -> str:
        parts = []
        if attribution.name:
            parts.append(attribution.name)
        parts.append(
            self.plain("report.facilitator") if attribution.facilitator else self.group(attribution.group)
        )
        return " · ".join(parts)

    def quote(self, text: str) -> str:
        """User text in the language's quotation marks, escaped (``”…”`` in Finnish and Swedish)."""
        return self.t("report.quote", text=text)

    def theme(self, theme: str | None) -> str:
        return self.plain(f"theme.{theme}") if theme else self.plain("report.theme.none")

    def prompt(self, texts: Mapping[str, object], limit: int = 70) -> str:
        """A prompt's (or an option's) text in this language, first line, placeholders elided."""
        text = localized(texts, self.lang)
        first = next((line for line in text.splitlines() if line.strip()), "")
        return shorten(_PLACEHOLDER.sub("…", first), limit)

    def days(self, count: int) -> str:
        return self.plain_n("report.days", count, count=self.number(count))

    def media(self, media_type: str) -> str:
        return self.plain(f"media.{media_type}")

    def phase(self, digest: Digest) -> str:
        if digest.ended:
            return self.plain("report.ended")
        if digest.phase == 0:
            return self.plain("report.phase.0")
        return self.plain(
            "report.phase_line", number=digest.phase, name=self.plain(f"report.phase.{digest.phase}")
        )

    def next_workshop(self, digest: Digest) -> str | None:
        upcoming = digest.next_workshop
        if upcoming is None:
            return None if digest.ended else self.plain("report.no_next_workshop")
        when = self.when(upcoming.starts_at)
        if upcoming.days_left <= 0:
            return self.plain("report.next_workshop_today", number=upcoming.number, when=when)
        return self.plain(
            "report.next_workshop", number=upcoming.number, when=when, days=self.days(upcoming.days_left)
        )

    def title(self, weekly: bool) -> str:
        return self.plain("report.digest.weekly_title" if weekly else "report.digest.title")

    def checkin_summary(self, checkin: CheckinResult) -> str:
        """A check-in's average and answer count (or only the count when its options have no numbers)."""
        if checkin.average is None:
            return self.t("report.checkin.no_numbers", count=checkin.answers)
        return self.t("report.checkin.average", average=self.decimal(checkin.average), count=checkin.answers)


def digest_filename(digest: Digest, catalog: Catalog, lang: str) -> str:
    day = digest.end.astimezone(ZoneInfo(digest.timezone)).date().isoformat()
    return f"{catalog.plain(lang, 'report.file.digest')}-{digest.process_id}-{day}.html"


def ref_label(ref: int, media_type: str | None = None) -> str:
    """A submission's reference as shown (``#123``), with its media icon."""
    icon = MEDIA_ICONS.get(media_type or "", "")
    return f"{icon} #{ref}" if icon else f"#{ref}"
