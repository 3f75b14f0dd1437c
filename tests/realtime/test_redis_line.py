"""Teamwell's own Redis connections (realtime/redis_line.py) against real redis-servers: the URL
forms a deployment uses (a password, an ACL user, TLS with its own CA, a Unix socket), replies
read in bulk, and the publisher's shared connection (replies to their callers, a dropped or
silent connection replaced and the command sent again, the script sent again after a flush).
The subscription's reconnecting, PING and confirmations are in tests/realtime/test_pubsub.py."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from realtime.pubsub import Event, RedisPubSub, user_channel
from realtime.redis_line import CommandLine, LineDown, RedisLine
from tests.realtime.test_pubsub import Relay, require_redis
from tests.support.net import free_port
from tests.support.redis import RedisServer

WAIT = 10.0


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def locked_redis(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, dict[str, str]]]:
    """One redis-server with a password, plus a TLS port and a Unix socket."""
    require_redis()
    directory = tmp_path_factory.mktemp("redis-line")
    cert, key = _certificate(directory, "redis")
    socket_path = directory / "redis.sock"
    tls_port = free_port()
    server = RedisServer(
        extra_args=[
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(cert),
            "--tls-key-file", str(key),
            "--tls-auth-clients", "no",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
        ]
    ).start()  # fmt: skip
    # Locked once it answers (the readiness check's PING has no password).
    with SyncRedis(host="127.0.0.1", port=server.port) as admin:
        admin.config_set("requirepass", "s3cret")
    try:
        yield (
            server,
            {
                "plain": f"redis://:s3cret@127.0.0.1:{server.port}/0",
                "tls": f"rediss://:s3cret@127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}",
                "unix": f"unix://:s3cret@{socket_path}?db=0",
                "ca": str(cert),
                "tls_port": str(tls_port),
                "dir": str(directory),
            },
        )
    finally:
        server.stop()


@pytest.fixture
async def publisher(locked_redis: tuple[RedisServer, dict[str, str]]) -> AsyncIterator[Redis]:
    client = Redis.from_url(locked_redis[1]["plain"])
    try:
        yield client
    finally:
        await client.aclose()


async def _heard(url: str, publisher: Redis) -> Event:
    """What a subscription through ``url`` receives of one message published beside it."""
    pubsub = RedisPubSub(url)
    await pubsub.connect()
    try:
        mine = user_channel(uuid.uuid4())
        async with pubsub.subscribe([mine]) as subscription:
            events = aiter(subscription)
            await publisher.publish(mine, b"over this line")
            async with asyncio.timeout(WAIT):
                event = await anext(events)
        assert event == Event(mine, b"over this line")
        return event
    finally:
        await pubsub.disconnect()


@pytest.mark.parametrize("form", ["plain", "tls", "unix"])
async def test_a_subscription_over_each_kind_of_url(
    form: str, locked_redis: tuple[RedisServer, dict[str, str]], publisher: Redis
) -> None:
    await _heard(locked_redis[1][form], publisher)


async def test_an_acl_user_and_password(
    locked_redis: tuple[RedisServer, dict[str, str]], publisher: Redis
) -> None:
    server, _ = locked_redis
    await publisher.execute_command(
        "ACL", "SETUSER", "listener", "on", ">opensesame", "~*", "&*", "+@all"
    )
    await _heard(f"redis://listener:opensesame@127.0.0.1:{server.port}/0", publisher)


async def test_a_wrong_password_is_refused_without_repeating_it(
    locked_redis: tuple[RedisServer, dict[str, str]],
) -> None:
    server, _ = locked_redis
    with pytest.raises(LineDown, match=r"WRONGPASS|invalid password") as refused:
        await RedisLine.open(f"redis://:not-the-one@127.0.0.1:{server.port}/0", within=WAIT)
    assert "not-the-one" not in str(refused.value)


async def test_tls_with_a_certificate_from_an_unknown_ca_is_refused(
    locked_redis: tuple[RedisServer, dict[str, str]],
) -> None:
    _, urls = locked_redis
    other_ca, _ = _certificate(Path(urls["dir"]), "stranger")
    url = f"rediss://:s3cret@127.0.0.1:{urls['tls_port']}/0?ssl_ca_certs={other_ca}"
    with pytest.raises(LineDown, match="certificate verify failed"):
        await RedisLine.open(url, within=WAIT)
    # Unverified only when the URL says so.
    line = await RedisLine.open(
        f"rediss://:s3cret@127.0.0.1:{urls['tls_port']}/0?ssl_cert_reqs=none", within=WAIT
    )
    line.close()


async def test_nothing_listening_is_line_down() -> None:
    with pytest.raises(LineDown):
        await RedisLine.open(f"redis://127.0.0.1:{free_port()}/0", within=WAIT)


async def test_a_burst_is_parsed_from_few_reads(
    locked_redis: tuple[RedisServer, dict[str, str]], publisher: Redis
) -> None:
    """Five hundred events published at once come back in order from a handful of reads,
    not one read each."""
    line = await RedisLine.open(locked_redis[1]["plain"], within=WAIT)
    try:
        mine = user_channel(uuid.uuid4())
        line.send("SUBSCRIBE", mine)
        await line.flush(WAIT)
        assert await line.replies(WAIT) == [[b"subscribe", mine.encode(), 1]]
        async with publisher.pipeline(transaction=False) as pipe:
            for n in range(500):
                pipe.publish(mine, str(n).encode())
            await pipe.execute()
        heard: list[bytes] = []
        reads = 0
        async with asyncio.timeout(WAIT):
            while len(heard) < 500:
                replies = await line.replies(WAIT)
                reads += 1
                heard.extend(data for kind, _, data in replies if kind == b"message")
        assert heard == [str(n).encode() for n in range(500)]
        assert reads < 50
        # Silence is an empty answer, not an error.
        assert await line.replies(0.05) == []
    finally:
        line.close()


def _commands(url: str, *, reply_within: float = WAIT, retries: int = 3) -> CommandLine:
    return CommandLine(url, connect_within=WAIT, reply_within=reply_within, retries=retries)


async def test_commands_sent_at_once_each_get_their_own_reply(
    locked_redis: tuple[RedisServer, dict[str, str]],
) -> None:
    line = _commands(locked_redis[1]["plain"])
    try:
        async with asyncio.timeout(WAIT):
            replies = await asyncio.gather(*(line.call("ECHO", f"n{n}") for n in range(300)))
            assert replies == [f"n{n}".encode() for n in range(300)]
            assert await line.call_many([("ECHO", "a"), ("ECHO", "b")]) == [b"a", b"b"]
            # One connection carried them all.
            ids = {await line.call("CLIENT", "ID") for _ in range(3)}
        assert len(ids) == 1
    finally:
        await line.close()


async def test_a_killed_connection_is_replaced(
    locked_redis: tuple[RedisServer, dict[str, str]], publisher: Redis
) -> None:
    line = _commands(locked_redis[1]["plain"])
    try:
        first = await line.call("CLIENT", "ID")
        assert await publisher.execute_command("CLIENT", "KILL", "ID", first) == 1
        async with asyncio.timeout(WAIT):
            assert await line.call("ECHO", "after") == b"after"
            assert await line.call("CLIENT", "ID") != first
    finally:
        await line.close()


async def test_a_silent_connection_is_given_up_after_the_reply_time(
    locked_redis: tuple[RedisServer, dict[str, str]],
) -> None:
    server, _ = locked_redis
    relay = await Relay(server.port).start()
    line = _commands(f"redis://:s3cret@127.0.0.1:{relay.port}/0", reply_within=0.2)
    try:
        assert await line.call("ECHO", "before") == b"before"
        relay.silence_open_connections()
        # No reply on the old connection: a new one (through the relay, whose new connections
        # pass) carries the command.
        async with asyncio.timeout(WAIT):
            assert await line.call("ECHO", "again") == b"again"
    finally:
        await line.close()
        await relay.close()


async def test_commands_fail_once_the_retries_are_spent() -> None:
    require_redis()
    server = RedisServer().start()
    line = _commands(server.url, retries=2)
    try:
        assert await line.call("PING") == b"PONG"
        await asyncio.to_thread(server.stop)
        async with asyncio.timeout(WAIT):
            with pytest.raises(LineDown):
                await line.call("PING")
    finally:
        await line.close()
        server.stop()


async def test_a_message_to_many_is_published_after_the_scripts_were_flushed(
    locked_redis: tuple[RedisServer, dict[str, str]], publisher: Redis
) -> None:
    pubsub = RedisPubSub(locked_redis[1]["plain"])
    await pubsub.connect()
    try:
        channels = [user_channel(uuid.uuid4()) for _ in range(3)]
        async with pubsub.subscribe(channels) as subscription:
            events = aiter(subscription)
            for round_ in (b"first", b"after the flush"):
                await pubsub.publish_many([(c, round_) for c in channels])
                async with asyncio.timeout(WAIT):
                    heard = [await anext(events) for _ in channels]
                assert sorted(heard, key=lambda e: e.channel) == sorted(
                    (Event(c, round_) for c in channels), key=lambda e: e.channel
                )
                await publisher.script_flush()
    finally:
        await pubsub.disconnect()
