"""realtime.pubsub: the same behaviour in memory and through a real redis-server.

Tests taking ``backend`` run twice: on the in-process broker and on Redis (a throwaway
redis-server, once per session; a "process" there is a separate ``create_pubsub`` instance).
Redis is skipped when ``redis-server`` is missing, unless ``TEAMWELL_TEST_REDIS=required``.
Every wait is bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis.asyncio import Redis

from realtime.pubsub import (
    Event,
    MemoryPubSub,
    PubSub,
    PubSubUnavailable,
    RedisPubSub,
    Subscription,
    SubscriptionGap,
    SubscriptionOverflow,
    _BufferedSubscription,
    create_pubsub,
    meeting_channel,
    user_channel,
)
from tests.support.net import free_port
from tests.support.redis import RedisServer, redis_available

WAIT = 10.0


def require_redis() -> None:
    if not redis_available():
        if os.environ.get("TEAMWELL_TEST_REDIS", "").lower() == "required":
            pytest.fail("Redis is required for this run but redis-server is not installed")
        pytest.skip("redis-server is not installed")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    require_redis()
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client for looking at the server from the side (PUBSUB NUMSUB, CLIENT ...)."""
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


class Backend:
    """Opens pub/sub instances the way separate server processes would."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.opened: list[PubSub] = []

    async def process(self) -> PubSub:
        """A connected pub/sub for one more "process" (in memory: the one shared broker)."""
        if self.name == "memory" and self.opened:
            return self.opened[0]
        pubsub = create_pubsub(self.url)
        await pubsub.connect()
        self.opened.append(pubsub)
        return pubsub

    async def subscribers(self, channel: str) -> int:
        """How many subscriptions the broker has for ``channel``."""
        if self.name == "memory":
            broker = self.opened[0]
            assert isinstance(broker, MemoryPubSub)
            return len(broker._subscribers.get(channel, ()))
        client = Redis.from_url(self.url)
        try:
            reply = await client.execute_command("PUBSUB", "NUMSUB", channel)
        finally:
            await client.aclose()
        return int(reply[1])

    async def close(self) -> None:
        for pubsub in self.opened:
            await pubsub.disconnect()


@pytest.fixture(params=["memory", "redis"])
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[Backend]:
    opened = Backend("memory" if backend_url == "memory://" else "redis", backend_url)
    try:
        yield opened
    finally:
        await opened.close()


def channel() -> str:
    return user_channel(uuid.uuid4())


async def next_event(events: AsyncIterator[Event]) -> Event:
    async with asyncio.timeout(WAIT):
        return await anext(events)


class Received(asyncio.Queue[Event]):
    """Events as they arrive, and how many times the subscription said some may be missing."""

    gaps = 0


@contextlib.asynccontextmanager
async def collecting(subscription: Subscription) -> AsyncIterator[Received]:
    """Iterate ``subscription`` in another task (as the gateway does) into a queue."""
    received = Received()

    async def pump() -> None:
        while True:
            try:
                async for event in subscription:
                    received.put_nowait(event)
                return
            except SubscriptionGap:
                received.gaps += 1  # the subscription goes on; iterate it again

    task = asyncio.create_task(pump())
    try:
        yield received
    finally:
        task.cancel()
        await asyncio.wait([task])


async def take(received: asyncio.Queue[Event]) -> Event:
    async with asyncio.timeout(WAIT):
        return await received.get()


async def eventually(check: Callable[[], object], what: str) -> None:
    """A bounded retry loop waiting for a condition (async checks are awaited)."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


# --- naming and choosing -------------------------------------------------------------------


def test_channel_names() -> None:
    some_id = uuid.UUID("0b7d3c1e-6a55-4f4e-9d8e-2f1a7c9b4e10")
    assert user_channel(some_id) == "user:0b7d3c1e-6a55-4f4e-9d8e-2f1a7c9b4e10"
    assert meeting_channel(some_id) == "meeting:0b7d3c1e-6a55-4f4e-9d8e-2f1a7c9b4e10"


