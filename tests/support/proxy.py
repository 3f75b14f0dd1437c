"""A flaky link on loopback: a TCP proxy in front of one server that delays what it forwards and,
on demand or at random, cuts connections the way a mobile network drops them.

Usage (inside a running event loop)::

    proxy = await FlakyLink("127.0.0.1", server_port, delay=0.02, jitter=0.03).start()
    proxy.base_url        # http://127.0.0.1:<proxy port>, for a WsClient
    proxy.cut()           # reset every connection now (RST, no close handshake)
    proxy.refusing = True # new connections are reset at once (the link is down)
    proxy.drop_rate = 0.05# each chunk forwarded may cut its connection (seeded, capped)
    await proxy.close()

Delays keep order: each direction of a connection is a FIFO whose chunks leave no earlier than
``delay`` (+ up to ``jitter``) after they arrived, and never before the chunk ahead of them.
Everything is on 127.0.0.1; the random choices come from ``seed``, and ``max_random_cuts``
bounds how often the link may drop at random, so a test always makes progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Self

__all__ = ["FlakyLink", "LinkStats"]

CHUNK = 16 * 1024


@dataclass
class LinkStats:
    connections: int = 0
    refused: int = 0
    cuts: int = 0  # connections reset by cut(), refusing or at random
    random_cuts: int = 0
    bytes_forwarded: int = 0


@dataclass(eq=False)  # identity: pairs live in a set
class _Pair:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, as a dropped link looks to both ends (no FIN, no close frame)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FlakyLink:
    host = "127.0.0.1"

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay: float = 0.0,
        jitter: float = 0.0,
        drop_rate: float = 0.0,
        max_random_cuts: int = 0,
        seed: int = 0,
    ) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.jitter = jitter
        self.drop_rate = drop_rate
        self.max_random_cuts = max_random_cuts
        self.refusing = False
        self.stats = LinkStats()
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def cut(self) -> int:
        """Reset every open connection; returns how many there were."""
        pairs = list(self._pairs)
        for pair in pairs:
            self._drop(pair)
        return len(pairs)

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def _drop(self, pair: _Pair) -> None:
        if pair not in self._pairs:
            return
        self._pairs.discard(pair)
        self.stats.cuts += 1
        _reset(pair.client)
        _reset(pair.server)
        for task in pair.tasks:
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.stats.refused += 1
            _reset(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats.refused += 1
            _reset(writer)
            return
        self.stats.connections += 1
        pair = _Pair(client=writer, server=upstream_writer)
        self._pairs.add(pair)
        pair.tasks = [
            asyncio.create_task(self._pump(pair, reader, upstream_writer)),
            asyncio.create_task(self._pump(pair, upstream_reader, writer)),
        ]
        await asyncio.gather(*pair.tasks, return_exceptions=True)
        if pair in self._pairs:  # ended by one side closing, not by a cut
            self._pairs.discard(pair)
            for end in (writer, upstream_writer):
                end.close()

    def _chunk_cuts_link(self) -> bool:
        if self.drop_rate <= 0 or self.stats.random_cuts >= self.max_random_cuts:
            return False
        if self._random.random() >= self.drop_rate:
            return False
        self.stats.random_cuts += 1
        return True

    async def _pump(
        self, pair: _Pair, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        """Forward one direction, each chunk held back by the link's delay, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        last_due = 0.0

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    with contextlib.suppress(OSError):
                        if sink.can_write_eof():
                            sink.write_eof()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the link's latency
                if self._chunk_cuts_link():
                    self._drop(pair)
                    return
                sink.write(chunk)
                self.stats.bytes_forwarded += len(chunk)
                await sink.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await source.read(CHUNK)
                extra = self._random.uniform(0, self.jitter) if self.jitter else 0.0
                last_due = max(last_due, time.monotonic() + self.delay + extra)
                queue.put_nowait((last_due, chunk))
                if not chunk:
                    break
            await sender
        except (ConnectionError, OSError):
            self._drop(pair)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
