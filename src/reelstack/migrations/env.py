"""Alembic environment: runs on the connection `reelstack.migrate` hands it, or on the
`sqlalchemy.url` of the config when called by the `alembic` command."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from reelstack.db import UTCDateTime
from reelstack.infra.search import is_unmodelled
from reelstack.models import metadata

config = context.config


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Migration files use plain SQLAlchemy types, never the app's own classes."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        # Full-text tables and indexes outside the models are the migrations' own business.
        include_name=lambda name, type_, parents: not is_unmodelled(name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.begin() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_standalone())
