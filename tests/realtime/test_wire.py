"""Frames written straight to the socket (realtime/wire.py): the frame bytes are what the
websockets library builds; uvicorn running Teamwell's protocol offers the frame writer, the
socket's sender uses it, and a real client receives every frame whole and in order; the writer
declines (and ASGI sends instead) when compression was negotiated, under flow control and once
the socket is closing. Received frames: a frame the application is waiting for is handed over at
once; frames it has not asked for yet wait (at most one read's worth) and the socket is not read
further until they are taken, in order; the protocol keeps nothing outside its slots."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from realtime.gateway import _Sender
from realtime.wire import FRAME_WRITER, PROTOCOL_PATH, Inbox, LastFrame, text_frame
from tests.realtime.test_gateway_sender import LIMIT, connection

# Lengths at the edges of the frame header's three sizes (RFC 6455 5.2), and text that is not
# ASCII (its length in bytes, not characters, goes in the header).
TEXTS = ["", "a" * 125, "a" * 126, "é" * 70, "a" * 65535, "a" * 65536, "ü" * 40_000]
assert len(TEXTS) <= LIMIT


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{len(t.encode())} bytes")
def test_a_text_frame_is_what_the_websockets_library_builds(text: str) -> None:
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert text_frame(text) == expected


def test_the_last_frame_is_built_once_for_the_same_text() -> None:
    frames = LastFrame()
    text = "x" * 300
    first = frames.of(text)
    assert frames.of(text) is first  # the same text object: not built again
    other = "".join(["x" * 150, "x" * 150])  # equal, another object
    assert frames.of(other) == first
    assert frames.of("y") == text_frame("y")


Handler = Callable[[WebSocket, Any], Awaitable[None]]


class Served:
    """An ASGI application on a real uvicorn with Teamwell's WebSocket protocol: each socket is
    accepted and handed to ``handler`` with the frame writer (counting what it wrote)."""

    def __init__(self, handler: Handler, *, compression: bool) -> None:
        self.handler = handler
        self.writes = 0
        self.declined = 0
        # Listening before the server starts: a client that connects early waits in the backlog.
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                interface="asgi3",
                ws=PROTOCOL_PATH,
                ws_per_message_deflate=compression,
                lifespan="off",
                log_level="warning",
            )
        )
        self.failure: BaseException | None = None

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        writer = scope["extensions"][FRAME_WRITER]

        def counted(frame: bytes) -> bool:
            written: bool = writer(frame)
            if written:
                self.writes += 1
            else:
                self.declined += 1
            return written

        scope["extensions"][FRAME_WRITER] = counted
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        try:
            await self.handler(websocket, writer)
        except BaseException as exc:
            self.failure = exc
            raise

    async def __aenter__(self) -> Served:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.socket]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)
        self.socket.close()


async def deliver_all(websocket: WebSocket, _writer: Any) -> None:
    """What the gateway does: the socket's sender sends what its connection is given."""
    conn = connection()  # its outbound queue holds all of TEXTS
    sender = _Sender(websocket, conn)
    for text in TEXTS:
        conn.deliver(text)
    if sender._task is not None:
        await sender._task
    assert not sender.failed.done()
    await websocket.receive()  # the client says it has everything


async def received(port: int, count: int, *, compression: str | None) -> list[str]:
    async with connect(f"ws://127.0.0.1:{port}/", compression=compression, max_size=None) as client:
        async with asyncio.timeout(10):
            texts = [str(await client.recv()) for _ in range(count)]
        await client.send("done")
    return texts


async def test_frames_go_straight_to_the_socket_and_arrive_whole_and_in_order() -> None:
    async with Served(deliver_all, compression=False) as served:
        texts = await received(served.port, len(TEXTS), compression=None)
    assert texts == TEXTS
    assert served.writes == len(TEXTS) and served.declined == 0
    assert served.failure is None


async def test_with_compression_negotiated_frames_go_through_asgi() -> None:
    async with Served(deliver_all, compression=True) as served:
        texts = await received(served.port, len(TEXTS), compression="deflate")
    assert texts == TEXTS
    assert served.writes == 0 and served.declined == len(TEXTS)
    assert served.failure is None


async def test_the_writer_declines_under_flow_control_and_once_the_socket_is_closing() -> None:
    seen: dict[str, bool] = {}

    async def handler(websocket: WebSocket, writer: Any) -> None:
        protocol = writer.__self__
        seen["open"] = writer(text_frame("one"))
        protocol.pause_writing()  # what the transport does when its buffer is full
        seen["paused"] = writer(text_frame("not written"))
        protocol.resume_writing()
        seen["resumed"] = writer(text_frame("two"))
        await websocket.receive()
        await websocket.close(1000)
        seen["closing"] = writer(text_frame("not written either"))

    async with Served(handler, compression=False) as served:
        texts = await received(served.port, 2, compression=None)
    assert texts == ["one", "two"]
    assert seen == {"open": True, "paused": False, "resumed": True, "closing": False}
    assert served.failure is None


class _Noticed(Inbox):
    """The socket's inbox, noticing when a frame had to be kept (the application was not
    waiting for it)."""

    __slots__ = ("kept",)

    def __init__(self) -> None:
        super().__init__()
        self.kept = asyncio.Event()

    def put(self, event: Any) -> bool:
        taken = super().put(event)
        if not taken:
            self.kept.set()
        return taken


# asyncio's transports read at most 256 KiB at a time (262,144 bytes; uvloop's 256,000).
READ_MAX = 262_144
FRAME = "x" * 1_000
SENT = 1_000  # about 1 MB, several reads


async def test_reading_pauses_while_frames_wait_and_resumes_once_they_are_taken() -> None:
    seen: dict[str, Any] = {}

    async def handler(websocket: WebSocket, writer: Any) -> None:
        protocol = writer.__self__
        inbox = protocol.queue = protocol._inbox = _Noticed()
        await websocket.send_text("go")
        async with asyncio.timeout(10):
            await inbox.kept.wait()
        # Not waiting for a frame: what was read waits, and the socket is not read further.
        seen["paused"] = protocol.read_paused
        seen["kept"] = len(inbox.events or ())
        texts = [await websocket.receive_text() for _ in range(SENT)]
        seen["in order"] = texts == [f"{i}{FRAME}" for i in range(SENT)]
        seen["resumed"] = not protocol.read_paused
        # Waiting for one when it comes: handed over, the socket read on.
        inbox.kept.clear()
        await websocket.send_text("taken")
        seen["next"] = await websocket.receive_text()
        seen["kept after"] = inbox.kept.is_set()
        seen["paused after"] = protocol.read_paused
        seen["no dictionary"] = protocol.__dict__ == {}
        await websocket.send_text("done")

    async with Served(handler, compression=False) as served:
        url = f"ws://127.0.0.1:{served.port}/"
        async with connect(url, compression=None) as client, asyncio.timeout(30):
            assert await client.recv() == "go"
            for i in range(SENT):
                await client.send(f"{i}{FRAME}")
            assert await client.recv() == "taken"
            await client.send("next")
            assert await client.recv() == "done"
    assert served.failure is None
    assert seen["paused"] is True
    assert 1 <= seen["kept"] <= READ_MAX // len(FRAME) + 1
    assert seen["in order"] and seen["resumed"]
    assert seen["next"] == "next" and seen["kept after"] is False
    assert seen["paused after"] is False
    assert seen["no dictionary"], "every attribute of the protocol has a slot"
