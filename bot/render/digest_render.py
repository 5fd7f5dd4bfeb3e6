"""The digest as the facilitator reads it: Telegram messages and a self-contained HTML document.

Both are built from a :class:`bot.digest.Digest` in the facilitator's language; quotes stay in the
language they were written in. Every piece of user text is HTML-escaped here (names, organisations,
quotes, idea fields, prompt texts) and labels come from the ``reports`` catalogue.

The Telegram summary is split into messages under Telegram's 4096 characters as counted after entity
parsing; each message is whole lines of balanced tags. The HTML document needs nothing outside itself
(inline CSS, the chart as a data URI), reads on a phone, and prints on A4.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from bot.services.digest import (
    MEDIA_ICONS,
    Attribution,
    CheckinResult,
    Digest,
    ExperimentItem,
    Group,
    GroupStat,
    IdeaItem,
    PromptAnswers,
    Quote,
    shorten,
)
from messages import Catalog

__all__ = [
    "TELEGRAM_LIMIT",
    "Labels",
    "digest_filename",
    "html_document",
    "split_messages",
    "telegram_messages",
    "visible_length",
]

TELEGRAM_LIMIT = 4096
TELEGRAM_SOFT_LIMIT = 2800
"""A message this full ends at the next section: three balanced messages read better than two
brimming ones and a stub."""
TELEGRAM_QUOTES_PER_THEME = 2
TELEGRAM_QUOTE_CHARS = 150
TELEGRAM_IDEAS = 5
TELEGRAM_ANSWERS_PER_PROMPT = 2
TELEGRAM_EXPERIMENTS = 3
BABEL_LOCALES = {"fi": "fi", "sv": "sv_FI", "en": "en_GB"}
_TAG = re.compile(r"<[^>]+>")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def visible_length(text: str) -> int:
    """Length of Telegram HTML after entity parsing, in UTF-16 code units as Telegram counts."""
    plain = html.unescape(_TAG.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def split_messages(blocks: Iterable[str], limit: int = TELEGRAM_LIMIT, soft: int | None = None) -> list[str]:
    """Pack blocks (each whole lines of balanced tags) into messages of at most ``limit`` characters;
    a message already past ``soft`` takes no further block, and a block too long for one message is
    split between its lines."""
    messages: list[str] = []
    current = ""

    def push(piece: str) -> None:
        nonlocal current
        candidate = f"{current}\n\n{piece}" if current else piece
        full = soft is not None and current and visible_length(current) >= soft
        if not full and visible_length(candidate) <= limit:
            current = candidate
            return
        if current:
            messages.append(current)
        current = piece

    for block in blocks:
        if not block:
            continue
        if visible_length(block) <= limit:
            push(block)
            continue
        lines: list[str] = []
        for line in block.split("\n"):
            if visible_length(line) > limit:
                line = esc(shorten(html.unescape(_TAG.sub("", line)), limit - 1))
            if lines and visible_length("\n".join([*lines, line])) > limit:
                push("\n".join(lines))
                lines = []
            lines.append(line)
        if lines:
            push("\n".join(lines))
    if current:
        messages.append(current)
    return messages


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
        text = str(texts.get(self.lang) or texts.get("fi") or next(iter(texts.values()), ""))
        first = next((line for line in text.splitlines() if line.strip()), "")
        return shorten(_PLACEHOLDER.sub("…", first), limit)

    def days(self, count: int) -> str:
        if count <= 0:
            return self.plain("report.days.zero")
        return self.plain("report.days.one" if count == 1 else "report.days.many", count=count)

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
        return self.plain(
            "report.next_workshop",
            number=upcoming.number,
            when=self.when(upcoming.starts_at),
            days=self.days(upcoming.days_left),
        )

    def title(self, weekly: bool) -> str:
        return self.plain("report.digest.weekly_title" if weekly else "report.digest.title")


def digest_filename(digest: Digest, catalog: Catalog, lang: str) -> str:
    day = digest.end.astimezone(ZoneInfo(digest.timezone)).date().isoformat()
    return f"{catalog.plain(lang, 'report.file.digest')}-{digest.process_id}-{day}.html"


def _ref(ref: int, media_type: str | None = None) -> str:
    icon = MEDIA_ICONS.get(media_type or "", "")
    return f"{icon} #{ref}" if icon else f"#{ref}"


# --- Telegram ----------------------------------------------------------------------------------


def _tg_quote(quote: Quote, labels: Labels) -> str:
    text = shorten(quote.text, TELEGRAM_QUOTE_CHARS)
    body = labels.quote(text) if text else f"<i>({esc(labels.media(quote.media_type or 'text'))})</i>"
    who = esc(f"{labels.attribution(quote.attribution)} · {labels.day(quote.created_at)}")
    return f"• {body} — <i>{who}</i> {esc(_ref(quote.ref, quote.media_type))}"


def _tg_groups(title_key: str, stats: Sequence[GroupStat], labels: Labels) -> list[str]:
    lines = [f"<b>{labels.t(title_key)}</b>"]
    for stat in stats:
        line = "• " + labels.t(
            "report.group_line",
            group=labels.group(stat.group),
            contributions=stat.contributions,
            active=stat.active,
            people=stat.people,
        )
        if stat.quiet:
            line += " 🔇 " + labels.t("report.quiet")
        lines.append(line)
    return lines


def _tg_idea(idea: IdeaItem, number: int, labels: Labels) -> str:
    head = f"{number}. <b>{esc(idea.title)}</b> 👍 {idea.supports}"
    if idea.new_supports and idea.new_supports != idea.supports:
        head += f" (+{idea.new_supports})"
    head += f" {esc(_ref(idea.ref))}"
    if idea.is_new:
        head += " 🆕"
    details = []
    if idea.need:
        details.append(f"{labels.t('report.idea.need')}: {esc(shorten(idea.need, 100))}")
    if idea.partners:
        details.append(f"{labels.t('report.idea.partners')}: {esc(shorten(idea.partners, 80))}")
    if idea.first_experiment:
        details.append(f"{labels.t('report.idea.experiment')}: {esc(shorten(idea.first_experiment, 100))}")
    lines = [head]
    if details:
        lines.append("   " + " · ".join(details))
    if idea.similar_to:
        lines.append(
            "   ⚠️ " + labels.t("report.idea.similar", refs=", ".join(f"#{ref}" for ref in idea.similar_to))
        )
    return "\n".join(lines)


def _tg_focus(digest: Digest, labels: Labels) -> str:
    focus = digest.focus
    lines = [f"🎯 <b>{labels.t('report.section.focus')}</b>"]
    if focus.ideas:
        items = ", ".join(f"{esc(shorten(idea.title, 60))} (👍 {idea.supports})" for idea in focus.ideas)
        lines.append(f"• {labels.t('report.focus.ideas')}: {items}")
    themes = [esc(word.word) for word in focus.words] + [
        f"{esc(labels.theme(theme))} ({count})" for theme, count in focus.themes
    ]
    if themes:
        lines.append(f"• {labels.t('report.focus.themes')}: {', '.join(themes)}")
    if focus.quiet_groups:
        groups = ", ".join(esc(labels.group(group)) for group in focus.quiet_groups)
        lines.append(f"• {labels.t('report.focus.quiet')}: {groups}")
    if len(lines) == 1:
        lines.append(labels.t("report.focus.none"))
    return "\n".join(lines)


def telegram_messages(digest: Digest, catalog: Catalog, lang: str, *, weekly: bool = False) -> list[str]:
    """The digest as Telegram HTML messages, each within Telegram's limit, most important first."""
    labels = Labels(catalog, lang, digest.tz)
    blocks: list[str] = []

    header = [f"📋 <b>{esc(labels.title(weekly))} – {esc(digest.process_name)}</b>"]
    header.append(
        esc(labels.plain("report.period", start=labels.day(digest.start), end=labels.day(digest.end)))
    )
    header.append(esc(labels.phase(digest)))
    upcoming = labels.next_workshop(digest)
    if upcoming:
        header.append(esc(upcoming))
    if digest.is_empty:
        header.append("")
        header.append(labels.t("report.empty_period"))
    blocks.append("\n".join(header))
    blocks.append(_tg_focus(digest, labels))

    part = digest.participation
    lines = [f"👥 <b>{labels.t('report.section.participation')}</b>"]
    lines.append(
        labels.t("report.active", active=part.active, total=part.participants)
        + " · "
        + labels.t("report.new_joiners", count=part.new_joiners)
    )
    lines += _tg_groups("report.by_organisation", part.by_organisation, labels)
    lines += _tg_groups("report.by_role", part.by_role, labels)
    if part.prompt_rates:
        lines.append(f"<b>{labels.t('report.answer_rates')}</b>")
        for rate in part.prompt_rates:
            lines.append(
                "• "
                + labels.t(
                    "report.rate_line",
                    prompt=labels.prompt(rate.texts, 50),
                    answered=rate.answered,
                    sent=rate.sent,
                    rate=labels.percent(rate.rate),
                )
            )
    blocks.append("\n".join(lines))

    if digest.observation_count:
        head = f"🔎 <b>{labels.t('report.section.observations', count=digest.observation_count)}</b>"
        if digest.media:
            head += " · " + " · ".join(
                f"{MEDIA_ICONS.get(kind, '📎')} {count}" for kind, count in sorted(digest.media.items())
            )
        lines = [head]
        for block in digest.themes:
            lines.append(f"<b>{esc(labels.theme(block.theme))}</b> ({block.count})")
            lines += [_tg_quote(quote, labels) for quote in block.quotes[:TELEGRAM_QUOTES_PER_THEME]]
            if block.count > TELEGRAM_QUOTES_PER_THEME:
                lines.append("   " + labels.t("report.more", count=block.count - TELEGRAM_QUOTES_PER_THEME))
        blocks.append("\n".join(lines))
    if digest.words:
        words = ", ".join(f"{esc(word.word)} {word.count}" for word in digest.words[:10])
        blocks.append(f"🔁 <b>{labels.t('report.section.words')}:</b> {words}")

    if digest.ideas:
        lines = [
            f"💡 <b>{labels.t('report.section.ideas', count=digest.idea_count)}</b> · "
            + labels.t("report.new_ideas", new=digest.new_idea_count, supports=digest.supports_in_period)
        ]
        lines += [
            _tg_idea(idea, number, labels)
            for number, idea in enumerate(digest.ideas[:TELEGRAM_IDEAS], start=1)
        ]
        if digest.idea_count > TELEGRAM_IDEAS:
            lines.append(labels.t("report.more", count=digest.idea_count - TELEGRAM_IDEAS))
        blocks.append("\n".join(lines))

    if digest.checkins:
        lines = [f"✅ <b>{labels.t('report.section.checkins')}</b>"]
        for checkin in digest.checkins:
            lines.append(
                labels.quote(labels.prompt(checkin.texts, 60)) + " " + _checkin_summary(checkin, labels)
            )
            for row in checkin.by_organisation:
                average = labels.decimal(row.average) if row.average is not None else "–"
                lines.append(f"• {esc(labels.group(row.group))}: {average} ({row.answers})")
        blocks.append("\n".join(lines))

    if digest.answers:
        lines = [f"💬 <b>{labels.t('report.section.answers')}</b>"]
        for prompt in digest.answers:
            lines.append(
                labels.quote(labels.prompt(prompt.texts, 60))
                + " "
                + labels.t("report.answers_count", count=prompt.count)
            )
            lines += [_tg_quote(quote, labels) for quote in prompt.quotes[:TELEGRAM_ANSWERS_PER_PROMPT]]
        blocks.append("\n".join(lines))

    if digest.experiments:
        lines = [f"🧪 <b>{labels.t('report.section.experiments', count=digest.experiment_count)}</b>"]
        for item in digest.experiments[:TELEGRAM_EXPERIMENTS]:
            lines.append(_tg_experiment(item, labels))
        if digest.experiment_count > TELEGRAM_EXPERIMENTS:
            lines.append(labels.t("report.more", count=digest.experiment_count - TELEGRAM_EXPERIMENTS))
        blocks.append("\n".join(lines))

    messages = split_messages(blocks, soft=TELEGRAM_SOFT_LIMIT)
    footer = "<i>" + labels.t("report.footer.telegram", min_group=digest.min_group) + "</i>"
    if messages and visible_length(f"{messages[-1]}\n\n{footer}") <= TELEGRAM_LIMIT:
        messages[-1] = f"{messages[-1]}\n\n{footer}"
    else:
        messages.append(footer)
    return messages


