"""Logs for operators: JSON when asked, with update and process ids, and never the token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.infra.logs import QUIET_LOGGERS, bound, configure_logging
from bot.settings import Settings

TOKEN = "123456789:AAHsecretsecretsecretsecretsecret12"
OTHER_TOKEN = "987654321:BBHanotheranotheranotheranother3456"
SECRET = "webhook-secret-0123456789"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The process's root logging, configured as ``valitupa`` does, into a buffer; restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def settings(**values: object) -> Settings:
    return Settings(bot_token=TOKEN, webhook_secret=SECRET, _env_file=None, **values)  # type: ignore[arg-type,call-arg]


def test_json_lines_carry_level_logger_message_context_and_timings(stream: io.StringIO) -> None:
    configure_logging(settings(log_format="json"), stream, instance="host-1")

    with bound(update_id=1001, process_id=7):
        logging.getLogger("bot.test").info("handled in %d ms", 12, extra={"duration_ms": 12.5})
    logging.getLogger("bot.test").warning("outside any update")

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.test"
    assert first["msg"] == "handled in 12 ms"
    assert (first["update_id"], first["process_id"], first["duration_ms"]) == (1001, 7, 12.5)
    assert first["instance"] == "host-1"
    assert first["ts"].endswith("+00:00")
    assert "update_id" not in second


def test_text_lines_show_the_context_after_the_message(stream: io.StringIO) -> None:
    configure_logging(settings(), stream)

    with bound(update_id=55):
        logging.getLogger("bot.test").info("stored")

    assert stream.getvalue().rstrip().endswith("INFO bot.test: stored [update_id=55]")


def test_token_shaped_strings_are_redacted_from_message_arguments_and_tracebacks(stream: io.StringIO) -> None:
    configure_logging(settings(log_format="json"), stream)
    log = logging.getLogger("bot.test")

    log.warning("POST https://api.telegram.org/bot%s/sendMessage", OTHER_TOKEN)
    try:
        raise RuntimeError(f"failed at /bot{TOKEN}/getMe with secret {SECRET}")
    except RuntimeError:
        log.exception("request failed")
    log.info("extra field", extra={"url": f"/bot{OTHER_TOKEN}/getUpdates"})

    output = stream.getvalue()
    assert TOKEN not in output
    assert OTHER_TOKEN not in output
    assert SECRET not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["msg"] == "POST https://api.telegram.org/bot<redacted>/sendMessage"
    assert "failed at /bot<redacted>/getMe with secret <redacted>" in lines[1]["exc"]
    assert lines[2]["url"] == "/bot<redacted>/getUpdates"


def test_libraries_that_log_urls_or_whole_updates_stay_quiet_even_at_debug(stream: io.StringIO) -> None:
    configure_logging(settings(log_level="DEBUG"), stream)

    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
    logging.getLogger("telegram.ext.Application").debug("Processing update {'text': 'Hei Aino'}")
    logging.getLogger("bot.test").debug("our own debug line")

    output = stream.getvalue()
    assert "HTTP Request" not in output
    assert "Hei Aino" not in output
    assert "our own debug line" in output
    assert logging.getLogger("httpx").level == logging.WARNING


OPERATOR_CHAT = -100_777


@pytest.fixture
async def erring_bot(sandbox, db, clock):
    """The real Application with an operator chat and a handler that fails on /boom and /oops."""
    from telegram.ext import CommandHandler

    from tests.support.config import make_settings
    from tests.support.harness import BotHarness

    async def boom(update, context) -> None:
        raise RuntimeError("the database fell over")

    async def oops(update, context) -> None:
        raise ValueError("bad value")

    harness = BotHarness(
        sandbox=sandbox, db=db, clock=clock, settings=make_settings(sandbox, operator_chat_id=OPERATOR_CHAT)
    )
    harness.app.add_handler(CommandHandler("boom", boom), group=-1)
    harness.app.add_handler(CommandHandler("oops", oops), group=-1)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def test_an_unhandled_error_apologises_in_the_users_language_and_tells_the_operator_once_an_hour(
    erring_bot, sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import timedelta

    operator = sandbox.group(OPERATOR_CHAT, "Välitupa ylläpito")
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    veikko = sandbox.user(1002, first_name="Veikko", language_code="sv")

    await erring_bot.command(aino, "/boom", "salainen sisältö")
    await erring_bot.command(veikko, "/boom")

    assert any(m["text"].startswith("Pahoittelut, jokin meni vikaan") for m in aino.messages)
    assert any(m["text"].startswith("Förlåt, något gick fel") for m in veikko.messages)
    [report] = operator.messages
    assert "RuntimeError" in report["text"]
    assert "the database fell over" not in report["text"]

    await erring_bot.command(aino, "/oops")
    assert len(operator.messages) == 2 and "ValueError" in operator.messages[-1]["text"]

    erring_bot.clock.advance(timedelta(minutes=59))
    await erring_bot.command(aino, "/boom")
    assert len(operator.messages) == 2
    erring_bot.clock.advance(timedelta(minutes=2))
    await erring_bot.command(aino, "/boom")
    assert len(operator.messages) == 3

    errors = [r for r in caplog.records if r.name == "bot.app" and r.levelno == logging.ERROR]
    assert len(errors) == 5
    assert all(isinstance(r.update_id, int) for r in errors)  # type: ignore[attr-defined]
    assert "salainen sisältö" not in caplog.text
    assert (
        erring_bot.services.metrics.registry.get_sample_value(
            "valitupa_handler_errors_total", {"kind": "RuntimeError"}
        )
        == 4
    )


def test_handling_an_update_logs_its_id_and_timing(stream: io.StringIO) -> None:
    from bot.infra.logs import handling

    configure_logging(settings(log_format="json"), stream)

    with handling(424242):
        logging.getLogger("bot.test").info("inside")
    logging.getLogger("bot.test").info("after")

    inside, done, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["update_id"] == 424242
    assert done["msg"] == "update handled" and done["update_id"] == 424242
    assert done["duration_ms"] >= 0
    assert "update_id" not in after
