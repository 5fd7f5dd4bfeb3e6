"""The committed ``sandbox/botapi.json`` is what ``sandbox.trim_spec`` makes of the official description."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import load_spec
from sandbox.trim_spec import DEFAULT_SOURCE, DEFAULT_TARGET, main


def test_committed_spec_is_current(tmp_path: Path) -> None:
    if not DEFAULT_SOURCE.exists():
        pytest.skip(f"the full Bot API description is not at {DEFAULT_SOURCE}")
    regenerated = tmp_path / "botapi.json"
    assert main([str(DEFAULT_SOURCE), str(regenerated)]) == 0
    assert regenerated.read_text(encoding="utf-8") == DEFAULT_TARGET.read_text(encoding="utf-8")


def test_trimmed_spec_keeps_what_validation_needs() -> None:
    spec = load_spec()
    assert spec.version.startswith("Bot API ")
    assert spec.methods["sendMessage"]["chat_id"].required
    assert spec.returns["getUpdates"] == ("Array of Update",)
    assert "BotCommandScopeChat" in spec.subtypes["BotCommandScope"]
    assert spec.types["BotCommandScopeChat"]["type"].const == "chat"
