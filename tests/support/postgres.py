"""A throwaway PostgreSQL cluster for tests (standard library only).

Usage::

    server = PostgresServer()
    server.start()          # initdb + pg_ctl start on 127.0.0.1:<free port>
    server.url              # postgresql://teamwell:<password>@127.0.0.1:<port>/teamwell
    server.create_database("migrations_test")   # -> URL of a new empty database
    server.stop()           # pg_ctl stop -m immediate, temp dir removed

It is also a context manager (``with PostgresServer() as pg: ...``).

The cluster lives in a fresh temporary directory (data, unix socket and log), runs
with ``fsync=off`` and is reachable only on 127.0.0.1.  PostgreSQL refuses to run as
root, so when the tests run as root the directory is handed to the ``postgres``
system user and ``initdb``/``pg_ctl`` are run through ``runuser -u postgres --``.
Roles and databases are created with the ``psql`` binary from the same bin dir.

Set ``TEAMWELL_PG_BIN`` to a directory holding ``initdb``/``pg_ctl``/``psql`` to pick a
specific installation.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from .net import free_port, tail, wait_until
from .process import ManagedServer

__all__ = ["PostgresError", "PostgresServer", "find_pg_bin", "postgres_available"]

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SUPERUSER = "postgres"
_OS_USER = "postgres"
# sun_path is 108 bytes on Linux; leave room for "/.s.PGSQL.NNNNN.lock".
_MAX_SOCKET_DIR_LEN = 80


class PostgresError(RuntimeError):
    """The throwaway cluster could not be created, started or used."""


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<ver>/bin -> (<ver>,); non-numeric versions sort first.
    parts = re.findall(r"\d+", path.parent.name)
    return tuple(int(p) for p in parts) or (-1,)


def _has_binaries(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in _REQUIRED_BINARIES)


def find_pg_bin() -> Path | None:
    """Directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``psql``, or None.

    Looks at ``$TEAMWELL_PG_BIN``, then Debian/Ubuntu (``/usr/lib/postgresql/<ver>/bin``,
    newest version first), RHEL (``/usr/pgsql-<ver>/bin``), and finally ``$PATH``.
    """
    candidates: list[Path] = []
    override = os.environ.get("TEAMWELL_PG_BIN")
    if override:
        candidates.append(Path(override))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    candidates.extend(sorted(Path("/usr").glob("pgsql-*/bin"), key=_version_key, reverse=True))
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found).resolve().parent)
    candidates.append(Path("/usr/local/pgsql/bin"))
    for candidate in candidates:
        if candidate.is_dir() and _has_binaries(candidate):
            return candidate
    return None


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _runuser_path() -> str | None:
    found = shutil.which("runuser")
    if found:
        return found
    for candidate in ("/usr/sbin/runuser", "/sbin/runuser"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def _can_run_as_postgres() -> bool:
    """As root: whether ``runuser -u postgres -- true`` works."""
    runuser = _runuser_path()
    if runuser is None:
        return False
    try:
        pwd.getpwnam(_OS_USER)
        result = subprocess.run(
            [runuser, "-u", _OS_USER, "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (KeyError, OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def postgres_available() -> bool:
    """True when a throwaway cluster can be started on this machine."""
    if find_pg_bin() is None:
        return False
    if _running_as_root():
        return _can_run_as_postgres()
    return True


def _clean_env() -> dict[str, str]:
    """os.environ without libpq variables that could redirect our connections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["PGCLIENTENCODING"] = "UTF8"
    env["PGCONNECT_TIMEOUT"] = "5"
    return env


def _quote_ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid PostgreSQL identifier for tests: {name!r}")
    return f'"{name}"'


