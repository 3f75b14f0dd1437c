"""The sockets' watchdog (realtime/watchdog.py), on the moments it is given: a socket silent for
the heartbeat timeout is closed 4408 at the first wake past it and not before; a socket that sent
a frame meanwhile is filed again under its new moment; an expired token gets ``auth.expired``,
then a close 4401 at the end of the grace time unless renewed; and a wake looks only at the
sockets whose moment has come, not at every socket (ten thousand idle sockets were 20,000 looks
a second)."""

from __future__ import annotations

import asyncio

from realtime.connection import Connection
from realtime.protocol import Close
from realtime.watchdog import INTERVAL, Watchdog
from tests.realtime.test_gateway_sender import connection

TIMEOUT = 60.0
GRACE = 30.0
WALL = 1_800_000_000.0  # the service's clock at monotonic time START
START = 1_000.0


def watchdog() -> Watchdog:
    return Watchdog(
        heartbeat_timeout=TIMEOUT, auth_grace=GRACE, wall=lambda: WALL, background=set()
    )


def watched(dog: Watchdog, *, token_lasts: float = 3_600.0) -> Connection:
    conn = connection()
    conn.last_received = START
    conn.token_expires_at = int(WALL + token_lasts)
    dog.connections.add(conn)
    dog._file(conn, dog._next(conn, START, WALL), 0)
    return conn


def tick(dog: Watchdog, at: float) -> int:
    """A wake at monotonic ``at``, the wall clock moving with it."""
    return dog.tick(at, WALL + (at - START))


def frames(conn: Connection) -> list[str]:
    return [conn.outbound.get_nowait() for _ in range(conn.outbound.qsize())]


async def test_a_wake_with_nothing_due_looks_at_no_socket() -> None:
    dog = watchdog()
    sockets = [watched(dog) for _ in range(1_000)]
    assert tick(dog, START + INTERVAL) == 0
    assert tick(dog, START + TIMEOUT / 2) == 0
    assert not any(s.closed.is_set() for s in sockets)


async def test_a_silent_socket_is_closed_at_the_first_wake_past_its_timeout() -> None:
    dog = watchdog()
    conn = watched(dog)
    assert tick(dog, START + TIMEOUT - INTERVAL) == 0
    assert not conn.closed.is_set()
    assert tick(dog, START + TIMEOUT + INTERVAL) == 1
    assert conn.closed.is_set() and conn.close_code == Close.timeout
    assert tick(dog, START + 10 * TIMEOUT) == 0  # not watched any more


async def test_a_socket_that_sent_a_frame_is_looked_at_once_and_filed_again() -> None:
    dog = watchdog()
    conn = watched(dog)
    conn.last_received = START + 20  # its heartbeat
    assert tick(dog, START + TIMEOUT + INTERVAL) == 1  # looked at, still alive
    assert not conn.closed.is_set()
    assert tick(dog, START + TIMEOUT + 10) == 0  # nothing due until its new moment
    assert tick(dog, START + 20 + TIMEOUT + INTERVAL) == 1
    assert conn.close_code == Close.timeout


async def test_an_expired_token_gets_a_grace_frame_then_a_close() -> None:
    dog = watchdog()
    conn = watched(dog, token_lasts=2)
    assert tick(dog, START + 1) == 0
    conn.last_received = START + 1.5  # heartbeats do not renew a token
    assert tick(dog, START + 2 + INTERVAL) == 1
    (expired,) = frames(conn)
    assert '"auth.expired"' in expired and f'"grace_seconds":{GRACE}' in expired
    conn.last_received = START + 20
    assert tick(dog, START + 2 + GRACE - INTERVAL) == 0
    assert not conn.closed.is_set()
    assert tick(dog, START + 2 + GRACE + 2 * INTERVAL) == 1
    assert conn.close_code == Close.unauthenticated


async def test_a_token_renewed_in_its_grace_time_keeps_the_socket() -> None:
    dog = watchdog()
    conn = watched(dog, token_lasts=2)
    assert tick(dog, START + 2 + INTERVAL) == 1
    assert len(frames(conn)) == 1
    conn.token_expires_at = int(WALL + 3_600)  # what an ``auth`` frame does
    conn.grace_deadline = None
    conn.last_received = START + 10
    assert tick(dog, START + 2 + GRACE + INTERVAL) == 1
    assert not conn.closed.is_set() and frames(conn) == []


async def test_a_socket_gone_is_not_looked_at() -> None:
    dog = watchdog()
    conn = watched(dog)
    dog.forget(conn)
    assert tick(dog, START + TIMEOUT + INTERVAL) == 0
    assert not conn.closed.is_set()


async def test_the_wake_task_runs_while_sockets_are_watched() -> None:
    background: set[asyncio.Task[None]] = set()
    dog = Watchdog(
        heartbeat_timeout=INTERVAL,
        auth_grace=GRACE,
        wall=lambda: WALL + 3_600,
        background=background,
    )
    conn = connection()
    conn.token_expires_at = int(WALL + 7_200)
    dog.watch(conn)
    assert len(background) == 1
    async with asyncio.timeout(10):
        await conn.closed.wait()
    assert conn.close_code == Close.timeout
