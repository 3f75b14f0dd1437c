"""Two processes of one service, as deployed in a cluster: one PostgreSQL database, one Redis,
each process with its own port (``Live.another_process`` starts the second)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import Live, live_server

from .postgres import PostgresServer
from .redis import RedisServer
from .server import LiveServer

__all__ = ["cluster_fixture", "two_processes"]


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


def cluster_fixture(
    name: str, extra_env: dict[str, str] | None = None, *, fixture: str = "cluster"
) -> Any:
    """A module's fixture, called ``fixture``, giving ``two_processes`` started once for the
    module (``name`` and ``extra_env`` as there). Assign it to a name in the test module."""

    @pytest.fixture(scope="module", name=fixture)
    def running(
        postgres: PostgresServer, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[tuple[Live, LiveServer]]:
        with two_processes(tmp_path_factory, name, postgres, redis, extra_env) as both:
            yield both

    return running
