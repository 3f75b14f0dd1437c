"""What other domains use of the job runner: ``schedule`` a job in their own transaction and
register a ``handler`` for its kind (docs/architecture.md, "Scheduled work").

A handler is ``async def run(job: JobContext) -> None``. It runs in a transaction of its own,
which also marks the job done: whatever it stores, and the events it announces
(``app.events.announce(job.session, ...)``), are committed with "done" or not at all, and the
events are published after that commit. So a job whose process dies part-way leaves nothing
behind and runs again in full. A handler that raises is retried with backoff; raise
``JobError`` to record a reason of your own (never clinical content: admins read it), anything
else is recorded by its class name only.

A handler that waits on the network (sending notices) registers with
``outside_transaction=True``: it opens short transactions of its own from ``job.sessions`` and
none is held while it runs (on SQLite one would hold the database's write lock throughout).
Its ``job.session`` is committed with "done" after it returns; the job's lease keeps other
processes off the job meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.context import Context


class JobError(Exception):
    """A failure whose message is fit for admins to read (no clinical content, no names)."""


@dataclass(frozen=True)
class JobContext:
    """What a handler is given: its session (commit is the runner's), a system context with the
    injected clock, the job's payload, and the settings."""

    session: AsyncSession
    ctx: Context
    payload: dict[str, Any]
    settings: Settings
    job_id: uuid.UUID
    attempt: int  # 1 for the first attempt
    # Sessions of the handler's own, for one registered ``outside_transaction``.
    sessions: async_sessionmaker[AsyncSession] | None = None


Handler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class Recurring:
    """A job of ``kind`` due at the start of every slot of ``every`` (see ``rules.slot``)."""

    kind: str
    every: Callable[[Settings], timedelta | None]  # None: not recurring under these settings


HANDLERS: dict[str, Handler] = {}
RECURRING: dict[str, Recurring] = {}
OUTSIDE_TRANSACTION: set[str] = set()


def handler(
    kind: str,
    *,
    every: Callable[[Settings], timedelta | None] | None = None,
    outside_transaction: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the function below as the handler of ``kind``; with ``every``, also schedule a
    job of that kind at the start of each period (read from the settings); with
    ``outside_transaction``, run it with no transaction held (above)."""

    def register(run: Handler) -> Handler:
        if kind in HANDLERS:
            raise ValueError(f"a handler for {kind!r} is registered already")
        if len(kind) > 64:
            raise ValueError("a job kind has at most 64 characters")
        HANDLERS[kind] = run
        if every is not None:
            RECURRING[kind] = Recurring(kind=kind, every=every)
        if outside_transaction:
            OUTSIDE_TRANSACTION.add(kind)
        return run

    return register
