"""The weekly digest: each process's facilitators get it at the time its process file sets.

:func:`run_due_digests` is a leader duty (:mod:`bot.jobs.duties`) and also runs once at
start-up, so a digest that fell due while the bot was down goes out then: once, covering everything
since the last one, however many weeks were missed (:func:`bot.domain.timing.latest_due_digest`).

A weekly run is claimed before anything is sent, by inserting its :class:`DigestRun` (unique per
process and due instant) and moving ``Process.last_digest_at`` in the same unit of work. A second
instance, or a tick racing the start-up run, fails that insert and sends nothing: a facilitator may
miss a digest if the bot dies mid-send, but never gets the same week twice.

:func:`send_digest` is the one way a digest reaches a chat (weekly, ``/digest``): the summary messages,
the chart and the HTML document with an export button.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
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
from bot.render.digest_html import html_document
from bot.render.digest_telegram import telegram_messages
from bot.render.labels import Labels, digest_filename
from bot.services.digest import build_digest, record_run
from bot.services.people import facilitators_to_tell
from messages import Catalog, normalise_language
from storage.models import Process

__all__ = ["DigestBundle", "DueDigest", "due_digests", "render_bundle", "run_due_digests", "send_digest"]

log = logging.getLogger(__name__)


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


async def send_digest(
    bot: ExtBot[Any], catalog: Catalog, *, chat_id: int, lang: str, bundle: DigestBundle, process_id: int
) -> None:
    """The summary, the chart and the HTML document (with an export button) to one chat."""
    for text in bundle.messages:
        await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True)
    if bundle.chart is not None:
        await bot.send_photo(
            chat_id,
            photo=bundle.chart,
            caption=catalog.t(lang, "report.caption.chart"),
            parse_mode=ParseMode.HTML,
        )
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


async def _claim(services: Services, item: DueDigest, now: datetime) -> bool:
    async def work(session: AsyncSession) -> None:
        await record_run(
            session,
            process_id=item.process_id,
            trigger="weekly",
            start=item.start,
            end=item.due_at,
            now=now,
            due_at=item.due_at,
        )

    try:
        await services.db.run(work)
    except IntegrityError:
        return False
    return True


async def _facilitators(session: AsyncSession, process_id: int) -> list[tuple[int, str]]:
    return [
        (contact.chat_id, normalise_language(contact.language))
        for contact in await facilitators_to_tell(session, process_id)
    ]


async def run_due_digests(services: Services, bot: ExtBot[Any], now: datetime) -> int:
    """Send every weekly digest owed at ``now``; returns how many processes got one."""
    sent = 0
    for item in await services.db.run(lambda session: due_digests(session, now=now)):
        if not await _claim(services, item, now):
            continue
        services.metrics.digests.labels(trigger="weekly").inc()
        try:
            await _deliver(bot, services, item, now)
        except Exception:
            log.exception("the weekly digest of process %d failed", item.process_id)
            continue
        sent += 1
    return sent


async def _deliver(bot: ExtBot[Any], services: Services, item: DueDigest, now: datetime) -> None:
    async def work(session: AsyncSession) -> tuple[Digest | None, list[tuple[int, str]]]:
        digest = await build_digest(
            session, process_id=item.process_id, start=item.start, end=item.due_at, now=now
        )
        return digest, await _facilitators(session, item.process_id)

    digest, facilitators = await services.db.run(work)
    if digest is None or digest.participation.participants == 0:
        # Nobody has joined yet: a weekly "nothing happened" would only teach facilitators to ignore it.
        return
    bundles: dict[str, DigestBundle] = {}
    for chat_id, lang in facilitators:
        if lang not in bundles:
            bundles[lang] = await asyncio.to_thread(
                render_bundle, digest, services.catalog, lang, weekly=True
            )
        try:
            await send_digest(
                bot,
                services.catalog,
                chat_id=chat_id,
                lang=lang,
                bundle=bundles[lang],
                process_id=item.process_id,
            )
        except Forbidden:
            log.info("a facilitator of process %d has blocked the bot; digest not delivered", item.process_id)
        except TelegramError as error:
            log.warning(
                "could not deliver the digest of process %d: %s", item.process_id, type(error).__name__
            )
    log.info("weekly digest of process %d sent to %d facilitator(s)", item.process_id, len(facilitators))
