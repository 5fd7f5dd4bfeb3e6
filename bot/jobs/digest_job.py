"""The weekly digest: each process's facilitators get it at the time its process file sets.

:func:`run_due_digests` is a leader duty (:mod:`bot.jobs.duties`) and also runs once at
start-up, so a digest that fell due while the bot was down goes out then: once, covering everything
since the last one, however many weeks were missed (:func:`bot.domain.timing.latest_due_digest`).

A weekly run is claimed before anything is sent, by inserting its :class:`DigestRun` (unique per
process and due instant) and moving ``Process.last_digest_at`` in the same unit of work. A second
instance, or a tick racing the start-up run, fails that insert and sends nothing: a facilitator may
miss a digest if the bot dies mid-send, but never gets the same week twice.

A partial failure stays partial: the parts (each summary message, the chart, the file) that did not
reach a facilitator are kept on the run (``DigestRun.unsent``) and sent again, only those, after
:data:`DIGEST_RETRY`, up to :data:`DIGEST_RETRIES` tries in all; a part that may or may not have
arrived (a read timeout, a reset) is sent once more, on the first retry only. One log line per run
says how complete it was. A digest asked for with ``/digest`` goes the same way
(:func:`send_again_later`); when parts of it are still missing after the last try, the facilitator
hears so in one line.

:func:`send_digest` is the one way a digest reaches a chat (weekly, ``/digest``): the summary messages,
the chart and the HTML document with an export button; it returns what did not get through.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import ExtBot

from bot.context import Services
from bot.domain.digest_model import Digest
from bot.domain.timing import DIGEST_FOLLOW_UP, latest_due_digest, parse_digest_spec
from bot.infra.transport import Fate, fate, watch_wire
from bot.render.digest_html import html_document
from bot.render.digest_telegram import telegram_messages
from bot.render.labels import Labels, digest_filename
from bot.services.digest import build_digest, record_run
from bot.services.people import facilitators_to_tell
from messages import Catalog, normalise_language
from storage.models import DigestRun, Process

__all__ = [
    "DigestBundle",
    "DigestSent",
    "DueDigest",
    "due_digests",
    "render_bundle",
    "run_due_digests",
    "send_again_later",
    "send_digest",
]

log = logging.getLogger(__name__)

DIGEST_RETRY = timedelta(minutes=10)
"""How long the parts of a weekly digest that did not get through wait before they are sent again."""
DIGEST_RETRIES = 4
"""Tries in all (the first and three more) before the parts still missing are given up."""


@dataclass(frozen=True)
class DueDigest:
    process_id: int
    start: datetime
    due_at: datetime


@dataclass(frozen=True)
class DigestBundle:
    """One digest rendered in one language."""

    messages: list[str]
    html: str
    filename: str
    chart: bytes | None


def render_bundle(digest: Digest, catalog: Catalog, lang: str, *, weekly: bool) -> DigestBundle:
    """Everything sent for a digest, rendered (CPU work: call it in a worker thread)."""
    from bot.render.chart import participation_chart

    chart = (
        participation_chart(digest.weekly, Labels(catalog, lang, digest.tz)) if digest.weekly.total else None
    )
    return DigestBundle(
        messages=telegram_messages(digest, catalog, lang, weekly=weekly),
        html=html_document(digest, catalog, lang, chart_png=chart, weekly=weekly),
        filename=digest_filename(digest, catalog, lang),
        chart=chart,
    )


def export_button(catalog: Catalog, lang: str, process_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    catalog.plain(lang, "report.button.export"), callback_data=f"dg:x:{process_id}"
                )
            ]
        ]
    )


SUMMARY, CHART, DOCUMENT = "summary", "chart", "document"


def digest_parts(bundle: DigestBundle) -> list[str]:
    """The parts of a digest in the order they are sent: each summary message, the chart, the file."""
    chart = [CHART] if bundle.chart is not None else []
    return [f"{SUMMARY}:{index}" for index in range(len(bundle.messages))] + [*chart, DOCUMENT]


@dataclass
class DigestSent:
    """What reached one chat: the parts to send again (not sent or refused), those that may or may
    not have arrived, and whether the chat blocked the bot."""

    unsent: list[str]
    doubtful: list[str]
    blocked: bool = False
    notes: list[str] = field(default_factory=list)
    """For the one log line: each failed part, what became of it, and the error's kind."""

    @property
    def complete(self) -> bool:
        return not self.unsent and not self.doubtful and not self.blocked


async def send_digest(
    bot: ExtBot[Any],
    catalog: Catalog,
    *,
    chat_id: int,
    lang: str,
    bundle: DigestBundle,
    process_id: int,
    parts: Sequence[str] | None = None,
) -> DigestSent:
    """The summary, the chart and the HTML document (with an export button) to one chat, or only
    ``parts`` of them. A part that fails does not stop the others; what failed is returned."""
    result = DigestSent([], [])
    for part in digest_parts(bundle) if parts is None else parts:
        with watch_wire() as wire:
            try:
                await _send_part(bot, catalog, chat_id, lang, bundle, process_id, part)
            except Forbidden:
                result.blocked = True
                result.notes.append(f"{part}: the chat has blocked the bot")
                return result
            except Exception as error:
                outcome = fate(error, wire)
                if outcome is Fate.AMBIGUOUS:
                    result.doubtful.append(part)
                elif outcome is not Fate.SENT:
                    result.unsent.append(part)
                result.notes.append(f"{part} {_OUTCOME_WORDS[outcome]} ({type(error).__name__})")
    return result


