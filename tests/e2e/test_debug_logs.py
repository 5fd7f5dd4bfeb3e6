"""No message content and no chat id in any log line, even at LOG_LEVEL=DEBUG: a whole session —
joining, an observation, an idea, an answer — runs with the logs configured as ``valitupa`` does, and
the log is searched for what the participant wrote and for their Telegram id."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from tests.support.factories import process_yaml
from tests.support.logs import captured_logs

CHAT_ID = 731_845_296
WRITTEN = (
    "Rouva Virtanen kaatui eilen pihalla",
    "Naapuriapu lumitöihin",
    "Kylätalon kahvila joka tiistai",
)


@pytest.fixture
def debug_log(settings) -> Iterator[io.StringIO]:
    with captured_logs(settings.model_copy(update={"log_level": "DEBUG"})) as stream:
        yield stream


async def test_a_debug_session_logs_no_text_and_no_chat_id(debug_log: io.StringIO, bot, sandbox) -> None:
    process = await bot.create_process(process_yaml())
    aino = sandbox.user(CHAT_ID, first_name="Aino", language_code="fi")
    await bot.join(aino, process)
    await bot.say(aino, WRITTEN[0])
    await bot.say(aino, "/idea")
    await bot.say(aino, WRITTEN[1])
    await bot.say(aino, WRITTEN[2])
    await bot.command(aino, "mydata")

    output = debug_log.getvalue()
    assert logging.getLogger("bot.app").isEnabledFor(logging.DEBUG)  # the session really ran at DEBUG
    assert "update handled" in output
    for text in WRITTEN:
        assert text not in output
        assert text.split()[0] not in output
    assert str(CHAT_ID) not in output
    assert "Aino" not in output
