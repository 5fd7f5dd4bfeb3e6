"""What every part of the sandbox shares: the bot's identity, Telegram's error answers, and the shape
of one Bot API call (its parameters and uploads) as the method handlers receive it."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

BOT_ID = 123456789
BOT_USERNAME = "valitupa_test_bot"
BOT_FIRST_NAME = "Välitupa"
SANDBOX_TOKEN = f"{BOT_ID}:AAHvalitupaSandboxToken0123456789ab"
TOKEN_PATTERN = re.compile(r"\d+:[A-Za-z0-9_-]{35}")

BLOCKED = "Forbidden: bot was blocked by the user"

Params = dict[str, Any]


class ApiError(Exception):
    """An error answer exactly as Telegram shapes it: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str
    data: bytes
    content_type: str | None = None


Handler = Callable[[Params, dict[str, Upload]], Awaitable[Any]]
MethodTable = dict[str, Handler]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
