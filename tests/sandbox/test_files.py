"""Uploads, getFile and downloads work both ways, as PTB uses them."""

from __future__ import annotations

import io

from PIL import Image
from telegram import InputFile, Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from sandbox import BotApiSandbox
from tests.sandbox.conftest import polling


async def test_send_document_multipart_arrives_with_bytes(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(2001)
    content = "nimi;organisaatio\nAino;Kunta\nÄäni;Seurakunta\n".encode()
    async with app:
        sent = await app.bot.send_document(
            aino.id,
            InputFile(content, filename="osallistujat.csv"),
            caption="<b>Vienti</b> valmis",
            parse_mode="HTML",
        )
        fetched = await (await app.bot.get_file(sent.document.file_id)).download_as_bytearray()

    request = sandbox.calls("sendDocument")[0]
    assert request.files == {"document": ("osallistujat.csv", content)}
    assert request.params["caption"] == "<b>Vienti</b> valmis"
    assert sent.document.file_name == "osallistujat.csv"
    assert sent.document.file_size == len(content)
    assert sent.caption == "Vienti valmis"
    assert sent.caption_entities[0].type == "bold"
    assert bytes(fetched) == content
    assert aino.last_message is not None
    assert aino.last_message["document"]["file_id"] == sent.document.file_id


async def test_document_can_be_resent_by_file_id(sandbox: BotApiSandbox, app: Application) -> None:
    aino, eero = sandbox.user(2002), sandbox.user(2003, first_name="Eero")
    async with app:
        first = await app.bot.send_document(aino.id, InputFile(b"x", filename="a.txt"))
        again = await app.bot.send_document(eero.id, first.document.file_id)

    assert again.document.file_id == first.document.file_id
    assert sandbox.calls("sendDocument")[1].files == {}


async def test_users_document_is_downloadable_via_get_file(sandbox: BotApiSandbox, app: Application) -> None:
    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.document is not None
        data = await (await update.message.document.get_file()).download_as_bytearray()
        await update.message.reply_text(f"{update.message.document.file_name}: {data.decode()}")

    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    aino = sandbox.user(2004)
    async with polling(app):
        await aino.send_document(
            b"programme: 5 workshops", "ohjelma.yaml", "application/yaml", caption="Uusi"
        )
        reply = await aino.next_message()

    assert reply["text"] == "ohjelma.yaml: programme: 5 workshops"


async def test_send_photo_upload_reports_sizes(sandbox: BotApiSandbox, app: Application) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(buffer, "PNG")
    aino = sandbox.user(2005)
    async with app:
        sent = await app.bot.send_photo(aino.id, buffer.getvalue(), caption="Kaavio")
        largest = await (await app.bot.get_file(sent.photo[-1].file_id)).download_as_bytearray()

    assert (sent.photo[-1].width, sent.photo[-1].height) == (640, 480)
    assert max(sent.photo[0].width, sent.photo[0].height) == 90
    assert bytes(largest) == buffer.getvalue()
    assert aino.last_message is not None and aino.last_message["caption"] == "Kaavio"


async def test_users_media_have_file_ids_the_bot_can_fetch(sandbox: BotApiSandbox, app: Application) -> None:
    received: list[bytes] = []

    async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        assert message is not None
        media = message.photo[-1] if message.photo else message.effective_attachment
        file = await media.get_file()  # type: ignore[union-attr]
        received.append(bytes(await file.download_as_bytearray()))
        await message.reply_text("ok")

    app.add_handler(
        MessageHandler(filters.PHOTO | filters.VOICE | filters.VIDEO | filters.VIDEO_NOTE, on_media)
    )
    aino = sandbox.user(2006)
    async with polling(app):
        await aino.send_photo(caption="Jono kirjastossa")
        await aino.send_voice()
        await aino.send_video(caption="Video")
        await aino.send_video_note()
        for _ in range(4):
            await aino.next_message()

    assert len(received) == 4
    with Image.open(io.BytesIO(received[0])) as image:
        assert image.size == (4, 3)
    assert all(received)
