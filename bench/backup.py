"""Benchmark 6, backup and restore: how long `teamwell backup` and `teamwell restore` take on a
database of a stated size, on SQLite and on PostgreSQL, so that the recovery point and time of
each deployment shape (docs/deploy.md) rest on figures measured here, not guessed.

The rig is its own, one per engine: a data directory (and, for PostgreSQL, a throwaway cluster
from the test tooling with its durability settings on, as bench/deploy.py runs it), migrated
with `teamwell migrate`, seeded with the benchmark's world (bench/seed.py: people in teams,
client records with their audit events) and filled with ``messages`` message rows sealed under
the instance's own message key (``app.messaging.service.sealed``, bodies of ``BODY_CHARS``
characters), inserted in batches: the bulk of a real database is its messages.

Then, for each encryption (to an age recipient, and with a passphrase), ``rounds`` times:

* **backup**: `teamwell backup OUT` as an operator runs it, a process of its own (its start-up
  and imports are part of the figure, as they are of a real backup), timed start to exit;
* **restore**: `teamwell restore OUT` into a fresh, empty instance (a new data directory; for
  PostgreSQL a new database), timed the same way. `teamwell migrate` afterwards is a no-op for a
  backup of the same version and is not counted.

MB/s are of the database's size (the SQLite file, or ``pg_database_size``), the figure an
operator knows; the archive's size is reported beside it (gzip'd, then sealed). Beside them, the
baseline: `teamwell backup --help`, the same process started and its imports made, doing
nothing, which both figures include (on a small database it is most of them).
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import insert, update
from sqlmodel import col, select

from app.clock import SystemClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.messaging import service as messaging_service
from app.messaging.keyring import keyring_from_settings
from app.messaging.models import Conversation, Message
from app.teams.models import Team, TeamMembership
from app.users.models import User
from bench.deploy import REPO_ROOT, _durable, _env, _migrate, _settings
from bench.seed import seed
from tests.support.postgres import PostgresServer

MB = 1_000_000
MESSAGES = 200_000
QUICK_MESSAGES = 2_000
BODY_CHARS = 200
PEOPLE = 100
CLIENTS = 20
ROUNDS = 3
QUICK_ROUNDS = 1
INSERT_BATCH = 2_000
ENCRYPTIONS = ("age", "passphrase")
# The passphrase of the benchmark's own throwaway archives.
PASSPHRASE = "benchmark passphrase, throwaway archives"  # noqa: S105
# A backup or restore of the full-size database takes seconds; this only stops a hung one.
COMMAND_TIMEOUT_SECONDS = 3600


@dataclass
class BackupResult:
    target: str  # "embedded (SQLite)" or "cluster (PostgreSQL)"
    encryption: str  # "age" or "passphrase"
    messages: int
    database_bytes: int = 0
    archive_bytes: int = 0
    backup_seconds: list[float] = field(default_factory=list)
    restore_seconds: list[float] = field(default_factory=list)
    # `teamwell backup --help`: the interpreter's and the command's start-up, paid by both
    # figures above; on a small database it is most of them.
    startup_seconds: list[float] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""

    @property
    def rounds(self) -> int:
        return len(self.restore_seconds)

    @staticmethod
    def _median(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    @property
    def backup_median(self) -> float:
        return self._median(self.backup_seconds)

    @property
    def restore_median(self) -> float:
        return self._median(self.restore_seconds)

    @property
    def startup_median(self) -> float:
        return self._median(self.startup_seconds)

    def mb_per_second(self, seconds: float) -> float:
        return self.database_bytes / MB / seconds if seconds else 0.0


def _cli(env: dict[str, str], *args: str) -> float:
    """Run `teamwell ARGS` as an operator would; the seconds it took. Raises with its output
    when it fails."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own CLI, our own arguments
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"teamwell {args[0]} failed ({done.returncode}): {done.stderr[-300:]}")
    return took


