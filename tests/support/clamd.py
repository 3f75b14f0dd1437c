"""A throwaway ClamAV daemon (clamd) for tests, with a signature database made here.

Usage::

    with ClamdServer() as clamd:
        clamd.host, clamd.port        # 127.0.0.1:<port>, speaking clamd's TCP protocol
        clamd.halt(); clamd.resume()  # "the scanner is unreachable", then back on the same port

Signature downloads are not possible in a test run (nor wanted: they are hundreds of MB), so the
database is one line written by Python: the MD5 signature (``md5:size:name``, a ``.hdb`` file) of
the EICAR test file, the harmless string every anti-virus product reports as a virus. clamd
reports it as ``<name>.UNOFFICIAL`` (a signature of no official database). Runs Debian's
``clamav-daemon`` (``clamd``) in the foreground on 127.0.0.1 with its database, temporary files
and log in a fresh temp dir; it is ready when it answers ``PING``. Set ``TEAMWELL_CLAMD`` to use a
specific binary.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Self

from .net import exchange, free_port, tail
from .process import TempDirServer, find_program, launch, startup_failure

__all__ = [
    "EICAR",
    "EICAR_SIGNATURE",
    "STREAM_MAX_BYTES",
    "ClamdError",
    "ClamdServer",
    "clamd_available",
    "clamd_ping",
    "find_clamd",
]

# The EICAR anti-virus test file (eicar.org): 68 printable characters, harmless, detected as a
# virus by design. Kept here as text; clamd finds it by the signature written below.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*"
EICAR_SIGNATURE = "Teamwell.Test.EICAR"
# clamd's INSTREAM limit in the tests: above any document the suite uploads, low enough that a
# test can send one byte more than it without a large allocation.
STREAM_MAX_BYTES = 24 * 1024 * 1024


class ClamdError(RuntimeError):
    """The throwaway clamd could not be started."""


def find_clamd() -> Path | None:
    """Path of the ``clamd`` binary, or None."""
    return find_program("clamd", "TEAMWELL_CLAMD")


def clamd_available() -> bool:
    return find_clamd() is not None


def clamd_ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Send ``zPING``; True when clamd answers ``PONG``."""
    reply = exchange(port, b"zPING\0", until=b"\0", limit=64, host=host, timeout=timeout)
    return reply is not None and reply.rstrip(b"\0") == b"PONG"


class ClamdServer(TempDirServer):
    """A private clamd on 127.0.0.1:<port> whose only signature is EICAR's."""

    log_name = "clamd.log"

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        binary: Path | None = None,
        startup_timeout: float = 60.0,
        stream_max_bytes: int = STREAM_MAX_BYTES,
    ) -> None:
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.stream_max_bytes = stream_max_bytes
        self.port = 0
        super().__init__()

    def settings_env(self) -> dict[str, str]:
        """The settings of a Teamwell server scanning with this clamd (30 s for a scan: a busy
        test machine, not the service's default)."""
        return {
            "TEAMWELL_CLAMD_HOST": self.host,
            "TEAMWELL_CLAMD_PORT": str(self.port),
            "TEAMWELL_CLAMD_TIMEOUT_SECONDS": "30",
        }

    def _write_database(self) -> Path:
        assert self.base_dir is not None
        database = self.base_dir / "db"
        database.mkdir()
        line = f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{EICAR_SIGNATURE}\n"
        (database / "teamwell-test.hdb").write_text(line)
        return database

    def _write_config(self, database: Path) -> Path:
        assert self.base_dir is not None
        temporary = self.base_dir / "tmp"
        temporary.mkdir(exist_ok=True)
        # A file past MaxFileSize or MaxScanSize would be answered "OK" unscanned: both stay
        # above the stream limit, as docs/deploy.md asks of a deployment.
        lines = [
            f"DatabaseDirectory {database}",
            f"TemporaryDirectory {temporary}",
            f"TCPAddr {self.host}",
            f"TCPSocket {self.port}",
            "Foreground yes",
            f"StreamMaxLength {self.stream_max_bytes}",
            f"MaxFileSize {self.stream_max_bytes}",
            f"MaxScanSize {self.stream_max_bytes * 2}",
            "MaxThreads 4",
            # The database is written once: no reloading checks during the run.
            "SelfCheck 0",
        ]
        path = self.base_dir / "clamd.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _launch(self, binary: Path) -> bool:
        assert self.base_dir is not None and self._log is not None
        proc, ok = launch(
            [str(binary), "--config-file", str(self.base_dir / "clamd.conf")],
            ready=functools.partial(clamd_ping, self.port, self.host),
            timeout=self.startup_timeout,
            interval=0.1,
            log=self._log,
            cwd=self.base_dir,
        )
        self._proc = proc if ok else None
        return ok

    def start(self) -> Self:
        """Start clamd; returns self once it answers PING."""
        if self._proc is not None:
            return self
        binary = self._binary or find_clamd()
        if binary is None:
            raise ClamdError("clamd not found; install the 'clamav-daemon' package")
        self._make_base_dir("teamwell-clamd-")
        try:
            database = self._write_database()
            for _attempt in range(5):
                self.port = free_port(self.host)
                self._write_config(database)
                if self._launch(binary):
                    break
                if "already in use" not in tail(str(self.log_path)).lower():
                    raise ClamdError(startup_failure("clamd", "no PING answer", self.log_path))
            else:
                raise ClamdError("clamd: no free port after 5 tries")
        except BaseException:
            self.stop()
            raise
        return self

    # -- outages (the scanner unreachable, then back) ------------------------------------

    def halt(self) -> None:
        """Stop clamd but keep its port, database and directory, to ``resume`` it."""
        self._terminate()

    def resume(self) -> Self:
        """Start a halted clamd again on the same port."""
        if self._proc is not None:
            return self
        binary = self._binary or find_clamd()
        if self.base_dir is None or not self.port or binary is None:
            raise ClamdError("ClamdServer was never started")
        if not self._launch(binary):
            raise ClamdError(startup_failure("clamd", "restarting", self.log_path))
        return self

    def __repr__(self) -> str:
        return f"ClamdServer(port={self.port}, running={self._proc is not None})"