_OUTCOME_WORDS = {
    Fate.NOT_SENT: "not sent",
    Fate.REFUSED: "refused by Telegram",
    Fate.SENT: "sent, answer unreadable",
    Fate.AMBIGUOUS: "may or may not have arrived",
}


async def _send_part(
    bot: ExtBot[Any],
    catalog: Catalog,
    chat_id: int,
    lang: str,
    bundle: DigestBundle,
    process_id: int,
    part: str,
) -> None:
    if part.startswith(f"{SUMMARY}:"):
        index = int(part.partition(":")[2])
        if index < len(bundle.messages):
            text = bundle.messages[index]
            await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True)
    elif part == CHART:
        if bundle.chart is not None:
            await bot.send_photo(
                chat_id,
                photo=bundle.chart,
                caption=catalog.t(lang, "report.caption.chart"),
                parse_mode=ParseMode.HTML,
            )
    elif part == DOCUMENT:
        await bot.send_document(
            chat_id,
            document=bundle.html.encode("utf-8"),
            filename=bundle.filename,
            caption=catalog.t(lang, "report.caption.html"),
            parse_mode=ParseMode.HTML,
            reply_markup=export_button(catalog, lang, process_id),
        )


async def due_digests(session: AsyncSession, *, now: datetime) -> list[DueDigest]:
    """The processes whose weekly digest is owed at ``now`` (at most one each)."""
    due: list[DueDigest] = []
    # Processes are few (tens); reading them all is simpler than date arithmetic in two SQL dialects.
    rows = await session.execute(
        select(
            Process.id,
            Process.digest_spec,
            Process.timezone,
            Process.last_digest_at,
            Process.created_at,
            Process.end_at,
        )
    )
    for process_id, spec_text, timezone, last_digest_at, created_at, end_at in rows:
        try:
            spec = parse_digest_spec(spec_text or "mon 08:00")
            tz = ZoneInfo(timezone)
        except (ValueError, KeyError):
            log.warning("process %d has an unreadable digest time; no weekly digest", process_id)
            continue
        start = last_digest_at or created_at
        if start >= end_at + DIGEST_FOLLOW_UP:
            continue
        owed = latest_due_digest(start, spec, tz, now)
        if owed is not None:
            due.append(DueDigest(process_id, start, owed))
    return due


async def _claim(services: Services, item: DueDigest, now: datetime) -> int | None:
    async def work(session: AsyncSession) -> int:
        run = await record_run(
            session,
            process_id=item.process_id,
            trigger="weekly",
            start=item.start,
            end=item.due_at,
            now=now,
            due_at=item.due_at,
        )
        return run.id

    try:
        return await services.db.run(work)
    except IntegrityError:
        return None


async def _facilitators(session: AsyncSession, process_id: int) -> list[tuple[int, str]]:
    return [
        (contact.chat_id, normalise_language(contact.language))
        for contact in await facilitators_to_tell(session, process_id)
    ]


async def run_due_digests(services: Services, bot: ExtBot[Any], now: datetime) -> int:
    """Send every weekly digest owed at ``now``, and again what did not get through of earlier ones;
    returns how many processes got a new one."""
    sent = 0
    for item in await services.db.run(lambda session: due_digests(session, now=now)):
        run_id = await _claim(services, item, now)
        if run_id is None:
            continue
        services.metrics.digests.labels(trigger="weekly").inc()
        try:
            await _deliver(bot, services, _Run(run_id, item.process_id, item.start, item.due_at, now), now)
        except Exception:
            log.exception("the weekly digest of process %d failed", item.process_id)
            continue
        sent += 1
    await _resend_unsent(services, bot, now)
    return sent


@dataclass(frozen=True)
class _Run:
    id: int
    process_id: int
    start: datetime
    end: datetime
    built_at: datetime
    retries: int = 0
    unsent: dict[int, list[str]] | None = None
    """Per chat, the parts to send again (None: a new run, everything to every facilitator)."""
    weekly: bool = True
    """False for a ``/digest`` run: its parts are rendered as the by-hand digest was."""

    @property
    def name(self) -> str:
        return "weekly digest" if self.weekly else "/digest"


