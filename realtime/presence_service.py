"""Presence for the connections of this process: the pure transitions of realtime.presence,
driven by socket events and a timer, coalesced per person, and published only to the people
entitled to see it (policies.contacts)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clock import Clock
from app.users.models import User
from auth import policies
from realtime import presence as rules
from realtime.connection import Connection
from realtime.hub import Hub

log = logging.getLogger("teamwell.presence")


class PresenceService:
    def __init__(
        self,
        hub: Hub,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        timings: rules.PresenceTimings | None = None,
        min_interval: float = rules.MIN_PUBLISH_INTERVAL,
    ) -> None:
        self.hub = hub
        self.sessions = sessions
        self.clock = clock
        self.timings = timings or rules.PresenceTimings()
        self.users: dict[uuid.UUID, rules.UserPresence] = {}
        self.coalescer = rules.Coalescer(min_interval)
        # Deadlines of the next idle/dead check per person: only people with something due are
        # visited, however many are connected.
        self._timeouts: list[tuple[float, str]] = []
        self._scheduled: dict[uuid.UUID, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self.clock.now().timestamp()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence-timer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def state_of(self, user_id: uuid.UUID) -> dict[str, Any]:
        presence = self.users.get(user_id, rules.UserPresence())
        return {
            "user_id": str(user_id),
            "state": str(presence.state),
            "last_seen": presence.last_seen,
        }

    # --- socket events ---------------------------------------------------------------------

    async def connect(self, connection: Connection) -> None:
        await self._apply(
            connection.user_id,
            rules.handle_connect(self._of(connection), connection.id, self.now()),
        )

    async def disconnect(self, connection: Connection) -> None:
        await self._apply(
            connection.user_id,
            rules.handle_disconnect(self._of(connection), connection.id, self.now()),
        )

    async def heartbeat(self, connection: Connection) -> None:
        await self._apply(
            connection.user_id,
            rules.handle_heartbeat(self._of(connection), connection.id, self.now()),
        )

    async def activity(self, connection: Connection) -> None:
        await self._apply(
            connection.user_id,
            rules.handle_activity(self._of(connection), connection.id, self.now()),
        )

    async def set_state(self, connection: Connection, state: str) -> None:
        await self._apply(
            connection.user_id,
            rules.handle_set(
                self._of(connection), connection.id, rules.PresenceState(state), self.now()
            ),
        )

    async def snapshot(self, connection: Connection) -> dict[str, Any]:
        """The current presence of everyone this person may see."""
        async with self.sessions() as session:
            user = await session.get(User, connection.user_id)
            audience = await policies.contacts(session, user) if user else set()
        return {
            "type": "presence.snapshot",
            "presences": [self.state_of(uid) for uid in sorted(audience, key=str)],
        }

    # --- internals ---------------------------------------------------------------------------

    def _of(self, connection: Connection) -> rules.UserPresence:
        return self.users.get(connection.user_id, rules.UserPresence())

    async def _apply(self, user_id: uuid.UUID, transition: rules.Transition) -> None:
        self.users[user_id] = transition.presence
        self._schedule(user_id, transition.presence)
        if transition.changed:
            publish = self.coalescer.offer(str(user_id), transition.current, self.now())
            if publish is not None:
                await self._publish(user_id)
            else:
                self._wake.set()

    def _schedule(self, user_id: uuid.UUID, presence: rules.UserPresence) -> None:
        """Keep one pending check per person: the earliest; it reschedules when it runs."""
        deadline = rules.next_timeout(presence, self.timings)
        if deadline is None:
            self._scheduled.pop(user_id, None)
            return
        current = self._scheduled.get(user_id)
        if current is not None and current <= deadline:
            return
        self._scheduled[user_id] = deadline
        heapq.heappush(self._timeouts, (deadline, str(user_id)))
        self._wake.set()

    async def _publish(self, user_id: uuid.UUID) -> None:
        async with self.sessions() as session:
            user = await session.get(User, user_id)
            audience = await policies.contacts(session, user) if user else set()
        if audience:
            await self.hub.send_to_users(audience, {"type": "presence", **self.state_of(user_id)})

    async def _tick(self) -> None:
        now = self.now()
        while self._timeouts and self._timeouts[0][0] <= now:
            deadline, user_key = heapq.heappop(self._timeouts)
            user_id = uuid.UUID(user_key)
            if self._scheduled.get(user_id) != deadline:
                continue  # superseded by an earlier check
            del self._scheduled[user_id]
            presence = self.users.get(user_id)
            if presence is not None:
                await self._apply(user_id, rules.handle_timeout(presence, now, self.timings))
        for user_key, _state in self.coalescer.due(now):
            await self._publish(uuid.UUID(user_key))

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # a failed publish must not stop presence for everyone
                log.exception("presence timer step failed")
            deadlines = [
                d
                for d in (
                    self.coalescer.next_due(),
                    self._timeouts[0][0] if self._timeouts else None,
                )
                if d is not None
            ]
            wait = max(0.0, min(deadlines) - self.now()) if deadlines else 30.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 30.0))
