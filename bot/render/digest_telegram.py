"""The digest as Telegram HTML messages: the summary a facilitator reads in chat.

The summary is split into messages under Telegram's 4096 characters as counted after entity
parsing; each message is whole lines of balanced tags. Every section is one function returning one
block (whole lines), like the HTML side; user text is escaped here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from bot.domain.digest_model import MEDIA_ICONS, Digest, ExperimentItem, GroupStat, IdeaItem, Quote
from bot.domain.text import shorten
from bot.render.labels import Labels, esc, ref_label
from messages import Catalog

__all__ = ["TELEGRAM_LIMIT", "split_messages", "telegram_messages", "visible_length"]

TELEGRAM_LIMIT = 4096
TELEGRAM_SOFT_LIMIT = 2800
"""A message this full ends at the next section: three balanced messages read better than two
brimming ones and a stub."""
TELEGRAM_QUOTES_PER_THEME = 2
TELEGRAM_QUOTE_CHARS = 150
TELEGRAM_IDEAS = 5
TELEGRAM_ANSWERS_PER_PROMPT = 2
TELEGRAM_EXPERIMENTS = 3
_TAG = re.compile(r"<[^>]+>")


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


def _tg_quote(quote: Quote, labels: Labels) -> str:
    text = shorten(quote.text, TELEGRAM_QUOTE_CHARS)
    body = labels.quote(text) if text else f"<i>({esc(labels.media(quote.media_type or 'text'))})</i>"
    who = esc(f"{labels.attribution(quote.attribution)} · {labels.day(quote.created_at)}")
    return f"• {body} — <i>{who}</i> {esc(ref_label(quote.ref, quote.media_type))}"


def _short(text: str, media_type: str | None, labels: Labels) -> str:
    return labels.quote(shorten(text, 60)) if text else esc(labels.media(media_type or "text"))


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
    head += f" {esc(ref_label(idea.ref))}"
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


def _focus(digest: Digest, labels: Labels) -> str:
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
    if focus.resonant:
        items = ", ".join(
            (
                labels.quote(shorten(item.text, 60))
                if item.text
                else esc(labels.media(item.media_type or "text"))
            )
            + f" ({esc(ref_label(item.ref, item.media_type))})"
            for item in focus.resonant
        )
        lines.append(f"• {labels.t('report.focus.resonant')}: {items}")
    if focus.quiet_groups:
        groups = ", ".join(esc(labels.group(group)) for group in focus.quiet_groups)
        lines.append(f"• {labels.t('report.focus.quiet')}: {groups}")
    if len(lines) == 1:
        lines.append(labels.t("report.focus.none"))
    return "\n".join(lines)


def _tg_experiment(item: ExperimentItem, labels: Labels) -> str:
    who = esc(f"{labels.attribution(item.attribution)} · {labels.day(item.created_at)}")
    head = f"• <b>{esc(item.title or '—')}</b> — <i>{who}</i> {esc(ref_label(item.ref))}"
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


def _header(digest: Digest, labels: Labels, weekly: bool) -> str:
    lines = [f"📋 <b>{esc(labels.title(weekly))} – {esc(digest.process_name)}</b>"]
    lines.append(
        esc(labels.plain("report.period", start=labels.day(digest.start), end=labels.day(digest.end)))
    )
    lines.append(esc(labels.phase(digest)))
    upcoming = labels.next_workshop(digest)
    if upcoming:
        lines.append(esc(upcoming))
    if digest.is_empty:
        lines.append("")
        lines.append(labels.t("report.empty_period"))
    return "\n".join(lines)


def _participation(digest: Digest, labels: Labels) -> str:
    part = digest.participation
    lines = [f"👥 <b>{labels.t('report.section.participation')}</b>"]
    lines.append(
        labels.tn("report.active", part.participants, active=part.active)
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
    return "\n".join(lines)


def _observations(digest: Digest, labels: Labels) -> str:
    if not digest.observation_count:
        return ""
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
    return "\n".join(lines)


def _resonance(digest: Digest, labels: Labels) -> str:
    found = digest.resonance
    if found.is_empty:
        return ""
    lines = [f"🌉 <b>{labels.t('report.section.resonance')}</b>"]
    lines.append(
        labels.t(
            "report.resonance.summary",
            shared=found.shared_in_period,
            recognitions=found.recognitions,
            cross_recognitions=found.cross_recognitions,
            responses=found.responses,
            cross_responses=found.cross_responses,
        )
    )
    if found.pairs_by_phase:
        phases = " · ".join(
            labels.t("report.resonance.pairs_phase", phase=p, count=n) for p, n in found.pairs_by_phase
        )
        lines.append(labels.t("report.resonance.pairs", phases=phases))
    for item in found.items[:TELEGRAM_QUOTES_PER_THEME]:
        text = shorten(item.text, TELEGRAM_QUOTE_CHARS)
        body = labels.quote(text) if text else f"<i>({esc(labels.media(item.media_type or 'text'))})</i>"
        counts = labels.t("report.resonance.item", recognitions=item.recognitions, responses=item.responses)
        who = esc(labels.attribution(item.attribution))
        lines.append(f"• {body} — <i>{who}</i> · {counts} {esc(ref_label(item.ref, item.media_type))}")
    return "\n".join(lines)


def _words(digest: Digest, labels: Labels) -> str:
    if not digest.words:
        return ""
    words = ", ".join(f"{esc(word.word)} {word.count}" for word in digest.words[:10])
    return f"🔁 <b>{labels.t('report.section.words')}:</b> {words}"


def _ideas(digest: Digest, labels: Labels) -> str:
    if not digest.ideas:
        return ""
    lines = [
        f"💡 <b>{labels.t('report.section.ideas', count=digest.idea_count)}</b> · "
        + labels.t("report.new_ideas", new=digest.new_idea_count, supports=digest.supports_in_period)
    ]
    lines += [
        _tg_idea(idea, number, labels) for number, idea in enumerate(digest.ideas[:TELEGRAM_IDEAS], start=1)
    ]
    if digest.idea_count > TELEGRAM_IDEAS:
        lines.append(labels.t("report.more", count=digest.idea_count - TELEGRAM_IDEAS))
    return "\n".join(lines)


def _checkins(digest: Digest, labels: Labels) -> str:
    if not digest.checkins:
        return ""
    lines = [f"✅ <b>{labels.t('report.section.checkins')}</b>"]
    for checkin in digest.checkins:
        lines.append(labels.quote(labels.prompt(checkin.texts, 60)) + " " + labels.checkin_summary(checkin))
        for row in checkin.by_organisation:
            average = labels.decimal(row.average) if row.average is not None else "–"
            lines.append(f"• {esc(labels.group(row.group))}: {average} ({row.answers})")
    return "\n".join(lines)


def _answers(digest: Digest, labels: Labels) -> str:
    if not digest.answers:
        return ""
    lines = [f"💬 <b>{labels.t('report.section.answers')}</b>"]
    for prompt in digest.answers:
        lines.append(
            labels.quote(labels.prompt(prompt.texts, 60))
            + " "
            + labels.t("report.answers_count", count=prompt.count)
        )
        lines += [_tg_quote(quote, labels) for quote in prompt.quotes[:TELEGRAM_ANSWERS_PER_PROMPT]]
    return "\n".join(lines)


def _experiments(digest: Digest, labels: Labels) -> str:
    if not digest.experiments:
        return ""
    lines = [f"🧪 <b>{labels.t('report.section.experiments', count=digest.experiment_count)}</b>"]
    lines += [_tg_experiment(item, labels) for item in digest.experiments[:TELEGRAM_EXPERIMENTS]]
    if digest.experiment_count > TELEGRAM_EXPERIMENTS:
        lines.append(labels.t("report.more", count=digest.experiment_count - TELEGRAM_EXPERIMENTS))
    return "\n".join(lines)


def telegram_messages(digest: Digest, catalog: Catalog, lang: str, *, weekly: bool = False) -> list[str]:
    """The digest as Telegram HTML messages, each within Telegram's limit, most important first."""
    labels = Labels(catalog, lang, digest.tz)
    blocks = [
        _header(digest, labels, weekly),
        _focus(digest, labels),
        _participation(digest, labels),
        _observations(digest, labels),
        _resonance(digest, labels),
        _words(digest, labels),
        _ideas(digest, labels),
        _checkins(digest, labels),
        _answers(digest, labels),
        _experiments(digest, labels),
    ]
    messages = split_messages(blocks, soft=TELEGRAM_SOFT_LIMIT)
    footer = "<i>" + labels.t("report.footer.telegram", min_group=digest.min_group) + "</i>"
    if messages and visible_length(f"{messages[-1]}\n\n{footer}") <= TELEGRAM_LIMIT:
        messages[-1] = f"{messages[-1]}\n\n{footer}"
    else:
        messages.append(footer)
    return messages
