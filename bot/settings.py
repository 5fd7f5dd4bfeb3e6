"""Settings: one typed object, read from the environment and ``.env`` once at start-up."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.timing import parse_duration

TOKEN_PATTERN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,64}$")
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

HINTS = {
    "BOT_TOKEN": "get one from @BotFather in Telegram (/newbot) and set BOT_TOKEN",
    "DATABASE_URL": "e.g. sqlite+aiosqlite:///valitupa.db or postgresql+asyncpg://user:pw@host/db",
    "ADMIN_USER_IDS": "a comma-separated list of numeric Telegram user ids, e.g. 12345,67890",
    "TIMEZONE": "an IANA time zone name such as Europe/Helsinki",
    "WEBHOOK_SECRET": "1-256 characters of A-Z, a-z, 0-9, _ and -",
    "WEBHOOK_URL": "an https:// URL that Telegram can reach",
    "LISTEN_PORT": "a port number 1-65535",
    "PUBLIC_URL": "the https:// address where Telegram reaches this server (may end in a path)",
    "ROOM_AUTH_MAX_AGE": "a duration such as 24h, 12h or 1d",
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///valitupa.db"
    telegram_api_url: str = "https://api.telegram.org"
    admin_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    timezone: str = "Europe/Helsinki"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    operator_chat_id: int | None = None
    broadcast_rate: float = Field(default=25.0, gt=0, le=1000)
    instance_name: str | None = None
    bot_username: str | None = None
    # The facilitator's room: PUBLIC_URL + /app/ is the Mini App; how old its initData may be.
    public_url: str | None = None
    room_auth_max_age: timedelta = timedelta(hours=24)

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            return [int(part) for part in parts if part]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("unknown time zone") from error
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_PATTERN.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_PATTERN.match(value.get_secret_value()):
            raise ValueError("malformed")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_https(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("not a URL")
        return value or None

    @field_validator("public_url")
    @classmethod
    def _public_https(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https://[^/\s]+(/\S*)?$", value):
            raise ValueError("not an https:// URL")
        return value.rstrip("/") if value else None

    @field_validator("room_auth_max_age", mode="before")
    @classmethod
    def _max_age(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().isdigit():
            span = parse_duration(value)
            if span is None or span <= timedelta(0):
                raise ValueError("not a positive duration")
            return span
        if isinstance(value, str):
            return timedelta(seconds=int(value))
        return value

    def room_url(self) -> str | None:
        """Where Telegram opens the room, or ``None`` while ``PUBLIC_URL`` is not set."""
        return f"{self.public_url}/app/" if self.public_url else None

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("not a URL")
        return value.rstrip("/")

    def require_token(self) -> str:
        if self.bot_token is None:
            raise SettingsError(f"BOT_TOKEN is not set: {HINTS['BOT_TOKEN']}.")
        return self.bot_token.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        hint = HINTS.get(name)
        reason = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} is malformed: {reason}" + (f" ({hint})." if hint else ".")) from None
