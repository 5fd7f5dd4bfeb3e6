"""/programme: the active process's programme as a YAML file, and a YAML file sent back replaces it."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Ctx, Services
from bot.domain.programme import ProcessFileError, dump_process, parse_process
from bot.render.facilitator import problems_text
from bot.render.rehearsal import budget_warning
from bot.services import outbox
from handlers import inbox
from handlers.callbacks import ProgrammeDownload
from handlers.common import Facilitating, answer_callback, keyboard, reply, require_facilitator
from handlers.facilitator import refusal
from handlers.flows import Out
from storage.models import Process

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 1_000_000
YAML_DOCUMENT = (
    filters.Document.FileExtension("yaml")
    | filters.Document.FileExtension("yml")
    | filters.Document.MimeType("application/x-yaml")
    | filters.Document.MimeType("application/yaml")
    | filters.Document.MimeType("text/yaml")
    | filters.Document.MimeType("text/x-yaml")
)


def programme_file_name(svc: Services, lang: str, process: Process) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", process.name.lower().translate(str.maketrans("äöåé", "aoae"))).strip(
        "-"
    )
    return f"{slug[:40] or 'valitupa'}-{svc.catalog.plain(lang, 'programme_chat.file_suffix')}.yaml"


@dataclass(frozen=True)
class ProgrammeFile:
    caption: str
    document: str | None
    """The YAML text to send, or None when only the caption (a refusal, a problem) goes out."""
    file_name: str = ""


async def on_programme(update: Update, context: Ctx) -> None:
    """Send the current programme as a YAML document to edit and send back."""
    svc = context.services
    now = svc.clock.now()

    @dataclass(frozen=True)
    class Stored:
        lang: str
        process_id: int
        name: str
        source: str
        file_name: str

    async def work(session: AsyncSession) -> Stored | str:
        access = await require_facilitator(session, update, now)
        lang = access.sender.lang
        if not isinstance(access, Facilitating):
            return refusal(svc, lang).text
        process = access.process
        return Stored(
            lang, process.id, process.name, process.source_yaml, programme_file_name(svc, lang, process)
        )

    stored = await svc.db.run(work)
    if isinstance(stored, str):
        result = ProgrammeFile(stored, None)
    else:
        lang = stored.lang
        try:
            # Parsed and written out in a worker thread, outside the unit of work: a large file
            # keeps neither the event loop nor a database connection.
            document = await asyncio.to_thread(
                lambda: dump_process(parse_process(stored.source, source=stored.name), catalog=svc.catalog)
            )
        except (ProcessFileError, ValueError, KeyError) as error:
            log.warning(
                "the stored programme of process %d cannot be read: %s",
                stored.process_id,
                type(error).__name__,
            )
            document = None
        caption = (
            svc.t(lang, "programme_chat.caption", process=stored.name)
            if document is not None
            else svc.t(lang, "programme_chat.source_broken")
        )
        result = ProgrammeFile(caption, document, stored.file_name)
    message = update.effective_message
    if result.document is None or message is None:
        await reply(update, result.caption)
        return
    await message.reply_document(
        document=result.document.encode("utf-8"),
        filename=result.file_name,
        caption=result.caption,
        parse_mode=ParseMode.HTML,
    )


async def on_programme_download(update: Update, context: Ctx) -> None:
    await answer_callback(update)
    await on_programme(update, context)


@dataclass(frozen=True)
class Uploader:
    lang: str
    process_id: int | None


async def _download(update: Update, context: Ctx, lang: str) -> str | None:
    """The uploaded file as text, or None after telling the facilitator why it cannot be read."""
    svc = context.services
    message = update.effective_message
    document = message.document if message is not None else None
    assert document is not None
    if document.file_size is not None and document.file_size > MAX_UPLOAD_BYTES:
        await reply(update, svc.t(lang, "programme_chat.too_big", limit=MAX_UPLOAD_BYTES // 1000))
        return None
    try:
        telegram_file = await context.bot.get_file(document.file_id)
        content = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as error:
        log.warning("could not download an uploaded programme: %s", type(error).__name__)
        await reply(update, svc.t(lang, "programme_chat.unreadable"))
        return None
    if len(content) > MAX_UPLOAD_BYTES:  # Telegram did not say the size beforehand
        await reply(update, svc.t(lang, "programme_chat.too_big", limit=MAX_UPLOAD_BYTES // 1000))
        return None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await reply(update, svc.t(lang, "programme_chat.unreadable"))
        return None


async def on_document(update: Update, context: Ctx) -> None:
    """A YAML file from a facilitator replaces the programme; anyone else's file is captured as usual."""
    svc = context.services
    message = update.effective_message
    document = message.document if message is not None else None
    now = svc.clock.now()

    async def check(session: AsyncSession) -> Uploader:
        access = await require_facilitator(session, update, now)
        process_id = access.process.id if isinstance(access, Facilitating) else None
        return Uploader(access.sender.lang, process_id)

    uploader = await svc.db.run(check)
    lang = uploader.lang
    if uploader.process_id is None or document is None or message is None:
        await inbox.on_message(update, context)
        return
    text = await _download(update, context, lang)
    if text is None:
        return
    try:
        # A facilitator's file can be large: parsing it in a worker thread keeps everyone else's
        # messages answered meanwhile.
        spec = await asyncio.to_thread(parse_process, text, source=document.file_name or "upload")
    except ProcessFileError as error:
        await reply(update, problems_text(svc.catalog, lang, error))
        return
    # Saved anyway: a heavy week is the facilitator's call, named so they can make it.
    warning = budget_warning(svc.catalog, lang, spec, chat=True)

    async def apply(session: AsyncSession) -> Out:
        access = await require_facilitator(session, update, now)
        lang = access.sender.lang
        if not isinstance(access, Facilitating) or access.process.id != uploader.process_id:
            return refusal(svc, lang)
        process = access.process
        change = await outbox.replace_programme(session, process, spec, text, now)
        replaced = svc.t(
            lang,
            "programme_chat.replaced",
            process=process.name,
            added=len(change.added),
            changed=len(change.changed),
            removed=len(change.removed),
            planned=change.plan.planned,
        )
        return Out(
            f"{replaced}\n\n{warning}" if warning else replaced,
            keyboard(
                [[(svc.catalog.plain(lang, "programme_chat.button.download"), ProgrammeDownload().encode())]]
            ),
        )

    out = await svc.db.run(apply)
    await reply(update, out.text, out.markup)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("programme", on_programme, filters=private))
    app.add_handler(CallbackQueryHandler(on_programme_download, pattern=ProgrammeDownload.pattern()))
    # Before capture's catch-all for documents: a facilitator's YAML file is a new programme.
    app.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE & YAML_DOCUMENT, on_document))
