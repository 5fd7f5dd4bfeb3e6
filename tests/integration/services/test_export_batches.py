"""The export reads every sheet in batches, each after the last row of the one before: a sheet of
more rows than one batch comes out whole, each row once, in its order (the dialogue sheets too,
which are ordered by their own tables, not by the submissions')."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.services.export import BATCH, CSV_DELIMITER, write_export
from storage.models import Response, Share, Submission
from tests.support.seed import Seeded, seed_process

MANY = BATCH + 37


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db)


def column(path: Path, name: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [row[name] for row in csv.DictReader(handle, delimiter=CSV_DELIMITER)]


async def test_sheets_longer_than_a_batch_come_out_whole_and_in_order(db, seeded: Seeded, tmp_path) -> None:
    author = seeded.member_ids["kunta-tyo-3"]
    reader = seeded.member_ids["srk-tyo-1"]
    # Several rows share an instant, so the order's tie-break (the id) is crossed by a batch too.
    times = [seeded.start + timedelta(minutes=index // 3) for index in range(MANY)]
    async with db.session() as session:
        await session.execute(
            insert(Submission),
            [
                {
                    "process_id": seeded.process_id,
                    "membership_id": author,
                    "kind": "observation",
                    "text": f"Eräajo {index}",
                    "created_at": created,
                }
                for index, created in enumerate(times)
            ],
        )
        observations = list(
            await session.scalars(
                select(Submission.id)
                .where(Submission.text.like("Eräajo %"))
                .order_by(Submission.created_at, Submission.id)
            )
        )
        first = observations[0]
        values = {"process_id": seeded.process_id, "level": "org"}
        # Shares made in the opposite order to the observations: the sheet follows the shares.
        await session.execute(
            insert(Share),
            [
                {**values, "submission_id": ref, "membership_id": author, "created_at": times[index]}
                for index, ref in enumerate(reversed(observations))
            ],
        )
        await session.execute(
            insert(Response),
            [
                {
                    **values,
                    "submission_id": first,
                    "sender_id": reader,
                    "recipient_id": author,
                    "text": f"Vastaus {index}",
                    "created_at": created,
                }
                for index, created in enumerate(times)
            ],
        )
        shares = list(await session.scalars(select(Share.submission_id).order_by(Share.created_at, Share.id)))
        responses = list(
            await session.scalars(select(Response.id).order_by(Response.created_at, Response.id))
        )
        await session.commit()

    result = await write_export(db, process_id=seeded.process_id, directory=tmp_path, now=seeded.end)
    assert result is not None

    exported = [int(ref) for ref in column(result.csv["observations"], "ref")]
    assert [ref for ref in exported if ref in set(observations)] == observations
    assert [int(ref) for ref in column(result.csv["shares"], "observation_ref")] == shares
    assert [int(ref) for ref in column(result.csv["responses"], "ref")] == responses
    assert result.rows["shares"] == len(shares) == MANY
    assert result.rows["responses"] == len(responses) == MANY
