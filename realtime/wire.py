"""Frames written straight to the socket.

A message to a conversation of ten is delivered ten times, and each delivery went through
starlette's WebSocket, the ASGI ``send`` of uvicorn's WebSocket protocol and the websockets
library's frame builder before the write system call: in the fan-out benchmark that was about a
third of the cost of a delivery besides the system call itself, while the frame is the same bytes
for all ten receivers.

``WebSocketProtocol`` is uvicorn's WebSocket protocol (the websockets sans-I/O one it picks by
default) with one addition: an accepted socket offers the application, as the scope extension
``FRAME_WRITER``, a function that writes a whole text frame, already built, to the transport. It
writes only when the ASGI path would have written at once (open, no compression negotiated, the
transport not paused by flow control) and otherwise says no, and the caller sends through ASGI
as before, which waits for the transport, raises on a closed socket and compresses. Under another
server, or run by plain ``uvicorn`` without ``--ws``, the extension is absent and nothing changes.

The protocol also keeps an idle socket small (memory per idle connection, bench/notes.md): its
state is in slots, received frames reach the application without an ``asyncio.Queue``, and flow
control needs no ``asyncio.Event`` of its own until the transport actually pauses.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

# The scope extension under which an accepted socket offers its frame writer.
FRAME_WRITER = "teamwell.frame_writer"
# How uvicorn is told to use it: ``--ws`` takes an import path.
PROTOCOL_PATH = "realtime.wire:WebSocketProtocol"

FrameWriter = Callable[[bytes], bool]

_TEXT_FIN = 0x81  # FIN bit and the text opcode; a server's frames are not masked (RFC 6455 5.1)


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked text frame carrying ``text`` (RFC 6455 section 5.2)."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = bytes((_TEXT_FIN, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _TEXT_FIN, 126, length)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, length)
    return header + payload


class LastFrame:
    """The frame of the text last asked for. The hub hands one event's text, the same string
    object, to every receiver in turn, so the frame is built once for all of them; the text is
    held, so an identity match cannot be a new string at a recycled address."""

    __slots__ = ("_frame", "_text")

    def __init__(self) -> None:
        self._text = ""
        self._frame = text_frame("")

    def of(self, text: str) -> bytes:
        if text is not self._text:
            self._text, self._frame = text, text_frame(text)
        return self._frame


# What a socket's ``writable`` is while its transport is not paused: one event, set, shared by
# every socket (an ``asyncio.Event`` is two deques, about 0.8 KiB, and a socket is almost never
# paused). ``pause_writing`` gives the paused socket an event of its own; ``clear`` is never
# called on this one.
_WRITABLE = asyncio.Event()
_WRITABLE.set()


class Inbox:
    """What the socket received and the application has not yet taken, in order: the part of
    ``asyncio.Queue`` uvicorn's protocol uses (``put_nowait``), at a fraction of its memory (the
    queue is three deques and an event, about 3 KiB a socket, while an idle socket holds nothing
    here). An application already waiting (``waiting``) is handed the event at once."""

    __slots__ = ("events", "waiting")

    def __init__(self) -> None:
        self.events: list[ASGIReceiveEvent] | None = None
        self.waiting: asyncio.Future[ASGIReceiveEvent] | None = None

    def put_nowait(self, event: ASGIReceiveEvent) -> None:
        self.put(event)

    def put(self, event: ASGIReceiveEvent) -> bool:
        """True when an application waiting took it; False when it is kept for the next take."""
        waiting = self.waiting
        if waiting is not None:
            self.waiting = None
            if not waiting.done():  # not cancelled meanwhile
                waiting.set_result(event)
                return True
        if self.events is None:
            self.events = [event]
        else:
            self.events.append(event)
        return False

    def take(self) -> ASGIReceiveEvent | None:
        events = self.events
        if not events:
            return None
        event = events.pop(0)
        if not events:
            self.events = None
        return event

    def empty(self) -> bool:
        return not self.events


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering ``write_frame`` to the application; sending no
    keepalive pings of its own (whatever ``--ws-ping-interval`` says); and letting go of the
    handshake once it is answered.

    Why no pings: the clients send Teamwell's own heartbeat (``ping`` every ``heartbeat_seconds``,
    docs/realtime.md), and the gateway closes a socket from which nothing arrives for the
    heartbeat timeout, so the protocol's pings found nothing the heartbeat does not. They were
    uvicorn's default of one every 20 s to every socket, each a timer, a frame written and a
    pong parsed: the largest share of an idle server's time (about a third of its samples with
    4,000 idle sockets), and a timer handle held by every socket. Pings from the client are
    still answered.

    Why the handshake goes: uvicorn keeps the parsed upgrade request and its response (their
    headers as websockets' ``Headers``) for the socket's life, though it reads neither once the
    response is written: about 4 KiB of every idle socket (tracemalloc, 1,000 sockets). The
    application has the request's headers in its ASGI scope.

    Why slots: uvicorn's protocol sets 34 attributes in ``__init__`` and three more later, past
    the 29 that Python keeps in a compact, shared-key dictionary, so every socket had a full
    dictionary of its own (1.6 KiB; in slots, 0.3 KiB). An attribute uvicorn adds one day lands
    in the dictionary again (tests/realtime/test_wire.py looks that none does).

    Why no queue: uvicorn handed each received frame to the application through an
    ``asyncio.Queue`` (three deques and an event) and paused reading the socket whenever one was
    put there, until the application had taken them all. ``receive`` hands the application a
    future instead, resolved at once with the next frame when the application is already
    waiting for it, as an idle socket's always is; only frames the application has not asked
    for yet wait, in the ``Inbox``, and only then is reading paused, as before: a socket whose
    application is behind holds at most what one read from the network brought (256 KB with
    uvloop), and no more is read from it until the application took all of that."""

    __slots__ = (
        "_inbox",
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's queue and event, made by its __init__, are let go at once.
        self.queue = self._inbox = Inbox()  # type: ignore[assignment]
        self.writable = _WRITABLE

    def pause_writing(self) -> None:
        self.writable = asyncio.Event()

    def resume_writing(self) -> None:
        self.writable.set()  # wakes any send waiting on the paused socket's own event
        self.writable = _WRITABLE

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, but reading pauses only when the frame has to wait (see the class)."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            # Past ``websocket.close``: discarded, so reads stay on until the peer's close reply.
            return
        event: ASGIReceiveEvent
        if self.curr_msg_data_type == "text":
            try:
                event = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                self.logger.exception("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            event = {"type": "websocket.receive", "bytes": data}
        if not self._inbox.put(event) and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def receive(self) -> asyncio.Future[ASGIReceiveEvent]:  # type: ignore[override]
        """The next event for the application: a future (awaited as uvicorn's coroutine is),
        done at once when one is waiting, else when it arrives. One receive at a time, as ASGI
        has it."""
        future: asyncio.Future[ASGIReceiveEvent] = self.loop.create_future()
        event = self._inbox.take()
        if event is None:
            self._inbox.waiting = future
            return future
        future.set_result(event)
        if self.read_paused and self._inbox.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return future

    def start_keepalive(self) -> None:
        # Called by uvicorn once, right after the handshake's response is written. The request
        # is emptied as well as dropped: websockets' parser keeps it referenced from its
        # suspended frame for the socket's life.
        self.request.headers.clear()
        del self.request, self.response

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][FRAME_WRITER] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write a frame made by ``text_frame`` if the socket takes it now, as the ASGI path
        would; False if not, and then nothing was written."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or self.conn.state is not State.OPEN
            or self.conn.extensions  # compressed: the frame must go through the extension
            or not self.writable.is_set()  # paused by flow control: the ASGI send waits
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