def _checkin_summary(checkin: CheckinResult, labels: Labels) -> str:
    if checkin.average is None:
        return labels.t("report.checkin.no_numbers", count=checkin.answers)
    return labels.t("report.checkin.average", average=labels.decimal(checkin.average), count=checkin.answers)


def _tg_experiment(item: ExperimentItem, labels: Labels) -> str:
    who = esc(f"{labels.attribution(item.attribution)} · {labels.day(item.created_at)}")
    head = f"• <b>{esc(item.title or '—')}</b> — <i>{who}</i> {esc(_ref(item.ref))}"
    parts = []
    for key, value in (
        ("report.experiment.done", item.done),
        ("report.experiment.happened", item.happened),
        ("report.experiment.learned", item.learned),
        ("report.experiment.obstacles", item.obstacles),
    ):
        if value:
            parts.append(f"   {labels.t(key)}: {esc(shorten(value, 120))}")
    return "\n".join([head, *parts])


# --- HTML --------------------------------------------------------------------------------------

CSS = """
:root {
  --ink: #1d2a33; --muted: #5b6b75; --line: #d9e1e6; --soft: #f3f6f8; --accent: #0b6e8a;
  --warm: #b4541a; --pain: #b4541a; --bright: #2f7d32; --question: #5a4fb0;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--ink); background: #fff;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
main { max-width: 960px; margin: 0 auto; padding: 20px 16px 40px; }
header.top { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 16px; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 4px; }
h1 small {
  display: block; font-size: .95rem; font-weight: 600; color: var(--accent);
  text-transform: uppercase; letter-spacing: .04em;
}
h2 { font-size: 1.25rem; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 18px 0 6px; }
p { margin: 4px 0; }
.meta { color: var(--muted); margin: 2px 0; }
.figures {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; margin: 16px 0;
}
.figure { background: var(--soft); border-radius: 10px; padding: 10px 12px; }
.figure b { display: block; font-size: 1.7rem; line-height: 1.1; color: var(--accent); }
.figure span { color: var(--muted); font-size: .9rem; }
.focus {
  background: #fff8ef; border: 1px solid #f0d9bd; border-left: 6px solid var(--warm);
  border-radius: 10px; padding: 12px 16px; margin: 16px 0;
}
.focus h2 { border: 0; margin: 0 0 6px; padding: 0; }
.focus ul { margin: 0; padding-left: 1.2em; }
.focus li { margin: 4px 0; }
table { width: 100%; border-collapse: collapse; margin: 6px 0 12px; font-size: .95rem; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.n, th.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td small { color: var(--muted); }
tr.quiet td { background: #fff4f0; }
.tag {
  display: inline-block; font-size: .78rem; font-weight: normal; padding: 1px 7px; margin-left: 4px;
  border-radius: 999px; background: var(--soft); color: var(--muted); white-space: nowrap;
}
.tag.quiet { background: #fde3d8; color: #8a3a12; }
.tag.new { background: #dff3e1; color: #1f5e22; }
.tag.similar { background: #fff0c2; color: #7a5a00; }
.bar { background: var(--soft); border-radius: 4px; height: 8px; min-width: 60px; margin-top: 2px; }
.bar i { display: block; height: 8px; border-radius: 4px; background: var(--accent); }
.tables {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 0 18px; align-items: start;
}
.chart { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; }
.quotes { list-style: none; margin: 0; padding: 0; }
.quotes li { border-left: 4px solid var(--line); padding: 4px 10px; margin: 8px 0; break-inside: avoid; }
.theme-pain .quotes li { border-color: var(--pain); }
.theme-bright .quotes li { border-color: var(--bright); }
.theme-question .quotes li { border-color: var(--question); }
.quote { display: block; }
.who { display: block; color: var(--muted); font-size: .88rem; }
.ref { font-variant-numeric: tabular-nums; white-space: nowrap; }
.words { line-height: 2.1; }
.word {
  display: inline-block; background: var(--soft); border-radius: 999px; padding: 0 10px; margin: 0 4px 4px 0;
}
.word small { color: var(--muted); }
.card {
  border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; margin: 10px 0; break-inside: avoid;
}
.card h3 { margin: 0 0 4px; }
.card dl { margin: 4px 0 0; display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; }
.card dt { color: var(--muted); }
.card dd { margin: 0; }
.more { color: var(--muted); font-style: italic; }
footer {
  margin-top: 32px; padding-top: 10px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: .85rem;
}
@media (max-width: 560px) {
  body { font-size: 15px; }
  h1 { font-size: 1.35rem; }
  .card dl { grid-template-columns: 1fr; }
  th, td { padding: 4px 5px; }
}
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h2, h3 { break-after: avoid; }
  .figures { grid-template-columns: repeat(6, 1fr); gap: 6px; }
  .figure { padding: 6px 8px; }
  .figure b { font-size: 1.3rem; }
  .tables { grid-template-columns: 1fr; }
  .chart { display: block; width: auto; max-width: 100%; max-height: 95mm; margin: 3mm auto; }
  .figure, .focus, .card, tr, .quotes li { break-inside: avoid; }
}
"""


