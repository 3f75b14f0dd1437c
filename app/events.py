"""What a change announces, and when: after it is committed, never before, never if it is not.

A request (or a WebSocket frame) that stores a change says who is to hear of it by queuing an
event on its session with ``announce(session, event)``. Whoever owns the session publishes the
queued events once its transaction has committed: ``app.db.get_session`` for a request, right
after its one commit, and ``transaction()`` below for a WebSocket frame. A transaction that rolls
back drops the events queued in it. So nobody is told of a change that was not stored, and a
change is readable by the time anyone is told of it.

An event is a typed model: who receives it and the frame it becomes (``realtime/protocol.py``).
Each domain that announces something keeps its events in its ``events.py``; what is published
goes through the process's hub (``realtime/hub.py``) to each recipient's channel. Publishing
never fails the change: it is stored already, and a request answered as failed would be sent
again and stored twice (see ``Hub.send_to_users``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from realtime.protocol import ServerFrame

log = logging.getLogger("teamwell.events")

# Kept in the session's ``info``: what the open transaction announced, and what committed
# transactions announced that is not published yet.
_PENDING = "teamwell_events_pending"
_COMMITTED = "teamwell_events_committed"


class Device(NamedTuple):
    """One socket of one person (a meeting seat belongs to one device, not to every one)."""

    user_id: uuid.UUID
    connection_id: str


class Event(BaseModel):
    """Something stored that people are told of: who receives it and the frame it becomes.

    ``to``: every device of each person; ``devices``: those sockets only; ``origin``: the socket
    the change came from, which is not sent the frame (it has its own reply). A domain's event
    narrows ``frame`` to the frame it becomes."""

    model_config = ConfigDict(frozen=True)

    frame: ServerFrame
    to: frozenset[uuid.UUID] = frozenset()
    devices: tuple[Device, ...] = ()
    origin: str | None = None


class Publisher(Protocol):
    """Where committed events go: the process's hub (``realtime.hub.Hub``)."""

    async def publish(self, event: Event) -> None: ...


def announce(session: AsyncSession, event: Event) -> None:
    """Queue ``event`` to be published once this session's transaction commits."""
    session.info.setdefault(_PENDING, []).append(event)


def _queued(session: Session, key: str) -> list[Event]:
    found: list[Event] = session.info.pop(key, [])
    return found


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if _PENDING in session.info:
        session.info.setdefault(_COMMITTED, []).extend(_queued(session, _PENDING))


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: Any) -> None:
    # Not stored, so not said. Fired for every rollback, also of a session that had not yet
    # touched the database. A savepoint's rollback leaves the outer transaction going, and what
    # was announced stays with it, also inside the savepoint: announce after a savepoint, not in
    # one that may roll back.
    if not session.in_transaction():
        _queued(session, _PENDING)


async def publish_committed(session: AsyncSession, publisher: Publisher) -> None:
    """Publish, in the order announced, what this session's committed transactions announced.
    A failure is logged and the rest still go out: the change is stored whatever happens."""
    for event in _queued(session.sync_session, _COMMITTED):
        try:
            await publisher.publish(event)
        except Exception:
            log.exception("a %s event was not published", event.frame.type)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], publisher: Publisher
) -> AsyncIterator[AsyncSession]:
    """A session of its own for work outside a request (a WebSocket frame), shaped as a
    request's: committed once when the block ends and its events published after that, or
    rolled back (its events dropped) when the block raises."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
    await publish_committed(session, publisher)
