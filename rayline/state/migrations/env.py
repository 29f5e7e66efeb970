"""Alembic environment: migrates the connection that `rayline.state.migrations` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from rayline.state.migrations import VERSION_TABLE
from rayline.state.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "rayline.state migrations run in code: use rayline.state.migrations.upgrade(engine) "
        "or revision(engine, ...), not the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
