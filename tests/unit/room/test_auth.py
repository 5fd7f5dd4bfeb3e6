"""The room's initData check against Telegram's documented algorithm, with fixed vectors.

The expected hash below was computed by hand from the specification
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app): the sorted
``key=value`` lines joined by newlines, HMAC-SHA256 keyed with HMAC_SHA256("WebAppData", bot_token).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.room.auth import RoomUser, authenticate

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SIGNED_AT = datetime.fromtimestamp(1700000000, UTC)
HASH = "918a69a9a4f3c5c0a346ff49749fb96345d2b3439e0cbb7529436cd4a5921950"
DATA = (
    "auth_date=1700000000&query_id=AAHdF6IQAAAAAN0XohDhrOrc"
    "&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22language_code%22%3A%22fi%22%7D"
    f"&hash={HASH}"
)
DAY = timedelta(hours=24)


def check(header: str | None, *, now: datetime = SIGNED_AT + timedelta(minutes=5), token: str = TOKEN):
    return authenticate(header, bot_token=token, max_age=DAY, now=now)


def test_init_data_signed_as_telegram_specifies_is_accepted() -> None:
    assert check(f"tma {DATA}") == RoomUser(id=279058397, language_code="fi")


def test_a_changed_field_or_hash_is_refused() -> None:
    assert check(f"tma {DATA.replace('279058397', '279058398')}") is None
    assert check(f"tma {DATA[:-1]}{'1' if DATA[-1] != '1' else '2'}") is None


def test_another_bots_token_does_not_validate() -> None:
    assert check(f"tma {DATA}", token="987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0") is None


def test_data_older_than_the_limit_is_refused() -> None:
    assert check(f"tma {DATA}", now=SIGNED_AT + DAY - timedelta(seconds=1)) is not None
    assert check(f"tma {DATA}", now=SIGNED_AT + DAY + timedelta(seconds=1)) is None


def test_data_from_the_future_is_refused() -> None:
    assert check(f"tma {DATA}", now=SIGNED_AT - timedelta(minutes=10)) is None


def test_only_the_tma_scheme_with_data_counts() -> None:
    assert check(None) is None
    assert check("") is None
    assert check(f"Bearer {DATA}") is None
    assert check("tma ") is None
    assert check("tma not-init-data") is None


def test_data_without_a_user_is_refused() -> None:
    import init_data_py

    signed = init_data_py.sign({"query_id": "AAH"}, TOKEN, auth_date=SIGNED_AT)
    assert check(f"tma {signed}") is None
