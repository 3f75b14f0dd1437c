"""Pub/sub fan-out between server processes: in memory (one process) or through Redis.

The interface is deliberately small (after encode/broadcaster): ``connect``, ``disconnect``,
``publish``, ``publish_many`` and ``subscribe``, which is an async context manager yielding a
``Subscription`` whose channels can be added and removed while another task iterates it.
``create_pubsub(url)`` picks the implementation by URL: ``None`` or ``memory://`` keeps
everything in this process (tests, a single server); ``redis://`` (or ``rediss://``) goes
through Redis, so several processes behind one address reach the same people. Redis does the
cross-process work; nothing here is a broker of its own.

Delivery: every subscription of a channel gets what is published to it after the subscription
(or ``add``) returned, in publish order per publisher. Events are buffered per subscription up
to ``SUBSCRIPTION_QUEUE_SIZE``; a subscriber that falls that far behind is not allowed to hold
publishers up or to lose events silently: its iterator raises ``SubscriptionOverflow`` and the
caller closes the affected sockets, whose clients resume from their last sequence numbers.
docs/realtime.md ("Pub/sub") has the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "SUBSCRIPTION_QUEUE_SIZE",
    "Event",
    "MemoryPubSub",
    "PubSub",
    "PubSubUnavailable",
    "RedisPubSub",
    "Subscription",
    "SubscriptionOverflow",
    "create_pubsub",
    "meeting_channel",
    "user_channel",
]

log = logging.getLogger("teamwell.realtime.pubsub")

# Events waiting in one subscription before it counts as overflowed.
SUBSCRIPTION_QUEUE_SIZE = 10_000
# Redis: how long one connection attempt, or sending a command and (publisher) reading its
# reply, may take before the connection counts as dead.
REDIS_CONNECT_TIMEOUT = 5.0
REDIS_COMMAND_TIMEOUT = 5.0
# Redis: connections a process keeps for commands (publishing, presence). When all are busy a
# command waits for one (up to the command timeout) rather than failing: a burst of traffic is
# not an outage.
REDIS_POOL_SIZE = 100
# Redis: a subscription that has heard nothing for this long sends PING; if the next interval
# passes without a reply too, the connection counts as dead and is replaced.
REDIS_KEEPALIVE_SECONDS = 30.0
# Redis: reconnect delays double from the first to the cap, and go on until Redis is back.
RECONNECT_DELAY_FIRST = 0.05
RECONNECT_DELAY_MAX = 5.0
# Redis: how long ``Subscription.add`` waits for the server to confirm a new channel.
SUBSCRIBE_CONFIRM_TIMEOUT = 10.0
# Redis: a publish that meets a dropped connection reconnects and is sent again, at most this
# often (a reply lost in flight can thus deliver one message twice; sequence numbers dedupe).
PUBLISH_RETRIES = 3

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def user_channel(user_id: uuid.UUID) -> str:
    """The channel that carries every event for one person: ``user:<id>``."""
    return f"user:{user_id}"


def meeting_channel(meeting_id: uuid.UUID) -> str:
    """The channel of one meeting's participants: ``meeting:<id>``."""
    return f"meeting:{meeting_id}"


@dataclass(frozen=True, slots=True)
class Event:
    """One message as received: the channel it was published to and its bytes."""

    channel: str
    message: bytes


class SubscriptionOverflow(Exception):
    """The subscription's reader fell more than its queue size behind; events were dropped.

    Raised from the subscription's iterator. The subscription is finished: leave its context,
    close the sockets it served (their clients resume from their last sequence numbers) and
    subscribe afresh.
    """


class SubscriptionGap(Exception):
    """Events may have been missed (the Redis connection dropped and was re-established).

    Raised once from the subscription's iterator; the subscription itself goes on, and iterating
    it again continues. The caller asks the clients it serves to resume from their last sequence
    numbers, so nothing missed stays missed.
    """


class PubSubUnavailable(Exception):
    """The pub/sub backend (Redis) cannot be reached."""


class Subscription(Protocol):
    """Async-iterable of ``Event``; channels may change while another task iterates it.

    Iterate it from one task. The iterator ends when the subscription's context exits or the
    backend disconnects, and raises ``SubscriptionOverflow`` if the reader fell behind.
    """

    async def add(self, *channels: str) -> None: ...

    async def remove(self, *channels: str) -> None: ...

    def __aiter__(self) -> AsyncIterator[Event]: ...


