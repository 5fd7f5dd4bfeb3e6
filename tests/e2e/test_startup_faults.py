"""Start-up and the CLI when Telegram answers what PTB cannot read: one line, and the links anyway."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.cli_process import process_create
from bot.runner import Runtime
from bot.settings import SettingsError
from sandbox import Misanswer
from tests.support.config import make_settings
from tests.support.factories import process_yaml


async def test_a_get_me_without_a_required_field_stops_start_up_with_one_line(
    sandbox, db, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.misanswer_next("getMe", Misanswer.MISSING_FIELD)
    runtime = Runtime(make_settings(sandbox, listen_port=0), db=db)

    with caplog.at_level(logging.DEBUG), pytest.raises(SettingsError) as raised:
        await runtime.start()

    message = str(raised.value)
    assert message.startswith("TELEGRAM_API_URL: ") and "getMe" in message and "first_name" in message
    assert "\n" not in message
    assert [record for record in caplog.records if record.exc_info] == []
    assert runtime.application is None or not runtime.application.running


async def test_process_create_prints_the_links_when_get_me_cannot_be_read(
    sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(sandbox, database_url=f"sqlite+aiosqlite:///{tmp_path / 'v.db'}")
    file = tmp_path / "ilomantsi.yaml"
    file.write_text(process_yaml(), encoding="utf-8")
    sandbox.misanswer_next("getMe", Misanswer.MISSING_FIELD)

    assert await process_create(settings, file) == 0
    first = capsys.readouterr().out
    assert "Created process 1" in first
    assert "Participant invite link: https://t.me/<bot username>?start=p" in first
    assert "set BOT_USERNAME" in first

    # Run again once Telegram answers: the same process, now with the bot's real name.
    assert await process_create(settings, file) == 0
    second = capsys.readouterr().out
    assert "Already created (nothing new stored) process 1" in second
    assert "https://t.me/valitupa_test_bot?start=p" in second