async def _deliver(bot: ExtBot[Any], services: Services, run: _Run, now: datetime) -> None:
    # The digest reads in short units of its own (bot.services.digest): the bot keeps answering.
    digest = await build_digest(
        services.db, process_id=run.process_id, start=run.start, end=run.end, now=run.built_at
    )
    facilitators = await services.db.run(lambda session: _facilitators(session, run.process_id))
    if digest is None or (run.weekly and digest.participation.participants == 0):
        # Nobody has joined yet: a weekly "nothing happened" would only teach facilitators to ignore it.
        await services.db.run(lambda session: _note_unsent(session, run.id, {}, now=now))
        return
    if run.unsent is not None:
        facilitators = [(chat, lang) for chat, lang in facilitators if chat in run.unsent]
    outcome = await _send_to_all(bot, services, run, digest, facilitators)
    if run.retries + 1 >= DIGEST_RETRIES and outcome.again:
        outcome.notes.append(f"given up after {DIGEST_RETRIES} tries")
        if not run.weekly:
            await _tell_given_up(bot, services, outcome.again, dict(facilitators))
        outcome.again = {}
    await services.db.run(lambda session: _note_unsent(session, run.id, outcome.again, now=now))
    what = "sent again" if run.unsent is not None else "sent"
    counts = (run.process_id, what, outcome.complete, len(facilitators))
    if not outcome.notes:
        log.info("%s of process %d %s, complete to %d of %d facilitator(s)", run.name, *counts)
        return
    later = (
        f"; {sum(map(len, outcome.again.values()))} part(s) go again in {DIGEST_RETRY.seconds // 60} min"
        if outcome.again
        else ""
    )
    log.warning(
        "%s of process %d %s, complete to %d of %d facilitator(s): %s%s",
        run.name,
        *counts,
        "; ".join(outcome.notes),
        later,
    )


@dataclass
class _Outcome:
    again: dict[int, list[str]] = field(default_factory=dict)
    complete: int = 0
    notes: list[str] = field(default_factory=list)


async def _send_to_all(
    bot: ExtBot[Any], services: Services, run: _Run, digest: Digest, facilitators: list[tuple[int, str]]
) -> _Outcome:
    bundles: dict[str, DigestBundle] = {}
    outcome = _Outcome()
    for chat_id, lang in facilitators:
        if lang not in bundles:
            bundles[lang] = await asyncio.to_thread(
                render_bundle, digest, services.catalog, lang, weekly=run.weekly
            )
        result = await send_digest(
            bot,
            services.catalog,
            chat_id=chat_id,
            lang=lang,
            bundle=bundles[lang],
            process_id=run.process_id,
            parts=None if run.unsent is None else run.unsent[chat_id],
        )
        # A part that may have arrived is sent once more, on the first retry only.
        parts = result.unsent + (result.doubtful if run.unsent is None else [])
        if parts and not result.blocked:
            outcome.again[chat_id] = parts
        outcome.complete += result.complete
        outcome.notes.extend(result.notes)
    return outcome


async def _note_unsent(
    session: AsyncSession, run_id: int, unsent: dict[int, list[str]], *, now: datetime
) -> None:
    run = await session.get(DigestRun, run_id)
    if run is None:
        return
    run.unsent = json.dumps({str(chat): parts for chat, parts in unsent.items()}) if unsent else None
    run.retry_at = now + DIGEST_RETRY if unsent else None


async def _resend_unsent(services: Services, bot: ExtBot[Any], now: datetime) -> None:
    """Weekly runs with parts that did not get through, whose pause is over: send those parts."""

    async def claim(session: AsyncSession) -> list[_Run]:
        rows = await session.scalars(
            select(DigestRun).where(DigestRun.unsent.is_not(None), DigestRun.retry_at <= now)
        )
        runs = []
        for row in rows:
            row.retry_at = now + DIGEST_RETRY  # taken: another tick leaves it alone
            row.retries += 1
            unsent = {int(chat): list(parts) for chat, parts in json.loads(row.unsent or "{}").items()}
            runs.append(
                _Run(
                    row.id,
                    row.process_id,
                    row.period_start,
                    row.period_end,
                    row.created_at,
                    row.retries,
                    unsent,
                    weekly=row.trigger == "weekly",
                )
            )
        return runs

    for run in await services.db.run(claim):
        try:
            await _deliver(bot, services, run, now)
        except Exception:
            log.exception("sending again the %s of process %d failed", run.name, run.process_id)


async def send_again_later(
    services: Services, *, run_id: int, chat_id: int, sent: DigestSent, now: datetime
) -> bool:
    """A ``/digest`` that did not all get through: its missing parts (and, once, those that may have
    arrived) go again with the weekly retries. False when nothing is to be sent again."""
    parts = [] if sent.blocked else sent.unsent + sent.doubtful
    if not parts:
        return False
    await services.db.run(lambda session: _note_unsent(session, run_id, {chat_id: parts}, now=now))
    return True


async def _tell_given_up(
    bot: ExtBot[Any], services: Services, missing: dict[int, list[str]], languages: dict[int, str]
) -> None:
    """One line to each chat a ``/digest`` still misses parts of after the last try."""
    for chat_id in missing:
        text = services.catalog.t(languages.get(chat_id, "fi"), "sends.digest_given_up")
        try:
            await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as error:
            log.warning("could not say a /digest stayed incomplete: %s", type(error).__name__)
