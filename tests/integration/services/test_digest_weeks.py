"""The digest's weekly counts (chart and participation) are counted in SQL per local week: they must
agree with counting every visible submission by hand, around week boundaries and across periods."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.digest_sections import week_start
from bot.services.digest import build_digest
from storage.models import Membership, Organisation, Submission
from tests.support.seed import PERIOD_END, seed_bulk

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.mark.parametrize("span", [timedelta(days=3), timedelta(weeks=5), timedelta(weeks=30)])
async def test_weekly_and_period_counts_match_a_count_by_hand(db, span) -> None:
    process_id = await seed_bulk(db, submissions=1500, weeks=20)
    start = PERIOD_END - span
    digest = await build_digest(db, process_id=process_id, start=start, end=PERIOD_END, now=PERIOD_END)
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Submission.created_at, Organisation.name)
                .join(Membership, Membership.id == Submission.membership_id)
                .join(Organisation, Organisation.id == Membership.organisation_id)
                .where(Submission.process_id == process_id, Submission.hidden.is_(False))
            )
        ).all()
    assert digest is not None

    per_week = Counter(week_start(created, HELSINKI) for created, _ in rows if created < PERIOD_END)
    shown = {
        week: sum(values[index] for _, values in digest.weekly.by_organisation)
        for index, week in enumerate(digest.weekly.weeks)
    }
    assert shown == {week: per_week.get(week, 0) for week in digest.weekly.weeks}
    # Some submissions fall on Sunday evening in UTC, which is already Monday in Helsinki.
    assert any(created.weekday() == 6 and created.astimezone(HELSINKI).weekday() == 0 for created, _ in rows)

    in_period = Counter(name for created, name in rows if start <= created < PERIOD_END)
    made = {stat.group.organisation: stat.contributions for stat in digest.participation.by_organisation}
    assert made == {name: in_period.get(name, 0) for name in made}
