"""Sending, editing and deleting messages, answering callback queries, chat actions and getChat."""

from __future__ import annotations

import time
from typing import Any

from sandbox.faults import Faults
from sandbox.formatting import EntityParseError, FormattedText, parse_text, utf16_len
from sandbox.protocol import BLOCKED, ApiError, MethodTable, Params, Upload
from sandbox.state import ChatState, State, StoredMessage, quoted
from sandbox.validate import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, PARSE_MODES

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def inline_markup(markup: Any) -> dict[str, Any] | None:
    """The part of ``reply_markup`` Telegram keeps on a Message: a non-empty inline keyboard."""
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


def view(stored: StoredMessage) -> dict[str, Any]:
    """A bot message as the user sees it: the API object plus a reply keyboard it came with."""
    if stored.extra_markup is None or "reply_markup" in stored.api:
        return dict(stored.api)
    return {**stored.api, "reply_markup": stored.extra_markup}


class Messages:
    """The bot's messages in chats: the checks Telegram makes before a send, and what it keeps."""

    def __init__(self, state: State, faults: Faults, *, callback_query_ttl: float | None) -> None:
        self.state = state
        self.faults = faults
        self.callback_query_ttl = callback_query_ttl

    def register(self, table: MethodTable) -> None:
        table.update(
            {
                "getChat": self.get_chat,
                "sendMessage": self.send_message,
                "editMessageText": self.edit_message_text,
                "editMessageReplyMarkup": self.edit_message_reply_markup,
                "editMessageCaption": self.edit_message_caption,
                "deleteMessage": self.delete_message,
                "answerCallbackQuery": self.answer_callback_query,
                "sendChatAction": self.send_chat_action,
            }
        )

    def writable_chat(self, params: Params, *, rate_limited: bool) -> ChatState:
        """The target chat of a send or edit, after the checks Telegram makes before doing anything."""
        chat = self.state.chat_state(params)
        chat_id = int(chat.chat["id"])
        if chat_id in self.state.blocked:
            raise ApiError(403, BLOCKED)
        if rate_limited:
            self.faults.take_send(chat_id)
        return chat

    def format(self, params: Params, name: str) -> FormattedText:
        """Parse ``text``/``caption`` as Telegram does, raising the error Telegram would answer."""
        value = params.get(name)
        if value is None:
            return FormattedText(text="")
        if not isinstance(value, str):
            raise ApiError(400, f'Bad Request: field "{name}" must be of type String')
        parse_mode = params.get("parse_mode")
        explicit = params.get("entities" if name == "text" else f"{name}_entities")
        if parse_mode is not None and parse_mode not in PARSE_MODES and not explicit:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
        if explicit:
            formatted = parse_text(value, None)
            entities = explicit if isinstance(explicit, list) else []
            formatted = FormattedText(text=formatted.text, entities=entities)
        else:
            try:
                formatted = parse_text(value, parse_mode if isinstance(parse_mode, str) else None)
            except EntityParseError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        length = utf16_len(formatted.text)
        if name == "text":
            if length == 0:
                raise ApiError(400, "Bad Request: message text is empty")
            if length > MAX_TEXT_LENGTH:
                raise ApiError(400, "Bad Request: message is too long")
        elif length > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return formatted

    def base_message(self, chat: ChatState, params: Params) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": 0,
            "from": self.state.bot_user,
            "chat": chat.chat,
            "date": self.state.now(),
        }
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and isinstance(reply.get("message_id"), int):
            target = chat.messages.get(reply["message_id"])
            if target is not None:
                message["reply_to_message"] = quoted(target)
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        return message

    def store(self, chat: ChatState, message: dict[str, Any], markup: Any) -> dict[str, Any]:
        """Give the message its id, keep it, and show it in the chat log; returns the API form."""
        message["message_id"] = chat.next_message_id()
        inline = inline_markup(markup)
        if inline is not None:
            message["reply_markup"] = inline
        extra = markup if isinstance(markup, dict) and "inline_keyboard" not in markup else None
        stored = StoredMessage(api=message, from_bot=True, extra_markup=extra)
        chat.messages[message["message_id"]] = stored
        if extra is not None:
            if "keyboard" in extra:
                chat.log.reply_keyboard = extra
            elif extra.get("remove_keyboard"):
                chat.log.reply_keyboard = None
        chat.log.publish("sent", view(stored))
        return message

    @staticmethod
    def add_caption(message: dict[str, Any], formatted: FormattedText) -> None:
        if formatted.text:
            message["caption"] = formatted.text
            if formatted.entities:
                message["caption_entities"] = formatted.entities

    def _editable(self, params: Params) -> tuple[ChatState, StoredMessage]:
        if params.get("inline_message_id") is not None:
            raise ApiError(400, "Bad Request: message to edit not found")
        chat = self.writable_chat(params, rate_limited=False)
        message_id = params.get("message_id")
        stored = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not stored.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, stored

    def _replace(self, chat: ChatState, stored: StoredMessage, changes: dict[str, Any]) -> dict[str, Any]:
        message = {**stored.api, **changes, "edit_date": self.state.now()}
        for key in [k for k, v in message.items() if v is None]:
            del message[key]
        stored.api = message
        chat.log.publish("edited", view(stored))
        return message

    async def get_chat(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat = self.state.chat_state(params)
        return {
            **chat.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    async def send_message(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat = self.writable_chat(params, rate_limited=True)
        formatted = self.format(params, "text")
        message = self.base_message(chat, params)
        message["text"] = formatted.text
        if formatted.entities:
            message["entities"] = formatted.entities
        return self.store(chat, message, params.get("reply_markup"))

    async def edit_message_text(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat, stored = self._editable(params)
        if "text" not in stored.api:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        formatted = self.format(params, "text")
        markup = inline_markup(params.get("reply_markup"))
        current = stored.api
        if (
            formatted.text == current["text"]
            and formatted.entities == current.get("entities", [])
            and markup == current.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        changes = {"text": formatted.text, "entities": formatted.entities or None, "reply_markup": markup}
        return self._replace(chat, stored, changes)

    async def edit_message_caption(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat, stored = self._editable(params)
        if "text" in stored.api:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        formatted = self.format(params, "caption")
        markup = inline_markup(params.get("reply_markup"))
        current = stored.api
        if (
            formatted.text == current.get("caption", "")
            and formatted.entities == current.get("caption_entities", [])
            and markup == current.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        changes = {
            "caption": formatted.text or None,
            "caption_entities": formatted.entities or None,
            "reply_markup": markup,
        }
        return self._replace(chat, stored, changes)

    async def edit_message_reply_markup(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat, stored = self._editable(params)
        markup = inline_markup(params.get("reply_markup"))
        if markup == stored.api.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(chat, stored, {"reply_markup": markup})

    async def delete_message(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat = self.state.chat_state(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or chat.messages.pop(message_id, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        chat.log.forget(message_id)
        return True

    async def answer_callback_query(self, params: Params, uploads: dict[str, Upload]) -> bool:
        query_id = params.get("callback_query_id")
        query = self.state.callback_queries.get(query_id) if isinstance(query_id, str) else None
        if query is None or query.answered:
            raise ApiError(400, QUERY_TOO_OLD)
        ttl = self.callback_query_ttl
        if ttl is not None and time.monotonic() - query.created > ttl:
            raise ApiError(400, QUERY_TOO_OLD)
        query.answered = True
        assert isinstance(query_id, str)
        text = params.get("text")
        query.user.callback_answers.append(text if isinstance(text, str) else None)
        query.user.answered_callbacks[query_id] = dict(params)
        return True

    async def send_chat_action(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat = self.writable_chat(params, rate_limited=False)
        action = params.get("action")
        if isinstance(action, str):
            chat.log.chat_actions.append(action)
        return True