def el(name: str, content: str = "", /, **attributes: str) -> str:
    """An HTML element. ``content`` must already be HTML; attribute values are escaped here
    (``class_`` for ``class``)."""
    attrs = "".join(f' {key.rstrip("_")}="{esc(value)}"' for key, value in attributes.items())
    return f"<{name}{attrs}>{content}</{name}>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = ()) -> str:
    """A table from escaped cells; ``numeric`` columns are right-aligned. A row may end with a
    CSS class for the whole row, given as a trailing ``"class:<name>"`` cell."""
    head = "".join(
        el("th", text, class_="n") if i in numeric else el("th", text) for i, text in enumerate(headers)
    )
    body = []
    for row in rows:
        cells, row_class = list(row), ""
        if cells and cells[-1].startswith("class:"):
            row_class = cells.pop().removeprefix("class:")
        tds = "".join(
            el("td", cell, class_="n") if i in numeric else el("td", cell) for i, cell in enumerate(cells)
        )
        body.append(el("tr", tds, class_=row_class) if row_class else el("tr", tds))
    return el("table", el("thead", el("tr", head)) + el("tbody", "".join(body)))


def _bar(share: float) -> str:
    return el("div", f'<i style="width:{max(0.0, min(share, 1.0)) * 100:.1f}%"></i>', class_="bar")


