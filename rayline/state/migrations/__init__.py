"""Alembic migrations of the state database, run in code: no alembic.ini at run time.

After changing `rayline/state/models.py`, `revision(StateStore(uri).engine, "what changed",
"0002")` on a database at head writes `versions/0002_what_changed.py` to review and commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, String, column, inspect, select, table

if TYPE_CHECKING:
    from alembic.config import Config

# Not Alembic's default `alembic_version`: the state may share a database with MLflow's.
VERSION_TABLE = "rayline_state_version"

HEAD = "0003"
"""The newest revision in versions/ (a unit test holds it to Alembic's own head)."""

# Any fixed 64-bit key; PostgreSQL processes migrating at once wait for each other on it.
_PG_LOCK_KEY = 0x7261796C696E65


def config(connection: Connection) -> Config:
    """An Alembic config for this package that migrates `connection` (see env.py)."""
    from alembic.config import Config

    alembic = Config()
    alembic.set_main_option("script_location", str(Path(__file__).parent))
    alembic.attributes["connection"] = connection
    return alembic


def at_head(engine: Engine) -> bool:
    """True if the database records `HEAD` as its revision."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return False
        version = column("version_num", String)
        query = select(version).select_from(table(VERSION_TABLE))
        return list(connection.execute(query).scalars()) == [HEAD]


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision; a no-op when it is there already. A database
    at head is recognised without Alembic: every Serve replica opens the state database, and
    Alembic's imports cost each one ~10 MB it would keep for nothing."""
    if at_head(engine):
        return
    from alembic import command

    with engine.begin() as connection:
        # Two processes starting at once must not both create the tables: the second waits
        # for the first to commit, then finds the database at head.
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(config(connection), "head")


def revision(engine: Engine, message: str, rev_id: str) -> None:
    """Write a revision for what the models have and the database (at head) lacks; then set
    `HEAD` to `rev_id`."""
    from alembic import command

    with engine.connect() as connection:
        command.revision(config(connection), message=message, autogenerate=True, rev_id=rev_id)
