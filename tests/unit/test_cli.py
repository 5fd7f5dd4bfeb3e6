"""The console command: clear one-line errors for settings, process files refused by line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import SettingsError, load_settings
from tests.support.factories import process_yaml

CLEAN_ENV = ("BOT_TOKEN", "DATABASE_URL", "ADMIN_USER_IDS", "TIMEZONE", "WEBHOOK_URL", "WEBHOOK_SECRET")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_run_without_a_token_exits_with_one_line_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path.cwd(),
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "BOT_TOKEN" in lines[0] and "@BotFather" in lines[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_USER_IDS", "12,kaisa"),
        ("TIMEZONE", "Europe/Ilomantsi"),
        ("WEBHOOK_SECRET", "not allowed!"),
        ("BOT_TOKEN", "123"),
        ("LISTEN_PORT", "99999"),
    ],
)
def test_malformed_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith(name)
    assert "\n" not in message


def test_token_is_never_shown_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "123456789:AAHsecretsecretsecretsecretsecret12"
    monkeypatch.setenv("BOT_TOKEN", token)
    settings = load_settings(_env_file=None)
    assert token not in repr(settings)
    assert settings.require_token() == token


def test_admin_ids_are_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_USER_IDS", "12, 34;56")
    assert load_settings(_env_file=None).admin_user_ids == [12, 34, 56]


def test_process_create_prints_links_and_list_shows_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "ilomantsi.yaml"
    file.write_text(process_yaml(), encoding="utf-8")

    assert main(["process", "create", str(file)]) == 0
    out = capsys.readouterr().out
    assert "Created process 1: Hyvän tahdon Ilomantsi 2027" in out
    assert "Participant invite link: https://t.me/<bot username>?start=p" in out
    assert "Facilitator invite link: https://t.me/<bot username>?start=f" in out

    assert main(["process", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Hyvän tahdon Ilomantsi 2027" in listing and "2027-01-14 09:00" in listing


def test_broken_process_file_is_refused_with_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(
        process_yaml(
            workshops=(
                "2027-01-14 09:00",
                "2027-02-04 09:00",
                "2027-01-25 12:30",
                "2027-03-18 09:00",
                "2027-04-08 09:00",
            )
        ),
        encoding="utf-8",
    )

    assert main(["process", "create", str(file)]) == 1
    err = capsys.readouterr().err
    assert "was not stored" in err
    assert "workshops[3]" in err and "line 11" in err
    assert main(["process", "list"]) == 0
    assert "No processes yet" in capsys.readouterr().out


def test_db_upgrade_reports_the_revision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert "Database is at revision" in capsys.readouterr().out


def test_process_create_twice_with_the_same_file_makes_one_process(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_USERNAME", "@valitupa_bot")
    file = tmp_path / "ilomantsi.yaml"
    file.write_text(process_yaml(), encoding="utf-8")

    assert main(["process", "create", str(file)]) == 0
    first = capsys.readouterr().out
    assert main(["process", "create", str(file)]) == 0
    second = capsys.readouterr().out

    assert "Created process 1" in first
    assert "Already created (nothing new stored) process 1" in second
    links = [line for line in first.splitlines() if "invite link" in line]
    assert links == [line for line in second.splitlines() if "invite link" in line]
    assert all("https://t.me/valitupa_bot?start=" in line for line in links)
    assert "BOT_USERNAME" not in first
    assert main(["process", "list"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "Ilomantsi" in line]
    assert len(rows) == 1


def test_process_create_refuses_another_file_under_a_taken_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(process_yaml(), encoding="utf-8")
    second.write_text(process_yaml() + "\n# toinen versio\n", encoding="utf-8")

    assert main(["process", "create", str(first)]) == 0
    out = capsys.readouterr().out
    assert "set BOT_USERNAME" in out  # no name and no token: a placeholder and how to fix it
    assert main(["process", "create", str(second)]) == 1
    err = capsys.readouterr().err
    assert "was not stored" in err and "process 1 is already called" in err
