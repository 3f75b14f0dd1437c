"""Start, wait for and stop the test servers' processes, one way for all of them.

The Teamwell service (``server.py``), redis-server, coturn and the OpenID provider are each a
subprocess that is started, waited for until it answers (a bounded wait that ends early if the
process dies), and stopped (SIGTERM, then SIGKILL after a grace period). What differs is the
command line and the question that says "ready"; those are the callers'. PostgreSQL is started
by ``pg_ctl`` (which waits itself) and shares the bounded wait and the failure message.

Every server is also a context manager (``ManagedServer``: started on entry, stopped on exit),
and redis-server and coturn, which keep a log file in a temp dir of their own, share its making
and removal (``TempDirServer``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from .net import tail, wait_until

__all__ = ["ManagedServer", "TempDirServer", "launch", "startup_failure", "stop_process"]

# How long a process has to stop after SIGTERM, and again after SIGKILL.
STOP_GRACE_SECONDS = 10.0


def find_program(
    name: str, override_variable: str, *, also: Sequence[str | Path] = ()
) -> Path | None:
    """Path of the program ``name``: the one the environment variable ``override_variable``
    names (None when that is not executable), else the first of ``also`` that is, else ``name``
    on ``PATH``, else Debian's and a local install's usual places."""
    override = os.environ.get(override_variable)
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    for candidate in also:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which(name)
    if found:
        return Path(found)
    for folder in ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"):
        candidate = Path(folder) / name
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def launch(
    command: Sequence[str],
    *,
    ready: Callable[[], bool],
    timeout: float,
    interval: float = 0.05,
    log: IO[bytes] | int,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    still_starting: Callable[[subprocess.Popen[bytes]], bool] | None = None,
    **popen: Any,
) -> tuple[subprocess.Popen[bytes], bool]:
    """Start ``command`` with its output to ``log`` and wait at most ``timeout`` seconds until
    ``ready()``. The wait ends early when the process exits, or when ``still_starting(proc)``
    says it is no use waiting (coturn loops on a taken port rather than exit). Returns the
    process and whether it became ready; one that did not has been stopped."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=popen.pop("stdin", subprocess.DEVNULL),
        stdout=log,
        stderr=subprocess.STDOUT,
        **popen,
    )

    def alive() -> bool:
        if still_starting is not None:
            return still_starting(proc)
        return proc.poll() is None

    ok = wait_until(ready, timeout=timeout, interval=interval, alive=alive)
    if ok and proc.poll() is None:
        return proc, True
    stop_process(proc)
    return proc, False


def stop_process(
    proc: subprocess.Popen[Any] | None, *, grace: float = STOP_GRACE_SECONDS
) -> int | None:
    """SIGTERM the process, SIGKILL it if it has not exited within ``grace`` seconds; its exit
    code (None when there was no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    return proc.returncode


def startup_failure(what: str, reason: str, log_path: str | Path | None, limit: int = 4096) -> str:
    """The message of a server that did not start: what, why, and the end of its log."""
    log = tail(str(log_path), limit) if log_path is not None else ""
    return f"{what} did not start ({reason})\n--- {what} log (last {limit // 1024} KB) ---\n{log}"


class ManagedServer:
    """A throwaway server used as a context manager: ``with Server(...) as server:`` starts it
    and stops it however the block ends."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class TempDirServer(ManagedServer):
    """A subprocess with a temp dir of its own holding its log (``log_name``); ``stop`` ends the
    process and removes the dir, and runs at exit too should a test never call it."""

    log_name = "server.log"

    def __init__(self) -> None:
        self.base_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self.base_dir / self.log_name

    def _make_base_dir(self, prefix: str) -> IO[bytes]:
        """Make the temp dir, open the log in it (returned) and have ``stop`` run at exit."""
        self.base_dir = Path(tempfile.mkdtemp(prefix=prefix))
        self._log = log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        atexit.register(self.stop)
        return log

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc)

    def stop(self) -> None:
        """Stop the server and delete its temp dir (idempotent)."""
        atexit.unregister(self.stop)
        self._terminate()
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
