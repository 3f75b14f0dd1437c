"""Group commit for the audit events of reading requests.

A request that only reads (a plan, say) still appends an event to the hash-chained audit trail,
and an append must hold the chain's lock (SQLite's write lock, PostgreSQL's advisory lock) from
reading the chain's tail to the commit. If every such request took that lock in its own
transaction, reads would queue one behind another for the whole of their work and pay a commit
each. Instead a reading request's session only reads (on SQLite it begins without the write
lock) and hands its events to this writer, one per process, which appends every event that
arrived while the previous batch was being committed in one transaction: one read of the tail,
one insert, one commit.

Nothing is weakened by it:

* **Not lost.** ``append`` returns only once the batch holding the events is committed, and the
  request awaits it before it answers; if the batch cannot be stored the request fails
  (rolled back, answered as an error) exactly as when its own commit failed. An acknowledged
  response therefore means its audit event is durable.
* **Not reordered.** Events are appended in the order they were handed over, each chained to
  the one before under the same lock as every other append, so ``verify_chain`` walks them like
  any other events.
* **One event's trouble stays its own.** A batch that fails while writing is rolled back and its
  requests' events are appended one request at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.context import Context
from app.db import SessionDep, read_only
from app.group_commit import GroupCommit

log = logging.getLogger("teamwell.audit")

# At most this many requests' events share a transaction (keeps one batch's commit short).
BATCH_MAX = 128

ReadEvents = tuple[Context, Sequence[audit_service.AuditEntry]]
Pending = tuple[ReadEvents, "asyncio.Future[list[AuditEvent]]"]


class AuditWriter(GroupCommit[ReadEvents, list[AuditEvent]]):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(name="audit writer", metric="audit", batch_max=BATCH_MAX)
        self.sessions = sessions

    async def append(
        self, ctx: Context, entries: Sequence[audit_service.AuditEntry]
    ) -> list[AuditEvent]:
        """Append one request's events (with whatever else is waiting); returns them once
        committed, or raises what stopped them being stored."""
        # Shielded: a request cancelled meanwhile (its client went away) leaves its events to be
        # stored all the same, and the batch is not disturbed.
        return await asyncio.shield(self._submit((ctx, entries)))

    async def _write(self, batch: list[Pending]) -> None:
        try:
            events = await self._store(batch)
        except Exception:
            if len(batch) == 1:
                raise
            log.info("a batch of %d audited reads failed; storing them one by one", len(batch))
            for pending in batch:
                await self._write_one(pending)
            return
        start = 0
        for (_ctx, entries), waiter in batch:
            if not waiter.done():
                waiter.set_result(events[start : start + len(entries)])
            start += len(entries)

    async def _write_one(self, pending: Pending) -> None:
        waiter = pending[1]
        try:
            events = await self._store([pending])
        except Exception as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            return
        if not waiter.done():
            waiter.set_result(events)

    async def _store(self, batch: list[Pending]) -> list[AuditEvent]:
        async with self.sessions() as session:
            events = await audit_service.append_chained(
                session, [(ctx, entry) for (ctx, entries), _ in batch for entry in entries]
            )
            await session.commit()
        return events


async def audited_read(request: Request, session: SessionDep) -> None:
    """For a route that only reads (and audits): its session reads without taking the write
    lock, and its audit events are appended by the process's audit writer, committed before the
    route answers. Named first in the route's ``dependencies``, so that it runs before anything
    uses the session. The route must not write anything else."""
    read_only(session)
    session.info[audit_service.AUDIT_WRITER] = request.app.state.audit_writer


AuditedRead = Depends(audited_read)