def _who(attribution: Attribution, created_at: datetime, labels: Labels, ref: str) -> str:
    text = esc(f"{labels.attribution(attribution)} · {labels.day(created_at)}")
    return el("span", f"{text} {el('span', esc(ref), class_='ref')}", class_="who")


def _h_quote(quote: Quote, labels: Labels) -> str:
    if quote.text:
        body = el("span", labels.quote(quote.text), class_="quote")
    else:
        body = el("span", el("i", f"({esc(labels.media(quote.media_type or 'text'))})"), class_="quote")
    return el(
        "li", body + _who(quote.attribution, quote.created_at, labels, _ref(quote.ref, quote.media_type))
    )


def _h_more(labels: Labels, count: int) -> str:
    return el("p", labels.t("report.more_in_export", count=count), class_="more") if count > 0 else ""


def _h_group_table(title: str, stats: Sequence[GroupStat], labels: Labels) -> str:
    total = sum(stat.contributions for stat in stats) or 1
    rows = []
    for stat in stats:
        name = esc(labels.group(stat.group))
        if stat.quiet:
            name += el("span", "🔇 " + labels.t("report.quiet"), class_="tag quiet")
        share = stat.contributions / total
        made = f"{labels.number(stat.contributions)} {el('small', esc(labels.percent(share)))}{_bar(share)}"
        row = [name, labels.number(stat.people), labels.number(stat.active), made]
        rows.append([*row, "class:quiet"] if stat.quiet else row)
    headers = [
        labels.t("report.table.group"),
        labels.t("report.table.people"),
        labels.t("report.table.active"),
        labels.t("report.table.contributions"),
    ]
    return el("div", el("h3", esc(title)) + _table(headers, rows, numeric=(1, 2, 3)))