def test_create_pubsub_picks_the_backend_by_url() -> None:
    assert isinstance(create_pubsub(None), MemoryPubSub)
    assert isinstance(create_pubsub(""), MemoryPubSub)
    assert isinstance(create_pubsub("memory://"), MemoryPubSub)
    assert isinstance(create_pubsub("redis://127.0.0.1:6379/0"), RedisPubSub)
    assert isinstance(create_pubsub("rediss://cache.example:6380/0"), RedisPubSub)
    with pytest.raises(ValueError, match="memory:// or redis://"):
        create_pubsub("kafka://broker:9092")


async def test_redis_down_at_connect_is_a_clear_error() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    pubsub = create_pubsub(url)
    expected = r"cannot reach Redis at redis://:\*\*\*@127\.0\.0\.1"
    with pytest.raises(PubSubUnavailable, match=expected) as err:
        async with asyncio.timeout(WAIT):
            await pubsub.connect()
    assert "hunter2" not in str(err.value)
    with pytest.raises(RuntimeError, match="connect"):
        await pubsub.publish("user:x", b"x")


async def test_subscribe_and_publish_need_connect(backend_url: str) -> None:
    pubsub = create_pubsub(backend_url)
    with pytest.raises(RuntimeError, match="connect"):
        await pubsub.publish(channel(), b"x")
    with pytest.raises(RuntimeError, match="connect"):
        async with pubsub.subscribe([channel()]):
            pass


# --- both backends --------------------------------------------------------------------------


async def test_published_message_reaches_the_subscriber(backend: Backend) -> None:
    pubsub = await backend.process()
    mine, other = channel(), channel()
    async with pubsub.subscribe([mine]) as subscription:
        events = aiter(subscription)
        await pubsub.publish(other, b"not for me")
        await pubsub.publish(mine, b"hello")
        assert await next_event(events) == Event(mine, b"hello")


async def test_a_thousand_messages_arrive_in_publish_order(backend: Backend) -> None:
    pubsub = await backend.process()
    mine = channel()
    async with pubsub.subscribe([mine]) as subscription:
        events = aiter(subscription)
        sent = [f"message {n}".encode() for n in range(1000)]
        for message in sent:
            await pubsub.publish(mine, message)
        received = [(await next_event(events)).message for _ in sent]
    assert received == sent


async def test_channels_are_added_and_removed_while_another_task_iterates(
    backend: Backend,
) -> None:
    pubsub = await backend.process()
    first, second = channel(), channel()
    async with pubsub.subscribe([first]) as subscription, collecting(subscription) as received:
        await pubsub.publish(first, b"1")
        assert await take(received) == Event(first, b"1")

        await subscription.add(second)
        assert await backend.subscribers(second) == 1  # add() returns once it is in effect
        await pubsub.publish(second, b"2")
        assert await take(received) == Event(second, b"2")

        await subscription.remove(first)
        await pubsub.publish(first, b"after remove")
        await pubsub.publish(second, b"3")
        assert await take(received) == Event(second, b"3")  # nothing from `first` before it

        await subscription.add(first, second)  # `second` is already there: no-op for it
        await pubsub.publish(first, b"4")
        assert await take(received) == Event(first, b"4")
        assert received.empty()


async def test_every_process_subscribed_to_a_channel_receives(backend: Backend) -> None:
    one, two = await backend.process(), await backend.process()
    shared = channel()
    async with one.subscribe([shared]) as sub_one, two.subscribe([shared]) as sub_two:
        events_one, events_two = aiter(sub_one), aiter(sub_two)
        await one.publish(shared, b"from one")
        await two.publish(shared, b"from two")
        for events in (events_one, events_two):
            assert await next_event(events) == Event(shared, b"from one")
            assert await next_event(events) == Event(shared, b"from two")


async def test_publish_many_delivers_every_item_in_order(backend: Backend) -> None:
    pubsub = await backend.process()
    channels = [channel() for _ in range(3)]
    unheard = channel()
    items = [(channels[n % 3], f"item {n}".encode()) for n in range(300)]
    async with pubsub.subscribe(channels) as subscription:
        events = aiter(subscription)
        await pubsub.publish_many([])
        await pubsub.publish_many([*items[:150], (unheard, b"nobody listens"), *items[150:]])
        received = [await next_event(events) for _ in items]
    assert received == [Event(name, message) for name, message in items]


