"""The room's export button: the bot sends the export files to the facilitator's own chat.

Telegram's WebViews handle downloads poorly, so nothing is downloaded in the room. The files are the
same as ``/export`` sends (a workbook and a ZIP of CSV and JSON), written in a scratch directory.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.context import Services
from bot.services import export
from bot.services.processes import get_process

log = logging.getLogger(__name__)


async def send_export(
    bot: Bot | Any, services: Services, *, chat_id: int, lang: str, process_id: int, now: datetime
) -> bool:
    """Write and send the export; a failure is one log line (the facilitator can press again)."""
    catalog = services.catalog
    try:
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
        with tempfile.TemporaryDirectory(prefix="valitupa-room-export-") as scratch:
            directory = Path(scratch) / "export"

            async def work(session: AsyncSession) -> tuple[export.ExportResult | None, str]:
                process = await get_process(session, process_id)
                result = await export.write_export(
                    session, process_id=process_id, directory=directory, now=now
                )
                return result, process.name if process is not None else ""

            result, name = await services.db.run(work)
            if result is None:
                return False
            local_day = now.astimezone(ZoneInfo(result.timezone)).date().isoformat()
            stem = f"{catalog.plain(lang, 'report.file.export')}-{process_id}-{local_day}"
            archive = await asyncio.to_thread(export.zip_csv_json, result, Path(scratch) / f"{stem}.zip")
            await bot.send_document(
                chat_id,
                document=result.xlsx,
                filename=f"{stem}.xlsx",
                caption=catalog.t(lang, "room.export_sent", process=name),
                parse_mode=ParseMode.HTML,
            )
            await bot.send_document(
                chat_id,
                document=archive,
                filename=archive.name,
                caption=catalog.t(lang, "report.caption.zip"),
                parse_mode=ParseMode.HTML,
            )
    except TelegramError as error:
        log.warning("could not send the room's export of process %d: %s", process_id, type(error).__name__)
        return False
    return True
