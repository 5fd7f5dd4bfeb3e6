"""``valitupa run`` freezes its start-up heap out of the garbage collector's full collections once the
dictionaries are loaded (what made the p99 of an acknowledgement: see ``bench/updates.py``)."""

from __future__ import annotations

import gc

from bot.runner import settle_heap


async def test_the_start_up_heap_is_frozen_after_the_dictionaries_are_loaded() -> None:
    gc.unfreeze()
    try:
        await settle_heap()
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # the rest of this test process collects as before
    # The dictionaries, modules and mappers: far more than an empty interpreter's few thousand objects.
    assert frozen > 50_000
