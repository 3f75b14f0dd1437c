"""Run the Teamwell service as a real uvicorn subprocess for end-to-end tests.

Usage::

    server = LiveServer(env={"TEAMWELL_DATABASE_URL": pg.async_url}, cwd=repo_root)
    server.start()          # returns once GET /healthz answers 200
    server.base_url         # http://127.0.0.1:<port>
    server.stop()           # SIGTERM, then SIGKILL after 10 s

stdout/stderr go to a temporary log file (``log_path``; ``log_tail()`` returns the
end of it); a failed start raises ``LiveServerError`` including its last 4 KB.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from app.cli import SERVER_ARGS

from .net import free_port, tail
from .process import ManagedServer, launch, startup_failure, stop_process

__all__ = ["LiveServer", "LiveServerError"]


TEAMWELL_APP = "app.main:app"


class LiveServerError(RuntimeError):
    """The service subprocess did not become healthy."""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class LiveServer(ManagedServer):
    """``python -m uvicorn app.main:app`` on 127.0.0.1:<free port>."""

    host = "127.0.0.1"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        *,
        app: str = TEAMWELL_APP,
        port: int | None = None,
        startup_timeout: float = 30.0,
        health_path: str = "/healthz",
        extra_args: list[str] | None = None,
    ) -> None:
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.app = app
        self.port = port or free_port(self.host)
        self.startup_timeout = startup_timeout
        self.health_path = health_path
        # The Teamwell app is served as deployed (its WebSocket protocol, no compression).
        self.extra_args = list(
            extra_args if extra_args is not None else SERVER_ARGS if app == TEAMWELL_APP else []
        )
        self.base_url = f"http://{self.host}:{self.port}"
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", self.app,
            "--host", self.host,
            "--port", str(self.port),
            "--no-access-log",
            *self.extra_args,
        ]  # fmt: skip

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, limit: int = 4096) -> str:
        return tail(str(self.log_path), limit) if self.log_path is not None else ""

    def start(self) -> Self:
        if self._proc is not None:
            return self
        fd, log_name = tempfile.mkstemp(prefix="teamwell-server-", suffix=".log")
        self.log_path = Path(log_name)
        env = {**os.environ, **self.env}
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.app == TEAMWELL_APP:
            # The service's public address is where it runs, as in a deployment: the web
            # client's pages come from there, and `/ws` accepts scripts of that origin only.
            env.setdefault("TEAMWELL_PUBLIC_URL", self.base_url)
        atexit.register(self.stop)
        with os.fdopen(fd, "wb") as log:
            self._proc, ok = launch(
                self.command,
                ready=lambda: _healthy(self.base_url + self.health_path),
                timeout=self.startup_timeout,
                log=log,
                cwd=self.cwd,
                env=env,
            )
        if not ok:
            exit_code, self._proc = self._proc.returncode, None
            reason = (
                f"GET {self.health_path} not 200 within {self.startup_timeout:g}s"
                if exit_code is None or exit_code < 0
                else f"exited with code {exit_code}"
            )
            command = " ".join(self.command)
            message = startup_failure("service", f"{reason}: {command}", self.log_path)
            self.stop()
            raise LiveServerError(message)
        return self

    def _terminate(self) -> int | None:
        proc, self._proc = self._proc, None
        return stop_process(proc)

    def kill(self) -> None:
        """SIGKILL the service: no shutdown, no cleanup, as in a crash. The log is kept (for
        ``log_tail``); ``stop`` removes it. A new ``LiveServer`` with the same ``port`` and
        environment stands in for the restarted process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=10)

    def stop(self, *, keep_log: bool = False) -> None:
        """SIGTERM the service (SIGKILL after 10 s) and remove the log unless keep_log."""
        atexit.unregister(self.stop)
        self._terminate()
        if self.log_path is not None and not keep_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path = None

    def __repr__(self) -> str:
        return f"LiveServer({self.base_url}, running={self.running})"
