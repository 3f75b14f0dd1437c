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
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

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
    application has the request's headers in its ASGI scope."""

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