class PubSub(Protocol):
    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None: ...

    def subscribe(self, channels: Iterable[str]) -> AbstractAsyncContextManager[Subscription]: ...


def create_pubsub(url: str | None) -> PubSub:
    """The backend for ``url``: ``None``/empty or ``memory://`` in process, ``redis://`` Redis."""
    if not url:
        return MemoryPubSub()
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryPubSub()
    if scheme in ("redis", "rediss", "unix"):
        return RedisPubSub(url)
    raise ValueError(f"unsupported pub/sub URL {_redacted(url)!r}: use memory:// or redis://")


def _unique(channels: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(channels))


class _BufferedSubscription:
    """What both backends share: the channel set, a bounded buffer and the iterator."""

    def __init__(self, *, queue_size: int) -> None:
        self._channels: set[str] = set()
        self._queue_size = queue_size
        self._buffer: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._overflowed = False
        self._gap = False
        self._failure: BaseException | None = None
        self._closed = False

    def _deliver(self, event: Event) -> None:
        # Events for channels removed meanwhile (still in flight on Redis) are not wanted.
        if self._closed or self._overflowed or event.channel not in self._channels:
            return
        if len(self._buffer) >= self._queue_size:
            self._overflowed = True
            self._buffer.clear()
            log.warning("pub/sub subscription overflowed (%d events waiting)", self._queue_size)
        else:
            self._buffer.append(event)
        self._wakeup.set()

    def _fail(self, failure: BaseException) -> None:
        self._failure = failure
        self._wakeup.set()

    def _mark_gap(self) -> None:
        self._gap = True
        self._wakeup.set()

    def _shut(self) -> None:
        self._closed = True
        self._buffer.clear()
        self._wakeup.set()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this pub/sub subscription is closed")

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while True:
            if self._overflowed:
                raise SubscriptionOverflow(
                    f"more than {self._queue_size} events were waiting for this subscription"
                )
            if self._closed:
                return
            if self._gap:
                self._gap = False
                raise SubscriptionGap("events published while reconnecting may be missing")
            if self._buffer:
                yield self._buffer.popleft()
                continue
            if self._failure is not None:
                raise self._failure
            self._wakeup.clear()
            await self._wakeup.wait()


# --- in memory ----------------------------------------------------------------------------


class _MemorySubscription(_BufferedSubscription):
    def __init__(self, broker: MemoryPubSub, *, queue_size: int) -> None:
        super().__init__(queue_size=queue_size)
        self._broker = broker

    async def add(self, *channels: str) -> None:
        self._check_open()
        for channel in channels:
            if channel not in self._channels:
                self._channels.add(channel)
                self._broker._subscribers.setdefault(channel, set()).add(self)

    async def remove(self, *channels: str) -> None:
        for channel in channels:
            if channel in self._channels:
                self._channels.discard(channel)
                self._broker._unindex(channel, self)

    def _close(self) -> None:
        for channel in self._channels:
            self._broker._unindex(channel, self)
        self._channels.clear()
        self._shut()


