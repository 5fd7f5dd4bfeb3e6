"""Wrong answers from the sandbox, as the bot's transport sees them: what each one tells of the send."""

from __future__ import annotations

import pytest
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import Application

from bot.infra.transport import AiohttpRequest, Fate, Wire, fate, watch_wire
from sandbox import BotApiSandbox, Misanswer


def bot_app(sandbox: BotApiSandbox, *, read_timeout: float = 5.0) -> Application:
    request = AiohttpRequest(4, read_timeout=read_timeout)
    return (
        Application.builder()
        .token(sandbox.token)
        .base_url(sandbox.base_url)
        .base_file_url(sandbox.base_file_url)
        .request(request)
        .get_updates_request(AiohttpRequest(1))
        .updater(None)
        .build()
    )


@pytest.mark.parametrize(
    ("kind", "expected", "arrived"),
    [
        (Misanswer.HTML_500, Fate.AMBIGUOUS, 0),
        (Misanswer.UNPARSABLE, Fate.AMBIGUOUS, 1),
        (Misanswer.MS_DATE, Fate.SENT, 1),
        (Misanswer.MISSING_FIELD, Fate.SENT, 1),  # no message_id: sent, id unknown
        (Misanswer.READ_TIMEOUT, Fate.AMBIGUOUS, 1),
        (Misanswer.RESET, Fate.AMBIGUOUS, 1),
    ],
)
async def test_a_wrong_answer_tells_what_the_send_may_have_done(
    sandbox: BotApiSandbox, kind: Misanswer, expected: Fate, arrived: int
) -> None:
    aino = sandbox.user(3101)
    app = bot_app(sandbox, read_timeout=0.3)
    async with app:
        sandbox.misanswer_next("sendMessage", kind)
        with watch_wire() as wire, pytest.raises(Exception) as raised:
            await app.bot.send_message(aino.id, "Mitä huomasit tänään?")
        after = await app.bot.send_message(aino.id, "Kiitos!")

    assert fate(raised.value, wire) is expected
    assert len(aino.messages) == arrived + 1 and after.text == "Kiitos!"
    if kind is Misanswer.MS_DATE:
        assert wire.message_id() == aino.messages[0]["message_id"]
    if kind is Misanswer.READ_TIMEOUT:
        assert isinstance(raised.value, TimedOut)
    elif kind in (Misanswer.HTML_500, Misanswer.RESET):
        assert isinstance(raised.value, NetworkError)


async def test_slow_answers_arrive_whole(sandbox: BotApiSandbox) -> None:
    aino = sandbox.user(3102)
    app = bot_app(sandbox)
    async with app:
        sandbox.misanswer_next("sendMessage", Misanswer.SLOW, delay=0.05)
        sent = await app.bot.send_message(aino.id, "Hetki")
    assert sent.text == "Hetki" and sandbox.calls("sendMessage")[0].misanswer is Misanswer.SLOW


async def test_no_connection_is_not_sent_and_a_json_error_is_refused(sandbox: BotApiSandbox) -> None:
    aino = sandbox.user(3103)
    app = bot_app(sandbox)
    async with app:
        sandbox.fail_next("sendMessage", error_code=500)
        with watch_wire() as wire, pytest.raises(TelegramError) as refused:
            await app.bot.send_message(aino.id, "x")
        assert fate(refused.value, wire) is Fate.REFUSED
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with watch_wire() as wire, pytest.raises(NetworkError) as unsent:
            await request.post("http://127.0.0.1:9/bot123:abc/sendMessage", None)
    finally:
        await request.shutdown()
    assert fate(unsent.value, wire) is Fate.NOT_SENT
    assert aino.messages == []


@pytest.mark.parametrize(
    ("status", "expected"), [(502, Fate.REFUSED), (503, Fate.REFUSED), (504, Fate.AMBIGUOUS)]
)
def test_a_gateway_page_says_whether_the_bot_api_was_reached(status: int, expected: Fate) -> None:
    wire = Wire(left=True, status=status, body=b"<html><body>nginx</body></html>")
    assert fate(NetworkError("Bad Gateway"), wire) is expected
