"""A facilitator's export, built in the background and sent to their chat when it is ready.

:func:`start_export` is what a command, a button or the facilitator's room calls: it starts the work
as a task of the Application (so a stop waits for it and an error reaches the error handler) and
returns at once, so the bot keeps answering everyone, the facilitator included, while the files are
written. The heavy part runs in worker threads between short units of work that read a batch each
(:func:`bot.services.export.write_export`). At most one export per chat is built at a time; asking
again meanwhile is answered with "already on its way".
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.constants import ChatAction
from telegram.ext import Application

from bot.context import Services, services_of
from bot.jobs.outgoing import show_action
from bot.services import export

__all__ = ["deliver_export", "start_export"]

log = logging.getLogger(__name__)


async def deliver_export(
    bot: Bot, svc: Services, *, chat_id: int, lang: str, process_id: int, now: datetime
) -> None:
    """Write the export in a scratch directory and send the workbook, then a ZIP of CSV + JSON; the
    workbook's caption tells the facilitator it is ready."""
    await show_action(bot, chat_id, ChatAction.UPLOAD_DOCUMENT)
    with tempfile.TemporaryDirectory(prefix="valitupa-export-") as scratch:
        directory = Path(scratch) / "export"
        # Short units of work of its own, batch by batch: the bot keeps the database meanwhile.
        result = await export.write_export(svc.db, process_id=process_id, directory=directory, now=now)
        if result is None:
            return
        local_day = now.astimezone(ZoneInfo(result.timezone)).date().isoformat()
        stem = f"{svc.catalog.plain(lang, 'report.file.export')}-{process_id}-{local_day}"
        archive = await asyncio.to_thread(export.zip_csv_json, result, Path(scratch) / f"{stem}.zip")
        await bot.send_document(
            chat_id,
            document=result.xlsx,
            filename=f"{stem}.xlsx",
            caption=f"{svc.t(lang, 'export.ready')}\n{svc.t(lang, 'report.caption.xlsx')}",
            parse_mode="HTML",
        )
        await bot.send_document(
            chat_id,
            document=archive,
            filename=archive.name,
            caption=svc.t(lang, "report.caption.zip"),
            parse_mode="HTML",
        )
    log.info("export of process %s sent (%s rows)", process_id, sum(result.rows.values()))


def start_export(
    application: Application,
    *,
    chat_id: int,
    lang: str,
    process_id: int,
    now: datetime,
    update: object | None = None,
) -> bool:
    """Start building and sending the export of ``process_id`` to ``chat_id``; ``False`` (and nothing
    started) when an export for that chat is still under way. The caller has checked that the chat
    is a facilitator's of the process."""
    svc = services_of(application.bot_data)
    running = svc.exports.get(chat_id)
    if running is not None and not running.done():
        return False
    task: asyncio.Task[None] = application.create_task(
        deliver_export(application.bot, svc, chat_id=chat_id, lang=lang, process_id=process_id, now=now),
        update=update,
        name=f"export-{process_id}",
    )
    svc.exports[chat_id] = task

    def forget(finished: asyncio.Task[None]) -> None:
        if svc.exports.get(chat_id) is finished:
            del svc.exports[chat_id]

    task.add_done_callback(forget)
    return True
