"""`teamwell migrate --check` and `migration_state`: the database's revision against the code's,
what is pending in order, and a database ahead of the code (a newer release migrated it), on
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from app.cli import CHECK_AHEAD, CHECK_PENDING, CHECK_UNREACHABLE, CHECK_UP_TO_DATE
from app.migrate import MigrationState, migration_state, script_directory, upgrade
from tests.conftest import base_env, teamwell_cli
from tests.support.net import free_port
from tests.support.postgres import PostgresServer

UNKNOWN = "0999_from_a_newer_release"

# Each test runs `teamwell` in processes of its own, several seconds each: not for the quick loop.
pytestmark = pytest.mark.slow


def every_revision() -> list[str]:
    """The code's revisions, oldest first."""
    return [step.revision for step in script_directory().walk_revisions()][::-1]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'check.db'}", tmp_path
        return
    pg: PostgresServer = request.getfixturevalue("postgres")
    yield pg.create_database(f"check_{uuid.uuid4().hex[:8]}"), tmp_path


def sync_engine(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def state(url: str) -> MigrationState:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            return migration_state(connection)
    finally:
        engine.dispose()


def set_revision(url: str, revision: str) -> None:
    engine = sync_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def test_check_reports_pending_in_order_then_up_to_date_then_ahead(
    database: tuple[str, Path],
) -> None:
    url, data_dir = database
    env = base_env(data_dir, url)
    revisions = every_revision()
    head = revisions[-1]
    assert len(revisions) >= 3

    # A blank database: every migration pending, oldest first; nothing is created by looking.
    blank = teamwell_cli(env, "migrate", "--check")
    assert blank.returncode == CHECK_PENDING, blank.stdout + blank.stderr
    assert "database: (none: no migration applied)" in blank.stdout
    assert f"code: {head}" in blank.stdout
    listed = [line.split()[0] for line in blank.stdout.splitlines() if line.startswith("  ")]
    assert listed == revisions
    if url.startswith("sqlite"):
        assert not (data_dir / "check.db").exists()

    # Two behind: exactly the last two, in order, each with its description.
    upgrade(url, revisions[-3])
    assert state(url) == MigrationState(
        current=revisions[-3], head=head, pending=tuple(revisions[-2:]), ahead=False
    )
    behind = teamwell_cli(env, "migrate", "--check")
    assert behind.returncode == CHECK_PENDING, behind.stdout + behind.stderr
    assert f"database: {revisions[-3]}" in behind.stdout
    assert "pending, in order (2):" in behind.stdout
    pending_lines = [line for line in behind.stdout.splitlines() if line.startswith("  ")]
    assert [line.split()[0] for line in pending_lines] == revisions[-2:]
    assert all(len(line.split()) > 1 for line in pending_lines), "each names what it does"

    migrated = teamwell_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    done = teamwell_cli(env, "migrate", "--check")
    assert done.returncode == CHECK_UP_TO_DATE, done.stdout + done.stderr
    assert "up to date" in done.stdout
    assert state(url) == MigrationState(current=head, head=head, pending=(), ahead=False)

    # A newer release has migrated it: told, not crashed, and `migrate` leaves it as it is.
    set_revision(url, UNKNOWN)
    assert state(url) == MigrationState(current=UNKNOWN, head=head, pending=(), ahead=True)
    ahead = teamwell_cli(env, "migrate", "--check")
    assert ahead.returncode == CHECK_AHEAD, ahead.stdout + ahead.stderr
    assert f"database: {UNKNOWN}" in ahead.stdout and "Traceback" not in ahead.stderr
    refused = teamwell_cli(env, "migrate")
    assert refused.returncode == CHECK_AHEAD, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert state(url).current == UNKNOWN


def test_check_says_when_the_database_cannot_be_read(tmp_path: Path) -> None:
    nowhere = f"postgresql://teamwell@127.0.0.1:{free_port('127.0.0.1')}/teamwell"
    done = teamwell_cli(base_env(tmp_path, nowhere), "migrate", "--check")
    assert done.returncode == CHECK_UNREACHABLE, done.stdout + done.stderr
    assert (
        done.stderr.startswith("the database cannot be read: ") and "Traceback" not in done.stderr
    )
    # Each outcome its own code, none argparse's usage error (2).
    assert len({CHECK_UP_TO_DATE, CHECK_UNREACHABLE, CHECK_PENDING, CHECK_AHEAD, 2}) == 5