class PostgresServer(ManagedServer):
    """A private PostgreSQL cluster in a temp dir, listening on 127.0.0.1:<port>."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        user: str = "teamwell",
        password: str | None = None,
        dbname: str = "teamwell",
        bin_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        _quote_ident(user)
        _quote_ident(dbname)
        self.user = user
        self.password = password or secrets.token_hex(16)
        self.dbname = dbname
        self._bin_dir = bin_dir
        self.startup_timeout = startup_timeout
        self.port = 0
        self.url = ""
        self.base_dir: Path | None = None
        self._as_postgres = False
        self._started = False

    # -- paths -----------------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_pg_bin()
            if self._bin_dir is None:
                raise PostgresError(
                    "PostgreSQL binaries (initdb, pg_ctl, postgres, psql) not found; "
                    "install the 'postgresql' package or set TEAMWELL_PG_BIN"
                )
        return self._bin_dir

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresError("PostgresServer is not started")
        return self.base_dir

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base()

    @property
    def log_path(self) -> Path:
        return self._base() / "postgres.log"

    @property
    def async_url(self) -> str:
        """``url`` with the asyncpg SQLAlchemy driver (postgresql+asyncpg://...)."""
        return self.url.replace("postgresql://", "postgresql+asyncpg://", 1)

    def url_for(self, dbname: str) -> str:
        """URL for another database on this cluster, as the test role."""
        _quote_ident(dbname)
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    # -- process helpers -------------------------------------------------------------

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _owner_cmd(self, cmd: list[str]) -> list[str]:
        if not self._as_postgres:
            return cmd
        runuser = _runuser_path()
        assert runuser is not None
        return [runuser, "-u", _OS_USER, "--", *cmd]

    def _run(
        self, cmd: list[str], *, timeout: float, as_owner: bool = False
    ) -> subprocess.CompletedProcess[str]:
        full = self._owner_cmd(cmd) if as_owner else cmd
        try:
            return subprocess.run(
                full,
                cwd=self._base(),
                env=_clean_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(
                f"timed out after {timeout}s: {' '.join(full)}\n{self._log_tail()}"
            ) from exc

    def _log_tail(self) -> str:
        if self.base_dir is None:
            return ""
        text = tail(str(self.log_path))
        return f"--- postgres log (tail) ---\n{text}" if text else ""

    def _psql_super(
        self, sql: str, *, dbname: str = "postgres", timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run SQL as the cluster superuser over the private unix socket."""
        return self._run(
            [
                self._bin("psql"),
                "-X", "-q", "-A", "-t",
                "-v", "ON_ERROR_STOP=1",
                "-h", str(self.socket_dir),
                "-p", str(self.port),
                "-U", _SUPERUSER,
                "-d", dbname,
                "-c", sql,
            ],
            timeout=timeout,
        )  # fmt: skip

    def run_sql(self, sql: str, *, dbname: str = "postgres") -> str:
        """Run SQL as superuser; return psql's unaligned, tuples-only output."""
        result = self._psql_super(sql, dbname=dbname)
        if result.returncode != 0:
            raise PostgresError(f"psql failed ({result.returncode}): {sql}\n{result.stderr}")
        return result.stdout.strip()

    def psql_url(self, url: str, sql: str, *, timeout: float = 30.0) -> str:
        """Run SQL with ``psql <url>`` over TCP (password auth); return its output."""
        result = self._run(
            [self._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", url, "-c", sql],
            timeout=timeout,
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresError(f"psql failed ({result.returncode}): {sql}\n{result.stderr}")
        return result.stdout.strip()

    # -- lifecycle -------------------------------------------------------------------

    def _make_base_dir(self) -> Path:
        base = Path(tempfile.mkdtemp(prefix="teamwell-pg-"))
        self.base_dir = base
        if len(str(base)) > _MAX_SOCKET_DIR_LEN:
            raise PostgresError(
                f"temp dir path too long for a unix socket ({base}); set TMPDIR to a short path"
            )
        if self._as_postgres:
            entry = pwd.getpwnam(_OS_USER)
            os.chown(base, entry.pw_uid, entry.pw_gid)
            check = self._run(["test", "-w", str(base), "-a", "-x", str(base)],
                              timeout=15, as_owner=True)  # fmt: skip
            if check.returncode != 0:
                raise PostgresError(
                    f"the '{_OS_USER}' user cannot use {base} (is a parent directory "
                    "private to root? set TMPDIR to e.g. a world-traversable directory)"
                )
        return base

    def _initdb(self) -> None:
        cmd = [
            self._bin("initdb"),
            "-D", str(self.data_dir),
            "-U", _SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]  # fmt: skip
        result = self._run(cmd, timeout=120, as_owner=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed ({result.returncode}):\n{result.stdout}"
                                f"\n{result.stderr}")  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "lc_messages": "'C'",
            "timezone": "'UTC'",
        }
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        # Written by the owner of the file (root may write anything; permissions stay).
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n# teamwell test settings\n" + conf)

    def _pg_ctl_start(self) -> bool:
        """Start the postmaster on ``self.port``; False if the port was taken."""
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()
        timeout = max(5, int(self.startup_timeout))
        result = self._run(
            [
                self._bin("pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-o", f"-p {self.port}",
                "-w", "-t", str(timeout),
                "start",
            ],
            timeout=timeout + 15,
            as_owner=True,
        )  # fmt: skip
        if result.returncode == 0:
            return True
        log = tail(str(self.log_path))
        if "could not bind" in log or "already in use" in log:
            return False
        raise PostgresError(
            f"pg_ctl start failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
            f"{self._log_tail()}"
        )

    def start(self) -> Self:
        """Create and start the cluster; returns self once the role can log in."""
        if self._started:
            return self
        self._as_postgres = _running_as_root()
        if self._as_postgres and not _can_run_as_postgres():
            raise PostgresError(
                "running as root but 'runuser -u postgres -- true' does not work "
                "(PostgreSQL refuses to run as root)"
            )
        _ = self.bin_dir  # fail early with a clear message
        self._started = True  # from here on stop() must clean up
        atexit.register(self.stop)
        try:
            self._make_base_dir()
            self._initdb()
            for attempt in range(5):
                self.port = free_port(self.host)
                if self._pg_ctl_start():
                    break
                if attempt == 4:
                    raise PostgresError(f"no free port after 5 tries\n{self._log_tail()}")
            self._wait_ready()
            self._create_role_and_db()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        def superuser_ok() -> bool:
            return self._psql_super("SELECT 1", timeout=10).returncode == 0

        if not wait_until(superuser_ok, timeout=self.startup_timeout, interval=0.1):
            raise PostgresError(f"PostgreSQL did not accept connections\n{self._log_tail()}")

    def _create_role_and_db(self) -> None:
        user = _quote_ident(self.user)
        # The password is generated hex or caller-provided; escape quotes regardless.
        password = self.password.replace("'", "''")
        self.run_sql(f"CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{password}'")
        self.run_sql(f"CREATE DATABASE {_quote_ident(self.dbname)} OWNER {user}")
        self.url = self.url_for(self.dbname)

        def tcp_login_ok() -> bool:
            try:
                return self.psql_url(self.url, "SELECT 1", timeout=10) == "1"
            except PostgresError:
                return False

        if not wait_until(tcp_login_ok, timeout=self.startup_timeout, interval=0.1):
            raise PostgresError(f"cannot log in over TCP as {self.user}\n{self._log_tail()}")

    def create_database(self, name: str) -> str:
        """Create an empty database owned by the test role; return its URL."""
        self.run_sql(f"CREATE DATABASE {_quote_ident(name)} OWNER {_quote_ident(self.user)}")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database (terminating its connections)."""
        self.run_sql(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    # -- outages (fault tests) -----------------------------------------------------------

    def halt(self, mode: str = "immediate") -> None:
        """Stop the postmaster but keep the cluster, its data and port, to ``resume`` later.

        ``immediate`` is a crash as far as clients and the data are concerned (recovery runs on
        the next start); ``fast`` disconnects clients and shuts down cleanly.
        """
        if not self._started:
            raise PostgresError("PostgresServer is not started")
        result = self._run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"],
            timeout=45,
            as_owner=True,
        )
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed:\n{result.stderr}\n{self._log_tail()}")

    def resume(self) -> None:
        """Start a halted cluster again on the same port, so its URLs work unchanged."""
        if not self._started:
            raise PostgresError("PostgresServer is not started")
        if not self._pg_ctl_start():
            raise PostgresError(f"port {self.port} was taken while halted\n{self._log_tail()}")
        self._wait_ready()

    def stop(self) -> None:
        """Stop the cluster immediately and delete its directory (idempotent)."""
        if not self._started:
            return
        self._started = False
        atexit.unregister(self.stop)
        base = self.base_dir
        if base is None:
            return
        pid_file = base / "data" / "postmaster.pid"
        if pid_file.exists():
            try:
                result = self._run(
                    [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                     "-w", "-t", "30", "stop"],
                    timeout=45,
                    as_owner=True,
                )  # fmt: skip
                stopped = result.returncode == 0
            except PostgresError:
                stopped = False
            if not stopped:
                self._kill_postmaster(pid_file)
        shutil.rmtree(base, ignore_errors=True)
        self.base_dir = None

    @staticmethod
    def _kill_postmaster(pid_file: Path) -> None:
        try:
            pid = int(pid_file.read_text(encoding="utf-8").splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    def __repr__(self) -> str:
        return f"PostgresServer(port={self.port}, started={self._started})"
