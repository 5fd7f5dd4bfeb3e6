"""The digest as one self-contained HTML document: inline CSS, the chart as a data URI.

Reads on a phone and prints on A4. Every piece of user text is escaped here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.domain.digest_model import (
    MEDIA_ICONS,
    CheckinResult,
    Digest,
    ExperimentItem,
    GroupStat,
    IdeaItem,
    PromptAnswers,
    Quote,
)
from bot.domain.privacy import Attribution
from bot.render.labels import Labels, esc, ref_label
from messages import Catalog

__all__ = ["html_document"]

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
        "li", body + _who(quote.attribution, quote.created_at, labels, ref_label(quote.ref, quote.media_type))
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
        title + _who(idea.attribution, idea.created_at, labels, ref_label(idea.ref)) + details,
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
        + el("p", labels.checkin_summary(checkin), class_="meta")
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
        title + _who(item.attribution, item.created_at, labels, ref_label(item.ref)) + details,
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
