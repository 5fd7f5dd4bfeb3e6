"""Every migration runs up, down and up again on both backends, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.models import Base


async def table_names(db) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migrations_go_up_down_and_up_again(db) -> None:
    assert await migrate.current_revision(db) == migrate.head_revision()
    assert {"processes", "memberships", "deliveries", "submissions"} <= await table_names(db)

    await migrate.downgrade(db, "base")
    assert await migrate.current_revision(db) is None
    assert await table_names(db) <= {"alembic_version"}

    await migrate.upgrade(db)
    assert await migrate.current_revision(db) == migrate.head_revision()


async def test_migrated_schema_matches_the_models(db) -> None:
    async with db.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert differences == []
