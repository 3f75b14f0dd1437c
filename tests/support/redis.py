"""A throwaway redis-server for tests (standard library only).

Usage::

    with RedisServer() as redis:
        redis.url   # redis://127.0.0.1:<port>/0

Runs ``redis-server`` on 127.0.0.1 on a free port (or the one given as ``port``, e.g. to
restart a server where its clients expect it) with no persistence (``--save '' --appendonly
no``) and its working directory in a fresh temp dir.
Set ``TEAMWELL_REDIS_SERVER`` to use a specific binary.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Self

from .net import exchange, free_port, tail
from .process import TempDirServer, find_program, launch, startup_failure

__all__ = ["RedisError", "RedisServer", "find_redis_server", "redis_available", "redis_ping"]


class RedisError(RuntimeError):
    """The throwaway redis-server could not be started."""


def find_redis_server() -> Path | None:
    """Path of the ``redis-server`` binary, or None."""
    return find_program("redis-server", "TEAMWELL_REDIS_SERVER")


def redis_available() -> bool:
    return find_redis_server() is not None


def redis_ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Send an inline ``PING``; True when the reply is ``+PONG``."""
    reply = exchange(port, b"PING\r\n", until=b"\r\n", limit=512, host=host, timeout=timeout)
    return reply is not None and reply.startswith(b"+PONG")


class RedisServer(TempDirServer):
    """A private redis-server on 127.0.0.1:<port> without persistence."""

    log_name = "redis.log"

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        binary: Path | None = None,
        startup_timeout: float = 20.0,
        port: int | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self._binary = binary
        # More redis-server options (a TLS port, a Unix socket); PING goes to the plain port.
        self._extra_args = list(extra_args or [])
        self.startup_timeout = startup_timeout
        self._fixed_port = port
        self.port = port or 0
        self.url = ""
        super().__init__()

    def _command(self, binary: Path) -> list[str]:
        return [
            str(binary),
            "--bind", self.host,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.base_dir),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "",
            "--loglevel", "warning",
            *self._extra_args,
        ]  # fmt: skip

    def _launch(self, binary: Path) -> bool:
        """Run redis-server on ``self.port``; whether it answered PING in time."""
        assert self.base_dir is not None and self._log is not None
        proc, ok = launch(
            self._command(binary),
            ready=functools.partial(redis_ping, self.port, self.host),
            timeout=self.startup_timeout,
            log=self._log,
            cwd=self.base_dir,
        )
        self._proc = proc if ok else None
        return ok

    def start(self) -> Self:
        """Start redis-server; returns self once it answers PING."""
        if self._proc is not None:
            return self
        binary = self._binary or find_redis_server()
        if binary is None:
            raise RedisError("redis-server not found; install the 'redis-server' package")
        self._make_base_dir("teamwell-redis-")
        try:
            for _attempt in range(5 if self._fixed_port is None else 1):
                self.port = self._fixed_port or free_port(self.host)
                if self._launch(binary):
                    break
                log = tail(str(self.log_path))
                if "already in use" not in log:
                    failure = startup_failure("redis-server", "no PING answer", self.log_path)
                    raise RedisError(failure)
            else:
                if self._fixed_port is not None:
                    raise RedisError(f"redis-server: port {self.port} is in use")
                raise RedisError("redis-server: no free port after 5 tries")
        except BaseException:
            self.stop()
            raise
        self.url = f"redis://{self.host}:{self.port}/0"
        return self

    # -- outages (fault tests) -----------------------------------------------------------

    def halt(self, *, kill: bool = False) -> None:
        """Stop redis-server (SIGTERM, or SIGKILL with ``kill``) but keep its port and
        directory, to ``resume`` it where its clients expect it."""
        proc = self._proc
        if proc is None:
            return
        if kill:
            self._proc = None
            proc.kill()
            proc.wait(timeout=10)
        else:
            self._terminate()

    def resume(self) -> Self:
        """Start a halted redis-server again on the same port (empty: there is no persistence)."""
        if self._proc is not None:
            return self
        binary = self._binary or find_redis_server()
        if self.base_dir is None or not self.port or binary is None:
            raise RedisError("RedisServer was never started")
        if not self._launch(binary):
            raise RedisError(startup_failure("redis-server", "restarting", self.log_path))
        return self

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, running={self._proc is not None})"
