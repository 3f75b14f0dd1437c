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

LIMIT = 10  # the outbound queue (settings.ws_outbound_queue; 10 is the least it may be set to)


class Socket:
    """Stands in for the ASGI socket: ``send_text`` waits while ``writable`` is clear, as
    uvicorn's does while the transport's buffer is full."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.writable = asyncio.Event()
        self.writable.set()
        self.broken: Exception | None = None

    async def send_text(self, text: str) -> None:
        await self.writable.wait()
        if self.broken is not None:
            raise self.broken
        self.sent.append(text)


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


async def test_a_writable_socket_is_sent_to_at_once_without_a_task() -> None:
    socket, conn = Socket(), connection()
    sender = _Sender(socket, conn)  # type: ignore[arg-type]
    for n in range(50):  # more than the queue holds: none of it queues
        conn.deliver(f"frame {n}")
        assert sender._task is None
    assert socket.sent == [f"frame {n}" for n in range(50)]
    assert not conn.closed.is_set()


async def test_a_send_that_waits_is_finished_by_a_task_and_the_rest_follow_in_order() -> None:
    socket, conn = Socket(), connection()
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


async def test_a_client_further_behind_than_the_queue_is_asked_to_resume() -> None:
    socket, conn = Socket(), connection()
    _Sender(socket, conn)  # type: ignore[arg-type]
    socket.writable.clear()
    for n in range(1 + LIMIT):  # one waiting in the task, then the queue full
        conn.deliver(f"frame {n}")
    assert not conn.closed.is_set()
    conn.deliver("one too many")
    assert conn.closed.is_set() and conn.close_code == Close.resume


@pytest.mark.parametrize("when", ["at once", "after waiting"])
async def test_a_failed_send_ends_the_socket(when: str) -> None:
    socket, conn = Socket(), connection()
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


async def test_stopping_cancels_a_send_that_waits() -> None:
    socket, conn = Socket(), connection()
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
