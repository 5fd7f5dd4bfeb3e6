"""Who opened the room: Telegram's signed ``initData``, checked as Telegram specifies.

A Mini App hands the page a query string signed with a key derived from the bot token
(``HMAC_SHA256(key="WebAppData", bot_token)``, then the HMAC-SHA256 of the sorted ``key=value`` lines).
The check itself is the maintained ``init-data-py`` library (no dependencies, typed, constant-time
comparison); this module adds what is ours: the age limit ``ROOM_AUTH_MAX_AGE`` against the bot's
clock, and a refusal of data dated in the future beyond a small clock skew.

The page sends it as ``Authorization: tma <initData>``, never in a URL, so no access log could
hold it; nothing here logs it either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import init_data_py
from init_data_py import errors

__all__ = ["CLOCK_SKEW", "RoomUser", "authenticate"]

SCHEME = "tma"
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future an ``auth_date`` may be (a phone's clock a little ahead)."""


@dataclass(frozen=True)
class RoomUser:
    id: int
    language_code: str | None


def authenticate(header: str | None, *, bot_token: str, max_age: timedelta, now: datetime) -> RoomUser | None:
    """The Telegram user behind an ``Authorization`` header, or ``None`` for anything not valid:
    no header, another scheme, forged, expired, from the future, or without a user."""
    if not header:
        return None
    scheme, _, raw = header.strip().partition(" ")
    if scheme.lower() != SCHEME or not raw.strip():
        return None
    try:
        data = init_data_py.validate_by_hash(raw.strip(), bot_token, expires_in=max_age, now=now)
    except errors.InvalidInitDataError:
        return None
    if data.issued_at > now + CLOCK_SKEW or data.user is None:
        return None
    return RoomUser(id=data.user.id, language_code=data.user.language_code)
