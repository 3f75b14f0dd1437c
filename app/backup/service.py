"""Making and restoring backups (docs/operations.md, "Backups and restore").

A backup is one archive (gzip'd tar, then sealed by ``archive.encrypt_file`` unless asked not to
be, or by ``publickey.encrypt_file`` to age recipients) holding ``manifest.json`` first, then:

* ``database/teamwell.db``: on SQLite, a copy made with SQLite's online backup API, which reads
  one consistent snapshot while the service goes on writing (WAL lets it read beside a writer);
* ``database/teamwell.dump``: on PostgreSQL, ``pg_dump --format=custom`` (one snapshot too);
* ``data/...``: every file of the data directory (generated secrets, message keys, the documents
  folder when there is one...) but the SQLite database itself, lock and temporary files;
* ``audit-checkpoints``: the signed audit checkpoints, wherever they are kept.

The manifest names the format version, the engine, the database's migration revision, the time
and every member's size and SHA-256, all checked before anything is restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from pyrage import x25519
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.backup import publickey
from app.backup.archive import (
    ArchiveError,
    Damaged,
    WrongKey,
    decrypt_file,
    encrypt_file,
    is_encrypted,
)
from app.config import Settings
from app.migrate import alembic_config

FORMAT = "teamwell-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/teamwell.db"
PG_MEMBER = "database/teamwell.dump"
CHECKPOINTS_MEMBER = "audit-checkpoints"
DATA_PREFIX = "data/"
# Files of the data directory that are never state: locks held by running processes and the
# half-written files of an atomic replace.
_SKIPPED_SUFFIXES = (".lock", ".tmp")
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# pg_dump/pg_restore of a large database take long; this only stops a hung one.
PG_TIMEOUT_SECONDS = 6 * 3600


# `teamwell backup` records each backup it finishes in the audit trail of the database it backed
# up, with the archive's encryption (age, passphrase, none) as the detail: the System page reads
# the newest (docs/operations.md, "System page").
BACKUP_TAKEN = "backup.taken"


class BackupError(Exception):
    """A backup could not be made or restored; the message says why, for the operator. Each
    kind has its own exit code for `teamwell backup` and `restore` (docs/operations.md), so a
    script can tell a missing key from a wrong one from a damaged archive."""

    exit_code = 1


class KeyNeeded(BackupError):
    """No key was given for the archive's encryption, or one given is not a key."""

    exit_code = 2


class WrongKeyError(BackupError):
    """The passphrase or identity given does not open the archive."""

    exit_code = 3


class ArchiveDamaged(BackupError):
    """The archive is cut off, altered, or not a Teamwell backup."""

    exit_code = 4


class TargetNotEmpty(BackupError):
    """The restore's target already holds data, and ``force`` was not given."""

    exit_code = 5


Encryption = Literal["passphrase", "age", "none"]


def encryption_of(path: Path) -> Encryption:
    """How an archive is sealed, read from its first bytes (no key needed)."""
    if is_encrypted(path):
        return "passphrase"
    if publickey.is_age(path):
        return "age"
    return "none"


@dataclass(frozen=True)
class Outcome:
    manifest: dict[str, Any]
    path: Path


def _engine(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


def sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.effective_database_url).database
    if not database or database == ":memory:":
        raise BackupError("the SQLite database is in memory; there is nothing to back up")
    return Path(database)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_private(path: Path, source: Path) -> None:
    """Copy ``source`` to ``path`` through a temporary file, 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".restore.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as data:
        shutil.copyfileobj(data, out, 1 << 20)
    os.replace(tmp, path)


# -- the database ------------------------------------------------------------------------------


def _sqlite_snapshot(source: Path, target: Path) -> str | None:
    """Copy the live database with the backup API; returns the copy's migration revision."""
    if not source.exists():
        raise BackupError(f"there is no SQLite database at {source}")
    # A writer holds the lock only for a commit; the timeout waits that out, not longer.
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30)) as live,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)
        return _sqlite_revision(copy)


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def _sqlite_has_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        row = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        return bool(row.fetchone()[0])