def _dl(pairs: Iterable[tuple[str, str | None]], labels: Labels) -> str:
    items = "".join(el("dt", labels.t(key)) + el("dd", esc(value)) for key, value in pairs if value)
    return el("dl", items) if items else ""


def _h_idea(idea: IdeaItem, labels: Labels) -> str:
    supports = f"👍 {idea.supports}"
    if idea.new_supports and idea.new_supports != idea.supports:
        supports += f" (+{idea.new_supports})"
    tags = el("span", supports, class_="tag")
    if idea.is_new:
        tags += el("span", labels.t("report.idea.new"), class_="tag new")
    if idea.similar_to:
        refs = ", ".join(f"#{ref}" for ref in idea.similar_to)
        tags += el("span", "⚠️ " + labels.t("report.idea.similar", refs=refs), class_="tag similar")
    details = _dl(
        (
            ("report.idea.need", idea.need),
            ("report.idea.partners", idea.partners),
            ("report.idea.experiment", idea.first_experiment),
        ),
        labels,
    )
    title = el("h3", f"{esc(idea.title)} {tags}")
    return el(
        "div",
        title + _who(idea.attribution, idea.created_at, labels, _ref(idea.ref)) + details,
        class_="card",
    )


def _h_checkin(checkin: CheckinResult, labels: Labels) -> str:
    by_group = [
        [
            esc(labels.group(row.group)),
            labels.number(row.answers),
            labels.decimal(row.average) if row.average is not None else "–",
        ]
        for row in checkin.by_organisation
    ]
    total = sum(checkin.distribution) or 1
    options = [
        [
            esc(labels.prompt(checkin.options[index] if index < len(checkin.options) else {}, 40)),
            labels.number(count),
            _bar(count / total),
        ]
        for index, count in enumerate(checkin.distribution)
    ]
    answers = labels.t("report.table.answers")
    tables = _table(
        [labels.t("report.table.group"), answers, labels.t("report.table.average")], by_group, numeric=(1, 2)
    ) + _table([labels.t("report.table.option"), answers, ""], options, numeric=(1,))
    return (
        el("h3", labels.quote(labels.prompt(checkin.texts, 120)))
        + el("p", _checkin_summary(checkin, labels), class_="meta")
        + el("div", tables, class_="tables")
    )


