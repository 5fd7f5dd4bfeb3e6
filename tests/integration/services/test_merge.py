"""Merging duplicate ideas: supports move (one per person), the merged idea leaves every list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.services.contributions import idea_page
from bot.services.digest import build_digest
from bot.services.merge import Merged, MergeProblem, merge_ideas
from storage.models import Membership, Submission, Support
from tests.support.seed import Seeded, seed_process


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db)


async def supporters(session, idea_id: int) -> set[int]:
    return set(await session.scalars(select(Support.membership_id).where(Support.idea_id == idea_id)))


async def test_supports_move_to_the_kept_idea_once_per_person(db, seeded: Seeded) -> None:
    kept, merged = seeded.submission_ids["idea:0"], seeded.submission_ids["idea:2"]
    async with db.session() as session:
        before = await supporters(session, kept) | await supporters(session, merged)
        kept_author = (await session.get(Submission, kept)).membership_id
    async with db.session() as session:
        result = await merge_ideas(
            session,
            process_id=seeded.process_id,
            merged_id=merged,
            kept_id=kept,
            by_user_id=seeded.facilitator_user_id,
        )
    assert isinstance(result, Merged)
    async with db.session() as session:
        after = await supporters(session, kept)
        assert after == before - {kept_author}
        assert await supporters(session, merged) == set()
        assert result.kept_supports == len(after)
        assert (await session.get(Submission, merged)).merged_into_id == kept


async def test_the_merged_ideas_author_is_to_be_told_in_their_language(db, seeded: Seeded) -> None:
    merged = seeded.submission_ids["idea:2"]  # Bertil's idea, in Swedish
    async with db.session() as session:
        result = await merge_ideas(
            session,
            process_id=seeded.process_id,
            merged_id=merged,
            kept_id=seeded.submission_ids["idea:0"],
            by_user_id=seeded.facilitator_user_id,
        )
    assert isinstance(result, Merged)
    assert result.author_user_id == seeded.user_ids["kyla-muu-1"]
    assert result.author_language == "sv"
    assert result.merged_title == "Bykyyti till butiken"


async def test_ideas_and_the_digest_show_only_the_kept_idea(db, seeded: Seeded) -> None:
    kept, merged = seeded.submission_ids["idea:0"], seeded.submission_ids["idea:1"]
    async with db.session() as session:
        await merge_ideas(session, process_id=seeded.process_id, merged_id=merged, kept_id=kept, by_user_id=0)
    async with db.session() as session:
        member = await session.get(Membership, seeded.member_ids["kunta-tyo-1"])
        page = await idea_page(session, membership=member, page=0)
        listed = {row.idea.id for row in page.rows}
        assert kept in listed and merged not in listed
    digest = await build_digest(
        db, process_id=seeded.process_id, start=seeded.start, end=seeded.end, now=seeded.end
    )
    assert digest is not None
    refs = {idea.ref for idea in digest.ideas}
    assert kept in refs and merged not in refs


async def test_an_idea_merged_into_the_merged_one_follows_to_the_kept_one(db, seeded: Seeded) -> None:
    # idea:5 was merged into idea:0 by the seed; folding idea:0 into idea:3 moves both
    first, kept = seeded.submission_ids["idea:0"], seeded.submission_ids["idea:3"]
    async with db.session() as session:
        await merge_ideas(session, process_id=seeded.process_id, merged_id=first, kept_id=kept, by_user_id=0)
    async with db.session() as session:
        assert (await session.get(Submission, seeded.submission_ids["idea:5"])).merged_into_id == kept


@pytest.mark.parametrize(
    ("merged", "kept", "problem"),
    [
        ("idea:0", "idea:0", MergeProblem.SAME),
        ("idea:5", "idea:1", MergeProblem.ALREADY_MERGED),
        ("idea:1", "idea:6", MergeProblem.HIDDEN),
        ("idea:1", "obs:0", MergeProblem.NOT_FOUND),
    ],
)
async def test_what_cannot_be_merged_is_refused_and_nothing_changes(
    db, seeded: Seeded, merged, kept, problem
) -> None:
    ids = seeded.submission_ids
    async with db.session() as session:
        result = await merge_ideas(
            session, process_id=seeded.process_id, merged_id=ids[merged], kept_id=ids[kept], by_user_id=0
        )
    assert result == problem
    async with db.session() as session:
        assert await supporters(session, ids["idea:1"]) != set() or merged != "idea:1"


async def test_an_idea_of_another_process_is_not_found(db, seeded: Seeded) -> None:
    other = await seed_process(db, name="Toinen", user_base=9000)
    async with db.session() as session:
        result = await merge_ideas(
            session,
            process_id=seeded.process_id,
            merged_id=other.submission_ids["idea:1"],
            kept_id=seeded.submission_ids["idea:0"],
            by_user_id=0,
        )
    assert result == MergeProblem.NOT_FOUND