async def _fill(settings: Settings, team_id: str, messages: int) -> None:
    """``messages`` sealed messages in the first team's conversation, sent by its people."""
    clock = SystemClock()
    keyring = keyring_from_settings(settings)
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            team = await session.get(Team, uuid.UUID(team_id))
            assert team is not None
            members = list(
                await session.exec(
                    select(User)
                    .join(TeamMembership, col(TeamMembership.user_id) == col(User.id))
                    .where(col(TeamMembership.team_id) == team.id)
                )
            )
            opener = members[0]
            ctx = Context(
                actor=Actor(
                    user_id=opener.id,
                    role=opener.role,
                    organisation_id=opener.organisation_id,
                    ip="127.0.0.1",
                    user_agent="teamwell-bench",
                ),
                clock=clock,
            )
            conversation = await messaging_service.open_team(
                session=session, ctx=ctx, user=opener, team=team
            )
            await session.commit()
            conversation_id = conversation.id
            for start in range(0, messages, INSERT_BATCH):
                now = clock.now()
                rows = [
                    messaging_service.sealed(
                        keyring,
                        conversation_id=conversation_id,
                        seq=seq,
                        sender_id=members[seq % len(members)].id,
                        client_msg_id=f"bench-{seq}",
                        body=secrets.token_urlsafe(BODY_CHARS)[:BODY_CHARS],
                        now=now,
                    ).model_dump(include=set(Message.model_fields))
                    for seq in range(start + 1, min(start + INSERT_BATCH, messages) + 1)
                ]
                await session.execute(insert(Message), rows)
                await session.execute(
                    update(Conversation)
                    .where(col(Conversation.id) == conversation_id)
                    .values(last_seq=rows[-1]["seq"], last_activity_at=now)
                )
                await session.commit()
    finally:
        await engine.dispose()


async def _database_bytes(settings: Settings) -> int:
    if settings.is_sqlite:
        path = Path(str(sa.engine.make_url(settings.effective_database_url).database))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            size = await connection.execute(sa.text("SELECT pg_database_size(current_database())"))
            return int(size.scalar_one())
    finally:
        await engine.dispose()


class Rig:
    """One engine's instance to back up, and fresh instances to restore into."""

    def __init__(self, work: Path, engine: str, messages: int) -> None:
        self.engine = engine
        self.work = work / f"backup-{engine}"
        self.messages = messages
        self.postgres: PostgresServer | None = None
        self.env: dict[str, str] = {}
        self.restores = 0

    @property
    def target(self) -> str:
        return "embedded (SQLite)" if self.engine == "sqlite" else "cluster (PostgreSQL)"

    @property
    def description(self) -> str:
        database = "SQLite" if self.engine == "sqlite" else "PostgreSQL (durability on)"
        return (
            f"backup and restore only: {database}, {PEOPLE} people, {CLIENTS} client records, "
            f"{self.messages:,} messages of {BODY_CHARS} characters"
        )

    def _database_url(self, name: str) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.work / name / 'teamwell.db'}"
        return self.postgres.create_database(name.replace("-", "_"))

    def _instance_env(self, name: str) -> dict[str, str]:
        data_dir = self.work / name
        data_dir.mkdir(parents=True, exist_ok=True)
        extra = {"TEAMWELL_PG_BIN": str(self.postgres.bin_dir)} if self.postgres else {}
        return _env(data_dir, self._database_url(name), extra)

    async def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        if self.engine == "postgresql":
            self.postgres = PostgresServer().start()
            _durable(self.postgres)
        self.env = self._instance_env("source")
        _migrate(self.env)
        world = await seed(_settings(self.env), people=PEOPLE, clients=CLIENTS)
        await _fill(_settings(self.env), world.team_ids[0], self.messages)
        identity = self.work / "restore-identity.txt"
        if not identity.exists():
            _cli(self.env, "backup-keygen", str(identity))
        self.identity = identity
        self.recipient = identity.read_text().splitlines()[1].rsplit(" ", 1)[-1]

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()

    async def measure(self, encryption: str, rounds: int) -> BackupResult:
        result = BackupResult(self.target, encryption, self.messages)
        result.database_bytes = await _database_bytes(_settings(self.env))
        passphrase_file = self.work / "passphrase"
        passphrase_file.write_text(PASSPHRASE)
        if encryption == "age":
            sealing = ["--recipient", self.recipient]
            opening = ["--identity", str(self.identity)]
        else:
            sealing = opening = ["--passphrase-file", str(passphrase_file)]
        for _ in range(rounds):
            archive = self.work / f"teamwell-{encryption}.backup"
            self.restores += 1
            name = f"restored-{self.restores}"
            try:
                result.startup_seconds.append(_cli(self.env, "backup", "--help"))
                result.backup_seconds.append(_cli(self.env, "backup", str(archive), *sealing))
                result.archive_bytes = archive.stat().st_size
                target = self._instance_env(name)
                result.restore_seconds.append(_cli(target, "restore", str(archive), *opening))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                result.errors += 1
                result.last_error = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                # Each restored copy is as big as the source: keep at most one at a time.
                archive.unlink(missing_ok=True)
                shutil.rmtree(self.work / name, ignore_errors=True)
                if self.postgres is not None:
                    self.postgres.drop_database(name.replace("-", "_"))
        return result
