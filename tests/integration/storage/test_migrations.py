"""Every migration runs up, down and up again on both backends, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

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


async def test_each_migration_goes_down_and_up_again_one_step_at_a_time(db) -> None:
    revisions = [
        script.revision
        for script in reversed(list(ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()))
    ]
    await migrate.downgrade(db, "base")
    previous = "base"
    for revision in revisions:
        await migrate.upgrade(db, revision)
        await migrate.downgrade(db, previous)
        await migrate.upgrade(db, revision)
        assert await migrate.current_revision(db) == revision
        previous = revision
    assert previous == migrate.head_revision()


async def test_dropping_columns_keeps_every_row_and_every_link(db) -> None:
    """On SQLite a table copy would cascade (supports) and null links (delivery ids); none happens."""
    await migrate.downgrade(db, "0001")
    async with db.engine.begin() as connection:
        for statement in SEED_0001:
            await connection.execute(text(statement))
    await migrate.upgrade(db)

    async with db.engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM supports"))).scalar() == 1
        assert (await connection.execute(text("SELECT delivery_id FROM submissions"))).scalar() == 1
        assert (await connection.execute(text("SELECT state FROM deliveries"))).scalar() == "answered"


T = "'2027-01-04 09:00:00+00:00'"
SEED_0001 = (
    f"INSERT INTO users (id, consent, created_at) VALUES (1, 'given', {T})",
    "INSERT INTO processes (id, name, language, timezone, participant_code, facilitator_code, skip_weekends,"
    " digest_spec, min_group, retention_days, end_at, source_yaml, created_at)"
    f" VALUES (1, 'P', 'fi', 'Europe/Helsinki', 'p', 'f', false, 'mon 08:00', 3, 180, {T}, '', {T})",
    "INSERT INTO memberships (id, process_id, user_id, is_facilitator, pseudonym, show_name, paused,"
    f" unreachable, complete, joined_at) VALUES (1, 1, 1, false, 'A', false, false, false, false, {T})",
    "INSERT INTO prompts (id, process_id, key, phase, kind, when_text, texts, options, position, due_at,"
    f" active, created_at) VALUES (1, 1, 'k', 1, 'question', '', '{{}}', '[]', 0, {T}, true, {T})",
    "INSERT INTO deliveries (id, prompt_id, membership_id, state, due_at, attempts, answered_at)"
    f" VALUES (1, 1, 1, 'answered', {T}, 1, {T})",
    "INSERT INTO submissions (id, process_id, membership_id, kind, anonymous, hidden, delivery_id,"
    f" ack_message_id, created_at) VALUES (1, 1, 1, 'idea', false, false, 1, 77, {T})",
    f"INSERT INTO supports (idea_id, membership_id, created_at) VALUES (1, 1, {T})",
)
