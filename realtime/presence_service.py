"""Presence driven by socket events and a timer: the pure transitions of realtime.presence,
applied to the shared presence store (realtime.presence_store), coalesced per person in this
process, and published only to the people entitled to see it (messaging_policies.contacts).

State lives in the store, never here: with Redis, every process sees one person's devices
wherever they are connected, builds snapshots from it, and any process's timer may time out
anyone, including the devices of a process that died. What stays per process is coalescing
and a hint of when this process's own changes next need the timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app import metrics
from app.clock import Clock
from app.db import read_only
from app.users.models import Role, User
from auth.policies import messaging as messaging_policies
from realtime import presence as rules
from realtime.connection import Connection
from realtime.hub import Hub
from realtime.presence_store import CLAIM_BATCH, Beat, PresenceStore, Update
from realtime.protocol import PresenceChanged, PresenceSnapshot, PresenceView

log = logging.getLogger("teamwell.presence")

# Heartbeats are written in batches (PresenceStore.refresh): those that arrive within this long of
# the first one waiting are written together. A batch's wait is far below the dead time less
# the heartbeat interval (40 s by default), and the timer writes what waits before it looks at
# anyone's deadline, so a waiting heartbeat never lets its device time out.
HEARTBEAT_BATCH_SECONDS = 0.25


def _heartbeat_of(beat: Beat) -> Update:
    return lambda user: rules.handle_heartbeat(user, beat.device, beat.at)


class PresenceService:
    """Timings come from the store, so deadlines filed and timeouts applied always agree.

    The timer sleeps until the earliest deadline in the store (anyone's: a person whose process
    died is due too) or the next coalesced publication, and looks at the store again at least
    every heartbeat interval, so deadlines filed meanwhile by other processes are noticed in time
    (a device's dead time is filed when it heartbeats, a dead time ahead, which is longer).
    Changes made here that fall due before the timer means to wake wake it at once.
    """

    def __init__(
        self,
        hub: Hub,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        store: PresenceStore,
        min_interval: float = rules.MIN_PUBLISH_INTERVAL,
    ) -> None:
        self.hub = hub
        self.sessions = sessions
        self.clock = clock
        self.store = store
        self.timings = store.timings
        self.coalescer = rules.Coalescer(min_interval)
        # The last state this process offered its coalescer per person. When a change starts
        # from anything else, another process changed the person in between and the coalescer's
        # idea of what others last heard is out of date (see _apply).
        self._offered: dict[uuid.UUID, rules.PresenceState] = {}
        self._wake = asyncio.Event()
        self._wake_at = -math.inf  # when the timer means to wake; -inf while it is working
        self._task: asyncio.Task[None] | None = None
        # Heartbeats waiting for their batch, the latest per device; and the task writing them.
        self._beats: dict[str, Beat] = {}
        # The devices connected here: a heartbeat of one that closed while its batch was being
        # written must not add it back.
        self._live: set[str] = set()
        self._beating: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self.clock.now().timestamp()

    async def start(self) -> None:
        await self.store.connect()
        self._task = asyncio.create_task(self._run(), name="presence-timer")

    async def stop(self) -> None:
        for task in (self._task, self._beating):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.store.close()

    # --- socket events ---------------------------------------------------------------------

    async def connect(
        self, connection: Connection, audience: set[uuid.UUID] | None = None
    ) -> PresenceSnapshot:
        """The device is online; returns the new socket's snapshot. Who may see this person is
        read once for both (the relation is symmetric: those they see are those who see them),
        without the write lock, since a reconnecting crowd all pass through here at once;
        ``audience`` when the caller has just read it (``messaging_policies.contact_ids``)."""
        device, now = connection.id, self.now()
        self._live.add(device)
        if audience is None:
            audience = await self._audience(connection.user_id, connection.role)
        await self._apply(
            connection.user_id, lambda u: rules.handle_connect(u, device, now), audience
        )
        return await self._snapshot(audience)

    async def disconnect(self, connection: Connection) -> None:
        device, now = connection.id, self.now()
        self._live.discard(device)
        self._beats.pop(device, None)
        await self._apply(connection.user_id, lambda u: rules.handle_disconnect(u, device, now))

    async def heartbeat(self, connection: Connection) -> None:
        """Kept for the next batch of heartbeats (``HEARTBEAT_BATCH_SECONDS``), not written now:
        a heartbeat changes nothing anyone sees, and ten thousand idle sockets send 500 a
        second."""
        self._beats[connection.id] = Beat(connection.user_id, connection.id, self.now())
        if self._beating is None:
            self._beating = asyncio.create_task(self._beat_later(), name="presence-heartbeats")

    async def _beat_later(self) -> None:
        try:
            await asyncio.sleep(HEARTBEAT_BATCH_SECONDS)  # gathering the batch, not a sync wait
        finally:
            self._beating = None
        try:
            await self.flush_heartbeats()
        except Exception:  # the devices beat again within the dead time; the timer meanwhile
            log.exception("writing a batch of heartbeats failed")

    async def flush_heartbeats(self) -> None:
        """Write the heartbeats waiting, in one round trip; a device the store no longer knows
        (timed out meanwhile) is added back as a heartbeat always did (``handle_heartbeat``)."""
        beats, self._beats = list(self._beats.values()), {}
        if not beats:
            return
        for beat in await self.store.refresh(beats):
            if beat.device not in self._live:
                continue  # closed meanwhile: its disconnect removed it, and so it stays
            await self._apply(beat.user_id, _heartbeat_of(beat))

    async def activity(self, connection: Connection) -> None:
        device, now = connection.id, self.now()
        await self._apply(connection.user_id, lambda u: rules.handle_activity(u, device, now))

    async def set_state(self, connection: Connection, state: str) -> None:
        device, chosen, now = connection.id, rules.PresenceState(state), self.now()
        await self._apply(connection.user_id, lambda u: rules.handle_set(u, device, chosen, now))

    async def snapshot(self, connection: Connection) -> PresenceSnapshot:
        """The current presence of everyone this person may see, wherever they are connected."""
        return await self._snapshot(await self._audience(connection.user_id, connection.role))

    async def _snapshot(self, people: set[uuid.UUID]) -> PresenceSnapshot:
        audience = sorted(people, key=str)
        presences = await self.store.get_many(audience)
        shown = [
            PresenceView(
                user_id=uid,
                state=str(self.coalescer.shown(str(uid), presences[uid].state)),
                last_seen=presences[uid].last_seen,
            )
            for uid in audience
        ]
        return PresenceSnapshot(presences=shown)

    # --- internals ---------------------------------------------------------------------------

    async def _audience(self, user_id: uuid.UUID, role: Role | None = None) -> set[uuid.UUID]:
        """Who may see this person's presence (``role`` when known saves reading the person)."""
        async with self.sessions() as session:
            read_only(session)  # reads only: on SQLite it neither takes nor waits for the lock
            if role is None:
                user = await session.get(User, user_id)
                if user is None:
                    return set()
                role = user.role
            return await messaging_policies.contact_ids(session, user_id, role)

    async def _apply(
        self, user_id: uuid.UUID, fn: Update, audience: set[uuid.UUID] | None = None
    ) -> None:
        """``audience``, when the caller has just read it, saves reading it again to publish."""
        transition = await self.store.update(user_id, fn)
        deadline = rules.next_timeout(transition.presence, self.timings)
        if deadline is not None and deadline < self._wake_at:
            self._wake.set()
        if not transition.changed:
            return
        # Each change of the visible state happens in exactly one process (the one whose update
        # made it), and is offered to that process's coalescer. If this change does not start
        # from what this process last offered, another process changed the person since, and
        # published it: this coalescer may think others already heard the new state, and would
        # drop it as a flap. Publish it then; offering it still brings the coalescer up to date.
        interleaved = self._offered.get(user_id, transition.previous) != transition.previous
        self._offered[user_id] = transition.current
        released = self.coalescer.offer(str(user_id), transition.current, self.now())
        if released is not None or interleaved:
            await self._publish(user_id, audience)
        else:
            self._wake.set()

    async def _publish(self, user_id: uuid.UUID, audience: set[uuid.UUID] | None = None) -> None:
        """Tell everyone entitled the person's current state (read last, so it is the latest)."""
        if audience is None:
            audience = await self._audience(user_id)
        if audience:
            presence = (await self.store.get_many([user_id]))[user_id]
            frame = PresenceChanged(
                user_id=user_id, state=str(presence.state), last_seen=presence.last_seen
            )
            metrics.presence_published.inc()
            await self.hub.send_to_users(audience, frame)

    async def _tick(self) -> None:
        # What heartbeats wait here are written first, so that none of their devices is timed out.
        await self.flush_heartbeats()
        now = self.now()
        while True:
            due = await self.store.claim_due(now)
            for user_id in due:
                try:
                    await self._apply(user_id, lambda u: rules.handle_timeout(u, now, self.timings))
                except Exception:  # the others go on; this one comes due again after the lease
                    log.exception("presence timeout of %s failed", user_id)
            if len(due) < CLAIM_BATCH:
                break
        for user_key, _state in self.coalescer.due(now):
            await self._publish(uuid.UUID(user_key))

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._wake_at = -math.inf  # changes made while working wake the next round
            deadline: float | None = None
            try:
                await self._tick()
                deadline = await self.store.next_deadline()
            except Exception:  # a failed step must not stop presence for everyone
                log.exception("presence timer step failed")
            now = self.now()
            candidates = (self.coalescer.next_due(), deadline)
            self._wake_at = min(
                [now + self.timings.heartbeat_interval, *(d for d in candidates if d is not None)]
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, self._wake_at - now))