def _h_answers(prompt: PromptAnswers, labels: Labels) -> str:
    quotes = "".join(_h_quote(quote, labels) for quote in prompt.quotes)
    return (
        el("h3", labels.quote(labels.prompt(prompt.texts, 120)))
        + el("p", labels.t("report.answers_count", count=prompt.count), class_="meta")
        + el("ul", quotes, class_="quotes")
        + (_h_more(labels, prompt.count - len(prompt.quotes)) if prompt.quotes else "")
    )


def _h_experiment(item: ExperimentItem, labels: Labels) -> str:
    details = _dl(
        (
            ("report.experiment.done", item.done),
            ("report.experiment.happened", item.happened),
            ("report.experiment.learned", item.learned),
            ("report.experiment.obstacles", item.obstacles),
        ),
        labels,
    )
    title = el("h3", esc(item.title or "—"))
    return el(
        "div",
        title + _who(item.attribution, item.created_at, labels, _ref(item.ref)) + details,
        class_="card",
    )


def _h_header(digest: Digest, labels: Labels, weekly: bool) -> str:
    period = labels.plain("report.period", start=labels.day(digest.start), end=labels.date(digest.end))
    lines = [
        el("h1", el("small", esc(labels.title(weekly))) + esc(digest.process_name)),
        el("p", f"{esc(period)} · {esc(labels.phase(digest))}", class_="meta"),
    ]
    upcoming = labels.next_workshop(digest)
    if upcoming:
        place = digest.next_workshop.place if digest.next_workshop else None
        lines.append(el("p", el("b", esc(upcoming)) + (f" · {esc(place)}" if place else ""), class_="meta"))
    return el("header", "".join(lines), class_="top")


