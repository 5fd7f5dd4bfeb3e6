"""/forget leaves no text in the SQLite files: deleted rows are zeroed (secure_delete) and the
write-ahead log is checkpointed and emptied after the erasure."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Process
from tests.support.factories import process_yaml

SECRET = "Rouva Virtasen kaatuminen pihalla tiistaina"


def on_disk(database_file: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its write-ahead log and shared memory."""
    return b"".join(
        path.read_bytes()
        for path in (database_file, Path(f"{database_file}-wal"), Path(f"{database_file}-shm"))
        if path.exists()
    )


async def test_forget_leaves_no_text_in_the_sqlite_file_or_its_wal(bot, sandbox, backend, tmp_path) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite files; PostgreSQL erasure is VACUUM's (docs/deploy.md)")
    database_file = tmp_path / "valitupa.db"
    process = await bot.create_process(process_yaml(), created_by=1001)
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)
    for number in range(20):
        await bot.say(aino, f"{SECRET} {number}")
    assert SECRET.encode() in on_disk(database_file)

    await bot.command(aino, "/forget")
    await bot.press(aino, "fg:yes")

    assert "Poistin tietosi (20 viestiä)" in aino.messages[-1]["text"]
    assert SECRET.encode() not in on_disk(database_file)
    async with bot.db.session() as session:
        assert await session.scalar(select(Process.created_by).where(Process.id == process.id)) is None
