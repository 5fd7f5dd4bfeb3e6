"""What the sandbox's Telegram knows: chats and their messages, users who blocked the bot, files and
callback queries. Method handlers and the users' side read and change it; it does no I/O."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.media import image_size
from sandbox.protocol import BOT_FIRST_NAME, BOT_ID, BOT_USERNAME, ApiError, Params

if TYPE_CHECKING:
    from sandbox.users import ChatLog, SimulatedUser

_FILE_DIRECTORIES = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
    "video": ("videos", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
}
_FILE_ID_PREFIXES = {
    "photo": "AgACAgQAAxkBAAI",
    "document": "BQACAgQAAxkBAAI",
    "voice": "AwACAgQAAxkBAAI",
    "audio": "CQACAgQAAxkBAAI",
    "video": "BAACAgQAAxkBAAI",
    "video_note": "DQACAgQAAxkBAAI",
    "sticker": "CAACAgQAAxkBAAI",
}


@dataclass
class StoredFile:
    """A file the sandbox can hand out through getFile and the download route."""

    file_id: str
    file_unique_id: str
    file_path: str
    kind: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[dict[str, Any]] | None = None

    @property
    def file_size(self) -> int:
        return len(self.data)


@dataclass
class StoredMessage:
    api: dict[str, Any]
    from_bot: bool
    extra_markup: dict[str, Any] | None = None


@dataclass
class ChatState:
    chat: dict[str, Any]
    log: ChatLog
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class CallbackQuery:
    user: SimulatedUser
    created: float
    answered: bool = False


def quoted(stored: StoredMessage) -> dict[str, Any]:
    """A message as a reply carries it: without the message it replied to in turn."""
    message = dict(stored.api)
    message.pop("reply_to_message", None)
    return message


class State:
    """Chats, files and callback queries of one bot's world."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.bot_user: dict[str, Any] = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, SimulatedUser] = {}
        self.blocked: set[int] = set()
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self._file_serial = 0
        self._serial = 0

    def now(self) -> int:
        return int(self.clock())

    def next_serial(self) -> int:
        """A number unique among callback query and poll ids."""
        self._serial += 1
        return self._serial

    def chat_state(self, params: Params) -> ChatState:
        """The chat named by ``chat_id`` (a number or ``@username``), as Telegram resolves it."""
        chat_id = params.get("chat_id")
        state: ChatState | None = None
        if isinstance(chat_id, bool):
            state = None
        elif isinstance(chat_id, int):
            state = self.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            username = chat_id[1:].lower()
            state = next(
                (s for s in self.chats.values() if str(s.chat.get("username", "")).lower() == username), None
            )
        if state is None:
            raise ApiError(400, "Bad Request: chat not found")
        return state

    def new_callback_query(self, user: SimulatedUser) -> str:
        query_id = str(4_200_000_000_000_000_000 + self.next_serial())
        self.callback_queries[query_id] = CallbackQuery(user=user, created=time.monotonic())
        return query_id

    def sample_serial(self) -> int:
        """The serial the next registered file gets (sample contents differ per file)."""
        return self._file_serial + 1

    def register_file(
        self, kind: str, data: bytes, *, file_name: str | None = None, mime_type: str | None = None
    ) -> StoredFile:
        self._file_serial += 1
        serial = self._file_serial
        directory, suffix = _FILE_DIRECTORIES.get(kind, ("documents", ""))
        if kind == "document" and file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{_FILE_ID_PREFIXES.get(kind, 'BQACAgQAAxkBAAI')}{serial:06d}sbx{kind}",
            file_unique_id=f"AgAD{serial:06d}",
            file_path=f"{directory}/file_{serial}{suffix}",
            kind=kind,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        if kind == "photo":
            stored.photo_sizes = _photo_sizes(stored)
            self.files[f"{stored.file_id}s"] = stored
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored


def _photo_sizes(stored: StoredFile) -> list[dict[str, Any]]:
    """A thumbnail (at most 90 px) and the photo itself, as Telegram lists a photo's sizes."""
    width, height = image_size(stored.data) or (800, 600)
    scale = min(1.0, 90 / max(width, height))
    return [
        {
            "file_id": f"{stored.file_id}s",
            "file_unique_id": f"{stored.file_unique_id}s",
            "file_size": stored.file_size,
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
        },
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "width": width,
            "height": height,
        },
    ]
