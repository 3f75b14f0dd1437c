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
import hashlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import hiredis

from app import metrics
from realtime.redis_line import CommandLine, LineDown, RedisLine

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
# Redis: connections the presence store keeps for its commands. When all are busy a command
# waits for one (up to the command timeout) rather than failing: a burst of traffic is not an
# outage. (Publishing shares one pipelined connection.)
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
# The name Redis gives the script (SHA-1 is Redis's choice; nothing here relies on it as a hash).
_PUBLISH_TO_EACH_SHA = hashlib.sha1(_PUBLISH_TO_EACH.encode(), usedforsecurity=False).hexdigest()


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
        *,
        url: str,
        queue_size: int,
        keepalive: float,
        confirm_timeout: float,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self._url = url
        self._keepalive = keepalive
        self._confirm_timeout = confirm_timeout
        self._lock = asyncio.Lock()
        self._line: RedisLine | None = None
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
        self._confirmed.clear()
        line = await RedisLine.open(self._url, within=REDIS_CONNECT_TIMEOUT)
        try:
            if self._channels:
                line.send("SUBSCRIBE", *self._channels)
                await line.flush(REDIS_COMMAND_TIMEOUT)
        except BaseException:
            line.close()
            raise
        self._line = line
        self._broken = False

    def _usable(self) -> RedisLine | None:
        """The live connection, or None while broken (the reader will replace it)."""
        if self._broken or self._closed:
            return None
        return self._line

    async def _command(self, name: str, channels: Sequence[str]) -> None:
        async with self._lock:
            line = self._usable()
            if line is None:
                return  # resubscribing after the reconnect brings the channel set up to date
            try:
                line.send(name, *channels)
                await line.flush(REDIS_COMMAND_TIMEOUT)
            except LineDown as exc:
                self._broken = True
                log.warning("Redis pub/sub %s failed; reconnecting: %s", name, exc)

    async def start(self) -> None:
        """Connect and start the reader; ``PubSubUnavailable`` if Redis is unreachable."""
        async with self._lock:
            try:
                await self._open_connection()
            except LineDown as exc:
                raise PubSubUnavailable(
                    f"cannot subscribe through Redis at {_redacted(self._url)}: {exc}"
                ) from exc
        metrics.redis_connected(True)
        self._reader = asyncio.create_task(self._read(), name="redis-pubsub-reader")

    async def close(self) -> None:
        self._shut()
        self._settle(RuntimeError("the pub/sub subscription closed"))
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        async with self._lock:
            line, self._line = self._line, None
            self._channels.clear()
            if line is not None:
                line.close()

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
            line = self._usable()
            if line is None:
                await self._reconnect()
                awaiting_pong = False
                continue
            try:
                replies = await line.replies(self._keepalive)
            except LineDown as exc:
                if not self._closed:
                    log.warning("Redis pub/sub connection lost: %s", exc)
                    self._broken = True
                continue
            if replies:
                awaiting_pong = False
                self._heard_since_reconnect = True
                self._reconnect_delay = RECONNECT_DELAY_FIRST
                for reply in replies:
                    self._handle(reply)
            elif awaiting_pong:
                log.warning("Redis did not answer PING in %g s; reconnecting", self._keepalive)
                self._broken = True
            else:
                awaiting_pong = True
                await self._ping()

    async def _ping(self) -> None:
        async with self._lock:
            line = self._usable()
            if line is None:
                return
            try:
                line.send("PING")
                await line.flush(REDIS_COMMAND_TIMEOUT)
            except LineDown:
                self._broken = True

    def _handle(self, reply: Any) -> None:
        # RESP2 in subscribe mode: [b"message", channel, data], [b"subscribe", channel, count],
        # [b"unsubscribe", channel, count] or [b"pong", b""].
        kind = reply[0] if isinstance(reply, list) and len(reply) == 3 else None
        if kind == b"message":
            self._deliver(Event(reply[1].decode(), reply[2]))
        elif kind == b"subscribe":
            # An ``add`` may be waiting for the server to confirm its channel.
            channel = reply[1].decode()
            if channel in self._channels:
                self._confirmed.add(channel)
                self._settle()

    async def _reconnect(self) -> None:
        """Replace the connection, with capped backoff for as long as Redis is away."""
        attempts = 0
        failure: Exception | None = None
        metrics.redis_connected(False)
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
                old, self._line = self._line, None
                if old is not None:
                    old.close()
                try:
                    await self._open_connection()
                except LineDown as exc:
                    failure = exc
                    continue
            self._heard_since_reconnect = False
            metrics.redis_connected(True)
            metrics.REDIS_RECONNECTS.inc()
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

    Publishing goes down one connection that every task of the process shares, commands
    pipelined (``realtime/redis_line.py``, ``CommandLine``); each subscription holds one Redis
    pub/sub connection of its own, read by its own task.
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
        self._publisher: CommandLine | None = None
        self._subscriptions: set[_RedisSubscription] = set()

    async def connect(self) -> None:
        """Connect and check that Redis answers; ``PubSubUnavailable`` if it does not."""
        if self._publisher is not None:
            return
        publisher = CommandLine(
            self.url,
            connect_within=REDIS_CONNECT_TIMEOUT,
            reply_within=REDIS_COMMAND_TIMEOUT,
            retries=PUBLISH_RETRIES,
        )
        try:
            await publisher.call("PING")
        except LineDown as exc:
            await publisher.close()
            raise PubSubUnavailable(f"cannot reach Redis at {_redacted(self.url)}: {exc}") from exc
        self._publisher = publisher

    async def disconnect(self) -> None:
        """Close every open subscription (their iterators end) and the connections."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.close()

    def _connected(self) -> CommandLine:
        if self._publisher is None:
            raise RuntimeError("RedisPubSub is not connected: call connect() first")
        return self._publisher

    async def publish(self, channel: str, message: bytes) -> None:
        await self._published(self._connected().call_many([("PUBLISH", channel, message)]))

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Publish every item in order, in one round trip.

        One frame to several people (a message to its conversation's members, the usual case)
        goes to Redis once with their channels, and a script there publishes it to each: one
        command and one reply instead of one of each per person, and the frame sent once."""
        publisher = self._connected()
        if not items:
            return
        message = items[0][1]
        if len(items) > 1 and all(m == message for _, m in items):
            channels = [c for c, _ in items]
            (reply,) = await self._published(
                publisher.call_many([("EVALSHA", _PUBLISH_TO_EACH_SHA, "0", message, *channels)])
            )
            if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                # Redis restarted (or its scripts were flushed): send the script itself, once.
                await self._published(
                    publisher.call_many([("EVAL", _PUBLISH_TO_EACH, "0", message, *channels)])
                )
            return
        await self._published(publisher.call_many([("PUBLISH", c, m) for c, m in items]))

    @staticmethod
    async def _published(sending: Awaitable[list[Any]]) -> list[Any]:
        try:
            replies = await sending
        except LineDown as exc:
            raise PubSubUnavailable(f"cannot publish to Redis: {exc}") from exc
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError) and not str(reply).startswith("NOSCRIPT"):
                raise PubSubUnavailable(f"Redis refused to publish: {reply}")
        return replies

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        """A subscription to ``channels``, confirmed by Redis before it is handed out."""
        self._connected()
        subscription = _RedisSubscription(
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
