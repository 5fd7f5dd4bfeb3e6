"""What the room lists, under the digest's privacy rules: names only where allowed and never on an
anonymous submission, small groups merged, check-in choices never one by one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.services.processes import get_process
from bot.services.room_views import PAGE, ItemFilters, ListedItem, access, item_page, overview
from storage.models import Prompt, Submission
from tests.support.seed import ANONYMOUS_ONLY, Seeded, seed_process


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db)


async def everything(db, seeded: Seeded, **filters):
    items: list[ListedItem] = []
    async with db.session() as session:
        process = await get_process(session, seeded.process_id)
        assert process is not None
        offset = 0
        while True:
            page = await item_page(session, process, ItemFilters(offset=offset, **filters), seeded.end)
            items.extend(page.items)
            offset += PAGE
            if offset >= page.total:
                return items, page


async def test_a_name_only_where_allowed_and_never_on_an_anonymous_submission(db, seeded: Seeded) -> None:
    items, _ = await everything(db, seeded)
    salla = seeded.person(ANONYMOUS_ONLY).name
    assert salla and all(item.by.name != salla for item in items)
    for item in items:
        if item.anonymous:
            assert item.by.name is None
    named = {item.by.name for item in items if item.by.name}
    assert named <= {"Aino Esimerkki", "Bertil Byström"}


async def test_check_in_choices_are_never_listed_one_by_one(db, seeded: Seeded) -> None:
    items, _ = await everything(db, seeded, kind="answer")
    async with db.session() as session:
        checkins = set(await session.scalars(select(Prompt.id).where(Prompt.kind == "checkin")))
        bare = set(
            await session.scalars(
                select(Submission.id).where(
                    Submission.prompt_id.in_(checkins),
                    Submission.text.is_(None),
                    Submission.media_type.is_(None),
                )
            )
        )
    assert bare, "the seed has check-in choices without a comment"
    assert not bare & {item.id for item in items}


async def test_groups_to_filter_by_are_the_digests_merged_ones(db, seeded: Seeded) -> None:
    _, page = await everything(db, seeded)
    cells = {(g.organisation, g.role) for g in page.groups}
    # One person in the parish's "other" role: never a group of its own
    assert ("Ilomantsin seurakunta", "other") not in cells
    assert (None, None) in cells
    for index, group in enumerate(page.groups):
        listed, _ = await everything(db, seeded, group=index)
        assert all(item.by.group == group or item.by.name or item.by.facilitator for item in listed)


async def test_hidden_and_merged_submissions_are_left_out_unless_asked_for(db, seeded: Seeded) -> None:
    items, _ = await everything(db, seeded)
    ids = {item.id for item in items}
    assert seeded.submission_ids["idea:6"] not in ids  # hidden
    assert seeded.submission_ids["idea:5"] not in ids  # merged
    with_hidden, _ = await everything(db, seeded, hidden=True)
    assert seeded.submission_ids["idea:6"] in {item.id for item in with_hidden}
    assert seeded.submission_ids["idea:5"] not in {item.id for item in with_hidden}


async def test_search_and_theme_narrow_the_list(db, seeded: Seeded) -> None:
    found, _ = await everything(db, seeded, search="KIRJASTO")
    assert found and all("kirjasto" in ((i.text or "") + (i.title or "")).lower() for i in found)
    pains, _ = await everything(db, seeded, theme="pain")
    assert pains and all(item.theme == "pain" for item in pains)


async def test_the_overview_flags_quiet_groups_and_only_facilitators_enter(db, seeded: Seeded) -> None:
    async with db.session() as session:
        process = await get_process(session, seeded.process_id)
        assert process is not None
        data = await overview(session, process, seeded.end + timedelta(hours=1))
        assert any(stat.quiet for stat in data.participation.by_cell)
        assert all(stat.people >= 3 for stat in data.participation.by_cell)
        assert (await access(session, user_id=seeded.facilitator_user_id)) is not None
        assert await access(session, user_id=seeded.user_ids["kunta-tyo-1"]) is None
        assert await access(session, user_id=123) is None
