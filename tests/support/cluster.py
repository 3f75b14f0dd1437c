"""Two processes of one service, as deployed in a cluster: one PostgreSQL database, one Redis,
each process with its own port (``Live.another_process`` starts the second)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import Live, live_server

from .postgres import PostgresServer
from .redis import RedisServer
from .server import LiveServer

__all__ = ["two_processes"]


@contextmanager
def two_processes(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    postgres: PostgresServer,
    redis: RedisServer,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[Live, LiveServer]]:
    """The first process (with the demo data) and a second on the same database and Redis;
    ``extra_env``: settings of both."""
    env = {"TEAMWELL_REDIS_URL": redis.url, **(extra_env or {})}
    with live_server(tmp_path_factory, name, postgres=postgres, extra_env=env) as first:
        yield first, first.another_process()