async def test_leaving_the_context_unsubscribes(backend: Backend) -> None:
    pubsub = await backend.process()
    first, second = channel(), channel()
    async with pubsub.subscribe([first]) as subscription:
        await subscription.add(second)
        assert await backend.subscribers(first) == 1
        assert await backend.subscribers(second) == 1
    await eventually(lambda: _none_left(backend, first, second), "both channels are unsubscribed")

    with pytest.raises(LookupError):
        async with pubsub.subscribe([first]):
            assert await backend.subscribers(first) == 1
            raise LookupError("the body failed")
    await eventually(lambda: _none_left(backend, first), "the channel is unsubscribed")

    with pytest.raises(RuntimeError, match="closed"):
        await subscription.add(first)
    await subscription.remove(first)  # harmless once closed


async def _none_left(backend: Backend, *channels: str) -> bool:
    return all([await backend.subscribers(name) == 0 for name in channels])


async def test_disconnect_ends_open_subscriptions(backend: Backend) -> None:
    pubsub = await backend.process()
    async with pubsub.subscribe([channel()]) as subscription:
        events = aiter(subscription)
        waiting = asyncio.create_task(anext(events, None))
        await pubsub.disconnect()
        async with asyncio.timeout(WAIT):
            assert await waiting is None


async def test_a_slow_subscriber_overflows_instead_of_blocking_the_publisher(
    backend_url: str,
) -> None:
    if backend_url == "memory://":
        pubsub: MemoryPubSub | RedisPubSub = MemoryPubSub(queue_size=5)
    else:
        pubsub = RedisPubSub(backend_url, queue_size=5)
    await pubsub.connect()
    try:
        mine = channel()
        async with pubsub.subscribe([mine]) as slow, pubsub.subscribe([mine]) as keeping_up:
            keeping_up_events = aiter(keeping_up)
            for n in range(5):
                await pubsub.publish(mine, b"%d" % n)
            assert [(await next_event(keeping_up_events)).message for _ in range(5)] == [
                b"0", b"1", b"2", b"3", b"4"
            ]  # fmt: skip
            await pubsub.publish(mine, b"one too many")  # does not wait for `slow`
            assert (await next_event(keeping_up_events)).message == b"one too many"
            # `slow` never read: its buffer took five events and overflowed at the sixth.
            assert isinstance(slow, _BufferedSubscription)
            await eventually(lambda: slow._overflowed, "the slow subscription overflows")
            with pytest.raises(SubscriptionOverflow):
                await next_event(aiter(slow))
    finally:
        await pubsub.disconnect()


# --- Redis only -----------------------------------------------------------------------------


async def test_redis_subscription_recovers_when_redis_restarts() -> None:
    require_redis()
    server = RedisServer().start()
    pubsub = RedisPubSub(server.url, confirm_timeout=0.5)
    await pubsub.connect()
    try:
        before, during = channel(), channel()
        async with pubsub.subscribe([before]) as subscription, collecting(subscription) as got:
            await pubsub.publish(before, b"before the restart")
            assert await take(got) == Event(before, b"before the restart")

            port = server.port
            await asyncio.to_thread(server.stop)
            with pytest.raises(PubSubUnavailable):
                await pubsub.publish(before, b"nobody to take it")
            # While Redis is away a new channel cannot be confirmed, but it is kept and
            # subscribed together with the others once Redis is back.
            with pytest.raises(PubSubUnavailable, match="did not confirm"):
                await subscription.add(during)

            server = RedisServer(port=port)
            await asyncio.to_thread(server.start)
            for name in (before, during):
                await _publish_until_heard(pubsub, name, got)

            sent = [b"after %d" % n for n in range(100)]
            await pubsub.publish_many([(during, message) for message in sent])
            received: list[bytes] = []
            while len(received) < len(sent):
                event = await take(got)
                if event.message != b"probe":  # late copies of the probes
                    received.append(event.message)
            assert received == sent
            assert got.gaps == 1  # the reconnection was reported, so clients can resume
    finally:
        await pubsub.disconnect()
        server.stop()


