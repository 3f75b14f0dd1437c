"""Group commit for ``message.send``: one writer per process stores every message that arrives
while the previous batch is being written, in one transaction.

Under light load a batch is one message and costs what storing it alone would. Under heavy load
the statements and the commit of a batch are shared by all its messages (see
app/messaging/batch.py, which stores a batch on the database driver itself), so the process
keeps up with many more messages a second. Each
sender still waits for its own message to be committed before it is acknowledged and announced,
and the messages of one socket keep their order (its handler sends the next only after the
previous was stored).

If a batch fails while writing (for example a resend racing in from another process hits the
unique client message id), it is rolled back and its messages are stored one at a time through
``messaging.store_one``, so one message's trouble is only ever that message's. Messages to a
client's case thread are stored that way too, after the batch: their membership follows the
shared care-team and consent policies, and each is audited. Both ways follow the same rules
(app/messaging/service.py, "what is stored, by whichever path").

The socket's side (checking the frame, acknowledging, announcing) is the gateway's
(realtime/handlers.py); this only stores.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app import metrics
from app.group_commit import GroupCommit
from app.messaging import service as messaging
from app.messaging.batch import NeedsFullPath, store_batch
from app.messaging.keyring import MessageKeyring

log = logging.getLogger("teamwell.messaging")

# At most this many messages share a transaction (keeps one batch's commit short).
BATCH_MAX = 64

Pending = tuple[messaging.Outgoing, "asyncio.Future[messaging.Stored]"]


class MessageWriter(GroupCommit[messaging.Outgoing, messaging.Stored]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: MessageKeyring,
        *,
        on_task: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> None:
        super().__init__(
            name="message-writer", metric="messages", batch_max=BATCH_MAX, on_task=on_task
        )
        self.sessions = sessions
        self.keyring = keyring
        engine = sessions.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        self.engine = engine
        # A connection of the writer's own, kept between batches: checking one out of the pool
        # for every batch (and PostgreSQL's ping on checkout) cost more than a small batch.
        self._connection: AsyncConnection | None = None

    async def stop(self) -> None:
        await super().stop()
        await self._let_go()

    async def _let_go(self) -> None:
        """Close the held connection (after a failure it may be broken; the next batch opens
        a fresh one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
                await connection.close()
            except Exception:
                log.debug("closing the message writer's connection failed", exc_info=True)

    async def send(self, item: messaging.Outgoing) -> messaging.Stored:
        """Store one message (with whatever else is waiting); returns it once committed, or
        raises what refused it (``NotAMember``, ``ConversationNotFound``, ``SenderInactive``)."""
        return await self.submit(item)

    def submit(self, item: messaging.Outgoing) -> asyncio.Future[messaging.Stored]:
        """Hand one message over now; what ``send`` returns or raises, when it is known.
        Messages are stored in the order they were handed over."""
        return self._submit(item)

    async def _write(self, batch: list[Pending]) -> None:
        try:
            if self._connection is None:
                self._connection = await self.engine.connect()
            outcomes = await store_batch(
                self._connection, self.keyring, [item for item, _ in batch]
            )
        except Exception:
            await self._let_go()
            if len(batch) > 1:
                log.info("a batch of %d messages failed; storing them one by one", len(batch))
            for pending in batch:
                await self._write_one(*pending)
            return
        metrics.messages_stored.inc(
            sum(not isinstance(outcome, (NeedsFullPath, Exception)) for outcome in outcomes)
        )
        for (item, waiter), outcome in zip(batch, outcomes, strict=True):
            if waiter.done():  # the sender's socket went away meanwhile; the message stays
                continue
            if isinstance(outcome, NeedsFullPath):
                await self._write_one(item, waiter)
            elif isinstance(outcome, Exception):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)

    async def _write_one(
        self, item: messaging.Outgoing, waiter: asyncio.Future[messaging.Stored]
    ) -> None:
        try:
            async with self.sessions() as session:
                result = await messaging.store_one(session=session, keyring=self.keyring, item=item)
                await session.commit()
        except Exception as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            return
        metrics.messages_stored.inc()
        if not waiter.done():
            waiter.set_result(result)