def _h_figures(digest: Digest, labels: Labels) -> str:
    part = digest.participation
    figures = (
        (f"{labels.number(part.active)}/{labels.number(part.participants)}", "report.figure.active"),
        (labels.number(part.new_joiners), "report.figure.new_joiners"),
        (labels.number(digest.observation_count), "report.figure.observations"),
        (labels.number(digest.new_idea_count), "report.figure.new_ideas"),
        (labels.number(digest.answer_count), "report.figure.answers"),
        (labels.number(digest.experiment_count), "report.figure.experiments"),
    )
    cards = "".join(
        el("div", el("b", value) + el("span", labels.t(key)), class_="figure") for value, key in figures
    )
    empty = el("p", labels.t("report.empty_period"), class_="more") if digest.is_empty else ""
    return el("section", cards, class_="figures") + empty


def _h_focus(digest: Digest, labels: Labels) -> str:
    focus = digest.focus
    items = []
    if focus.ideas:
        ideas = ", ".join(f"{esc(idea.title)} (👍 {idea.supports}, #{idea.ref})" for idea in focus.ideas)
        items.append(el("li", el("b", labels.t("report.focus.ideas") + ":") + " " + ideas))
    themes = [esc(word.word) for word in focus.words] + [
        f"{esc(labels.theme(theme))} ({count})" for theme, count in focus.themes
    ]
    if themes:
        items.append(el("li", el("b", labels.t("report.focus.themes") + ":") + " " + ", ".join(themes)))
    if focus.quiet_groups:
        groups = ", ".join(esc(labels.group(group)) for group in focus.quiet_groups)
        items.append(el("li", el("b", labels.t("report.focus.quiet") + ":") + " " + groups))
    if not items:
        items.append(el("li", labels.t("report.focus.none")))
    return el(
        "section",
        el("h2", "🎯 " + labels.t("report.section.focus")) + el("ul", "".join(items)),
        class_="focus",
    )


def _h_participation(digest: Digest, labels: Labels, chart_png: bytes | None) -> str:
    part = digest.participation
    out = [
        el("h2", "👥 " + labels.t("report.section.participation")),
        el(
            "p",
            labels.t("report.active", active=part.active, total=part.participants)
            + " · "
            + labels.t("report.new_joiners", count=part.new_joiners),
        ),
    ]
    if chart_png:
        source = "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii")
        out.append(f'<img class="chart" alt="{esc(labels.plain("report.chart.title"))}" src="{source}">')
    out.append(
        el(
            "div",
            _h_group_table(labels.plain("report.by_organisation"), part.by_organisation, labels)
            + _h_group_table(labels.plain("report.by_role"), part.by_role, labels),
            class_="tables",
        )
    )
    out.append(_h_group_table(labels.plain("report.by_cell"), part.by_cell, labels))
    if part.prompt_rates:
        rows = [
            [
                esc(labels.prompt(rate.texts, 90)),
                f"{rate.answered}/{rate.sent}",
                esc(labels.percent(rate.rate)) + _bar(rate.rate),
            ]
            for rate in part.prompt_rates
        ]
        headers = [labels.t("report.table.prompt"), labels.t("report.table.answered"), "%"]
        out.append(el("h3", labels.t("report.answer_rates")) + _table(headers, rows, numeric=(1, 2)))
    return el("section", "".join(out))


