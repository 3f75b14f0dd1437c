"""The socket's sender (realtime/gateway.py ``_Sender``): a frame goes out where it was queued
while the socket takes it at once; when the socket makes it wait (a client reading slowly), a
task finishes that send and sends what queued behind it, in order; a client that falls further
behind than the outbound queue holds is asked to resume; a failed send ends the socket."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.clock import SystemClock
from app.context import Actor, Context
from app.users.models import Role
from realtime.connection import Connection
from realtime.gateway import _Sender
from realtime.protocol import Close
from realtime.wire import FRAME_WRITER

LIMIT = 10  # the outbound queue (settings.ws_outbound_queue; 10 is the least it may be set to)


class Socket:
    """Stands in for the ASGI socket: ``send_text`` waits while ``writable`` is clear, as
    uvicorn's does while the transport's buffer is full. With ``frame_writer``, it also offers
    the frame writer of Teamwell's uvicorn protocol (realtime/wire.py), which writes at once or
    declines (buffer full, socket broken), and both ways land in ``sent`` in the order written."""

    def __init__(self, frame_writer: bool = False) -> None:
        self.sent: list[str] = []
        self.written = 0  # frames taken by the frame writer
        self.writable = asyncio.Event()
        self.writable.set()
        self.broken: Exception | None = None
        self.scope: dict[str, Any] = {"type": "websocket", "extensions": {}}
        if frame_writer:
            self.scope["extensions"][FRAME_WRITER] = self.write_frame

    async def send_text(self, text: str) -> None:
        await self.writable.wait()
        if self.broken is not None:
            raise self.broken
        self.sent.append(text)

    def write_frame(self, frame: bytes) -> bool:
        if not self.writable.is_set() or self.broken is not None:
            return False
        assert frame[0] == 0x81 and frame[1] == len(frame) - 2  # short test frames
        self.sent.append(frame[2:].decode())
        self.written += 1
        return True


@pytest.fixture(params=[False, True], ids=["asgi", "frame writer"])
def frame_writer(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def connection() -> Connection:
    user = uuid.uuid4()
    return Connection(
        user_id=user,
        role=Role.therapist,
        display_name="Tom",
        ctx=Context(
            actor=Actor(user_id=user, role=Role.therapist, organisation_id=None),
            clock=SystemClock(),
        ),
        token_expires_at=0,
        outbound_limit=LIMIT,
    )


async def settle(sender: _Sender) -> None:
    task = sender._task
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), 5)


async def test_a_writable_socket_is_sent_to_at_once_without_a_task(frame_writer: bool) -> None:
    socket, conn = Socket(frame_writer), connection()
    sender = _Sender(socket, conn)  # type: ignore[arg-type]
    for n in range(50):  # more than the queue holds: none of it queues
        conn.deliver(f"frame {n}")
        assert sender._task is None
    assert socket.sent == [f"frame {n}" for n in range(50)]
    assert socket.written == (50 if frame_writer else 0)
    assert not conn.closed.is_set()


async def test_a_send_that_waits_is_finished_by_a_task_and_the_rest_follow_in_order(
    frame_writer: bool,
) -> None:
    socket, conn = Socket(frame_writer), connection()
    sender = _Sender(socket, conn)  # type: ignore[arg-type]
    conn.deliver("first")
    socket.writable.clear()
    for n in range(LIMIT):  # the first waits in the task, the rest fill the queue exactly
        conn.deliver(f"queued {n}")
    assert sender._task is not None
    # Let the task take the waiting send while the socket still makes it wait.
    for _ in range(3):
        await asyncio.sleep(0)
    assert not sender.failed.done()
    assert socket.sent == ["first"]
    assert not conn.closed.is_set()
    socket.writable.set()
    await settle(sender)
    assert socket.sent == ["first"] + [f"queued {n}" for n in range(LIMIT)]
    assert sender._task is None
    conn.deliver("after")  # writable again: sent at once
    assert socket.sent[-1] == "after" and sender._task is None
    # Written by the frame writer: all twelve but the one send that had to wait ("queued 0").
    assert socket.written == (LIMIT + 1 if frame_writer else 0)


async def test_a_client_further_behind_than_the_queue_is_asked_to_resume(
    frame_writer: bool,
) -> None:
    socket, conn = Socket(frame_writer), connection()
    _Sender(socket, conn)  # type: ignore[arg-type]
    socket.writable.clear()
    for n in range(1 + LIMIT):  # one waiting in the task, then the queue full
        conn.deliver(f"frame {n}")
    assert not conn.closed.is_set()
    conn.deliver("one too many")
    assert conn.closed.is_set() and conn.close_code == Close.resume


@pytest.mark.parametrize("when", ["at once", "after waiting"])
async def test_a_failed_send_ends_the_socket(when: str, frame_writer: bool) -> None:
    socket, conn = Socket(frame_writer), connection()
    sender = _Sender(socket, conn)  # type: ignore[arg-type]
    broken = ConnectionResetError("the client went away")
    if when == "after waiting":
        socket.writable.clear()
        conn.deliver("waits")
        socket.broken = broken
        socket.writable.set()
        await settle(sender)
    else:
        socket.broken = broken
        conn.deliver("fails")
    assert sender.failed.done() and sender.failed.exception() is broken
    conn.deliver("not sent")
    assert socket.sent == []


async def test_stopping_cancels_a_send_that_waits(frame_writer: bool) -> None:
    socket, conn = Socket(frame_writer), connection()
    sender = _Sender(socket, conn)  # type: ignore[arg-type]
    socket.writable.clear()
    conn.deliver("waits")
    tasks = sender.stop()
    assert len(tasks) == 1
    for task in tasks:
        task.cancel()
    results: list[Any] = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert socket.sent == []
