"""A real PTB Application runs against the sandbox with long polling."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from sandbox import BOT_USERNAME, BotApiSandbox
from tests.sandbox.conftest import polling


async def test_polling_app_receives_command_and_replies(sandbox: BotApiSandbox, app: Application) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.effective_user is not None
        name = update.effective_user.first_name
        await update.message.reply_html(f"Hei <b>{name}</b>! Koodi: {' '.join(context.args or [])}")

    app.add_handler(CommandHandler("start", start))
    aino = sandbox.user(1001, first_name="Aino")

    async with polling(app):
        await aino.start("abc123")
        reply = await aino.next_message()

    assert reply["kind"] == "sent"
    assert reply["text"] == "Hei Aino! Koodi: abc123"
    assert reply["entities"] == [{"type": "bold", "offset": 4, "length": 4}]
    assert reply["from"]["username"] == BOT_USERNAME
    assert aino.messages == [aino.last_message]
    assert sandbox.calls("getMe")


async def test_callback_press_is_answered_and_message_edited(
    sandbox: BotApiSandbox, app: Application
) -> None:
    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = [
            [
                InlineKeyboardButton("Kyllä", callback_data="yes"),
                InlineKeyboardButton("Ei", callback_data="no"),
            ]
        ]
        await update.message.reply_text("Jatketaanko?", reply_markup=InlineKeyboardMarkup(keyboard))

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"Valitsit {query.data}")
        await query.edit_message_text(f"Vastaus: {query.data}")

    app.add_handler(CommandHandler("ask", ask))
    app.add_handler(CallbackQueryHandler(answer))
    aino = sandbox.user(1002)

    async with polling(app):
        await aino.send_command("ask")
        question = await aino.next_message()
        assert aino.buttons(question) == [("Kyllä", "yes"), ("Ei", "no")]
        query_id = await aino.press(question["message_id"], "yes")
        edited = await aino.next_message()
        answered = await aino.wait_callback_answer(query_id)

    assert answered["text"] == "Valitsit yes"
    assert aino.callback_answers == ["Valitsit yes"]
    assert edited["kind"] == "edited"
    assert edited["message_id"] == question["message_id"]
    assert edited["text"] == "Vastaus: yes"
    # Editing without reply_markup removes the inline keyboard, as on Telegram.
    assert aino.buttons(edited) == []
    assert aino.message(question["message_id"])["text"] == "Vastaus: yes"


async def test_press_button_by_label_and_stale_press_is_refused(
    sandbox: BotApiSandbox, app: Application
) -> None:
    seen: list[str | None] = []

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        seen.append(update.callback_query.data)
        await update.callback_query.answer()

    app.add_handler(CallbackQueryHandler(answer))
    aino = sandbox.user(1003)
    async with polling(app):
        await app.bot.send_message(
            aino.id,
            "Valitse",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
        )
        await aino.next_message()
        query_id = await aino.press_button("A")
        await aino.wait_callback_answer(query_id)
        with pytest.raises(LookupError):
            await aino.press(aino.messages[0]["message_id"], "zzz")

    assert seen == ["a"]
    assert aino.callback_answers == [None]


async def test_answering_a_callback_query_twice_is_too_old(sandbox: BotApiSandbox, app: Application) -> None:
    errors: list[str] = []

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("1")
        try:
            await update.callback_query.answer("2")
        except BadRequest as error:
            errors.append(error.message)

    app.add_handler(CallbackQueryHandler(answer))
    aino = sandbox.user(1004)
    async with polling(app):
        sent = await app.bot.send_message(
            aino.id, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
        )
        await aino.press(sent.message_id, "a")
        await sandbox.wait_until(lambda: len(sandbox.calls("answerCallbackQuery")) == 2)

    assert "Query is too old" in errors[0]
    assert aino.callback_answers == ["1"]


async def test_edits_and_errors_match_telegram(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(1005)
    async with app:
        sent = await app.bot.send_message(aino.id, "<b>Sama</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await app.bot.edit_message_text(
                "<b>Sama</b>", chat_id=aino.id, message_id=sent.message_id, parse_mode="HTML"
            )
        edited = await app.bot.edit_message_text("Sama", chat_id=aino.id, message_id=sent.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await app.bot.edit_message_text("x", chat_id=aino.id, message_id=999)
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await app.bot.send_message(777, "kuka?")
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await app.bot.send_message(aino.id, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await app.bot.send_message(aino.id, "  ")
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag .script."):
            await app.bot.send_message(aino.id, "<script>", parse_mode="HTML")
        await app.bot.delete_message(aino.id, sent.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await app.bot.delete_message(aino.id, sent.message_id)

    assert isinstance(edited, object)
    assert aino.deleted_message_ids == [sent.message_id]
    assert aino.messages == []
    assert [e["kind"] for e in aino.drain()] == ["sent", "edited"]
    # The three requests Telegram would reject for their content are violations; the rest are runtime errors.
    assert sandbox.take_violations() == [
        "sendMessage: text: 4097 UTF-16 code units after entity parsing, limit is 4096",
        "sendMessage: text: must not be empty after entity parsing",
        'sendMessage: text: can\'t parse entities: Unsupported start tag "script" at byte offset 0',
    ]
    assert sandbox.stats["400"] == 7


async def test_reply_keyboard_is_shown_to_the_user_but_not_echoed(
    sandbox: BotApiSandbox, app: Application
) -> None:
    aino = sandbox.user(1006)
    async with app:
        keyboard = ReplyKeyboardMarkup(
            [[KeyboardButton("Kunta"), KeyboardButton("Seurakunta")]], one_time_keyboard=True
        )
        sent = await app.bot.send_message(aino.id, "Organisaatio?", reply_markup=keyboard)
        assert sent.reply_markup is None
        assert aino.reply_keyboard is not None
        assert aino.last_message is not None
        assert aino.last_message["reply_markup"]["keyboard"][0][1]["text"] == "Seurakunta"
        await app.bot.send_message(aino.id, "Kiitos", reply_markup=ReplyKeyboardRemove())
        assert aino.reply_keyboard is None


async def test_edited_message_reaches_the_bot(sandbox: BotApiSandbox, app: Application) -> None:
    edits: list[str] = []

    async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.edited_message is not None and update.edited_message.text is not None
        edits.append(update.edited_message.text)
        await update.edited_message.reply_text("Päivitetty")

    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edit))
    aino = sandbox.user(1007)
    async with polling(app):
        original = await aino.send_text("Havainto: kirjasto kiinni")
        await aino.edit_text(original["message_id"], "Havainto: kirjasto auki")
        reply = await aino.next_message()

    assert reply["text"] == "Päivitetty"
    assert edits == ["Havainto: kirjasto auki"]


async def test_reply_to_a_bot_message_carries_it(sandbox: BotApiSandbox, app: Application) -> None:
    replied_to: list[int] = []

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.reply_to_message is not None
        replied_to.append(update.message.reply_to_message.message_id)
        await update.message.reply_text("Tallennettu vastauksena")

    app.add_handler(MessageHandler(filters.TEXT & filters.REPLY, on_text))
    aino = sandbox.user(1008)
    async with polling(app):
        prompt = await app.bot.send_message(aino.id, "Mitä huomasit tällä viikolla?")
        await aino.send_text("Jonot neuvolaan", reply_to_message_id=prompt.message_id)
        assert (await aino.next_message())["text"] == prompt.text
        assert (await aino.next_message())["text"] == "Tallennettu vastauksena"

    assert replied_to == [prompt.message_id]


async def test_group_messages_and_replies(sandbox: BotApiSandbox, app: Application) -> None:
    async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None and update.message is not None
        assert update.effective_chat.type == "supergroup"
        await update.message.reply_text("Kooste tulossa")

    app.add_handler(CommandHandler("digest", digest))
    group = sandbox.group(-1001234567890, title="Fasilitaattorit")
    aino = sandbox.user(1009)
    async with polling(app):
        await aino.send_in_group(group.chat_id, f"/digest@{BOT_USERNAME}", command=True)
        reply = await group.next_message()

    assert reply["text"] == "Kooste tulossa"
    assert reply["chat"]["title"] == "Fasilitaattorit"
    assert reply["reply_to_message"]["from"]["id"] == aino.id


async def test_commands_are_stored_by_scope_and_language(sandbox: BotApiSandbox, app: Application) -> None:
    from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat, MenuButtonCommands

    async with app:
        await app.bot.set_my_commands(
            [BotCommand("start", "Aloita")], scope=BotCommandScopeAllPrivateChats(), language_code="fi"
        )
        await app.bot.set_my_commands([BotCommand("digest", "Kooste")], scope=BotCommandScopeChat(1010))
        await app.bot.set_chat_menu_button(menu_button=MenuButtonCommands())
        fetched = await app.bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="fi")
        assert await app.bot.get_my_commands() == ()
        await app.bot.delete_my_commands(scope=BotCommandScopeChat(1010))

    assert [c.command for c in fetched] == ["start"]
    assert sandbox.commands({"type": "all_private_chats"}, "fi") == [
        {"command": "start", "description": "Aloita"}
    ]
    assert sandbox.commands({"type": "chat", "chat_id": 1010}) == []
    assert sandbox.menu_buttons[None] == {"type": "commands"}


async def test_long_poll_wakes_on_a_new_update(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(1011)
    async with app:
        # A poll that would wait an hour: it can only return with the message if the message woke it.
        poll = asyncio.create_task(app.bot.get_updates(timeout=3600, read_timeout=3700))
        await sandbox.wait_until(lambda: sandbox.stats["long_polls"] == 1)
        await aino.send_text("moi")
        updates = await poll
        await app.bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)

    assert [u.message.text for u in updates if u.message] == ["moi"]
    assert sandbox.pending_update_count == 0


async def test_allowed_updates_filter_new_updates(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(1012)
    async with app:
        await app.bot.get_updates(timeout=0, allowed_updates=["callback_query"])
        await aino.send_text("ei näy")
        assert await app.bot.get_updates(timeout=0) == ()
        await app.bot.get_updates(timeout=0, allowed_updates=[])
        await aino.send_text("näkyy")
        updates = await app.bot.get_updates(timeout=0)

    assert [u.message.text for u in updates if u.message] == ["näkyy"]
    assert sandbox.stats["updates_filtered"] == 1


async def test_second_poller_terminates_the_first(sandbox: BotApiSandbox) -> None:
    url = f"{sandbox.base_url}{sandbox.token}/getUpdates"
    async with aiohttp.ClientSession() as session:
        first = asyncio.create_task(session.post(url, json={"timeout": 10}))
        await sandbox.wait_until(lambda: sandbox.stats["long_polls"] == 1)
        async with session.post(url, json={"timeout": 0}) as second:
            assert (await second.json())["result"] == []
        async with await first as response:
            body = await response.json()

    assert response.status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")


async def test_unknown_field_is_answered_but_recorded(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(1013)
    async with app:
        await app.bot.send_message(aino.id, "hei", api_kwargs={"colour": "red"})
        with pytest.raises(TelegramError, match="not found"):
            await app.bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": aino.id})

    assert aino.last_message is not None and aino.last_message["text"] == "hei"
    assert sandbox.take_violations() == [
        "sendMessage: colour: unknown field for sendMessage",
        "sendTelepathy: unknown method 'sendTelepathy'",
    ]
    assert sandbox.stats["404"] == 1


async def test_next_message_times_out_with_a_clear_error(sandbox: BotApiSandbox) -> None:
    aino = sandbox.user(1014)
    with pytest.raises(TimeoutError, match="no new bot message in chat 1014"):
        await aino.next_message(timeout=0.05)
    with pytest.raises(TimeoutError, match="condition not met"):
        await sandbox.wait_until(lambda: False, timeout=0.05)
