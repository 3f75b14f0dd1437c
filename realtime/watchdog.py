"""The sockets' watchdog: a socket from which nothing arrived for the heartbeat timeout is closed
(4408); one whose token expired is sent ``auth.expired`` and closed (4401) if no fresh token came
within the grace time (docs/realtime.md, "Heartbeats and token expiry").

One task per process, waking every ``INTERVAL``: a task per socket would wake the process
thousands of times a second while ten thousand sockets sit idle. It used to look at every socket
at each wake, 20,000 looks a second for 10,000 idle sockets, nearly all finding nothing (a
heartbeat every 20 s against a timeout of 60). Now each socket is filed under the moment its
watch next has something to decide, the earliest of: its heartbeat timeout counted from the last
frame it sent, its token's expiry, the end of its grace time. A wake looks only at the sockets
filed under moments now past; one that sent frames meanwhile, or renewed its token, is filed
again under its new moment. So an idle socket heartbeating as it should is looked at about once
per heartbeat timeout, and a wake with nothing due costs nothing however many sockets are open.

Moments are filed in slots of ``INTERVAL`` (a list of sockets per slot, the slots' numbers in a
heap), rounded up, so a socket is looked at no earlier than its moment and at most two intervals
after it, as before (one). A token's expiry is wall-clock time (the token says it), turned into
the process's monotonic time when filed and checked against the wall clock when looked at: a
wall clock set back refiles the socket; one set forward is noticed at the filed moment. A socket
that goes away is not looked for in the slots: it is dropped when its moment comes (at most one
heartbeat timeout later), which keeps forgetting it free.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable

from realtime.connection import Connection
from realtime.protocol import AuthExpired, Close

log = logging.getLogger("teamwell.realtime")

# How often the watchdog wakes, in seconds.
INTERVAL = 0.5


class Watchdog:
    def __init__(
        self,
        *,
        heartbeat_timeout: float,
        auth_grace: float,
        wall: Callable[[], float],
        background: set[asyncio.Task[None]],
    ) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.auth_grace = auth_grace
        self.wall = wall  # the service's clock, in Unix seconds (tokens' expiry is in those)
        self.background = background
        self.connections: set[Connection] = set()
        self._filed: dict[int, list[Connection]] = {}
        self._slots: list[int] = []  # the keys of ``_filed``, as a heap
        self._task: asyncio.Task[None] | None = None

    def watch(self, connection: Connection) -> None:
        self.connections.add(connection)
        now = time.monotonic()
        self._file(connection, self._next(connection, now, self.wall()), _slot_at(now))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ws-watchdog")
            # Cancelled with the other background timers when the application stops.
            self.background.add(self._task)
            self._task.add_done_callback(self.background.discard)

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)

    async def _run(self) -> None:
        while self.connections:
            await asyncio.sleep(INTERVAL)
            self.tick(time.monotonic(), self.wall())

    def tick(self, now: float, wall: float) -> int:
        """Decide for every socket whose moment has come by ``now`` (monotonic; ``wall``, the
        service's clock at the same instant); how many sockets were looked at."""
        current = math.floor(now / INTERVAL)
        looked = 0
        while self._slots and self._slots[0] <= current:
            for connection in self._filed.pop(heapq.heappop(self._slots)):
                if connection not in self.connections or connection.closed.is_set():
                    continue  # gone, or being closed: nothing more to watch
                looked += 1
                try:
                    if self._decide(connection, now, wall):
                        self._file(connection, self._next(connection, now, wall), current)
                except Exception:  # one socket's failure must not stop the others' watch
                    log.exception("watchdog check of a connection failed")
        return looked

    def _decide(self, connection: Connection, now: float, wall: float) -> bool:
        """What the watch does for the socket now; whether it is still to be watched."""
        if now - connection.last_received > self.heartbeat_timeout:
            connection.close(Close.timeout, "no heartbeat")
            return False
        if connection.grace_deadline is None:
            if wall >= connection.token_expires_at:
                connection.grace_deadline = now + self.auth_grace
                connection.send(AuthExpired(grace_seconds=self.auth_grace))
        elif now >= connection.grace_deadline:
            connection.close(Close.unauthenticated, "token expired")
            return False
        return True

    def _next(self, connection: Connection, now: float, wall: float) -> float:
        """The next moment at which the watch may have something to decide (monotonic)."""
        due = connection.last_received + self.heartbeat_timeout
        if connection.grace_deadline is not None:
            return min(due, connection.grace_deadline)
        return min(due, now + max(0.0, connection.token_expires_at - wall))

    def _file(self, connection: Connection, due: float, current: int) -> None:
        # Never under a slot already looked at (a moment exactly now, or a clock set back).
        slot = max(math.ceil(due / INTERVAL), current + 1)
        filed = self._filed.get(slot)
        if filed is None:
            self._filed[slot] = [connection]
            heapq.heappush(self._slots, slot)
        else:
            filed.append(connection)


def _slot_at(now: float) -> int:
    return math.floor(now / INTERVAL)
