"""The test's side of the sandbox: chats as a user sees them, and simulated users that act in them.

A :class:`ChatLog` collects what the bot showed in one chat (messages in their current state after
edits, plus an ordered stream of "sent"/"edited" events a test consumes with :meth:`ChatLog.next_message`).
A :class:`SimulatedUser` is a Telegram user in a private chat with the bot: each action builds the update
Telegram would build through :class:`UserSide`, which keeps the message in the sandbox's state and
queues the update for ``getUpdates`` or the webhook.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sandbox.events import Signal
from sandbox.formatting import utf16_len
from sandbox.media import sample_content
from sandbox.state import ChatState, State, StoredMessage, quoted

if TYPE_CHECKING:
    from sandbox.methods.updates import Updates

__all__ = ["ChatLog", "SimulatedUser", "UserSide"]

_LEADING_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")

Message = dict[str, Any]


def inline_buttons(message: Message | None) -> list[tuple[str, str | None]]:
    """Flatten an inline keyboard into ``(text, callback_data)`` pairs, row by row."""
    if not message:
        return []
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or []
    return [(button.get("text", ""), button.get("callback_data")) for row in rows for button in row]


class ChatLog:
    """What the bot has shown in one chat, kept for a test to read and wait on."""

    def __init__(self, chat: dict[str, Any], *, max_events: int = 10_000) -> None:
        self.chat = chat
        self._views: dict[int, Message] = {}
        self._events: deque[Message] = deque(maxlen=max_events)
        self._arrived = asyncio.Event()
        self.deleted_message_ids: list[int] = []
        self.chat_actions: list[str] = []
        self.reply_keyboard: dict[str, Any] | None = None
        self.sent_count = 0

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def messages(self) -> list[Message]:
        """The bot's messages in this chat, oldest first, as they look now (edits applied, deletions gone)."""
        return list(self._views.values())

    @property
    def last_message(self) -> Message | None:
        """The bot's most recent message still in the chat."""
        return next(reversed(self._views.values()), None)

    def message(self, message_id: int) -> Message:
        """The current state of one bot message (``KeyError`` if it never existed or was deleted)."""
        return self._views[message_id]

    def buttons(self, message: Message | int | None = None) -> list[tuple[str, str | None]]:
        """Inline buttons of a message (default: the last one) as ``(text, callback_data)`` pairs."""
        if isinstance(message, int):
            message = self._views.get(message)
        elif message is None:
            message = self.last_message
        return inline_buttons(message)

    @property
    def pending(self) -> int:
        """How many sent/edited events :meth:`next_message` has not handed out yet."""
        return len(self._events)

    def drain(self) -> list[Message]:
        """Consume and return every event not yet handed out (to skip chatter a test does not check)."""
        events = list(self._events)
        self._events.clear()
        return events

    async def next_message(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """Wait for the next bot message event in this chat and consume it.

        The result is a snapshot of the message with ``kind`` set to ``"sent"`` or ``"edited"``. Events
        queue up in order, so a test can send several updates and then read the replies one by one.
        The wait takes a ``timeout`` itself (rather than leaving it to ``asyncio.timeout``) so that the
        failure can say which chat stayed silent and what it showed last.
        """
        try:
            async with asyncio.timeout(timeout):
                while not self._events:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            last = self.last_message
            seen = repr(last.get("text", last.get("caption")))[:120] if last else "nothing"
            raise TimeoutError(
                f"no new bot message in chat {self.chat_id} within {timeout} s (last message: {seen})"
            ) from None
        return self._events.popleft()

    def publish(self, kind: str, view: Message) -> None:
        """Show a bot message (``kind``: "sent" or "edited") and queue it for :meth:`next_message`."""
        self._views[int(view["message_id"])] = view
        self._events.append({**view, "kind": kind})
        if kind == "sent":
            self.sent_count += 1
        self._arrived.set()

    def forget(self, message_id: int) -> None:
        """The bot deleted the message: it leaves the chat, its id is kept as deleted."""
        if self._views.pop(message_id, None) is not None:
            self.deleted_message_ids.append(message_id)


class SimulatedUser:
    """A Telegram user chatting privately with the bot; every action produces a real update."""

    def __init__(self, side: UserSide, user: dict[str, Any], log: ChatLog) -> None:
        self._side = side
        self.user = user
        self.log = log
        self.callback_answers: list[str | None] = []
        self.answered_callbacks: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"SimulatedUser(id={self.id}, first_name={self.user['first_name']!r})"

    @property
    def id(self) -> int:
        return int(self.user["id"])

    @property
    def chat(self) -> dict[str, Any]:
        return self.log.chat

    @property
    def blocked(self) -> bool:
        """Whether this user has blocked the bot (sends to the chat then answer 403)."""
        return self.id in self._side.state.blocked

    @property
    def messages(self) -> list[Message]:
        return self.log.messages

    @property
    def last_message(self) -> Message | None:
        return self.log.last_message

    @property
    def chat_actions(self) -> list[str]:
        return self.log.chat_actions

    @property
    def deleted_message_ids(self) -> list[int]:
        return self.log.deleted_message_ids

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        """The reply keyboard the bot currently shows this user, if any."""
        return self.log.reply_keyboard

    def message(self, message_id: int) -> Message:
        return self.log.message(message_id)

    def buttons(self, message: Message | int | None = None) -> list[tuple[str, str | None]]:
        return self.log.buttons(message)

    async def next_message(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        return await self.log.next_message(timeout)

    def drain(self) -> list[Message]:
        return self.log.drain()

    async def send_text(self, text: str, reply_to_message_id: int | None = None) -> Message:
        """Type and send a text message (a leading ``/command`` gets its ``bot_command`` entity)."""
        content: dict[str, Any] = {"text": text}
        command = _LEADING_COMMAND.match(text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        return await self._side.message(self, self.log, content, reply_to=reply_to_message_id)

    async def send(self, content: dict[str, Any], reply_to_message_id: int | None = None) -> Message:
        """Send a message with any content Telegram allows (a forward with ``forward_origin``, say);
        the sandbox adds the id, sender, chat and date."""
        return await self._side.message(self, self.log, content, reply_to=reply_to_message_id)

    async def send_command(self, command: str, args: str = "") -> Message:
        """Send ``/command args`` as Telegram clients do."""
        text = "/" + command.removeprefix("/")
        if args:
            text += " " + args
        return await self.send_text(text)

    async def start(self, payload: str = "") -> Message:
        """Open the bot, e.g. from a ``t.me/<bot>?start=<payload>`` link."""
        return await self.send_command("start", payload)

    async def _send_media(
        self,
        kind: str,
        caption: str | None,
        *,
        content: bytes | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Message:
        media = self._side.media(kind, content=content, file_name=file_name, mime_type=mime_type)
        if extra and kind != "photo":
            media.update(extra)
        message: dict[str, Any] = {kind: media}
        if caption is not None:
            message["caption"] = caption
        return await self._side.message(self, self.log, message)

    async def send_photo(self, caption: str | None = None, *, content: bytes | None = None) -> Message:
        """Send a photo (by default a tiny real JPEG); ``message["photo"]`` lists its sizes."""
        return await self._send_media("photo", caption, content=content, mime_type="image/jpeg")

    async def send_voice(self, caption: str | None = None, *, content: bytes | None = None) -> Message:
        return await self._send_media("voice", caption, content=content, mime_type="audio/ogg")

    async def send_video(self, caption: str | None = None, *, content: bytes | None = None) -> Message:
        return await self._send_media(
            "video", caption, content=content, file_name="video.mp4", mime_type="video/mp4"
        )

    async def send_video_note(self, *, content: bytes | None = None) -> Message:
        return await self._send_media("video_note", None, content=content)

    async def send_audio(self, caption: str | None = None, *, content: bytes | None = None) -> Message:
        return await self._send_media(
            "audio", caption, content=content, file_name="audio.mp3", mime_type="audio/mpeg"
        )

    async def send_document(
        self,
        content: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
    ) -> Message:
        """Send a file; the bot can fetch ``content`` back with getFile and a download."""
        return await self._send_media(
            "document", caption, content=content, file_name=file_name, mime_type=mime_type
        )

    async def send_sticker(self, emoji: str = "👍") -> Message:
        return await self._send_media("sticker", None, mime_type="image/webp", extra={"emoji": emoji})

    async def send_poll(
        self, question: str = "Kahvi vai tee?", options: tuple[str, ...] = ("Kahvi", "Tee")
    ) -> Message:
        poll = self._side.poll(question, options)
        return await self._side.message(self, self.log, {"poll": poll})

    async def send_location(self, latitude: float = 63.0667, longitude: float = 25.8667) -> Message:
        """Share a location (default: Viitasaari)."""
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        return await self._side.message(self, self.log, content)

    async def send_contact(
        self, phone_number: str = "+358401234567", first_name: str | None = None
    ) -> Message:
        contact = {
            "phone_number": phone_number,
            "first_name": first_name or self.user["first_name"],
            "user_id": self.id,
        }
        return await self._side.message(self, self.log, {"contact": contact})

    async def send_dice(self, emoji: str = "🎲", value: int = 4) -> Message:
        return await self._side.message(self, self.log, {"dice": {"emoji": emoji, "value": value}})

    async def edit_text(self, message_id: int, new_text: str) -> Message:
        """Edit one of this user's own text messages (the bot receives ``edited_message``)."""
        return await self._side.edit(self, self.log, message_id, new_text)

    async def press(
        self, message_id: int, callback_data: str, *, strict: bool = True, inaccessible: bool = False
    ) -> str:
        """Press an inline button on a bot message; returns the callback query id.

        With ``strict`` (the default) the message must currently show a button with that
        ``callback_data``, as in a real client; ``strict=False`` simulates a stale or forged press.
        ``inaccessible`` sends the message as Telegram does when it is too old for the bot to see
        (an ``InaccessibleMessage``: chat, id and ``date: 0``).
        """
        return await self._side.press(
            self, self.log, message_id, callback_data, strict=strict, inaccessible=inaccessible
        )

    async def press_button(self, text: str, message_id: int | None = None) -> str:
        """Press the inline button labelled ``text`` (on ``message_id``, or the newest message showing it)."""
        candidates = [self.log.message(message_id)] if message_id is not None else reversed(self.messages)
        for message in candidates:
            for label, data in inline_buttons(message):
                if label == text and data is not None:
                    return await self.press(int(message["message_id"]), data)
        raise LookupError(f"no inline button {text!r} with callback data in chat {self.id}")

    async def wait_callback_answer(self, query_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the bot answered the callback query; returns the answerCallbackQuery parameters."""
        await self._side.wait_until(lambda: query_id in self.answered_callbacks, timeout=timeout)
        return self.answered_callbacks[query_id]

    async def send_in_group(self, group_chat_id: int, text: str, command: bool = False) -> Message:
        """Post ``text`` in a supergroup the bot is in (created on first use)."""
        log = self._side.group(group_chat_id)
        content: dict[str, Any] = {"text": text}
        match = _LEADING_COMMAND.match(text)
        if command and not match:
            raise ValueError(f"{text!r} does not start with a /command")
        if match:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]
        return await self._side.message(self, log, content)

    async def block_bot(self) -> None:
        """Block the bot: later sends answer 403, and the bot gets a ``my_chat_member`` update."""
        await self._side.set_blocked(self, blocked=True)

    async def unblock_bot(self) -> None:
        """Unblock (restart) the bot: sends work again, and the bot gets a ``my_chat_member`` update."""
        await self._side.set_blocked(self, blocked=False)


class UserSide:
    """What users do in Telegram, turned into the updates Telegram would send the bot."""

    def __init__(self, state: State, updates: Updates, changed: Signal) -> None:
        self.state = state
        self.updates = updates
        self._changed = changed

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s") from None

    def user(
        self,
        user_id: int,
        first_name: str,
        language_code: str | None,
        last_name: str | None,
        username: str | None,
    ) -> SimulatedUser:
        """The simulated user with this id, created (with a private chat) on first call."""
        existing = self.state.users.get(user_id)
        if existing is not None:
            return existing
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        if last_name is not None:
            user["last_name"] = chat["last_name"] = last_name
        if username is not None:
            user["username"] = chat["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        state = ChatState(chat=chat, log=ChatLog(chat))
        self.state.chats[user_id] = state
        simulated = SimulatedUser(self, user, state.log)
        self.state.users[user_id] = simulated
        return simulated

    def group(self, chat_id: int, title: str = "Välitupa-ryhmä") -> ChatLog:
        """The supergroup with this (negative) id, created on first call."""
        state = self.state.chats.get(chat_id)
        if state is None:
            if chat_id >= 0:
                raise ValueError("group chat ids are negative (e.g. -1001234567890)")
            chat = {"id": chat_id, "type": "supergroup", "title": title}
            state = self.state.chats[chat_id] = ChatState(chat=chat, log=ChatLog(chat))
        return state.log

    async def message(
        self, user: SimulatedUser, log: ChatLog, content: dict[str, Any], *, reply_to: int | None = None
    ) -> Message:
        """A message from ``user`` in the chat of ``log``, optionally replying to one in that chat."""
        chat = self.state.chats[log.chat_id]
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": user.user,
            "chat": chat.chat,
            "date": self.state.now(),
        }
        if reply_to is not None:
            target = chat.messages.get(reply_to)
            if target is None:
                raise LookupError(f"no message {reply_to} in chat {log.chat_id} to reply to")
            message["reply_to_message"] = quoted(target)
        message.update(content)
        chat.messages[message["message_id"]] = StoredMessage(api=message, from_bot=False)
        keyboard = log.reply_keyboard
        if keyboard is not None and keyboard.get("one_time_keyboard") and "text" in content:
            log.reply_keyboard = None
        await self.updates.deliver("message", message)
        return message

    async def edit(self, user: SimulatedUser, log: ChatLog, message_id: int, new_text: str) -> Message:
        """The user edits one of their own text messages."""
        stored = self.state.chats[log.chat_id].messages.get(message_id)
        if stored is None or stored.from_bot or stored.api["from"]["id"] != user.id:
            raise LookupError(f"user {user.id} has no message {message_id} to edit")
        if "text" not in stored.api:
            raise LookupError(f"message {message_id} has no text to edit")
        message = {**stored.api, "text": new_text, "edit_date": self.state.now()}
        message.pop("entities", None)
        command = _LEADING_COMMAND.match(new_text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        stored.api = message
        await self.updates.deliver("edited_message", message)
        return message

    async def press(
        self,
        user: SimulatedUser,
        log: ChatLog,
        message_id: int,
        callback_data: str,
        *,
        strict: bool,
        inaccessible: bool = False,
    ) -> str:
        """The user presses an inline button of a bot message; returns the callback query id."""
        stored = self.state.chats[log.chat_id].messages.get(message_id)
        if stored is None or not stored.from_bot:
            raise LookupError(f"no bot message {message_id} in chat {log.chat_id}")
        if strict and callback_data not in {data for _, data in log.buttons(stored.api)}:
            raise LookupError(
                f"message {message_id} shows no button with callback_data {callback_data!r}; "
                f"it shows {log.buttons(stored.api)}"
            )
        query_id = self.state.new_callback_query(user)
        query = {
            "id": query_id,
            "from": user.user,
            "message": (
                {"chat": dict(stored.api["chat"]), "message_id": message_id, "date": 0}
                if inaccessible
                else dict(stored.api)
            ),
            "chat_instance": str(-7_000_000_000_000_000_000 - log.chat_id),
            "data": callback_data,
        }
        await self.updates.deliver("callback_query", query)
        return query_id

    def media(self, kind: str, *, content: bytes | None, file_name: str | None, mime_type: str | None) -> Any:
        """The media object of a file a user sends (a photo: its list of sizes), kept for getFile."""
        data = content if content is not None else sample_content(kind, self.state.sample_serial())
        stored = self.state.register_file(kind, data, file_name=file_name, mime_type=mime_type)
        if kind == "photo":
            assert stored.photo_sizes is not None
            return [dict(size) for size in stored.photo_sizes]
        media: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        media.update(_MEDIA_FIELDS.get(kind, {}))
        if kind in ("voice", "audio", "video", "document"):
            media["mime_type"] = mime_type
        if kind in ("audio", "video", "document"):
            media["file_name"] = file_name
        return {key: value for key, value in media.items() if value is not None}

    def poll(self, question: str, options: Iterable[str]) -> dict[str, Any]:
        return {
            "id": str(5_100_000_000_000_000_000 + self.state.next_serial()),
            "question": question,
            "options": [
                {"persistent_id": str(index), "text": text, "voter_count": 0}
                for index, text in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": True,
            "members_only": False,
        }

    async def set_blocked(self, user: SimulatedUser, *, blocked: bool) -> None:
        """The user blocks (or unblocks) the bot; the bot gets ``my_chat_member``."""
        if blocked:
            self.state.blocked.add(user.id)
        else:
            self.state.blocked.discard(user.id)
        bot_user = self.state.bot_user
        member = {"status": "member", "user": bot_user}
        kicked = {"status": "kicked", "user": bot_user, "until_date": 0}
        update = {
            "chat": user.chat,
            "from": user.user,
            "date": self.state.now(),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        await self.updates.deliver("my_chat_member", update)


_MEDIA_FIELDS: dict[str, dict[str, Any]] = {
    "voice": {"duration": 3},
    "audio": {"duration": 95, "performer": "Sandbox", "title": "Sample"},
    "video": {"width": 640, "height": 360, "duration": 5},
    "video_note": {"length": 240, "duration": 4},
    "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False},
}