async def _publish_until_heard(
    publisher: PubSub | Redis, name: str, received: asyncio.Queue[Event]
) -> None:
    """Messages published before the subscription is back are lost: probe until one lands."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                with contextlib.suppress(PubSubUnavailable):
                    await publisher.publish(name, b"probe")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        while (await received.get()).channel != name:
                            pass
                        return
    except TimeoutError:
        pytest.fail(f"no message on {name} arrived after Redis came back")


async def test_redis_subscription_recovers_when_its_connection_is_killed(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    pubsub = RedisPubSub(redis_server.url)
    await pubsub.connect()
    try:
        mine = channel()
        async with pubsub.subscribe([mine]) as subscription, collecting(subscription) as got:
            killed = await redis_client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            assert killed >= 1
            await _publish_until_heard(pubsub, mine, got)
            await pubsub.publish(mine, b"after")
            while (event := await take(got)).message == b"probe":
                pass
            assert event == Event(mine, b"after")
    finally:
        await pubsub.disconnect()


async def test_an_idle_redis_subscription_pings_and_keeps_receiving(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    pubsub = RedisPubSub(redis_server.url, keepalive=0.05)
    await pubsub.connect()
    try:
        mine = channel()
        async with pubsub.subscribe([mine]) as subscription, collecting(subscription) as got:

            async def pinged() -> bool:
                clients = await redis_client.execute_command("CLIENT", "LIST")
                text = clients.decode() if isinstance(clients, bytes) else str(clients)
                return any("sub=1" in line and "cmd=ping" in line for line in text.splitlines())

            await eventually(pinged, "the idle subscription has sent PING")
            await pubsub.publish(mine, b"still here")
            assert await take(got) == Event(mine, b"still here")
    finally:
        await pubsub.disconnect()


class Relay:
    """A TCP relay to Redis whose open connections can be made to go silent, as a half-open
    connection does (its peer gone without closing it): nothing arrives, nothing is refused."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._silenced: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def silence_open_connections(self) -> None:
        """From now on the connections open now drop what they carry; new ones still pass."""
        self._silenced = set(self._pipes)

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [client_w, server_w]
        for source, sink in ((client_r, server_w), (server_r, client_w)):
            self._pipes.add(asyncio.create_task(self._pipe(source, sink)))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        while data := await source.read(65536):
            if me not in self._silenced:
                sink.write(data)
                await sink.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for writer in self._writers:
            writer.close()


async def test_a_silent_redis_connection_is_noticed_and_replaced(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    relay = await Relay(redis_server.port).start()
    pubsub = RedisPubSub(f"redis://127.0.0.1:{relay.port}/0", keepalive=0.1)
    await pubsub.connect()
    try:
        mine = channel()
        async with pubsub.subscribe([mine]) as subscription, collecting(subscription) as got:
            await redis_client.publish(mine, b"1")
            assert await take(got) == Event(mine, b"1")
            relay.silence_open_connections()
            # The PING goes unanswered, the subscription reconnects (through the relay, whose
            # new connections pass) and subscribes again.
            await _publish_until_heard(redis_client, mine, got)
    finally:
        await pubsub.disconnect()
        await relay.close()


async def test_one_message_to_many_channels_reaches_each_once(backend: Backend) -> None:
    """What a message to a conversation publishes: one frame to each member's channel (on
    Redis, one scripted command)."""
    pubsub = await backend.process()
    channels = [channel() for _ in range(10)]
    unheard = channel()
    async with pubsub.subscribe(channels) as subscription:
        events = aiter(subscription)
        await pubsub.publish_many([(name, b"to everyone") for name in [*channels, unheard]])
        await pubsub.publish_many([(channels[0], b"just one")])
        received = [await next_event(events) for _ in range(11)]
    assert sorted(received[:10], key=lambda e: e.channel) == sorted(
        (Event(name, b"to everyone") for name in channels), key=lambda e: e.channel
    )
    assert received[10] == Event(channels[0], b"just one")
