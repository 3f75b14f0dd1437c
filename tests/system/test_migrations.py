"""One alembic history: it upgrades a blank database on SQLite and PostgreSQL, autogenerate
then finds nothing to change, and every step goes back down again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import app.models  # noqa: F401  (registers every table)
from app.db import metadata
from app.migrate import alembic_config, head_revision
from tests.support.postgres import PostgresServer


def sync_url(url: str) -> str:
    # The comparison runs on a synchronous connection; asyncpg is async only.
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", "postgres"])
def blank_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(f"blank_{tmp_path.name[-8:].lower().replace('-', '_')}")


def test_upgrade_matches_the_models_and_downgrades(blank_database: str) -> None:
    config = alembic_config(blank_database)
    command.upgrade(config, "head")
    engine = create_engine(sync_url(blank_database))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            diff = compare_metadata(context, metadata)
            assert diff == [], f"models and migrations differ: {diff}"
            tables = set(inspect(conn).get_table_names())
        assert set(metadata.tables) <= tables
        command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
    finally:
        engine.dispose()
