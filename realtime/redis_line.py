"""Teamwell's own Redis connections for pub/sub: a subscription's, its replies read in bulk, and
the publisher's, one connection that any number of tasks send commands down at once.

A cluster's fan-out arrives here: a message to a conversation of ten is ten events, one per
member's channel, and every process reads the events of the people connected to it. Read through
redis-py's ``PubSub.parse_response`` each event cost its retry wrapper, a timeout context, the
RESP3 push handler (which formats every event for a debug log) and the message dictionary: a
quarter of a cluster process's busy time in the fan-out benchmark. Here the socket is read as it
comes and every complete reply in what was read is parsed by hiredis at once (the parser redis-py
uses too), so an event costs little more than its parsing.

Publishing through redis-py cost as much again per message (a pooled connection checked out
under a timeout, a retry wrapper, the script object, the reply read under another timeout):
about a sixth of a cluster process's time at 1,400 messages/s. ``CommandLine`` writes each
command as it comes and one reader task hands the replies, which Redis sends in order, to the
callers in order; there is nothing to check out, and concurrent publishes share reads.

Only what these need: connect (TCP, TLS for ``rediss://``, or a Unix socket, from the
same URL as redis-py's clients, parsed by redis-py), ``AUTH`` when the URL has a password,
RESP2 (``SUBSCRIBE``/``UNSUBSCRIBE``/``PING`` and what Redis pushes back; ``PUBLISH``,
``EVALSHA`` and their replies). The database number is not selected: pub/sub channels are
shared by every database of a server.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

# Bytes asked of the socket at once: a burst of events is parsed from one read.
READ_SIZE = 65536


class LineDown(ConnectionError):
    """The connection could not be made, was refused (``AUTH``) or was lost."""


class RedisLine:
    """One connection: commands written with hiredis's packer, replies parsed by its reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str, *, within: float) -> RedisLine:
        """Connect and authenticate within ``within`` seconds, or raise ``LineDown``."""
        settings: dict[str, Any] = dict(parse_url(url))
        kind = settings.get("connection_class")
        try:
            async with asyncio.timeout(within):
                if kind is UnixDomainSocketConnection:
                    reader, writer = await asyncio.open_unix_connection(settings["path"])
                else:
                    reader, writer = await asyncio.open_connection(
                        settings.get("host", "localhost"),
                        int(settings.get("port", 6379)),
                        ssl=_tls(settings) if kind is SSLConnection else None,
                    )
                line = cls(reader, writer)
                try:
                    if kind is not UnixDomainSocketConnection:
                        # A line may carry nothing for long: let the kernel notice a peer that
                        # vanished (a subscription's PING notices a silent one).
                        writer.get_extra_info("socket").setsockopt(
                            socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1
                        )
                    if settings.get("password") is not None:
                        user = settings.get("username")
                        line.send("AUTH", *([user] if user else []), settings["password"])
                        await line.flush(within)
                        (answer,) = await line._next_replies(1)
                        if isinstance(answer, hiredis.ReplyError):
                            # Redis's own words ("WRONGPASS ..."), which never hold the password.
                            raise LineDown(f"Redis refused AUTH: {answer}")
                except BaseException:
                    line.close()
                    raise
                return line
        except TimeoutError:
            raise LineDown(f"no connection within {within:g} s") from None
        except OSError as exc:
            raise LineDown(str(exc) or type(exc).__name__) from exc

    def send(self, *args: str | bytes) -> None:
        """Queue one command (written by ``flush``)."""
        # hiredis's stub types the argument as a 1-tuple; any number of arguments is packed.
        self._writer.write(hiredis.pack_command(args))  # type: ignore[arg-type]

    async def flush(self, within: float) -> None:
        """Write what was queued; ``LineDown`` if Redis does not take it within ``within``
        seconds (a connection whose peer stopped reading counts as dead)."""
        try:
            async with asyncio.timeout(within):
                await self._writer.drain()
        except TimeoutError:
            raise LineDown(f"Redis took more than {within:g} s to take a command") from None
        except OSError as exc:
            raise LineDown(str(exc) or type(exc).__name__) from exc

    async def replies(self, within: float) -> list[Any]:
        """Every reply complete so far, waiting up to ``within`` seconds for the first;
        an empty list if none came."""
        try:
            async with asyncio.timeout(within):
                return await self._next_replies(1)
        except TimeoutError:
            return []

    async def _next_replies(self, at_least: int) -> list[Any]:
        got = self._parsed()
        while len(got) < at_least:
            try:
                data = await self._reader.read(READ_SIZE)
            except OSError as exc:
                raise LineDown(str(exc) or type(exc).__name__) from exc
            if not data:
                raise LineDown("Redis closed the connection")
            self._parser.feed(data)
            got.extend(self._parsed())
        return got

    def _parsed(self) -> list[Any]:
        got = []
        try:
            while (reply := self._parser.gets()) is not False:
                got.append(reply)
        except hiredis.ProtocolError as exc:
            raise LineDown(f"Redis sent something that is not RESP: {exc}") from exc
        return got

    def close(self) -> None:
        self._writer.close()


