"""Malware scanning with ClamAV's daemon, clamd, over its INSTREAM command on TCP.

The protocol is small enough to speak directly with asyncio (no client library to keep up):
``zINSTREAM\\0``, then the file as chunks each prefixed by its length (4 bytes, big-endian), then
a zero length; clamd answers ``stream: OK`` or ``stream: <signature> FOUND``, NUL-terminated.

Whatever goes wrong on the way (clamd not listening, a connection dropped, no answer within the
timeout, an answer that is neither of those two) is ``UNAVAILABLE``: the file then waits as not
yet scanned, and is never reported clean. That includes a file longer than clamd's
``StreamMaxLength``, which clamd refuses with ``INSTREAM size limit exceeded``: a deployment sets
``StreamMaxLength`` above ``TEAMWELL_DOCUMENT_MAX_BYTES`` (docs/deploy.md), and the log says so
when it has not. Nothing of the file's content is logged.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterable, AsyncIterator

from app.documents.scanning import ScanOutcome, ScanResult

__all__ = ["CHUNK_BYTES", "ClamdScanner"]

log = logging.getLogger("teamwell.documents")

# How much of the file goes in one INSTREAM chunk: small enough to keep clamd's reads short and
# little queued in memory, large enough that a 20 MB file is under a hundred writes (at 64 KiB,
# the round trips of 300-odd writes and drains made a 20 MB scan up to twice as long).
CHUNK_BYTES = 256 * 1024
# clamd's answers are one short line; a longer one is not clamd.
_MAX_REPLY_BYTES = 4096
_FOUND = " FOUND"
_STREAM = "stream: "
_SIZE_LIMIT = "size limit exceeded"


class ClamdScanner:
    """A ``Scanner`` over clamd's INSTREAM (TCP): one connection per scan, the whole exchange
    bounded by ``timeout_seconds``."""

    def __init__(self, host: str, port: int, *, timeout_seconds: float) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.host = host
        self.port = port
        self.timeout_seconds = timeout_seconds

    async def scan(self, data: bytes) -> ScanResult:
        return await self.scan_parts(_one(data))

    async def scan_parts(self, parts: AsyncIterable[bytes]) -> ScanResult:
        """Scan a file given in parts, each sent to clamd as it comes (so a file read from the
        store is scanned while the rest is still being read). An error raised by ``parts`` is
        the caller's and passes through; only clamd's failures are ``UNAVAILABLE``."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                reply = await self._instream(parts)
        except TimeoutError:
            log.warning(
                "clamd at %s:%d did not answer in %ss", *self._where(), self.timeout_seconds
            )
            return ScanResult(ScanOutcome.UNAVAILABLE)
        except OSError as exc:
            log.warning("clamd at %s:%d unreachable: %s", *self._where(), type(exc).__name__)
            return ScanResult(ScanOutcome.UNAVAILABLE)
        return self._outcome(reply)

    async def ping(self) -> bool:
        """Whether clamd answers ``PING`` within the timeout (for readiness checks)."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(b"zPING\0")
                    await writer.drain()
                    reply = await reader.readuntil(b"\0")
                finally:
                    await _close(writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False
        return reply.rstrip(b"\0") == b"PONG"

    def _where(self) -> tuple[str, int]:
        return self.host, self.port

    async def _instream(self, parts: AsyncIterable[bytes]) -> str:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=_MAX_REPLY_BYTES)
        try:
            try:
                writer.write(b"zINSTREAM\0")
                async for data in parts:
                    view = memoryview(data)
                    for start in range(0, len(data), CHUNK_BYTES):
                        chunk = view[start : start + CHUNK_BYTES]
                        writer.write(struct.pack(">I", len(chunk)))
                        writer.write(chunk)
                        # Waiting on each chunk keeps at most a chunk or two queued in memory.
                        await writer.drain()
                writer.write(struct.pack(">I", 0))
                await writer.drain()
            except ConnectionError:
                # clamd closes the connection on a stream past its limit, having said why
                # first: read what it said (an empty answer if it said nothing).
                pass
            try:
                raw = await reader.readuntil(b"\0")
            except asyncio.IncompleteReadError as exc:
                raw = exc.partial
            except asyncio.LimitOverrunError:
                raw = b""
        finally:
            await _close(writer)
        return raw.rstrip(b"\0").decode("utf-8", errors="replace").strip()

    def _outcome(self, reply: str) -> ScanResult:
        if reply == f"{_STREAM}OK":
            return ScanResult(ScanOutcome.CLEAN)
        if reply.startswith(_STREAM) and reply.endswith(_FOUND):
            signature = reply[len(_STREAM) : -len(_FOUND)].strip()
            return ScanResult(ScanOutcome.INFECTED, signature=signature or "unknown")
        if _SIZE_LIMIT in reply:
            log.warning(
                "clamd at %s:%d refused a file as longer than its StreamMaxLength: set it above "
                "TEAMWELL_DOCUMENT_MAX_BYTES",
                *self._where(),
            )
        else:
            # clamd's own error text names no content (e.g. "... ERROR"), only what failed.
            log.warning("clamd at %s:%d answered %r", *self._where(), reply[:200])
        return ScanResult(ScanOutcome.UNAVAILABLE)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


# Closing waits for what is still queued to be sent; a daemon that stopped reading would make
# that wait endless (after the scan's own timeout has fired), so it is cut short.
_CLOSE_SECONDS = 1.0


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_SECONDS):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass
