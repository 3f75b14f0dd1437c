"""Running alembic migrations from code (the CLI, tests and readiness checks)."""

from __future__ import annotations

import asyncio
import functools
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


@functools.cache
def script_directory() -> ScriptDirectory:
    # Read once a process: the migrations a process knows are those it was started with, and
    # /readyz asks often.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    return script_directory().get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@dataclass(frozen=True)
class MigrationState:
    """Where a database's schema stands against this code's migrations.

    ``current``: the database's revision (None before the first migration); ``head``: the code's
    latest; ``pending``: the revisions an upgrade would apply, oldest first; ``ahead``: the
    database is at a revision this code does not know, as when a newer release has migrated it
    (the previous release runs against the expanded schema during a rolling upgrade)."""

    current: str | None
    head: str | None
    pending: tuple[str, ...]
    ahead: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def migration_state(connection: Connection) -> MigrationState:
    """The database's migration state, read over a synchronous connection (``run_sync`` from
    async code)."""
    return state_at(current_revision(connection))


def state_at(current: str | None) -> MigrationState:
    """The migration state of a database at revision ``current`` (None: none applied)."""
    script = script_directory()
    head = script.get_current_head()
    known = {step.revision for step in script.walk_revisions()}
    if current is not None and current not in known:
        return MigrationState(current=current, head=head, pending=(), ahead=True)
    if head is None or current == head:
        return MigrationState(current=current, head=head, pending=(), ahead=False)
    # From the head down to (not including) the database's revision, then turned oldest first.
    pending = tuple(step.revision for step in script.iterate_revisions(head, current or "base"))[
        ::-1
    ]
    return MigrationState(current=current, head=head, pending=pending, ahead=False)


def describe(revision: str) -> str:
    """A revision's one-line description (the first line of its message)."""
    step = script_directory().get_revision(revision)
    return (step.doc or "").strip().splitlines()[0] if step is not None and step.doc else ""


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    # alembic's env.py runs its own event loop, so it goes to a thread from async code.
    await asyncio.to_thread(upgrade, database_url, revision)