def _pg_program(settings: Settings, name: str) -> str:
    if settings.pg_bin is not None:
        candidate = settings.pg_bin / name
        if not candidate.exists():
            raise BackupError(f"{name} is not in TEAMWELL_PG_BIN ({settings.pg_bin})")
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH; install PostgreSQL's client or set TEAMWELL_PG_BIN"
        )
    return found


def _pg_connection(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """libpq options and environment for the service's database: the password goes in the
    environment (PGPASSWORD), never on a command line another user could read."""
    url = make_url(settings.effective_database_url)
    args = ["--dbname", url.database or ""]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "30"}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = ssl
    return args, env


def _run_pg(settings: Settings, program: str, args: list[str]) -> None:
    connection, env = _pg_connection(settings)
    try:
        # The program is PostgreSQL's own, from settings or PATH; the arguments are ours.
        done = subprocess.run(  # noqa: S603
            [_pg_program(settings, program), *connection, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=PG_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{program} did not finish within {PG_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise BackupError(f"{program} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


async def _pg_state_async(settings: Settings) -> tuple[int, str | None]:
    engine = create_async_engine(settings.effective_database_url)
    try:
        async with engine.connect() as connection:
            tables = (
                await connection.execute(
                    sa.text(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema = current_schema()"
                    )
                )
            ).scalar_one()
            revision = None
            if tables:
                with contextlib.suppress(sa.exc.DBAPIError):
                    revision = (
                        await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                    ).scalar_one_or_none()
            return int(tables), revision
    finally:
        await engine.dispose()


def _pg_state(settings: Settings) -> tuple[int, str | None]:
    """How many tables the database has, and its migration revision."""
    return asyncio.run(_pg_state_async(settings))


# -- the data directory ------------------------------------------------------------------------


def _data_files(settings: Settings, skip: set[Path]) -> Iterator[tuple[str, Path]]:
    root = settings.data_dir
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.resolve() in skip:
            continue
        if path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        yield DATA_PREFIX + path.relative_to(root).as_posix(), path


def _data_target(settings: Settings, member: str) -> Path:
    relative = PurePosixPath(member[len(DATA_PREFIX) :])
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise BackupError(f"the archive names a file outside the data directory: {member}")
    return settings.data_dir.joinpath(*relative.parts)


# -- backup ------------------------------------------------------------------------------------


def backup(
    settings: Settings,
    out: Path,
    *,
    passphrase: str | None,
    now: datetime,
    recipients: list[x25519.Recipient] | None = None,
) -> Outcome:
    """Write a backup of the running service to ``out``: encrypted with ``passphrase``, or to
    ``recipients`` (public keys), or, with neither, not at all. The service may go on writing
    meanwhile."""
    if passphrase is not None and recipients:
        raise KeyNeeded("give a passphrase or recipients, not both")
    encryption: Encryption = "passphrase" if passphrase is not None else "none"
    if recipients:
        encryption = "age"
    out = out.resolve()
    if settings.data_dir.resolve() in out.parents:
        # Every later backup would hold this one, and the one after both.
        raise BackupError(f"write the backup outside the data directory ({settings.data_dir})")
    out.parent.mkdir(parents=True, exist_ok=True)
    engine = _engine(settings)
    skip = {out, settings.audit_checkpoint_file.resolve()}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".teamwell-backup-") as staging_name:
        staging = Path(staging_name)
        members: list[tuple[str, Path]] = []
        # The order matters. The signed audit checkpoints are copied before the database, so
        # none names an event the copy lacks; the keys and files after it, so every key a
        # copied row was sealed with is there (a rotation meanwhile only adds one).
        if settings.audit_checkpoint_file.is_file():
            checkpoints = staging / "audit-checkpoints"
            _write_private(checkpoints, settings.audit_checkpoint_file)
            members.append((CHECKPOINTS_MEMBER, checkpoints))
        if engine == "sqlite":
            live = sqlite_path(settings).resolve()
            skip |= {live, *(Path(str(live) + side) for side in _SQLITE_SIDE_FILES)}
            snapshot = staging / "teamwell.db"
            revision = _sqlite_snapshot(live, snapshot)
            members.append((SQLITE_MEMBER, snapshot))
        else:
            # The revision first: pg_dump's snapshot is at least as new, and migrations only
            # run forward, so restoring then migrating reaches the same place.
            _tables, revision = _pg_state(settings)
            dump = staging / "teamwell.dump"
            _run_pg(settings, "pg_dump", ["--format=custom", "--no-owner", "--file", str(dump)])
            members.append((PG_MEMBER, dump))
        members.extend(_data_files(settings, skip))
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "engine": engine,
            "migration": revision,
            "created_at": now.isoformat(),
            "encrypted": encryption != "none",
            "encryption": encryption,
            "message_keys_from_environment": settings.message_keys is not None,
            "members": {
                name: {"size": path.stat().st_size, "sha256": _sha256(path)}
                for name, path in members
            },
        }
        manifest_path = staging / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        tar_path = staging / "archive.tar.gz"
        with tarfile.open(tar_path, "w:gz") as tar:
            tar.add(manifest_path, arcname=MANIFEST)
            for name, path in members:
                tar.add(path, arcname=name)
        partial = staging / "archive.out"
        if encryption == "none":
            _write_private(partial, tar_path)
        else:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as sealed:
                if recipients:
                    publickey.encrypt_file(tar_path, sealed, recipients)
                else:
                    assert passphrase is not None
                    encrypt_file(tar_path, sealed, passphrase)
        os.replace(partial, out)
    return Outcome(manifest=manifest, path=out)


# -- restore -----------------------------------------------------------------------------------


def _open_archive(
    source: Path,
    staging: Path,
    passphrase: str | None,
    identities: list[x25519.Identity] | None,
) -> Path:
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    encryption = encryption_of(source)
    if encryption == "none":
        return source
    if encryption == "passphrase" and passphrase is None:
        raise KeyNeeded("the backup is encrypted: give its passphrase")
    if encryption == "age" and not identities:
        raise KeyNeeded("the backup is encrypted to a public key: give its identity file")
    plain = staging / "archive.tar.gz"
    with source.open("rb") as sealed:
        try:
            if encryption == "age":
                assert identities
                publickey.decrypt_file(sealed, plain, identities)
            else:
                assert passphrase is not None
                decrypt_file(sealed, plain, passphrase)
        except WrongKey as error:
            raise WrongKeyError(str(error)) from None
        except Damaged as error:
            raise ArchiveDamaged(str(error)) from None
        except ArchiveError as error:
            raise BackupError(str(error)) from None
    return plain


def _unpack(archive: Path, staging: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """The manifest and every member, extracted and checked against it."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise ArchiveDamaged("not a Teamwell backup (no manifest first)")
            handle = tar.extractfile(first)
            assert handle is not None
            manifest = json.loads(handle.read())
            if manifest.get("format") != FORMAT:
                raise ArchiveDamaged("not a Teamwell backup (the manifest names another format)")
            if manifest.get("version") != FORMAT_VERSION:
                raise BackupError(
                    f"backup format version {manifest.get('version')} is not one this version "
                    f"reads ({FORMAT_VERSION})"
                )
            expected: dict[str, dict[str, Any]] = manifest["members"]
            extracted: dict[str, Path] = {}
            for index, member in enumerate(tar):
                if index == 0:
                    continue  # the manifest, read above
                if member.name not in expected or member.name in extracted:
                    raise ArchiveDamaged(f"the archive holds {member.name!r}, not in its manifest")
                if not member.isfile():
                    raise ArchiveDamaged(f"{member.name!r} in the archive is not a file")
                path = staging / "members" / str(index)
                path.parent.mkdir(exist_ok=True, mode=0o700)
                data = tar.extractfile(member)
                assert data is not None
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(data, out, 1 << 20)
                if _sha256(path) != expected[member.name]["sha256"]:
                    raise ArchiveDamaged(f"{member.name} does not match its checksum (altered)")
                extracted[member.name] = path
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as error:
        raise ArchiveDamaged(f"the archive is damaged or altered: {error}") from None
    missing = sorted(set(expected) - set(extracted))
    if missing:
        raise ArchiveDamaged(f"the archive lacks {', '.join(missing)} (cut off or altered)")
    return manifest, extracted


def _known_revision(revision: str | None) -> None:
    if revision is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            f"the backup is at migration {revision}, which this version does not know: restore "
            "it with the version that made it (or a newer one)"
        )


def _same_content(target: Path, source: Path) -> bool:
    return target.is_file() and _sha256(target) == _sha256(source)


def restore(
    settings: Settings,
    source: Path,
    *,
    passphrase: str | None,
    force: bool = False,
    identities: list[x25519.Identity] | None = None,
) -> Outcome:
    """Restore a backup into this instance's database and data directory. The database must be
    empty and no file may differ from the backup's, unless ``force``. Run with the service
    stopped; `teamwell migrate` (or `serve`) then brings an older backup's schema forward."""
    engine = _engine(settings)
    source = source.resolve()
    with tempfile.TemporaryDirectory(prefix="teamwell-restore-") as staging_name:
        staging = Path(staging_name)
        manifest, members = _unpack(_open_archive(source, staging, passphrase, identities), staging)
        if manifest["engine"] != engine:
            raise BackupError(
                f"the backup is of a {manifest['engine']} database and this instance uses "
                f"{engine}: restore it onto the same kind of database"
            )
        _known_revision(manifest.get("migration"))
        files = {
            (
                settings.audit_checkpoint_file
                if name == CHECKPOINTS_MEMBER
                else _data_target(settings, name)
            ): path
            for name, path in members.items()
            if name == CHECKPOINTS_MEMBER or name.startswith(DATA_PREFIX)
        }
        occupied = [
            str(target)
            for target, path in files.items()
            if target.exists() and not _same_content(target, path)
        ]
        # Checkpoints this instance signed name events of the data a restore replaces: left in
        # place, they would read as events removed from the restored trail.
        stale_checkpoints = (
            CHECKPOINTS_MEMBER not in members and settings.audit_checkpoint_file.is_file()
        )
        if stale_checkpoints:
            occupied.append(str(settings.audit_checkpoint_file))
        if engine == "sqlite":
            database = sqlite_path(settings)
            if _sqlite_has_tables(database):
                occupied.insert(0, f"the database {database}")
        else:
            tables, _revision = _pg_state(settings)
            if tables:
                occupied.insert(0, f"the database ({tables} tables)")
        if occupied and not force:
            raise TargetNotEmpty(
                "the target is not empty, give --force to overwrite: " + "; ".join(occupied)
            )
        if engine == "sqlite":
            for side in _SQLITE_SIDE_FILES:
                Path(str(database) + side).unlink(missing_ok=True)
            _write_private(database, members[SQLITE_MEMBER])
        else:
            clean = ["--clean", "--if-exists"] if occupied else []
            _run_pg(
                settings,
                "pg_restore",
                [
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    *clean,
                    str(members[PG_MEMBER]),
                ],
            )
        for target, path in files.items():
            _write_private(target, path)
        if stale_checkpoints:
            # Kept beside, out of the way, for whoever looks into what was replaced.
            checkpoints = settings.audit_checkpoint_file
            os.replace(checkpoints, checkpoints.with_name(checkpoints.name + ".replaced"))
    return Outcome(manifest=manifest, path=source)
