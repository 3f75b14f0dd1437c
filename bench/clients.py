"""The load generator's clients, the same for Teamwell and for the baselines.

``Socket`` is one WebSocket opened as a browser opens Teamwell's (the ``teamwell.v1`` and
``bearer.<token>`` subprotocols); every frame received goes to ``on_frame`` with the time it
arrived. It is a small client of its own on an asyncio protocol, not a general-purpose library:
it handles each frame in the callback that received the bytes, with no task switch per frame,
so that on a machine it shares with the server the load generator is not what limits the
measurement. It offers no compression (see docs/deploy.md on permessage-deflate). ``Http`` is
the same idea for HTTP/1.1 with keep-alive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import struct
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from websockets.frames import apply_mask  # the C implementation when available

Frame = dict[str, Any]
FrameHandler = Callable[[Frame, float], None]
OPEN_TIMEOUT = 30.0
_ids = itertools.count(1)

_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 section 5.2)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = os.urandom(4)
    return head + mask + apply_mask(payload, mask)


class _Protocol(asyncio.Protocol):
    def __init__(self, socket: Socket, request: bytes) -> None:
        self.socket = socket
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:end]).split(b"\r\n", 1)[0]
            del buffer[: end + 4]
            if b" 101 " not in status + b" ":
                self.socket._failed(ConnectionError(status.decode("latin-1")))
                return
            self.upgraded = True
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length = second & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                start = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                start = 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self._frame(first & 0x80, first & 0x0F, payload)

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if opcode in (_TEXT, _BINARY, 0x0):
            self.fragments.append(payload)
            if fin:
                message = b"".join(self.fragments) if len(self.fragments) > 1 else payload
                self.fragments = []
                self.socket._received(message)
        elif opcode == _PING:
            transport.write(_frame(_PONG, payload))
        elif opcode == _CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.socket.close_code = code
            if not transport.is_closing():
                transport.write(_frame(_CLOSE, payload[:2]))
                transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.socket._lost()


class Socket:
    def __init__(self, on_frame: FrameHandler | None) -> None:
        self.on_frame = on_frame
        self.ready: Frame = {}
        self.close_code: int | None = None
        self.protocol: _Protocol | None = None
        self._replies: dict[str, asyncio.Future[Frame]] = {}
        self._ready: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._gone = asyncio.Event()

    @classmethod
    async def open(cls, base_url: str, token: str, on_frame: FrameHandler | None = None) -> Socket:
        """Connected and authenticated: returns once the server said ``ready``."""
        parts = urlsplit(base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: teamwell.v1, bearer.{token}\r\n"
            f"User-Agent: teamwell-bench\r\n\r\n"
        ).encode()
        socket = cls(on_frame)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                _, socket.protocol = await loop.create_connection(
                    lambda: _Protocol(socket, request), host, port
                )
                socket.ready = await socket._ready
        except BaseException:
            # Given up (timed out, refused): its connection must not stay open behind the
            # caller's back, where the server would go on counting it against the person's
            # connections, and refuse the next attempt for it (close 4409).
            if socket.protocol is not None and socket.protocol.transport is not None:
                socket.protocol.transport.abort()
            raise
        return socket

    def _failed(self, failure: BaseException) -> None:
        if not self._ready.done():
            self._ready.set_exception(failure)
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()

    def _received(self, raw: bytes) -> None:
        arrived = time.perf_counter()
        frame = orjson.loads(raw)
        if not self._ready.done():
            if frame.get("type") == "ready":
                self._ready.set_result(frame)
            elif frame.get("type") == "error":
                self._failed(ConnectionError(str(frame.get("message"))))
            return
        request_id = frame.get("id")
        if request_id is not None:
            waiter = self._replies.pop(request_id, None)
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(frame)
                return
        if self.on_frame is not None:
            self.on_frame(frame, arrived)

    def _lost(self) -> None:
        if self.close_code is None:
            self.close_code = 1006
        failure = ConnectionError(f"closed with {self.close_code}")
        if not self._ready.done():
            self._ready.set_exception(failure)
        for waiter in self._replies.values():
            if not waiter.done():
                waiter.set_exception(failure)
        self._replies.clear()
        self._gone.set()

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    async def send(self, frame: Frame) -> None:
        self.send_nowait(frame)

    def send_nowait(self, frame: Frame) -> None:
        if self.closed or self.protocol is None or self.protocol.transport is None:
            raise ConnectionError(f"closed with {self.close_code}")
        self.protocol.transport.write(_frame(_TEXT, orjson.dumps(frame)))

    def expect(self, request_id: str) -> asyncio.Future[Frame]:
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = waiter
        return waiter

    async def request(self, frame: Frame, wait: float = 30.0) -> Frame:
        request_id = f"r{next(_ids)}"
        waiter = self.expect(request_id)
        await self.send({**frame, "id": request_id})
        async with asyncio.timeout(wait):
            return await waiter

    async def close(self) -> None:
        transport = self.protocol.transport if self.protocol is not None else None
        if transport is None or self._gone.is_set():
            return
        if not transport.is_closing():
            transport.write(_frame(_CLOSE, (1000).to_bytes(2, "big")))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._gone.wait()
        transport.abort()


async def open_many(
    base_urls: list[str],
    tokens: list[str],
    on_frame: FrameHandler | None = None,
    *,
    concurrency: int = 32,
) -> list[Socket]:
    """One socket per token, spread over the URLs in turn, ``concurrency`` handshakes at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, token: str) -> Socket:
        async with gate:
            return await Socket.open(base_urls[index % len(base_urls)], token, on_frame)

    results = await asyncio.gather(
        *(one(i, t) for i, t in enumerate(tokens)), return_exceptions=True
    )
    sockets = [r for r in results if isinstance(r, Socket)]
    failures = [r for r in results if not isinstance(r, Socket)]
    if failures:
        await close_all(sockets)
        raise RuntimeError(f"{len(failures)} of {len(tokens)} sockets failed: {failures[0]!r}")
    return sockets


async def close_all(sockets: list[Socket]) -> None:
    for start in range(0, len(sockets), 500):
        await asyncio.gather(*(s.close() for s in sockets[start : start + 500]))


# --- HTTP ----------------------------------------------------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await self._connect()
        payload = orjson.dumps(body) if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        answer: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                answer[name.strip().lower()] = value.strip()
        if "content-length" in answer:
            content = await reader.readexactly(int(answer["content-length"]))
        elif answer.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                chunks.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(c[:-2] for c in chunks)
        else:
            content = b""
        if answer.get("connection", "").lower() == "close":
            await self.close()
        return status, answer, content

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
