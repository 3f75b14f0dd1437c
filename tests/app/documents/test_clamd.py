"""Scanning with a real clamd (tests/support/clamd.py): EICAR found, a clean file clean, the
daemon stopped or silent is UNAVAILABLE (never clean), a file past clamd's stream limit too."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config import Settings
from app.documents import sealing, service
from app.documents.clamd import CHUNK_BYTES, ClamdScanner
from app.documents.models import DocumentUpload, ScanStatus
from app.documents.scanning import ScanOutcome, ScanResult
from app.documents.storage import LocalFolderStore
from app.messaging.keyring import MessageKeyring
from tests.support.clamd import EICAR, EICAR_SIGNATURE, ClamdServer
from tests.support.net import free_port

# Far above a scan's time here (milliseconds), so a loaded machine never fails a clean scan.
TIMEOUT_SECONDS = 30.0


def scanner(clamd: ClamdServer, timeout: float = TIMEOUT_SECONDS) -> ClamdScanner:
    return ClamdScanner(clamd.host, clamd.port, timeout_seconds=timeout)


async def test_the_eicar_file_is_found(clamd: ClamdServer) -> None:
    result = await scanner(clamd).scan(EICAR)
    assert result.outcome is ScanOutcome.INFECTED
    assert result.signature is not None and result.signature.startswith(EICAR_SIGNATURE)


async def test_a_file_of_many_chunks_is_read_to_its_end(clamd: ClamdServer) -> None:
    # The signature is an MD5 of the whole file, so this one is clean: what matters is that a
    # many-chunk stream is read to its end and answered.
    assert (await scanner(clamd).scan(b"x" * (3 * CHUNK_BYTES + 17))).outcome is ScanOutcome.CLEAN


async def test_a_clean_file_is_clean(clamd: ClamdServer) -> None:
    assert await scanner(clamd).scan(b"%PDF-1.4\nDear employer,\n") == ScanResult(ScanOutcome.CLEAN)


async def test_a_stopped_daemon_is_unavailable_then_back(clamd: ClamdServer) -> None:
    assert await scanner(clamd).ping()
    clamd.halt()
    try:
        assert not await scanner(clamd).ping()
        assert await scanner(clamd).scan(EICAR) == ScanResult(ScanOutcome.UNAVAILABLE)
        assert await scanner(clamd).scan(b"hello") == ScanResult(ScanOutcome.UNAVAILABLE)
    finally:
        clamd.resume()
    assert (await scanner(clamd).scan(EICAR)).outcome is ScanOutcome.INFECTED


async def test_a_file_at_clamds_stream_limit_is_scanned_and_one_byte_more_is_unavailable(
    clamd: ClamdServer, caplog: pytest.LogCaptureFixture
) -> None:
    at_limit = bytes(clamd.stream_max_bytes)
    assert (await scanner(clamd).scan(at_limit)).outcome is ScanOutcome.CLEAN
    with caplog.at_level(logging.WARNING, logger="teamwell.documents"):
        over = await scanner(clamd).scan(at_limit + b"\0")
    assert over == ScanResult(ScanOutcome.UNAVAILABLE)
    assert "StreamMaxLength" in caplog.text


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers: a hung daemon."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_daemon_that_never_answers_is_unavailable_after_the_timeout(
    silent_server: int,
) -> None:
    silent = ClamdScanner("127.0.0.1", silent_server, timeout_seconds=0.3)
    assert await silent.scan(b"hello") == ScanResult(ScanOutcome.UNAVAILABLE)
    assert not await silent.ping()


async def test_nothing_listening_is_unavailable() -> None:
    nobody = ClamdScanner("127.0.0.1", free_port(), timeout_seconds=5)
    assert await nobody.scan(EICAR) == ScanResult(ScanOutcome.UNAVAILABLE)


def test_the_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ClamdScanner("127.0.0.1", 3310, timeout_seconds=0)


async def test_a_scan_cut_off_by_its_timeout_still_reads_the_whole_file(
    silent_server: int, tmp_path: Path
) -> None:
    """Completion sends each segment to clamd as it reads it. A daemon that stops reading
    (its socket full) times the scan out half-way through the file: the upload is then
    pending, and its content (size, digest) is the whole file, read again, never the part the
    scan had reached."""
    keyring = MessageKeyring({"k1": bytes(range(32))}, "k1")
    runtime = service.Runtime(
        settings=Settings(data_dir=tmp_path),
        store=LocalFolderStore(tmp_path / "documents"),
        scanner=ClamdScanner("127.0.0.1", silent_server, timeout_seconds=0.5),
        keyring=keyring,
    )
    segment = 4 * 1024 * 1024
    data = b"%PDF-1.7\n" + os.urandom(3 * segment - 9)
    now = datetime.now(UTC)
    upload = DocumentUpload(
        id=uuid.uuid4(),
        size_bytes=len(data),
        chunk_bytes=segment,
        received_bytes=len(data),
        segmented=True,
        expires_at=now + timedelta(hours=1),
    )
    upload.key_id, upload.wrapped_key = sealing.wrap(
        keyring, sealing.new_data_key(), row_id=upload.id
    )
    for offset in range(0, len(data), segment):
        await service.store_chunk(runtime, upload, offset, data[offset : offset + segment])
    prepared = await service.prepare(runtime=runtime, upload=upload, now=now)
    assert prepared.scan_status is ScanStatus.pending
    assert prepared.size_bytes == len(data)
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