class MemoryPubSub:
    """Fan-out inside this process only: for tests and a single server process.

    Each instance is its own broker. Publishing never waits for subscribers: each subscription
    buffers up to ``queue_size`` events and then overflows.
    """

    def __init__(self, *, queue_size: int = SUBSCRIPTION_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._connected = False
        self._subscribers: dict[str, set[_MemorySubscription]] = {}
        self._subscriptions: set[_MemorySubscription] = set()

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        """Close every open subscription (their iterators end) and stop accepting publishes."""
        self._connected = False
        for subscription in list(self._subscriptions):
            subscription._close()
        self._subscriptions.clear()

    def _check_connected(self) -> None:
        if not self._connected:
            raise RuntimeError("MemoryPubSub is not connected: call connect() first")

    def _unindex(self, channel: str, subscription: _MemorySubscription) -> None:
        subscribers = self._subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[channel]

    def _fan_out(self, channel: str, message: bytes) -> None:
        subscribers = self._subscribers.get(channel)
        if subscribers:
            event = Event(channel, message)
            for subscription in list(subscribers):
                subscription._deliver(event)

    async def publish(self, channel: str, message: bytes) -> None:
        self._check_connected()
        self._fan_out(channel, message)

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        self._check_connected()
        for channel, message in items:
            self._fan_out(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        self._check_connected()
        subscription = _MemorySubscription(self, queue_size=self._queue_size)
        self._subscriptions.add(subscription)
        try:
            await subscription.add(*channels)
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription._close()


# --- Redis ----------------------------------------------------------------------------------

# ARGV[1] is the message, the rest are the channels it goes to (not KEYS: channels are not keys).
_PUBLISH_TO_EACH = """
for i = 2, #ARGV do
  redis.call('PUBLISH', ARGV[i], ARGV[1])
end
return #ARGV - 1
"""


def _redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


class _Confirmation:
    """An ``add`` waiting for the server to confirm its channels."""

    def __init__(self, channels: set[str]) -> None:
        self.waiting = channels
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _RedisSubscription(_BufferedSubscription):
    """One Redis pub/sub connection, read by a task of its own into the bounded buffer.

    The reader task also notices subscribe confirmations (so ``add`` returns once the server
    has the channel), sends PING when the line has been quiet, and when the connection drops it
    reconnects with capped backoff and subscribes every current channel again. Commands
    (SUBSCRIBE, UNSUBSCRIBE, PING) and reconnecting are serialised by one lock; only the reader
    task reads from the connection.
    """

    def __init__(
        self,
        client: Redis,
        *,
        url: str,
        queue_size: int,
        keepalive: float,
        confirm_timeout: float,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self._client = client
        self._url = url
        self._keepalive = keepalive
        self._confirm_timeout = confirm_timeout
        self._lock = asyncio.Lock()
        self._pubsub: RedisPubSubConnection | None = None
        self._broken = False
        self._confirmed: set[str] = set()
        self._confirmations: list[_Confirmation] = []
        self._reader: asyncio.Task[None] | None = None
        # Whether anything was read since the last reconnect, and the next backoff delay: a
        # server that accepts and then drops the connection is retried with backoff too.
        self._heard_since_reconnect = True
        self._reconnect_delay = RECONNECT_DELAY_FIRST

    # Connection management (callers hold self._lock).

    async def _open_connection(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._confirmed.clear()
        try:
            await pubsub.connect()
            if self._channels:
                await pubsub.subscribe(*self._channels)
        except BaseException:
            await self._close_connection(pubsub)
            raise
        self._pubsub = pubsub
        self._broken = False

    @staticmethod
    async def _close_connection(pubsub: RedisPubSubConnection | None) -> None:
        if pubsub is None:
            return
        try:
            await pubsub.aclose()
        except Exception as exc:  # the connection is being thrown away in any case
            log.debug("closing a Redis pub/sub connection: %r", exc)

    def _usable(self) -> RedisPubSubConnection | None:
        """The live connection, or None while broken (the reader will replace it)."""
        pubsub = self._pubsub
        if pubsub is None or self._broken or self._closed:
            return None
        connection = pubsub.connection
        if connection is None or not connection.is_connected:
            return None
        return pubsub

    async def _command(self, name: str, channels: Sequence[str]) -> None:
        async with self._lock:
            pubsub = self._usable()
            if pubsub is None:
                return  # resubscribing after the reconnect brings the channel set up to date
            try:
                if name == "SUBSCRIBE":
                    await pubsub.subscribe(*channels)
                else:
                    await pubsub.unsubscribe(*channels)
            except _REDIS_DOWN as exc:
                self._broken = True
                log.warning("Redis pub/sub %s failed; reconnecting: %s", name, exc)

    async def start(self) -> None:
        """Connect and start the reader; ``PubSubUnavailable`` if Redis is unreachable."""
        async with self._lock:
            try:
                await self._open_connection()
            except _REDIS_DOWN as exc:
                raise PubSubUnavailable(
                    f"cannot subscribe through Redis at {_redacted(self._url)}: {exc}"
                ) from exc
        self._reader = asyncio.create_task(self._read(), name="redis-pubsub-reader")

    async def close(self) -> None:
        self._shut()
        self._settle(RuntimeError("the pub/sub subscription closed"))
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        async with self._lock:
            pubsub, self._pubsub = self._pubsub, None
            self._channels.clear()
            await self._close_connection(pubsub)

    # Channels.

    async def add(self, *channels: str) -> None:
        """Subscribe more channels; returns once Redis has confirmed them.

        If Redis is unreachable this raises ``PubSubUnavailable`` after
        ``SUBSCRIBE_CONFIRM_TIMEOUT``; the channels stay in the set all the same and are
        subscribed when the connection comes back (call ``remove`` to drop them).
        """
        self._check_open()
        wanted = set(channels)
        new = [channel for channel in _unique(channels) if channel not in self._channels]
        self._channels.update(new)
        if new:
            await self._command("SUBSCRIBE", new)
        waiting = wanted & (self._channels - self._confirmed)
        if not waiting:
            return
        confirmation = _Confirmation(waiting)
        self._confirmations.append(confirmation)
        try:
            async with asyncio.timeout(self._confirm_timeout):
                await confirmation.done
        except TimeoutError:
            raise PubSubUnavailable(
                f"Redis at {_redacted(self._url)} did not confirm the subscription to "
                f"{len(confirmation.waiting)} channel(s) within {self._confirm_timeout:g} s"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._confirmations.remove(confirmation)

    async def remove(self, *channels: str) -> None:
        gone = [channel for channel in _unique(channels) if channel in self._channels]
        if not gone or self._closed:
            return
        self._channels.difference_update(gone)
        self._confirmed.difference_update(gone)
        self._settle()
        await self._command("UNSUBSCRIBE", gone)

    def _settle(self, failure: BaseException | None = None) -> None:
        """Resolve the ``add`` calls whose channels are all confirmed (or removed)."""
        for confirmation in list(self._confirmations):
            if confirmation.done.done():
                continue
            if failure is not None:
                confirmation.done.set_exception(failure)
                confirmation.done.exception()  # retrieved: nobody may be waiting any more
                continue
            confirmation.waiting &= self._channels
            confirmation.waiting -= self._confirmed
            if not confirmation.waiting:
                confirmation.done.set_result(None)

    # The reader task.

    async def _read(self) -> None:
        try:
            await self._read_forever()
        except Exception as exc:  # a bug, not an outage: make it visible to the iterator
            log.exception("Redis pub/sub reader failed")
            self._settle(PubSubUnavailable(f"the Redis pub/sub reader failed: {exc!r}"))
            self._fail(PubSubUnavailable(f"the Redis pub/sub reader failed: {exc!r}"))

    async def _read_forever(self) -> None:
        awaiting_pong = False
        while not self._closed:
            pubsub = self._usable()
            if pubsub is None:
                await self._reconnect()
                awaiting_pong = False
                continue
            try:
                response = await pubsub.parse_response(block=False, timeout=self._keepalive)
            except Exception as exc:
                if not self._closed:
                    log.warning("Redis pub/sub connection lost: %s", exc or type(exc).__name__)
                    self._broken = True
                continue
            if response is not None:
                awaiting_pong = False
                self._heard_since_reconnect = True
                self._reconnect_delay = RECONNECT_DELAY_FIRST
                await self._handle(pubsub, response)
            elif awaiting_pong:
                log.warning("Redis did not answer PING in %g s; reconnecting", self._keepalive)
                self._broken = True
            else:
                awaiting_pong = True
                await self._ping()

    async def _ping(self) -> None:
        async with self._lock:
            pubsub = self._usable()
            if pubsub is None or pubsub.connection is None:
                return
            try:
                await pubsub.connection.send_command("PING", check_health=False)
            except _REDIS_DOWN:
                self._broken = True

    async def _handle(self, pubsub: RedisPubSubConnection, response: Any) -> None:
        if isinstance(response, list) and len(response) >= 2 and response[0] == b"subscribe":
            # Confirmations are ignored by redis-py (ignore_subscribe_messages) but an ``add``
            # may be waiting for one.
            channel = response[1].decode()
            if channel in self._channels:
                self._confirmed.add(channel)
                self._settle()
        message = await pubsub.handle_message(response)
        if message is not None and message["type"] == "message":
            self._deliver(Event(message["channel"].decode(), message["data"]))

    async def _reconnect(self) -> None:
        """Replace the connection, with capped backoff for as long as Redis is away."""
        attempts = 0
        failure: Exception | None = None
        while not self._closed:
            if attempts or not self._heard_since_reconnect:
                if attempts == 1 or self._reconnect_delay >= RECONNECT_DELAY_MAX:
                    log.warning(
                        "Redis at %s unreachable (attempt %d), retrying in %g s: %s",
                        _redacted(self._url),
                        attempts,
                        self._reconnect_delay,
                        failure,
                    )
                await asyncio.sleep(self._reconnect_delay)
                self._reconnect_delay = min(self._reconnect_delay * 2, RECONNECT_DELAY_MAX)
            attempts += 1
            async with self._lock:
                if self._closed:
                    return
                old, self._pubsub = self._pubsub, None
                await self._close_connection(old)
                try:
                    await self._open_connection()
                except _REDIS_DOWN as exc:
                    failure = exc
                    continue
            self._heard_since_reconnect = False
            self._mark_gap()
            log.warning(
                "Redis pub/sub reconnected after %d attempt(s); %d channel(s) subscribed again "
                "(messages published while disconnected were not received)",
                attempts,
                len(self._channels),
            )
            return


class RedisPubSub:
    """Fan-out through Redis PUBLISH/SUBSCRIBE, shared by every process using the same Redis.

    One client publishes (``publish_many`` is one pipelined round trip); each subscription
    holds one Redis pub/sub connection of its own, read by its own task.
    """

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = SUBSCRIPTION_QUEUE_SIZE,
        keepalive: float = REDIS_KEEPALIVE_SECONDS,
        confirm_timeout: float = SUBSCRIBE_CONFIRM_TIMEOUT,
    ) -> None:
        self.url = url
        self._queue_size = queue_size
        self._keepalive = keepalive
        self._confirm_timeout = confirm_timeout
        self._publisher: Redis | None = None
        self._subscriber: Redis | None = None
        self._subscriptions: set[_RedisSubscription] = set()
        self._publish_to_each: AsyncScript | None = None

    async def connect(self) -> None:
        """Connect and check that Redis answers; ``PubSubUnavailable`` if it does not."""
        if self._publisher is not None:
            return
        publisher = Redis.from_pool(
            BlockingConnectionPool.from_url(
                self.url,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=REDIS_COMMAND_TIMEOUT,
                retry=Retry(EqualJitterBackoff(cap=1.0, base=0.05), PUBLISH_RETRIES),
                max_connections=REDIS_POOL_SIZE,
                timeout=REDIS_COMMAND_TIMEOUT,
            )
        )
        # Subscriptions do their own reconnecting (and resubscribing): redis-py must not.
        subscriber = Redis.from_url(
            self.url,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=REDIS_COMMAND_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0, supported_errors=()),
        )
        try:
            await publisher.ping()
        except _REDIS_DOWN as exc:
            await publisher.aclose()
            await subscriber.aclose()
            raise PubSubUnavailable(f"cannot reach Redis at {_redacted(self.url)}: {exc}") from exc
        self._publisher, self._subscriber = publisher, subscriber
        self._publish_to_each = publisher.register_script(_PUBLISH_TO_EACH)

    async def disconnect(self) -> None:
        """Close every open subscription (their iterators end) and the connections."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        clients = (self._publisher, self._subscriber)
        self._publisher = self._subscriber = None
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _clients(self) -> tuple[Redis, Redis]:
        if self._publisher is None or self._subscriber is None:
            raise RuntimeError("RedisPubSub is not connected: call connect() first")
        return self._publisher, self._subscriber

    async def publish(self, channel: str, message: bytes) -> None:
        publisher, _ = self._clients()
        try:
            await publisher.publish(channel, message)
        except _REDIS_DOWN as exc:
            raise PubSubUnavailable(f"cannot publish to Redis: {exc}") from exc

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Publish every item in order, in one round trip.

        One frame to several people (a message to its conversation's members, the usual case)
        goes to Redis once with their channels, and a script there publishes it to each: one
        command and one reply instead of one of each per person, and the frame sent once."""
        publisher, _ = self._clients()
        if not items:
            return
        message = items[0][1]
        try:
            if len(items) > 1 and all(m == message for _, m in items):
                assert self._publish_to_each is not None  # made with the publisher
                await self._publish_to_each(args=[message, *(c for c, _ in items)])
                return
            async with publisher.pipeline(transaction=False) as pipe:
                for channel, message in items:
                    pipe.publish(channel, message)
                await pipe.execute()
        except _REDIS_DOWN as exc:
            raise PubSubUnavailable(f"cannot publish to Redis: {exc}") from exc

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        """A subscription to ``channels``, confirmed by Redis before it is handed out."""
        _, subscriber = self._clients()
        subscription = _RedisSubscription(
            subscriber,
            url=self.url,
            queue_size=self._queue_size,
            keepalive=self._keepalive,
            confirm_timeout=self._confirm_timeout,
        )
        await subscription.start()
        self._subscriptions.add(subscription)
        try:
            await subscription.add(*channels)
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            await subscription.close()