def _h_observations(digest: Digest, labels: Labels) -> str:
    out = [el("h2", "🔎 " + labels.t("report.section.observations", count=digest.observation_count))]
    if digest.media:
        media = " · ".join(
            f"{MEDIA_ICONS.get(kind, '📎')} {esc(labels.media(kind))} {count}"
            for kind, count in sorted(digest.media.items())
        )
        out.append(el("p", media, class_="meta"))
    for block in digest.themes:
        quotes = el("ul", "".join(_h_quote(quote, labels) for quote in block.quotes), class_="quotes")
        content = el("h3", f"{esc(labels.theme(block.theme))} ({block.count})") + quotes
        content += _h_more(labels, block.count - len(block.quotes))
        out.append(el("div", content, class_=f"theme-{block.theme or 'none'}"))
    return el("section", "".join(out))


def _h_words(digest: Digest) -> str:
    top = digest.words[0].count
    chips = "".join(
        f'<span class="word" style="font-size:{0.9 + 0.6 * word.count / top:.2f}em">'
        f"{esc(word.word)} {el('small', str(word.count))}</span>"
        for word in digest.words
    )
    return el("p", chips, class_="words")


def html_document(
    digest: Digest, catalog: Catalog, lang: str, *, chart_png: bytes | None = None, weekly: bool = False
) -> str:
    """The whole digest as one self-contained HTML page (inline CSS, chart as a data URI)."""
    labels = Labels(catalog, lang, digest.tz)
    sections = [
        _h_header(digest, labels, weekly),
        _h_figures(digest, labels),
        _h_focus(digest, labels),
        _h_participation(digest, labels, chart_png),
    ]
    if digest.observation_count:
        sections.append(_h_observations(digest, labels))
    if digest.words:
        sections.append(el("section", el("h2", "🔁 " + labels.t("report.section.words")) + _h_words(digest)))
    if digest.ideas:
        meta = labels.t("report.new_ideas", new=digest.new_idea_count, supports=digest.supports_in_period)
        content = el("h2", "💡 " + labels.t("report.section.ideas", count=digest.idea_count))
        content += el("p", meta, class_="meta") + "".join(_h_idea(idea, labels) for idea in digest.ideas)
        content += _h_more(labels, digest.idea_count - len(digest.ideas))
        sections.append(el("section", content))
    if digest.checkins:
        content = el("h2", "✅ " + labels.t("report.section.checkins"))
        sections.append(
            el("section", content + "".join(_h_checkin(item, labels) for item in digest.checkins))
        )
    if digest.answers:
        content = el("h2", "💬 " + labels.t("report.section.answers"))
        sections.append(el("section", content + "".join(_h_answers(item, labels) for item in digest.answers)))
    if digest.experiments:
        content = el("h2", "🧪 " + labels.t("report.section.experiments", count=digest.experiment_count))
        content += "".join(_h_experiment(item, labels) for item in digest.experiments)
        content += _h_more(labels, digest.experiment_count - len(digest.experiments))
        sections.append(el("section", content))
    footer = "".join(
        el("p", text)
        for text in (
            labels.t("report.footer.privacy", min_group=digest.min_group),
            labels.t("report.footer.active"),
            labels.t("report.footer.refs"),
            labels.t("report.footer.generated", when=labels.when(digest.generated_at)),
        )
    )
    title = f"{labels.title(weekly)} – {digest.process_name}"
    return (
        f'<!DOCTYPE html>\n<html lang="{esc(lang)}"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(sections)
        + "\n"
        + el("footer", footer)
        + "\n</main></body></html>\n"
    )
