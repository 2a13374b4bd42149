"""The migrations build exactly the schema the models declare, on SQLite and on PostgreSQL, and
every revision can be undone and redone."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from reelstack.db import Database
from reelstack.infra.search import is_unmodelled
from reelstack.migrate import alembic_config, current_revision, head_revision
from reelstack.models import metadata


def schema_diff(connection: Any) -> list[Any]:
    """What autogenerate would write into a new migration: nothing, if the two agree."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            # Full-text tables and indexes outside the models (FTS5, GIN expression indexes).
            "include_name": lambda name, type_, parents: not is_unmodelled(name),
        },
    )
    diff: list[Any] = compare_metadata(context, metadata)
    return diff


async def diff_of(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(schema_diff)


async def alembic(engine: AsyncEngine, action: str, revision: str) -> None:
    """Run `alembic upgrade|downgrade <revision>` on this engine, as `reelstack migrate` does."""
    cfg = alembic_config()

    def run(connection: Any) -> None:
        cfg.attributes["connection"] = connection
        getattr(command, action)(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def parent_of(down_revision: str | tuple[str, ...] | list[str] | None) -> str:
    """Where one step down from a revision lands (a merge: its first parent)."""
    if down_revision is None:
        return "base"
    return down_revision if isinstance(down_revision, str) else down_revision[0]


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_sqlite_schema_matches_the_models(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "reelstack.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        assert await current_revision(db.writer) == head_revision()
        assert await diff_of(db.writer) == []
    finally:
        await db.dispose()


async def test_postgres_schema_matches_the_models(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        assert await current_revision(db.writer) == head_revision()
        assert await diff_of(db.writer) == []
    finally:
        await db.dispose()


async def test_every_revision_downgrades_and_upgrades_again_on_sqlite(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "reelstack.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    model_tables = {table.name for table in metadata.sorted_tables}
    try:
        await alembic(db.writer, "downgrade", "base")
        assert await current_revision(db.writer) is None
        assert await table_names(db.writer) - {"alembic_version"} == set()

        # Stairway: each revision up, back down to its parent, and up again.
        revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
        for script in reversed(revisions):
            await alembic(db.writer, "upgrade", script.revision)
            await alembic(db.writer, "downgrade", parent_of(script.down_revision))
            await alembic(db.writer, "upgrade", script.revision)
            assert await current_revision(db.writer) == script.revision

        assert await current_revision(db.writer) == head_revision()
        assert model_tables <= await table_names(db.writer)
        assert await diff_of(db.writer) == []
    finally:
        await db.dispose()
