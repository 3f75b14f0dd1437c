"""The process's side of fan-out: its open connections, and one pub/sub subscription that
carries every event for the people connected here.

Events are published to per-person channels (``user:<id>``) through the pub/sub backend, in
memory or Redis, so a socket may land on any server process. This process subscribes to the
channel of each person with at least one connection here, and hands each event to their sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from app import metrics
from app.events import Event
from realtime.protocol import Close, ServerFrame, encode
from realtime.pubsub import (
    PubSub,
    PubSubUnavailable,
    Subscription,
    SubscriptionGap,
    SubscriptionOverflow,
    user_channel,
)

if TYPE_CHECKING:
    from realtime.connection import Connection

log = logging.getLogger("teamwell.realtime")
_SEPARATOR = b"\n"


def pack(frame: ServerFrame, origin: str | None, target: str | None = None) -> bytes:
    """An event on the wire: the origin connection (not echoed back to it), the one target
    connection (signalling goes to one device only) or none, then the frame."""
    return (
        (origin or "-").encode()
        + _SEPARATOR
        + (target or "-").encode()
        + _SEPARATOR
        + encode(frame).encode()
    )


def unpack(message: bytes) -> tuple[str | None, str | None, str]:
    origin, _, rest = message.partition(_SEPARATOR)
    target, _, frame = rest.partition(_SEPARATOR)
    return (
        None if origin == b"-" else origin.decode(),
        None if target == b"-" else target.decode(),
        frame.decode(),
    )


class Hub:
    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.local: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        # The channel of each person in ``local`` and who it is.
        self._channel_people: dict[str, uuid.UUID] = {}
        self._subscription_cm: AbstractAsyncContextManager[Subscription] | None = None
        self._subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.connect()
        await self._open_subscription()

    async def _open_subscription(self) -> None:
        self._subscription_cm = self.pubsub.subscribe([user_channel(u) for u in self.local])
        self._subscription = await self._subscription_cm.__aenter__()
        self._pump = asyncio.create_task(self._run_pump(self._subscription), name="hub-pump")

    async def stop(self) -> None:
        for connection in list(self.connections()):
            connection.close(Close.going_away, "server shutting down")
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._subscription_cm is not None:
            await self._subscription_cm.__aexit__(None, None, None)
        await self.pubsub.disconnect()

    def connections(self) -> Iterable[Connection]:
        for group in self.local.values():
            yield from group

    def count_for(self, user_id: uuid.UUID) -> int:
        return len(self.local.get(user_id, ()))

    async def attach(self, connection: Connection) -> None:
        """Listen on the person's channel; returns once it is subscribed (so nothing published
        from then on is missed). No lock across the round trip to Redis: the people and
        channels here change without an ``await`` in between, and the subscription sends its
        commands in the order they were asked for, so the last word on a channel is always the
        last change of its people here. A crowd reconnecting at once then waits for Redis
        together instead of one socket after another (it took seconds for a hundred sockets
        on a busy machine). Every device waits for the subscription, not only the first: the
        first one's confirmation may still be on its way."""
        channel = user_channel(connection.user_id)
        self.local[connection.user_id].add(connection)
        self._channel_people[channel] = connection.user_id
        if self._subscription is None:
            return
        try:
            await self._subscription.add(channel)
        except BaseException:
            # Not attached after all (Redis away): a socket that never opened must not go on
            # counting against its person's connection limit.
            with contextlib.suppress(Exception):
                await self._forget(connection)
            raise

    async def detach(self, connection: Connection) -> None:
        await self._forget(connection)

    async def _forget(self, connection: Connection) -> None:
        group = self.local.get(connection.user_id)
        if group is None:
            return
        group.discard(connection)
        if not group:
            del self.local[connection.user_id]
            channel = user_channel(connection.user_id)
            self._channel_people.pop(channel, None)
            if self._subscription is not None:
                # Awaited directly, not in a task of its own: the subscription drops the channel
                # from its set before it first waits, so a later attach subscribes it again.
                await self._subscription.remove(channel)

    async def publish(self, event: Event) -> None:
        """Publish a committed change's event (app/events.py) to whoever it names.

        The publication guarantee: what is published here is already stored, so a pub/sub
        outage must not turn a stored change into a failed request (a retry would store it
        twice). The frame is then lost, not the change: subscriptions that lost Redis ask their
        clients to resume when it is back, and a client that sees a sequence gap syncs (or, for
        a plan or an alert, reads it again over HTTP)."""
        if event.to:
            await self.send_to_users(event.to, event.frame, origin=event.origin)
        for device in event.devices:
            try:
                await self.send_to_connection(device.user_id, device.connection_id, event.frame)
            except PubSubUnavailable as exc:
                log.warning("a %s frame was not published: %s", event.frame.type, exc)

    async def send_to_users(
        self, user_ids: Iterable[uuid.UUID], frame: ServerFrame, *, origin: str | None = None
    ) -> None:
        """Publish one frame to each person's channel (one round trip on Redis).

        Callers publish what they have already stored, so a pub/sub outage must not turn a
        stored change into a failed request (a retry would store it twice). The frame is then
        lost, not the change: subscriptions that lost Redis ask their clients to resume when it
        is back, and a client that sees a sequence gap syncs.
        """
        payload = pack(frame, origin)
        items = [(user_channel(uid), payload) for uid in set(user_ids)]
        if items:
            try:
                await self.pubsub.publish_many(items)
            except PubSubUnavailable as exc:
                log.warning("a %s frame was not published: %s", frame.type, exc)

    def _ask_everyone_to_resume(self, reason: str) -> None:
        for connection in list(self.connections()):
            connection.close(Close.resume, reason)

    async def send_to_connection(
        self, user_id: uuid.UUID, connection_id: str, frame: ServerFrame
    ) -> None:
        """One frame to one device of one person, wherever its socket is."""
        await self.pubsub.publish(user_channel(user_id), pack(frame, None, connection_id))

    async def _run_pump(self, subscription: Subscription) -> None:
        # A frame for ten people arrives as ten events with the same payload: it is unpacked
        # once, and each person's channel name is read back to their id from the attach map.
        last: tuple[bytes, tuple[str | None, str | None, str]] = (b"", (None, None, ""))
        try:
            while True:
                try:
                    async for event in subscription:
                        user_id = self._channel_people.get(event.channel)
                        if user_id is None:
                            continue  # nobody of that channel is connected here any more
                        if event.message != last[0]:
                            last = (event.message, unpack(event.message))
                        origin, target, text = last[1]
                        delivered = 0
                        for connection in list(self.local.get(user_id, ())):
                            if connection.id != origin and target in (None, connection.id):
                                connection.deliver(text)
                                delivered += 1
                        if delivered:  # one increment per event, not per socket
                            metrics.frames_out[metrics.frame_type_of(text)].inc(delivered)
                    return
                except SubscriptionGap:
                    # Redis dropped and came back: events of the gap may be missing here.
                    log.warning("pub/sub connection was re-established; asking clients to resume")
                    self._ask_everyone_to_resume("events may have been missed; resume")
        except SubscriptionOverflow:
            # This process fell behind. Every socket here may have missed events: close them
            # so their clients reconnect and resume from their last sequence numbers.
            log.warning("pub/sub subscription overflowed; asking clients to resume")
            self._ask_everyone_to_resume("fell behind; resume")
            assert self._subscription_cm is not None
            await self._subscription_cm.__aexit__(None, None, None)
            await self._open_subscription()
