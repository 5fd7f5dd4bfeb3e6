"""A facilitator's programme upload that is too big or nested too deeply gets a clear answer and
changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Process
from tests.support.factories import process_yaml


@pytest.fixture
async def facilitating(bot, sandbox):
    process = await bot.create_process(process_yaml())
    fanni = sandbox.user(9101, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    return process, fanni


async def stored_source(bot, process_id: int) -> str:
    async with bot.db.session() as session:
        return str(await session.scalar(select(Process.source_yaml).where(Process.id == process_id)))


@pytest.mark.parametrize(
    "nesting", ["prompts: " + "[" * 3000 + "]" * 3000, "prompts: " + "{a: " * 800 + "1" + "}" * 800]
)
async def test_a_deeply_nested_upload_is_refused_with_a_clear_problem(bot, facilitating, nesting) -> None:
    process, fanni = facilitating
    await fanni.send_document(f"name: Syvä\n{nesting}\n".encode(), "ohjelma.yaml", "application/x-yaml")
    await bot.idle()

    text = fanni.messages[-1]["text"]
    assert "Ohjelmaa ei vaihdettu" in text
    assert "liian monen tason sisäkkäin" in text and "Rivi 2" in text
    assert await stored_source(bot, process.id) == process.source_yaml


async def test_an_oversized_upload_is_refused_before_it_is_parsed(bot, facilitating) -> None:
    process, fanni = facilitating
    big = process.source_yaml + "#" + "x" * 1_100_000 + "\n"
    await fanni.send_document(big.encode(), "ohjelma.yaml", "application/x-yaml")
    await bot.idle()

    assert "liian suuri" in fanni.messages[-1]["text"]
    assert await stored_source(bot, process.id) == process.source_yaml
