"""Benchmark 2, connections: how many authenticated, idle WebSocket connections with presence
the server holds, and the memory each costs.

Every socket authenticates with its person's token, is counted in presence (its person shows
online to their team) and gets its presence snapshot, then sits idle, pinging once per heartbeat
interval as the web client does. The tokens come from the minted accounts (bench/seed.py), five
devices per person: the default ``TEAMWELL_WS_CONNECTIONS_PER_USER`` is kept, so 10,000
connections are 2,000 people in 200 teams of ten.

Memory per connection is the growth of the server's resident memory from before the first socket
to after the last, with every socket still open and idle, divided by the number of sockets.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from bench.clients import Socket, close_all, open_many
from bench.measure import GENERATOR, SERVER, SUPPORT, CpuWindow, rss_bytes

DEVICES_PER_PERSON = 5
IDLE_SECONDS = 5.0


@dataclass
class ConnectionsResult:
    target: str
    wanted: int
    held: int = 0
    failed: str = ""
    connect_seconds: float = 0.0
    # Per server process: (connections on it, resident memory before, after).
    memory: list[tuple[int, int, int]] = field(default_factory=list)
    idle_cpu: dict[str, float] = field(default_factory=dict)
    # The same, each server process on its own (a share of one core each).
    idle_cpu_per_process: list[float] = field(default_factory=list)

    @property
    def connects_per_second(self) -> float:
        return self.held / self.connect_seconds if self.connect_seconds else 0.0

    @property
    def bytes_per_connection(self) -> float:
        grown = sum(after - before for _, before, after in self.memory)
        count = sum(n for n, _, _ in self.memory)
        return grown / count if count else float("nan")


class Heartbeats:
    """Ping every socket once per heartbeat interval, spread evenly over the interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.sockets: list[Socket] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        tick = 0.1
        position = 0
        while True:
            await asyncio.sleep(tick)
            sockets = self.sockets
            if not sockets:
                continue
            share = max(1, round(len(sockets) * tick / self.interval))
            for _ in range(share):
                position %= len(sockets)
                socket = sockets[position]
                position += 1
                if not socket.closed:
                    socket.send_nowait({"type": "ping"})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def hold(
    target: str,
    urls: list[str],
    tokens: list[str],
    server_pids: list[int],
    support_pids: list[int],
    *,
    heartbeat: float,
    idle_seconds: float = IDLE_SECONDS,
) -> ConnectionsResult:
    """Open one socket per token (spread over ``urls``, one process each), keep them idle and
    heartbeating, and measure the servers' memory and idle CPU."""
    result = ConnectionsResult(target=target, wanted=len(tokens))
    before = [rss_bytes(pid) for pid in server_pids]
    beats = Heartbeats(heartbeat)
    beats.start()
    sockets: list[Socket] = []
    started = time.perf_counter()
    try:
        # Socket i goes to process i mod n (a batch is a multiple of n sockets).
        batch = 500 * len(urls)
        for start in range(0, len(tokens), batch):
            opened = await open_many(urls, tokens[start : start + batch], concurrency=64)
            sockets.extend(opened)
            beats.sockets = sockets
        result.connect_seconds = time.perf_counter() - started
        each = {f"{SERVER} {i}": [pid] for i, pid in enumerate(server_pids)}
        cpu = CpuWindow(
            {SERVER: server_pids, SUPPORT: support_pids, GENERATOR: [os.getpid()], **each}
        )
        cpu.start()
        await asyncio.sleep(idle_seconds)
        result.idle_cpu = cpu.stop()
        result.idle_cpu_per_process = [result.idle_cpu.pop(name) for name in each]
        alive = [s for s in sockets if not s.closed]
        result.held = len(alive)
        after = [rss_bytes(pid) for pid in server_pids]
        per_process = [0] * len(urls)
        for index in range(len(sockets)):
            per_process[index % len(urls)] += 1 if not sockets[index].closed else 0
        result.memory = list(zip(per_process, before, after, strict=True))
    except Exception as exc:  # reported, not fatal: how far it got is the finding
        result.failed = f"{type(exc).__name__}: {exc}"
        result.held = len([s for s in sockets if not s.closed])
        result.connect_seconds = time.perf_counter() - started
    finally:
        await beats.stop()
        await close_all(sockets)
    return result


def teamwell_tokens(people_tokens: list[str], count: int) -> list[str]:
    """``count`` tokens, each person's repeated for up to five devices, people interleaved so
    that no one's devices all land on one process."""
    tokens: list[str] = []
    for _device in range(DEVICES_PER_PERSON):
        tokens.extend(people_tokens)
    if len(tokens) < count:
        raise ValueError(f"{count} connections need {count // DEVICES_PER_PERSON} people")
    return tokens[:count]
