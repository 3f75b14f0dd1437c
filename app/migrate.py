"""Running alembic migrations from code (the CLI, tests and readiness checks)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url)
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    # alembic's env.py runs its own event loop, so it goes to a thread from async code.
    await asyncio.to_thread(upgrade, database_url, revision)


@dataclass(frozen=True)
class MigrationState:
    """Where the database's schema stands against this code's migrations: ``pending`` are the
    revisions from ``current`` up to ``head``, oldest first; ``ahead`` means the database is at
    a revision this code does not know (a newer release migrated it)."""

    current: str | None
    head: str | None
    pending: tuple[str, ...]
    ahead: bool


def migration_state(connection: Connection) -> MigrationState:
    """The migration state of the database behind ``connection`` (run with ``run_sync``)."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    current = current_revision(connection)
    known = {revision.revision for revision in script.walk_revisions()}
    if current is not None and current not in known:
        return MigrationState(current=current, head=head, pending=(), ahead=True)
    # From head down to (not including) the current revision: newest first.
    lower = current if current is not None else "base"
    newest_first = [revision.revision for revision in script.iterate_revisions("heads", lower)]
    return MigrationState(
        current=current, head=head, pending=tuple(reversed(newest_first)), ahead=False
    )