def _tls(settings: dict[str, Any]) -> ssl.SSLContext:
    """TLS as the URL asks for it (redis-py's ``ssl_*`` query parameters), verified unless
    ``ssl_cert_reqs=none``."""
    context = ssl.create_default_context(cafile=settings.get("ssl_ca_certs"))
    if settings.get("ssl_certfile"):
        context.load_cert_chain(settings["ssl_certfile"], settings.get("ssl_keyfile"))
    if str(settings.get("ssl_cert_reqs", "required")).lower() in ("none", str(ssl.CERT_NONE)):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif str(settings.get("ssl_check_hostname", "true")).lower() in ("false", "0", "no"):
        context.check_hostname = False
    return context


class CommandLine:
    """One Redis connection shared by every task of the process that sends commands (publishing):
    each command is written at once, and one reader task resolves the callers' futures in the
    order Redis answers, which is the order the commands were written.

    A command whose connection drops before its reply (or whose reply takes longer than
    ``reply_within``) is sent again on a new connection, up to ``retries`` times with jittered
    backoff, after which ``LineDown`` is raised. A command sent again may have been carried
    out the first time as well."""

    def __init__(
        self, url: str, *, connect_within: float, reply_within: float, retries: int
    ) -> None:
        self._url = url
        self._connect_within = connect_within
        self._reply_within = reply_within
        self._retries = retries
        self._line: RedisLine | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._closed = False

    async def call(self, *args: str | bytes) -> Any:
        """The reply to one command (a ``hiredis.ReplyError`` is returned, not raised)."""
        (reply,) = await self.call_many([args])
        return reply

    async def call_many(self, commands: list[tuple[str | bytes, ...]]) -> list[Any]:
        """The replies to ``commands``, written together (one write, one wait)."""
        attempt = 0
        while True:
            try:
                return await self._try(commands)
            except LineDown:
                if self._closed or attempt >= self._retries:
                    raise
                attempt += 1
                # Equal jitter, from 50 ms doubling to 1 s, as redis-py's retry does.
                delay = min(1.0, 0.05 * 2**attempt)
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311

    async def _try(self, commands: list[tuple[str | bytes, ...]]) -> list[Any]:
        line = await self._connected()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        for args, future in zip(commands, futures, strict=True):
            line.send(*args)
            self._waiting.append(future)
        try:
            async with asyncio.timeout(self._reply_within):  # written and answered within it
                await line.flush(self._reply_within)
                return list(await asyncio.gather(*futures))
        except TimeoutError:
            failure = LineDown(f"no reply from Redis within {self._reply_within:g} s")
            self._drop(line, failure)
            raise failure from None
        except LineDown as exc:
            self._drop(line, exc)
            raise

    async def _connected(self) -> RedisLine:
        if self._closed:
            raise LineDown("the connection was closed")
        if self._line is not None:
            return self._line
        async with self._connecting:
            if self._line is None:
                line = await RedisLine.open(self._url, within=self._connect_within)
                self._line = line
                self._reader = asyncio.create_task(self._read(line), name="redis-command-reader")
            return self._line

    async def _read(self, line: RedisLine) -> None:
        try:
            while True:
                for reply in await line.replies(within=3600.0):
                    if self._waiting:
                        future = self._waiting.popleft()
                        if not future.done():
                            future.set_result(reply)
        except LineDown as exc:
            self._drop(line, exc)
        except asyncio.CancelledError:
            self._drop(line, LineDown("the connection was closed"))
            raise

    def _drop(self, line: RedisLine, failure: LineDown) -> None:
        """Let ``line`` go and fail what waits on it (its callers send again on a new one)."""
        if self._line is not line:
            return
        self._line = None
        line.close()
        waiting, self._waiting = self._waiting, deque()
        for future in waiting:
            if not future.done():
                future.set_exception(failure)
                future.exception()  # retrieved: a caller that timed out is not waiting any more
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    async def close(self) -> None:
        self._closed = True
        line, reader = self._line, self._reader
        if line is not None:
            self._drop(line, LineDown("the connection was closed"))
        if reader is not None:
            await asyncio.gather(reader, return_exceptions=True)
