"""One Redis connection in subscribe mode, its replies read in bulk.

A cluster's fan-out arrives here: a message to a conversation of ten is ten events, one per
member's channel, and every process reads the events of the people connected to it. Read through
redis-py's ``PubSub.parse_response`` each event cost its retry wrapper, a timeout context, the
RESP3 push handler (which formats every event for a debug log) and the message dictionary: a
quarter of a cluster process's busy time in the fan-out benchmark. Here the socket is read as it
comes and every complete reply in what was read is parsed by hiredis at once (the parser redis-py
uses too), so an event costs little more than its parsing.

Only what a subscriber needs: connect (TCP, TLS for ``rediss://``, or a Unix socket, from the
same URL as redis-py's clients, parsed by redis-py), ``AUTH`` when the URL has a password,
RESP2 (``SUBSCRIBE``/``UNSUBSCRIBE``/``PING`` and what Redis pushes back). The database number
is not selected: pub/sub channels are shared by every database of a server.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

# Bytes asked of the socket at once: a burst of events is parsed from one read.
READ_SIZE = 65536


class LineDown(ConnectionError):
    """The connection could not be made, was refused (``AUTH``) or was lost."""


class SubscriberLine:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str, *, within: float) -> SubscriberLine:
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
                        # A subscriber may hear nothing for long: let the kernel notice a peer
                        # that vanished (the keepalive PING notices a silent one).
                        writer.get_extra_info("socket").setsockopt(
                            socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1
                        )
                    if settings.get("password") is not None:
                        user = settings.get("username")
                        line.send("AUTH", *([user] if user else []), settings["password"])
                        await line.flush()
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

    def send(self, *args: str) -> None:
        """Queue one command (written by ``flush``)."""
        # hiredis's stub types the argument as a 1-tuple; any number of arguments is packed.
        self._writer.write(hiredis.pack_command(args))  # type: ignore[arg-type]

    async def flush(self) -> None:
        try:
            await self._writer.drain()
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
